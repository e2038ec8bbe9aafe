"""The README's table of the embedded default comes from benchmarks/results/embedded-default/, and that
folder's summary is what fersyn computes from its own rows: a number edited in either place fails here."""

import json
import re
from pathlib import Path

import pandas as pd

from fersyn.analysis.report import format_table, summarise
from fersyn.sweep.store import read_results

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "results" / "embedded-default"


def _readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- embedded-default-table -->\n```\n(.*?)```", text, re.S)
    assert found, "README.md lost its embedded-default table"
    return found[1]


def test_the_readme_table_is_the_recorded_runs_table():
    assert _readme_block() == (RUN / "table.txt").read_text()


def test_the_recorded_summary_is_what_its_rows_give():
    sweep = json.loads((RUN / "sweep.json").read_text())
    recomputed = summarise(read_results(RUN), sweep)
    stored = json.loads((RUN / "summary.json").read_text())
    assert recomputed == stored
    assert format_table(stored) == (RUN / "table.txt").read_text()


def test_the_recorded_run_is_the_embedded_default():
    from fersyn.cli import EMBEDDED_DEFAULT

    spec = json.loads((RUN / "sweep.json").read_text())["provenance"]["spec"]
    assert spec["data"] == EMBEDDED_DEFAULT["data"] and spec["train_fraction"] == EMBEDDED_DEFAULT["train_fraction"]
    assert spec["controls"] == list(EMBEDDED_DEFAULT["controls"]) and spec["seeds"] == EMBEDDED_DEFAULT["seeds"]
    # Sweep.train_steps was called generator_steps when this run was recorded.
    assert spec.get("train_steps", spec.get("generator_steps")) == EMBEDDED_DEFAULT["train_steps"]
    assert spec["ratios"] == [float(r) for r in EMBEDDED_DEFAULT["ratios"][0].split(",")]
    assert (spec["image_size"], spec["steps"]) == (EMBEDDED_DEFAULT["image_size"], EMBEDDED_DEFAULT["steps"])
    rows = pd.read_csv(RUN / "results.csv")
    assert set(rows["status"]) == {"ok"} and rows["key"].is_unique


def test_the_budget_sentences_come_from_the_recorded_check():
    import statistics

    check = json.loads((ROOT / "benchmarks" / "results" / "budget-check.json").read_text())
    text = " ".join((ROOT / "README.md").read_text().split())
    fifty, hundred = check["ck48_10fold_50_epochs"], check["ck48_10fold_100_epochs"]
    toy = [check[f"toy_quarter_{steps}_steps"] for steps in (400, 800, 1200)]
    assert f"with 50 real epochs, {fifty['late']} of {fifty['cells']} real-only cells" in text
    assert f"with 100 ({hundred['steps']:,} steps), {hundred['late']} of {hundred['cells']} kept weights" in text
    assert f"(median best round {statistics.median(hundred['best_rounds']):g} of {hundred['rounds']})" in text
    assert (f"moved only from {100 * fifty['mean_accuracy']:.1f} to {100 * hundred['mean_accuracy']:.1f} %") in text
    assert f"100 epochs are only {toy[0]['steps']} steps, and {toy[0]['late']} of {toy[0]['cells']} real-only" in text
    assert f"with {toy[1]['steps']} steps {toy[1]['late']} of {toy[1]['cells']}, with 1,200 none" in text
    assert toy[2]["late"] == 0 and toy[2]["mean_accuracy"] == toy[1]["mean_accuracy"]  # "at the same accuracy as 800"


def _minutes(record: dict) -> str:
    minutes, seconds = divmod(record["seconds"], 60)
    return f"{minutes} min {seconds} s"


def test_the_main_jobs_times_per_cpu_kind_come_from_the_recorded_runs():
    text = " ".join((ROOT / "README.md").read_text().split())
    runs = json.loads((ROOT / "benchmarks" / "results" / "readme-commands.json").read_text())
    native, float32 = runs["main"], runs["main-no-bf16"]
    assert "with native bfloat16" in native["cpu"] and float32["environment"] == "FERSYN_ASSUME_NO_BF16=1"
    for run in (native, float32):
        assert run["exit_code"] == 0 and run["seconds"] <= 6 * 60  # the main job's time budget, on either path
    assert f"{_minutes(native)} with native bfloat16, {_minutes(float32)} on its float32 path" in text  # the set-up line
    assert f"{_minutes(native)} after a {native['install_seconds']} s install" in text


