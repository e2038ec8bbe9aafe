"""Named generator recipes (fersyn/generation/presets.py): what the user gives wins, the preset is what was measured,
and the README's verdict on it is the recorded one."""

import json
import sys
from pathlib import Path

import pytest
from helpers import assert_one_line_error, run

from fersyn.data.synthetic import read_synthetic_attributes
from fersyn.errors import FersynError
from fersyn.generation.presets import DEFAULTS, PRESETS, with_preset
from fersyn.sweep.spec import Sweep

ROOT = Path(__file__).resolve().parents[1]
RECIPES = json.loads((ROOT / "benchmarks" / "results" / "recipes.json").read_text())
sys.path.insert(0, str(ROOT / "benchmarks"))
from generator_recipes import best_recipe  # noqa: E402


def test_what_the_user_gives_wins_and_plugin_options_merge_key_by_key():
    assert with_preset(None) == {**DEFAULTS, "identity_options": {}, "expression_options": {}}
    chosen = with_preset("low-data", identity="dcgan", expression_options={"strength": "2"}, train_steps=None)
    settings = PRESETS["low-data"].settings
    assert chosen["identity"] == "dcgan" and chosen["train_steps"] == settings["train_steps"]
    assert chosen["expression_options"] == {**settings.get("expression_options", {}), "strength": "2"}
    assert with_preset("low-data", expression_options={"jitter": "0"})["expression_options"]["jitter"] == "0"
    with pytest.raises(FersynError, match="unknown preset 'tiny' \\(known: low-data"):
        with_preset("tiny")


def command_line_settings(options: list[str]) -> dict:
    """generate()'s keyword arguments from the command-line options a configuration was run with."""
    pairs = dict(zip(options[::2], options[1::2]))
    settings = {"identity": pairs["--identity"], "expression": pairs["--expression"],
                "judge": pairs.get("--judge", DEFAULTS["judge"]), "train_steps": int(pairs["--train-steps"]),
                "filter_confidence": float(pairs["--filter-confidence"]) if "--filter-confidence" in pairs else None}
    expression_options = [value.split("=", 1) for flag, value in zip(options[::2], options[1::2]) if flag == "--expression-opt"]
    return {**settings, **({"expression_options": dict(expression_options)} if expression_options else {})}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_is_the_configuration_that_was_measured(name):
    """Its verdict and numbers are written into docs/generate.md from the same record (benchmarks/write_docs.py)."""
    preset = PRESETS[name]
    assert preset.evidence == best_recipe(RECIPES)  # the best of the recipes measured, by the rule the table states
    row = RECIPES[preset.evidence]  # its numbers are in benchmarks/results/generators.md
    assert {key: value for key, value in with_preset(name).items() if value not in (None, {})} == {
        key: value for key, value in {**DEFAULTS, **command_line_settings(row["options"])}.items() if value is not None}


def test_a_sweep_takes_a_preset_only_where_it_fits_generators():
    spec = Sweep(ratios=(0, 1), preset="low-data", train_steps=8)
    assert (spec.identity, spec.expression, spec.train_steps) == ("real", "fields", 8)
    assert "preset" not in Sweep(ratios=(0, 1)).record() and spec.record()["preset"] == "low-data"
    with pytest.raises(FersynError, match="`preset` low-data sets the generators a sweep fits"):
        Sweep(ratios=(0,), controls=("augment",), controls_only=True, preset="low-data")


@pytest.mark.slow
def test_generate_with_a_preset_records_it_and_what_the_user_changed(tmp_path, fer):
    out = tmp_path / "low.h5"
    result = run("-q", "generate", "--data", "toy", "--image-size", 32, "--preset", "low-data", "--train-steps", 3,
                 "--judge", "fer-mini-xception", "--filter-confidence", "0.01", "--count", 24, "--out", out)
    assert result.exit_code == 0, result.output
    provenance = read_synthetic_attributes(out)["provenance"]
    assert provenance["preset"] == "low-data" and provenance["identity"]["plugin"] == "real"
    assert provenance["expression"]["plugin"] == "fields"
    assert provenance["expression"]["options"]["steps"] == 3 and provenance["filter"]["confidence"] == 0.01
    assert_one_line_error(run("generate", "--preset", "tiny", "--out", tmp_path / "t.h5"), "Invalid value for '--preset': 'tiny' is not")


def test_the_best_recipe_is_the_target_else_a_significant_gain_else_the_most_faithful_faces():
    def row(gain: float, significant: bool, fidelity: float, met: bool = False, options: tuple = ()) -> dict:
        return {"gain": gain, "gain_significant": significant, "target_met": met,
                "independent_fidelity": {"fer-mini-xception": fidelity}, "options": list(options)}

    rows = {"a": row(0.03, False, 0.2), "b": row(0.01, False, 0.5), "c": row(0.02, False, 0.4)}
    assert best_recipe(rows) == "b"  # no gain significant: the faces the independent judges read best
    rows["d"] = row(0.02, True, 0.1)
    assert best_recipe(rows) == "d"  # a significant gain beats any fidelity
    rows["e"] = row(0.05, True, 0.9, options=("--pretrain", "fer.csv"))
    assert best_recipe(rows) == "d"  # a preset cannot name the user's pretraining data
    rows["f"] = row(0.015, True, 0.7, met=True)
    assert best_recipe(rows) == "f"  # the target met wins
