"""Peak memory of a benchmark cell against the size of the synthetic set it draws from (target: a
1,000,000-face set within ~3 GB). The sweep streams the faces it draws from the HDF5 file and never
loads the file whole, so the peak should not grow with the file: the same one-cell sweep (toy, ratio
10, a few steps) runs in its own process against a small set and against a 1,000,000-face set.

    python benchmarks/stream_memory.py [--faces 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import resource, sys
from fersyn.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print(f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", file=sys.stderr)
"""


def write_set(path: Path, faces: int) -> float:
    """A synthetic set of `faces` faces, laid out as `fersyn generate` writes one (runs of 256
    identities per emotion); the faces are toy faces of other identities, recycled. Returns seconds."""
    from fersyn.data.synthetic import SyntheticWriter
    from fersyn.data.toy import toy_faceset

    started = time.perf_counter()
    pool = toy_faceset(identities=256, repeats=1, seed=7)
    writer = SyntheticWriter(path, pool.images.shape[1:], pool.emotions)
    identity = 0
    while len(writer) < faces:
        for label, emotion in enumerate(pool.emotions):
            run = pool.images[pool.labels == label][: faces - len(writer)]
            writer.append(run, emotion, np.arange(identity, identity + len(run)))
        identity += 256
    writer.set_attributes(provenance={"note": "stream_memory.py stand-in", "count": faces})
    writer.close()
    return time.perf_counter() - started


def peak_of_one_cell(synthetic: Path, out: Path) -> tuple[float, float]:
    command = [sys.executable, "-c", CHILD, "-q", "benchmark", "--data", "toy", "--synthetic", str(synthetic),
               "--ratio", "10", "--seeds", "1", "--steps", "64", "--out", str(out)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr[-3000:])
    peak = float(result.stderr.strip().splitlines()[-1].split()[1])
    return peak, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=1_000_000, help="Faces in the large synthetic set.")
    large_count = parser.parse_args().faces
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        print(f"{'synthetic set':>16} {'file MiB':>9} {'write s':>8} {'peak RSS MiB':>13} {'cell s':>7}")
        for count in (12_000, large_count):
            path = folder / f"synthetic_{count}.h5"
            seconds = write_set(path, count)
            peak, cell_seconds = peak_of_one_cell(path, folder / f"out_{count}")
            print(f"{count:>16,} {path.stat().st_size / 2**20:9.0f} {seconds:8.0f} {peak:13.0f} {cell_seconds:7.0f}")
            path.unlink()


if __name__ == "__main__":
    main()