def test_the_embedded_default_prose_comes_from_the_recorded_run():
    text = " ".join((ROOT / "README.md").read_text().split())
    analysis = json.loads((RUN / "summary.json").read_text())["classifiers"]["small-cnn"]["analysis"]
    gain = {curve: numbers["ratios"][-1] for curve, numbers in analysis["curves"].items()}
    [efficiency] = analysis["efficiency"]["synthetic"]
    synthetic = gain["synthetic"]
    said = "significant" if synthetic["gain_significant"] else "not significant"
    assert (f"mixed in at ratio 2 they change accuracy by {100 * synthetic['gain']:+.1f} points ({said}; "
            f"efficiency {efficiency['value']:+.2f})").replace("-", "−") in text
    assert f"plain augmentation ({100 * gain['augmented']['gain']:+.1f}) and, more, real faces of the subjects left " \
           f"out ({100 * gain['unused real']['gain']:+.1f}) help" in text
    assert gain["augmented"]["gain_significant"] and gain["unused real"]["gain_significant"]
    assert gain["unused real"]["gain"] > gain["augmented"]["gain"]  # "and, more"


def test_the_precision_speed_table_is_the_recorded_measurement():
    speed = json.loads((ROOT / "benchmarks" / "results" / "models-speed.json").read_text())
    text = (ROOT / "README.md").read_text()
    for name, ratio in speed["mixed_speedup"].items():
        float32, mixed = (speed["models"][f"{name} {policy}"]["steps/s"] for policy in ("float32", "mixed_bfloat16"))
        assert f"| {name} | {float32:.2f} | {mixed:.2f} | {ratio:.2f}× |" in text


def test_the_parity_sentence_is_the_recorded_measurement():
    parity = json.loads((ROOT / "benchmarks" / "results" / "precision-parity.json").read_text())
    text = " ".join((ROOT / "README.md").read_text().split())
    paper, stargan = parity["paper-cnn real-only accuracy"], parity["stargan expression fidelity (toy)"]
    small = parity["small-cnn real-only accuracy"]
    assert paper["within_seed_spread"] and stargan["within_seed_spread"] and not small["within_seed_spread"]
    assert (f"{100 * paper['float32_mean']:.1f} ± {100 * paper['float32_sd']:.1f} % in float32 and "
            f"{100 * paper['mixed_mean']:.1f} ± {100 * paper['mixed_sd']:.1f} % mixed (paired difference "
            f"{100 * paper['mean_difference']:+.1f} points)") in text
    assert (f"{100 * stargan['float32_mean']:.1f} ± {100 * stargan['float32_sd']:.1f} % and "
            f"{100 * stargan['mixed_mean']:.1f} ± {100 * stargan['mixed_sd']:.1f} % ({100 * stargan['mean_difference']:+.1f})") in text
    assert f"loses {-100 * small['mean_difference']:.1f} points" in text


def test_the_suite_times_per_cpu_kind_are_the_recorded_runs():
    runs = json.loads((ROOT / "benchmarks" / "results" / "readme-commands.json").read_text())
    text = " ".join((ROOT / "README.md").read_text().split())
    # A run records the README of its own commit, so a new path's time is quoted from the run after its first.
    for name, said in (("tests", "with native bfloat16"), ("tests-no-bf16", "on its float32 path")):
        if name == "tests" or name in runs:
            run = runs[name]
            assert run["exit_code"] == 0 and " failed" not in run["last_line"] and " error" not in run["last_line"]  # every test passing
            assert run["seconds"] <= 6 * 60  # the suite's time budget, on either path
            assert f"{_minutes(run)} {said}" in text


def test_the_recipes_sentence_matches_the_recorded_table():
    recipes = json.loads((ROOT / "benchmarks" / "results" / "generators.json").read_text())
    text = " ".join((ROOT / "README.md").read_text().split())
    table = (ROOT / "benchmarks" / "results" / "generators.md").read_text()
    assert recipes and all(name in table for name in recipes)  # the table shows every recorded configuration
    met = [name for name, row in recipes.items() if row["target_met"]]
    assert ("None tried so far reaches the target" in text) == (not met)
    for row in recipes.values():
        assert row["target_met"] == (row["gain_p_holm"] < 0.05 and row["efficiency"] >= 0.7
                                     and row["minus_augmented_p_holm"] < 0.05 and row["minus_augmented"] > 0)
