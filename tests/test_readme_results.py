"""README's "Results" section comes from benchmarks/results/ (the run of benchmarks/reproduce.py): its tables
are the overview's, and every number of its prose is checked here against reproduction.json and the
settings' summary.json files. A number edited in the README, or a result file that changes, fails here."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))
from reproduce import QUICK, SETTINGS, _efficiency, _points, headline  # noqa: E402

OVERVIEW = json.loads((RESULTS / "reproduction.json").read_text())
QUICK_RUN = json.loads((RESULTS / "reproduction-quick.json").read_text())


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    found = re.search(r"\n## Results: CK\+48 and FER2013\n(.*?)\n## ", text, re.S)
    assert found, "README.md lost its Results section"
    return found[1]


def _prose() -> str:
    """The section without its tables (checked whole below) and image links, on one line."""
    lines = [line for line in _section().splitlines() if not line.startswith(("|", "!["))]
    return " ".join(" ".join(lines).split())


def _table(text: str, header_start: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def _row(name: str) -> dict:
    return OVERVIEW["settings"][name]


def _summary(name: str) -> dict:
    (result,) = json.loads((RESULTS / name / "summary.json").read_text())["classifiers"].values()
    return result["analysis"]


def pts(entry: dict) -> str:
    """A gain as the README writes it: signed points, the 95 % interval, and the corrected p-value if any."""
    return _points(entry).replace("-", "−")


@pytest.mark.parametrize("header", ["| setting |", "| sets of |"])
def test_the_results_tables_are_the_overviews(header):
    overview = _table((RESULTS / "README.md").read_text(), header)
    readme = _table(_section(), header)
    assert readme == [re.sub(r"\]\((?=[\w-]+/table\.md\))", "](benchmarks/results/", line) for line in overview]


def test_the_overview_is_what_the_settings_summaries_give():
    for setting in SETTINGS:
        assert OVERVIEW["settings"][setting.name] == json.loads(json.dumps(headline(
            json.loads((RESULTS / setting.name / "summary.json").read_text())))), setting.name


def test_the_figures_shown_are_in_the_results():
    shown = re.findall(r"!\[[^\]]*\]\((benchmarks/results/[^)]+)\)", _section())
    assert {Path(path).name for path in shown} == {"regime-all.png", "regime-low-data.png"}
    assert all((ROOT / path).is_file() for path in shown)


def test_the_design_and_time_sentences_are_the_recorded_run():
    text, scale = _prose(), OVERVIEW["scale"]
    assert (f"{scale['folds']} subject folds × {scale['seeds']} seeds") in text
    assert f"Ratios {scale['ratios'].replace(',', ', ')}" in text
    assert f"the augmentation control with all subjects at {scale['all_control_ratios'].replace(',', ', ')})" in text
    faces = {name: quality["training_faces"] for name, quality in OVERVIEW["generated_sets"].items()}
    assert f"all training subjects ({min(faces['ck-all'])}–{max(faces['ck-all'])} faces a fold)" in text
    assert f"a quarter of them (low data, {min(faces['low-data'])}–{max(faces['low-data'])} faces)" in text
    assert f"({scale['short_ratios'].replace(',', ', ')} for the preset, the epochs budget and paper-cnn" in text
    assert f"dcgan + stargan, {scale['generator_steps']:,} steps each" in text
    assert (f"small-cnn gets {scale['small_cnn_steps']} steps a cell ({scale['low_data_steps']} with a quarter of the "
            f"subjects), paper-cnn {scale['paper_cnn_steps']}; the epochs budget up to {scale['max_epochs']} passes") in text
    minutes = OVERVIEW["seconds_total"] / 60
    assert minutes <= 120  # the budget for the whole study
    assert f"**Time.** {minutes:.0f} min alone on this machine" in text
    named = {"generate external": "fitting the external generators", "judge the sets": "judging the sets"}
    for label, seconds in OVERVIEW["seconds_per_command"].items():
        assert f"{named.get(label, label.removeprefix('benchmark '))} {seconds / 60:.0f} min" in text, label


def test_the_quick_sentence_is_the_recorded_quick_run():
    # The recorded run predates generator fits: README says so, and names the plan that replaces it.
    assert QUICK_RUN["scale"] == {k: v for k, v in QUICK.__dict__.items() if k != "generator_fits"} | {
        "folds": 3, "generator_steps": 300, "preset_steps": 300}
    assert (f"`--quick`: {QUICK.folds} folds × {QUICK.seeds} seeds × {QUICK.generator_fits} fits, every generator "
            f"{QUICK.generator_steps} steps") in _prose()
    minutes = QUICK_RUN["seconds_total"] / 60
    assert minutes <= 25
    scale = QUICK_RUN["scale"]
    assert (f"`--quick` ({scale['folds']} folds × {scale['seeds']} seeds, ratios {scale['ratios'].replace(',', ', ')}, "
            f"every generator {scale['generator_steps']} steps) took {minutes:.0f} min") in _prose()


def test_every_number_in_the_results_prose_has_a_source():
    """Each number of the prose is one the results files give, as the README formats them (or the paper's)."""
    sourced = {"2023", "16", "5", "0.25", "25"}  # the paper's year, its +16 % at 5×; a quarter of the subjects

    def add(value):
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, dict):
            for item in value.values():
                add(item)
        elif isinstance(value, list):
            for item in value:
                add(item)
        elif isinstance(value, (int, float)):
            for scaled in (value, 100 * value, value / 60):
                sourced.update({f"{abs(scaled):.0f}", f"{abs(scaled):.1f}", f"{abs(scaled):.2f}", f"{abs(scaled):g}",
                                f"{abs(scaled):,.0f}", f"{abs(scaled):.2g}"})
        elif isinstance(value, str):
            sourced.update(re.findall(r"\d+(?:\.\d+)?", value))

    add(OVERVIEW)
    add(QUICK_RUN)
    add(json.loads((RESULTS / "generators.json").read_text()))  # the recipes the preset comes from
    import pandas as pd

    for setting in SETTINGS:  # the steps cells took (the epochs budget gives each its own)
        add(pd.read_csv(RESULTS / setting.name / "results.csv").groupby("ratio")["steps"].mean().tolist())
    for setting in SETTINGS:
        add(json.loads((RESULTS / setting.name / "summary.json").read_text())["classifiers"])
    numbers = re.findall(r"(?<![\w.])\d+(?:[.,]\d+)*", _prose())
    unsourced = sorted({number for number in numbers if number not in sourced})
    assert not unsourced, f"numbers in README's Results with no source in benchmarks/results/: {unsourced}"


