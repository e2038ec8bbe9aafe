"""How fast `fersyn --help` answers (target: < 0.5 s), against Python's own start-up measured in the same run.

    python benchmarks/cli_startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    repeats = parser.parse_args().repeats
    fersyn = shutil.which("fersyn") or sys.exit("fersyn is not on PATH: pip install the project first")
    python = median_seconds([sys.executable, "-c", "pass"], repeats)
    help_time = median_seconds([fersyn, "--help"], repeats)
    version_time = median_seconds([fersyn, "--version"], repeats)
    tensorflow = median_seconds([sys.executable, "-c", "import tensorflow"], max(2, repeats // 5))
    print(f"python -c pass        {python:6.3f} s  (baseline)")
    print(f"fersyn --help         {help_time:6.3f} s  ({help_time / python:.1f}× the baseline; target < 0.5 s)")
    print(f"fersyn --version      {version_time:6.3f} s")
    print(f"import tensorflow     {tensorflow:6.3f} s  (what a lazy import saves)")


if __name__ == "__main__":
    main()
