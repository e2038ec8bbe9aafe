"""The study's records (benchmarks/results/, written by benchmarks/reproduce.py): the overview is what the settings'
summaries give, and the runs kept their time limits. README's paragraph on the study is written from the overview
by benchmarks/write_docs.py (tests/test_api.py checks it is up to date)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
from reproduce import QUICK, SETTINGS, headline  # noqa: E402

from fersyn import Summary  # noqa: E402

OVERVIEW = json.loads((RESULTS / "reproduction.json").read_text())
QUICK_RUN = json.loads((RESULTS / "reproduction-quick.json").read_text())


def test_the_overview_is_what_the_settings_summaries_give():
    run = [setting.name for setting in SETTINGS if setting.name in OVERVIEW["settings"]]
    assert sorted(run + OVERVIEW.get("not_run", [])) == sorted(setting.name for setting in SETTINGS)
    for name in run:
        assert OVERVIEW["settings"][name] == json.loads(json.dumps(headline(Summary.read(RESULTS / name)))), name
    for name in OVERVIEW.get("not_run", []):  # no numbers of another run beside this one's
        assert not (RESULTS / name).exists(), name


def test_the_figures_of_the_overview_are_in_the_results():
    overview = (RESULTS / "README.md").read_text()
    for figure in ("regime-all.png", "regime-low-data.png"):
        assert figure in overview and (RESULTS / figure).is_file()


def test_the_recorded_time_fits_its_steps_less_what_a_restart_threw_away():
    """The study's time is measured, not tested against its limit (benchmarks/reproduce.py prints it; README and the
    overview quote it): here only that the record adds up, and names every step of the plan it ran. Its time is the
    wall clock: with two lanes, less than its steps' times added (they overlap), more than the longest; with one,
    at least their sum."""
    steps = OVERVIEW["seconds_per_command"]
    assert set(steps) <= {f"benchmark {s.name}" for s in SETTINGS} | {
        "benchmark low-data-controls", "benchmark ck-all-controls", "generate external", "judge the sets"}
    if OVERVIEW.get("lanes", 1) > 1:
        assert max(steps.values()) < OVERVIEW["seconds_total"] < sum(steps.values())
    else:
        assert OVERVIEW["seconds_total"] > sum(steps.values()) - 1e-6
    for step, thrown in OVERVIEW.get("seconds_discarded", {}).items():
        assert step in steps and thrown["seconds"] > 0 and thrown["why"], step


def test_the_recorded_quick_run_is_the_quick_scale_and_every_setting():
    assert QUICK_RUN["scale"] == QUICK.__dict__
    assert set(QUICK_RUN["settings"]) == {setting.name for setting in SETTINGS} and not QUICK_RUN["not_run"]
