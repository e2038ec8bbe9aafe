"""Two lanes against one: does the study finish sooner running two of its steps at once, each process
with one TensorFlow thread, than one step at a time with TensorFlow's default threads (one per core)?

The work is a slice of the study's low-data setting (`fersyn benchmark` on CK+48, a quarter of the
training subjects, 2 folds, dcgan + stargan fitted per fold, real only and ratio 1, small-cnn at 120
steps): generator fits and cells, as the study has them. Baseline: the run twice, one after the other,
default threads. Two lanes: the same two runs at once, each with TF_NUM_INTRAOP_THREADS=1 and
TF_NUM_INTEROP_THREADS=1. Every run has its own folder and its own fersyn cache (nothing reused).

    python benchmarks/two_lanes_speed.py [--data ../shared/data/CK+48] [--train-steps 100]

Prints both wall times and the speed-up, and writes benchmarks/results/two-lanes-speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reproduce import ONE_THREAD  # noqa: E402  what a lane of the study runs with


def sweep(data: str, train_steps: int, out: Path) -> list[str]:
    return [sys.executable, "-m", "fersyn", "benchmark", "--data", data, "--folds", "2", "--seeds", "1",
            "--train-fraction", "0.25", "--ratio", "0,1", "--steps", "120", "--identity", "dcgan",
            "--expression", "stargan", "--train-steps", str(train_steps), "--out", str(out)]


def timed(runs: list[tuple[list[str], dict[str, str]]]) -> float:
    """Start every run at once and wait for all: the wall time."""
    started = time.perf_counter()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for command, env in runs]
    for process in processes:
        _, errors = process.communicate()
        if process.returncode:
            sys.exit(f"a run failed ({process.returncode}):\n{errors[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "CK+48"))
    parser.add_argument("--train-steps", type=int, default=100)
    arguments = parser.parse_args()
    from fersyn.runtime.precision import cpu_has_native_bfloat16

    with tempfile.TemporaryDirectory() as folder:
        def run(name: str, threads: dict[str, str]) -> tuple[list[str], dict[str, str]]:
            env = {**os.environ, **threads, "FERSYN_CACHE": str(Path(folder) / name / "cache")}
            return sweep(arguments.data, arguments.train_steps, Path(folder) / name / "sweep"), env

        print("baseline: two runs one after the other, default threads", flush=True)
        baseline = timed([run("a", {})]) + timed([run("b", {})])
        print(f"  {baseline:.0f} s\ntwo lanes: the two runs at once, one thread each", flush=True)
        lanes = timed([run("c", ONE_THREAD), run("d", ONE_THREAD)])
    result = {"work": "2 × a 2-fold low-data sweep on CK+48: dcgan + stargan per fold, real only and ratio 1",
              "train_steps": arguments.train_steps, "baseline_seconds": round(baseline, 1),
              "two_lanes_seconds": round(lanes, 1), "speed_up": round(baseline / lanes, 2),
              "cpu": f"{os.cpu_count()} cores, {'with' if cpu_has_native_bfloat16() else 'without'} native bfloat16"}
    print(f"  {lanes:.0f} s\ntwo lanes at once: {result['speed_up']}× the speed of one at a time ({result['cpu']})")
    out = ROOT / "benchmarks" / "results" / "two-lanes-speed.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