def _gain_at(name: str, ratio: float, curve: str = "synthetic") -> dict:
    return next(e for e in _summary(name)["curves"][curve]["ratios"] if e["ratio"] == ratio)


def _gain(entry: dict, p: bool = True) -> str:
    """'+4.7 [+1.9, +7.8]' and, with p, ' (p 0.017)', as the README writes gains."""
    text = pts({"value": entry["gain"], "ci95": entry["gain_ci95"]})
    return text + (f" (p {entry['gain_p_holm']:.2g})" if p else "")


def _accuracy(name: str) -> str:
    return f"{100 * _row(name)['real_only']['value']:.1f} %"


def test_the_verdict_on_the_papers_claim_is_stated_with_its_power():
    text = _prose()
    all_five, low_five = _gain_at("ck-all", 5.0), _gain_at("low-data", 5.0)
    assert (f"by {_gain(all_five, p=False)} points with all the training subjects and by {_gain(low_five, p=False)} "
            "with a quarter of them") in text
    sixteen = [0.16 * _row(name)["real_only"]["value"] for name in ("ck-all", "low-data")]
    assert f"A 16 % gain would be +{100 * sixteen[0]:.1f} and +{100 * sixteen[1]:.1f} points here" in text
    assert f"(16 % of real only's {100 * _row('ck-all')['real_only']['value']:.1f} and " \
           f"{100 * _row('low-data')['real_only']['value']:.1f} %)" in text
    mde = [all_five["gain_mde"], low_five["gain_mde"]]
    assert f"minimum detectable effects at that ratio ({100 * mde[0]:.1f} and {100 * mde[1]:.1f} points:" in text
    assert "not reproduced, and the study had the power to see it" in text
    assert all(not entry["gain_significant"] or entry["gain"] < 0 for entry in (all_five, low_five))
    assert all(s > m for s, m in zip(sixteen, mde))  # "above the minimum detectable effects"
    from fersyn.analysis.rules import POWER

    assert f"points: gains the sweeps detect with {100 * POWER:.0f} % power)" in text


