"""benchmarks/reproduce.py plans the study issue 6 asks for (checked on its --dry-run, which trains
nothing): every setting, ratio, seed count and budget, and nothing written outside --work but numbers."""

import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def planned(ck48, *flags):
    done = subprocess.run([sys.executable, "benchmarks/reproduce.py", "--dry-run", "--data-dir", ck48.parent,
                           "--work", "reproduction-work", *flags], capture_output=True, text=True, cwd=REPOSITORY)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.split("] ")[1]: line_after.removeprefix("$ fersyn ").split()
            for line, line_after in zip(done.stdout.splitlines(), done.stdout.splitlines()[1:])
            if line.startswith("[")}


def option(command, name):
    return [command[i + 1] for i, word in enumerate(command) if word == name]


def test_the_default_plan_covers_every_setting_of_the_study(ck48):
    steps = planned(ck48)
    sweeps = {label.split()[1]: command for label, command in steps.items() if label.startswith("benchmark")}
    assert set(sweeps) == {"ck-in-dataset", "ck-real-identity", "ck-epochs-budget", "external", "external-paper-cnn",
                           "low-data", "low-data-real-identity"}
    for name, command in sweeps.items():
        assert option(command, "--ratio") == ["0,0.5,1,2,3,5,7,10"] and option(command, "--seeds") == ["3"], name
        assert option(command, "--data")[0].endswith("CK+48")
        assert option(command, "--test-data")[0].endswith("fer2013-subset.csv.gz")  # cross-dataset scores
        assert option(command, "--out")[0].startswith("reproduction-work/")
    assert option(sweeps["ck-epochs-budget"], "--budget") == ["epochs"]
    assert "--budget" not in sweeps["ck-in-dataset"]  # the steps budget, the default
    assert {name for name, c in sweeps.items() if option(c, "--control") == ["augment"]} == {"ck-in-dataset", "low-data"}
    assert {name for name, c in sweeps.items() if option(c, "--train-fraction") == ["0.25"]} == \
        {"low-data", "low-data-real-identity"}
    assert option(sweeps["external-paper-cnn"], "--classifier") == ["paper-cnn"]

    sets = {label.split()[1]: command for label, command in steps.items() if label.startswith("generate")}
    assert option(sets["fer"], "--data")[0].endswith("fer2013-subset.csv.gz")  # the external generators
    assert option(sets["ck-real"], "--identity") == ["real"] == option(sets["ck-quarter-real"], "--identity")
    assert option(sets["ck-quarter"], "--train-fraction") == ["0.25"]  # fitted on the low-data subjects only
    assert option(sets["ck-real"], "--checkpoints") == option(sets["ck"], "--checkpoints")  # the same stargan
    for name, command in sets.items():
        assert option(command, "--out")[0].startswith("reproduction-work/sets/"), name  # never under results
    # Each set is generated before the first sweep that mixes it in.
    order = list(steps)
    for name, command in sweeps.items():
        used = Path(option(command, "--synthetic")[0]).stem
        assert order.index(f"generate {used}") < order.index(f"benchmark {name}")


def test_quick_keeps_every_setting_but_the_paper_cnn_one(ck48):
    sweeps = {label.split()[1] for label in planned(ck48, "--quick") if label.startswith("benchmark")}
    assert len(sweeps) == 6 and "external-paper-cnn" not in sweeps
