"""Time README.md's two set-up commands as a new user runs them: in a fresh clone and a fresh venv.

Each command is one line, `python3 -m venv .venv && . .venv/bin/activate && pip install … && RUN`.
This clones the repository's HEAD beside it (so that ../shared/data is where the tests look for it),
runs the install part, then times RUN on its own (the figure README quotes: "after the install").
Writes benchmarks/results/readme-commands.json; README's times are checked against it.

    python benchmarks/readme_commands.py [--only main|tests] [--keep]
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


def run(marker: str, clone: Path) -> dict:
    command = readme_command(marker)
    setup, _, work = command.rpartition(" && ")  # the last step is the work; the ones before install
    log = clone / f"{marker}.log"
    install_seconds, code = timed(setup, clone, log)
    if code:
        return {"command": command, "install_seconds": round(install_seconds), "exit_code": code, "log_tail": log.read_text()[-2000:]}
    seconds, code = timed(f". .venv/bin/activate && {work}", clone, log)
    lines = log.read_text().strip().splitlines()
    return {"command": command, "install_seconds": round(install_seconds), "seconds": round(seconds),
            "minutes": round(seconds / 60, 1), "exit_code": code, "last_line": lines[-1] if lines else "",
            **({"failures": [line for line in lines if line.startswith(("FAILED", "ERROR", "E  "))][:40]} if code else {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("main", "tests"))
    parser.add_argument("--keep", action="store_true", help="Keep the clone (beside the repository) afterwards.")
    arguments = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    recorded = json.loads(OUT.read_text()) if OUT.exists() else {}
    for name, marker in (("main", "main-command"), ("tests", "test-command")):
        if arguments.only not in (None, name):
            continue
        clone = ROOT.parent / f"fersyn-readme-{name}"
        shutil.rmtree(clone, ignore_errors=True)
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        print(f"{name}: {readme_command(marker)}  (in {clone})", flush=True)
        recorded[name] = {**run(marker, clone), "commit": commit}
        print(f"  {json.dumps(recorded[name])}", flush=True)
        if not arguments.keep:
            shutil.rmtree(clone, ignore_errors=True)
    OUT.write_text(json.dumps(recorded, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