def test_the_low_data_sentences():
    text = _prose()
    gan = _summary("low-data")["curves"]["synthetic"]["ratios"]
    best = _gain_at("low-data", 0.5)
    assert _row("low-data")["best_synthetic_ratio"] == 0.5 and best["gain_significant"]
    assert f"**Low data, default generators**: real only {_accuracy('low-data')}; synthetic faces add " \
           f"{_gain(best, p=False)} points at ratio 0.5 (p {best['gain_p_holm']:.2g})" in text
    others = [e["gain"] for e in gan if e["ratio"] >= 1]
    assert not any(e["gain_significant"] for e in gan if e["ratio"] >= 1)
    assert f"and {100 * min(others):+.1f} to {100 * max(others):+.1f} at ratios 1–10, none significant" in text
    control = _summary("low-data")["curves"]["unused real"]
    best_control = max(control["ratios"][1:], key=lambda e: e["gain"])
    assert (f"add +{100 * _gain_at('low-data', 0.5, 'unused real')['gain']:.1f} at 0.5 and up to "
            f"+{100 * best_control['gain']:.1f} at {best_control['ratio']:g}") in text
    assert f"the GAN's efficiency is {_efficiency(_row('low-data')['efficiency'])} at 0.5" in text
    versus = _row("low-data")["minus_augmented"]
    assert versus["p_holm"] >= 0.05 and f"Against augmentation it gains {pts(versus)} at 0.5, not significant" in text
    assert _row("low-data")["bound"] is None and "The bound is inconclusive" in text
    assert f"(minimum detectable effect {100 * _row('low-data')['curve_mde']:.1f} points)" in text
    # The only significant gain of a GAN on the CK+ test faces at a fixed budget.
    fixed = [s.name for s in SETTINGS if s.budget == "steps"]
    significant = [(name, e["ratio"]) for name in fixed for e in _summary(name)["curves"]["synthetic"]["ratios"]
                   if e["ratio"] > 0 and e["gain_significant"] and e["gain"] > 0]
    assert significant == [("low-data", 0.5)]


def test_the_preset_sentence():
    text = _prose()
    one, five = _gain_at("low-data-preset", 1.0), _gain_at("low-data-preset", 5.0)
    efficiency = next(e for e in _summary("low-data-preset")["efficiency"]["synthetic"] if e["ratio"] == 1.0)
    assert (f"**`--preset low-data`**: {_gain(one, p=False)} at ratio 1 (p {one['gain_p_holm']:.2g}) and +{100 * five['gain']:.1f} at 5, efficiency "
            f"{_efficiency(efficiency)} at 1") in text
    recipes = json.loads((RESULTS / "generators.json").read_text())
    from fersyn.generation.presets import PRESETS

    assert f"Its +{100 * recipes[PRESETS['low-data'].evidence]['gain']:.1f} in" in text


def test_the_all_subjects_sentences():
    text = _prose()
    best = _gain_at("ck-all", 0.5)
    assert _row("ck-all")["best_synthetic_ratio"] == 0.5 and not best["gain_significant"]
    assert f"real only {_accuracy('ck-all')}; synthetic faces help at no ratio (the best, 0.5: {_gain(best, p=False)})" in text
    ten = _gain_at("ck-all", 10.0)
    assert f"−{-100 * _gain_at('ck-all', 5.0)['gain']:.1f} at 5, {_gain(ten, p=False)} at 10 (p {ten['gain_p_holm']:.2g})" in text
    augment = [e["gain"] for e in _summary("ck-all")["curves"]["augmented"]["ratios"][1:]]
    assert f"change nothing (−{-100 * min(augment):.1f} to −{-100 * max(augment):.1f})" in text
    versus = next(e for e in _summary("ck-all")["comparisons"][0]["ratios"] if e["ratio"] == 10.0)
    assert f"below augmentation at 10: {pts({'value': versus['value'], 'ci95': versus['ci95']})} (p {versus['p_holm']:.2g})" in text


