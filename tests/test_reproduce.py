"""benchmarks/reproduce.py plans the study issue 17 asks for (checked on its --dry-run, which trains
nothing): subject folds, seeds, ratios, both regimes, the controls, both budgets, the
external paper-cnn setting, cross-dataset scores, and nothing written outside --work but numbers."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "benchmarks"))
import reproduce  # noqa: E402


@pytest.fixture(autouse=True)
def no_fer2013_judge_after(monkeypatch):
    """A Reproduction names the FER2013 subset for fer2013-cnn in os.environ: gone after each test, or every later
    test of this worker would train that judge on the real subset whenever it judges a set."""
    monkeypatch.delenv("FERSYN_FER2013", raising=False)


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
    assert set(sweeps) == {"low-data-controls", "low-data", "low-data-preset", "ck-all-controls", "ck-all",
                           "low-data-epochs", "external"}
    for name, command in sweeps.items():
        assert option(command, "--folds") == ["5"] and option(command, "--seeds") == ["2"], name
        assert option(command, "--data")[0].endswith("CK+48")
        assert option(command, "--test-data")[0].endswith("fer2013-subset.csv.gz")  # cross-dataset scores
        assert option(command, "--out")[0].startswith("reproduction-work/")
    full, short = ["0,0.5,1,2,3,5,10"], ["0,1,5"]  # short: real only, 1 and the paper's 5
    assert all(option(sweeps[name], "--ratio") == full for name in ("low-data-controls", "low-data", "ck-all"))
    assert all(option(sweeps[name], "--ratio") == short for name in ("low-data-epochs", "external"))
    assert option(sweeps["ck-all-controls"], "--ratio") == ["0,1,5,10"]
    low = {name for name, c in sweeps.items() if option(c, "--train-fraction") == ["0.25"]}
    assert low == {"low-data-controls", "low-data", "low-data-preset", "low-data-epochs"}
    # The positive control where subjects are left out; augmentation in both regimes. Each regime's controls are
    # trained once, before the GAN settings that reuse them (their sweeps train no control cell themselves).
    assert option(sweeps["low-data-controls"], "--control") == ["augment", "real"] and "--controls-only" in sweeps["low-data-controls"]
    assert option(sweeps["ck-all-controls"], "--control") == ["augment"] and "--controls-only" in sweeps["ck-all-controls"]
    assert not any(option(command, "--control") for name, command in sweeps.items() if not name.endswith("-controls"))
    # Two generator fits per fold wherever sets are made (or read) per fold: the intervals cover another fit.
    assert {name for name, c in sweeps.items() if option(c, "--generator-fits") == ["2"]} == {
        "low-data", "low-data-preset", "ck-all", "low-data-epochs"}
    # Generators fitted per fold by the sweep itself: the defaults (implied: no flag), at the study's steps.
    assert "--identity" not in sweeps["ck-all"] and "--identity" not in sweeps["low-data"]
    assert option(sweeps["ck-all"], "--train-steps") == option(sweeps["low-data"], "--train-steps") == ["500"]
    # The preset's recipe (benchmarks/results/generators.md), fitted per fold like the defaults, at the same steps.
    assert option(sweeps["low-data-preset"], "--preset") == ["low-data"] and "--identity" not in sweeps["low-data-preset"]
    assert option(sweeps["low-data-preset"], "--train-steps") == []  # the preset's own 500: no flag needed
    # Both budgets on low-data's own per-fold sets.
    assert option(sweeps["low-data-epochs"], "--budget") == ["epochs"] and "--budget" not in sweeps["low-data"]
    assert option(sweeps["low-data-epochs"], "--synthetic") == ["reproduction-work/sweeps/low-data/synthetic"]
    # External: one set fitted on FER2013's training rows, the paper's CNN.
    assert option(sweeps["external"], "--classifier") == ["paper-cnn"]
    [external_set] = option(sweeps["external"], "--synthetic")
    assert option(steps["generate external"], "--data")[0].endswith("fer2013-subset.csv.gz")
    assert option(steps["generate external"], "--out") == [external_set] and external_set.startswith("reproduction-work/sets/")
    # Each step comes after what it needs.
    order = list(steps)
    for needs, then in (("low-data-controls", "low-data"), ("low-data-controls", "low-data-preset"),
                        ("ck-all-controls", "ck-all"), ("low-data", "low-data-epochs")):
        assert order.index(f"benchmark {needs}") < order.index(f"benchmark {then}")
    assert order.index("generate external") < order.index("benchmark external")


def test_quick_keeps_every_setting_with_fewer_folds_and_ratios(ck48):
    default, quick = planned(ck48), planned(ck48, "--quick")
    assert list(quick) == list(default)
    for label, command in quick.items():
        if label.startswith("benchmark"):
            assert option(command, "--folds") == ["2"] and len(option(command, "--ratio")[0].split(",")) < 4, label


def test_only_plans_what_a_setting_needs(ck48):
    steps = planned(ck48, "--only", "low-data-epochs")
    assert list(steps) == ["benchmark low-data-controls", "benchmark low-data", "benchmark low-data-epochs"]


def test_a_step_killed_midway_still_counts_its_time(tmp_path):
    """timings.json keeps each running step's time so far and the wall clock; the next run adds it to that step
    and carries the wall clock on."""
    steps = reproduce.Reproduction(tmp_path / "data", tmp_path, tmp_path / "results", reproduce.DEFAULT, lanes=1)
    steps.write_timings({"benchmark low-data": 60.0, reproduce.WALL: 400.0,
                         reproduce.RUNNING: {"benchmark low-data": 300.0, "benchmark ck-all": 100.0}})
    steps.resume()
    steps.timed_step("benchmark low-data-preset", [sys.executable, "-c", "print('trained')"])
    timings = steps.timings()
    assert timings["benchmark low-data"] == 360.0 and timings["benchmark ck-all"] == 100.0
    assert 0 < timings["benchmark low-data-preset"] < 30 and not timings.get(reproduce.RUNNING)
    assert 400 < timings[reproduce.WALL] < 430
    assert (tmp_path / "logs" / "benchmark-low-data-preset.log").read_text() == "trained\n"


def test_two_lanes_run_the_regimes_at_once_one_tensorflow_thread_each(tmp_path, ck48):
    """Each regime's steps form a lane (the external set is made in the low-data lane, to even them out), each step
    waiting for the steps it needs; two lanes run at once, each step a process with one TensorFlow thread, every
    step's time recorded and the study's time the wall clock."""
    study = reproduce.Reproduction(ck48.parent, tmp_path, tmp_path / "results", reproduce.DEFAULT)
    plan = study.plan([])
    lanes = {label: study.lane_of(label, setting) for label, _, setting in plan}
    assert {label for label, lane in lanes.items() if lane == "low-data"} == {"generate external",
        "benchmark low-data-controls", "benchmark low-data", "benchmark low-data-preset", "benchmark low-data-epochs"}
    assert {label for label, lane in lanes.items() if lane == "all"} == {
        "benchmark ck-all-controls", "benchmark ck-all", "benchmark external"}
    needs = {label: study.needs(setting) for label, _, setting in plan}
    assert needs["benchmark external"] == ["generate external"]  # waited for, across the lanes
    assert needs["benchmark low-data-epochs"] == ["benchmark low-data"]
    assert needs["benchmark ck-all"] == ["benchmark ck-all-controls"] and needs["benchmark low-data-controls"] == []
    step = [sys.executable, "-c", "import os, time; assert os.environ['TF_NUM_INTRAOP_THREADS'] == "
            "os.environ['TF_NUM_INTEROP_THREADS'] == '1'; time.sleep(2)"]
    began = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda label: study.timed_step(label, step), ["benchmark low-data", "benchmark ck-all"]))
    assert time.perf_counter() - began < 3.5  # at once, not one after the other
    timings = study.timings()
    assert timings["benchmark low-data"] >= 2 and timings["benchmark ck-all"] >= 2
    assert 2 <= timings[reproduce.WALL] < timings["benchmark low-data"] + timings["benchmark ck-all"]


def test_a_step_waits_for_what_it_needs_from_the_other_lane_and_a_failure_stops_both(tmp_path, ck48):
    def study_whose_steps(step):
        study = reproduce.Reproduction(ck48.parent, tmp_path, tmp_path / "results", reproduce.DEFAULT)
        study.run_step, study.write_overview = step, lambda settings: None
        return study

    ran = []

    def slow_external_set(label, command, setting, total):
        time.sleep(1 if label == "generate external" else 0)
        ran.append(label)

    study_whose_steps(slow_external_set).run(["external", "ck-all"])
    assert ran.index("generate external") < ran.index("benchmark external")  # made in the low-data lane
    ran.clear()

    def failing_external_set(label, command, setting, total):
        if label == "generate external":
            raise subprocess.CalledProcessError(1, ["generate"])
        ran.append(label)

    with pytest.raises(subprocess.CalledProcessError):
        study_whose_steps(failing_external_set).run(["external", "ck-all"])
    assert "benchmark external" not in ran


def test_each_benchmark_step_runs_its_sweep_from_the_toml_it_writes(tmp_path, ck48):
    """A step runs `fersyn benchmark --config` on its Sweep written as TOML; the recorded command gives the same sweep."""
    from fersyn import Sweep
    from fersyn.sweep.config import read_config

    study = reproduce.Reproduction(ck48.parent, tmp_path / "work", tmp_path / "results", reproduce.DEFAULT)
    for label, command, setting in study.plan([]):
        if not label.startswith("benchmark"):
            continue
        runnable = study.runnable(label, setting, command)
        config = REPOSITORY / option(runnable, "--config")[0]
        sweep = Sweep(**read_config(config))
        assert sweep == (study.setting_sweep(setting) if setting else study.controls_sweep(
            "low-data" if "low-data" in label else "all")), label
        assert option(runnable, "--out") == option(command, "--out"), label
        if setting is not None and not setting.sets_of:
            generators = ("real", "fields") if setting.preset else ("dcgan", "stargan")  # the preset's, or the defaults
            assert (sweep.identity, sweep.expression, sweep.generator_fits) == (*generators, 2), label
