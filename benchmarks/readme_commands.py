"""Time README.md's two set-up commands as a new user runs them: in a fresh clone and a fresh venv.

Each command is one line, `python3 -m venv .venv && . .venv/bin/activate && pip install … && RUN`.
This clones the repository's HEAD beside it (so that ../shared/data is where the tests look for it),
runs the install part, then times RUN on its own (the figure README quotes: "after the install").
Writes benchmarks/results/readme-commands.json; README's times are checked against it. Each record
names the CPU; `--assume-no-bf16` runs the commands with FERSYN_ASSUME_NO_BF16=1, the path of a CPU
without native bfloat16 (`mixed` trains in float32), and records them as `main-no-bf16`, `tests-no-bf16`.

    python benchmarks/readme_commands.py [--only main|tests] [--assume-no-bf16] [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "readme-commands.json"


def readme_command(marker: str) -> str:
    """The one-line command in the ```bash block after `<!-- marker -->` in README.md."""
    found = re.search(rf"<!-- {marker} -->\n```bash\n(.*?)\n```", (ROOT / "README.md").read_text())
    if not found:
        raise SystemExit(f"README.md has no <!-- {marker} --> command block")
    return found[1]


def timed(command: str, cwd: Path, log: Path) -> tuple[float, int]:
    started = time.perf_counter()
    with log.open("a") as output:
        done = subprocess.run(["bash", "-c", command], cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    return time.perf_counter() - started, done.returncode


def cpu() -> str:
    """The CPU's model name and whether it has native bfloat16 (the flags fersyn.runtime.precision reads)."""
    from fersyn.runtime.precision import cpu_has_native_bfloat16

    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "unknown")
    native = "with" if cpu_has_native_bfloat16() else "without"
    return f"{model}, {len(re.findall(r'^processor', text, re.M))} cores, {native} native bfloat16"


def run(marker: str, clone: Path, environment: str = "") -> dict:
    command = readme_command(marker)
    setup, _, work = command.rpartition(" && ")  # the last step is the work; the ones before install
    log = clone / f"{marker}.log"
    install_seconds, code = timed(setup, clone, log)
    if code:
        return {"command": command, "install_seconds": round(install_seconds), "exit_code": code, "log_tail": log.read_text()[-2000:]}
    seconds, code = timed(f". .venv/bin/activate && {environment}{work}", clone, log)
    lines = log.read_text().strip().splitlines()
    return {"command": command, "environment": environment.strip(), "cpu": cpu(),
            "install_seconds": round(install_seconds), "seconds": round(seconds),
            "minutes": round(seconds / 60, 1), "exit_code": code, "last_line": lines[-1] if lines else "",
            **({"failures": [line for line in lines if line.startswith(("FAILED", "ERROR", "E  "))][:40]} if code else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("main", "tests"))
    parser.add_argument("--keep", action="store_true", help="Keep the clone (beside the repository) afterwards.")
    parser.add_argument("--assume-no-bf16", action="store_true", help="Run as a CPU without native bfloat16 does.")
    arguments = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    recorded = json.loads(OUT.read_text()) if OUT.exists() else {}
    suffix, environment = ("-no-bf16", "FERSYN_ASSUME_NO_BF16=1 ") if arguments.assume_no_bf16 else ("", "")
    for kind, marker in (("main", "main-command"), ("tests", "test-command")):
        if arguments.only not in (None, kind):
            continue
        name = kind + suffix
        clone = ROOT.parent / f"fersyn-readme-{name}"
        shutil.rmtree(clone, ignore_errors=True)
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        print(f"{name}: {readme_command(marker)}  (in {clone})", flush=True)
        recorded[name] = {**run(marker, clone, environment), "commit": commit}
        print(f"  {json.dumps(recorded[name])}", flush=True)
        if not arguments.keep:
            shutil.rmtree(clone, ignore_errors=True)
    OUT.write_text(json.dumps(recorded, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