def test_the_budget_sentence():
    import pandas as pd

    text = _prose()
    cells = pd.read_csv(RESULTS / "low-data-epochs" / "results.csv")
    steps = cells.groupby("ratio")["steps"].mean()
    five = _gain_at("low-data-epochs", 5.0)
    assert f"Real only stopped after {steps[0.0]:.0f} steps on average and stayed near chance " \
           f"({_accuracy('low-data-epochs')}), while ratio 5 trained for {steps[5.0]:.0f}" in text
    assert f"the GAN then \"gains\" {_gain(five, p=False)} points, from the same sets that gain " \
           f"+{100 * _gain_at('low-data', 5.0)['gain']:.1f} at a fixed number of steps" in text


def test_the_external_and_cross_data_sentences():
    text = _prose()
    one, five = _gain_at("external", 1.0), _gain_at("external", 5.0)
    assert f"real only {_accuracy('external')} (at {OVERVIEW['scale']['paper_cnn_steps']} steps paper-cnn was still " \
           "improving in every cell)" in text
    late = json.loads((RESULTS / "external" / "summary.json").read_text())["classifiers"]["paper-cnn"]["late_peaks"]
    assert all(arm["late"] == arm["cells"] for arm in late.values())
    assert f"hurt, {_gain(one, p=False)} at ratio 1 and {_gain(five, p=False)} at 5 (p {five['gain_p_holm']:.2g})" in text

    def cross(name):
        (result,) = json.loads((RESULTS / name / "summary.json").read_text())["classifiers"].values()
        return result["cross"]

    fixed = [s.name for s in SETTINGS if s.budget == "steps"]
    real = sorted(next(a["value"] for a in cross(name)["arms"] if a["curve"] == "real only") for name in fixed)
    assert f"reach {100 * real[0]:.1f} % (low data) to {100 * real[-1]:.1f} % real only" in text
    assert not any(e.get("gain_significant") for name in fixed for e in cross(name)["curves"]["synthetic"]["ratios"])
    external = next(e for e in cross("external")["curves"]["synthetic"]["ratios"] if e["ratio"] == 1.0)
    assert f"the external generators' included ({_gain(external, p=False)} at ratio 1, p {external['gain_p_holm']:.2g})" in text
    augment = next(e for e in cross("low-data")["curves"]["augmented"]["ratios"] if e["ratio"] == 10.0)
    assert augment["gain_significant"] and f"({_gain(augment, p=False)} at 10, p {augment['gain_p_holm']:.2g})" in text
    assert all(e["gain_significant"] for e in cross("low-data")["curves"]["unused real"]["ratios"][1:])


def test_the_power_and_fidelity_sentences():
    text = _prose()
    widths, mdes = [], []
    for setting in SETTINGS:
        analysis = _summary(setting.name)
        widths += [(arm["ci95"][1] - arm["ci95"][0]) / 2 for arm in analysis["arms"]]
        mdes += [e["gain_mde"] for e in analysis["curves"]["synthetic"]["ratios"] if e["ratio"] > 0]
    assert f"95 % intervals of single arms span ±{100 * min(widths):.1f}–{100 * max(widths):.1f} points" in text
    assert f"minimum detectable effects of the GAN's gains are {100 * min(mdes):.1f}–{100 * max(mdes):.1f} points" in text
    recipes = json.loads((RESULTS / "generators.json").read_text())
    controls_real_only = {row["real_only"] for row in recipes.values()}
    assert len(controls_real_only) == 1
    assert f"(real only, low data: {_accuracy('low-data')} at {OVERVIEW['scale']['low_data_steps']} steps, " \
           f"{100 * controls_real_only.pop():.1f} % at 1,000 in generators.md)" in text
    fidelity = {name: OVERVIEW["generated_sets"][name]["fidelity"] for name in ("low-data", "ck-all")}
    fer = sorted(100 * f["fer-mini-xception"]["mean"] for f in fidelity.values())
    reference = sorted(100 * f["reference"]["mean"] for f in fidelity.values())
    assert f"intended expression for only {fer[0]:.0f}–{fer[1]:.0f} % of the default sets' faces" in text
    assert f"trained on the same faces as the generators, {reference[0]:.0f}–{reference[1]:.0f} %)" in text
    faces = [n for quality in OVERVIEW["generated_sets"].values() if quality["fitted_on"] == "CK+48"
             for n in quality["training_faces"]]
    assert f"on {min(faces)}–{max(faces)} faces" in text
