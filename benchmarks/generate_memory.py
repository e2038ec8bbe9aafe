"""Peak memory of `fersyn generate` against the number of faces written (target: a 1,000,000-face set
within ~1.5 GB). Each count runs in its own process on `toy` with a tiny training budget; if the
writer streams chunk by chunk, peak memory stays flat as the count grows, and the extrapolation to
1,000,000 faces is the largest measured peak plus the measured growth per face.

    python benchmarks/generate_memory.py [--counts 3000,30000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import resource, sys, time
from fersyn.data.regime import Regime
from fersyn.generation.recipe import Recipe
from fersyn.generation.sets import generate_sets
started = time.perf_counter()
generate_sets(Regime(data="toy"), Recipe(train_steps=5), sys.argv[1], count=int(sys.argv[2]))
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{peak_mib:.0f} {time.perf_counter() - started:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="3000,30000", help="Comma list of face counts to measure.")
    counts = [int(c) for c in parser.parse_args().counts.split(",")]
    peaks = []
    with tempfile.TemporaryDirectory() as folder:
        for count in counts:
            out = Path(folder) / f"synth_{count}.h5"
            result = subprocess.run([sys.executable, "-c", CHILD, str(out), str(count)], capture_output=True, text=True)
            if result.returncode:
                sys.exit(result.stderr[-2000:])
            peak, seconds = result.stdout.split()[-2:]
            peaks.append(float(peak))
            size = out.stat().st_size / 2**20
            print(f"{count:>9,} faces: peak memory {float(peak):7.0f} MiB, {seconds:>6} s, file {size:6.1f} MiB")
    growth = max(0.0, (peaks[-1] - peaks[0]) / (counts[-1] - counts[0]))
    projected = peaks[-1] + growth * (1_000_000 - counts[-1])
    print(f"growth {growth * 1024:.3f} KiB per face → projected peak for 1,000,000 faces ≈ {projected:.0f} MiB")


if __name__ == "__main__":
    main()
