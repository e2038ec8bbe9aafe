"""Plugin options: declared with types, defaults and help; set from KEY=VALUE; checked; shown."""

import dataclasses
import json
import re

import pytest
from helpers import assert_one_line_error, run

from fersyn.errors import FersynError
from fersyn.plugins.contracts import option
from fersyn.plugins.options import build_options, option_specs, parse_pairs
from fersyn.plugins.registry import create_plugin


@dataclasses.dataclass
class Settings:
    steps: int = option(100, "training steps")
    rate: float = option(0.5, "a rate")
    augment: bool = option(True, "whether to augment")
    mode: str = option("fast", "how")
    limit: int | None = option(None, "an optional limit")


pytestmark = pytest.mark.usefixtures("plugins")


def test_specs_give_type_default_and_help():
    specs = {spec.name: spec for spec in option_specs(Settings)}
    assert (specs["steps"].type, specs["steps"].default, specs["steps"].help) == (int, 100, "training steps")
    assert specs["limit"].type is int and specs["limit"].optional and specs["limit"].type_name == "int or none"


def test_strings_from_the_command_line_become_typed_values():
    settings = build_options(Settings, parse_pairs(["steps=7", "rate=2", "augment=no", "mode=slow", "limit=none"], "--x-opt"), "p")
    assert settings == Settings(steps=7, rate=2.0, augment=False, mode="slow", limit=None)
    assert build_options(Settings, {"rate": 1, "limit": 3}, "p") == Settings(rate=1.0, limit=3)  # typed values from Python


@pytest.mark.parametrize("settings, message", [
    ({"stepz": "1"}, "p: unknown option stepz (valid: steps, rate, augment, mode, limit"),
    ({"steps": "1.5"}, "p: option steps takes int, not '1.5'"),
    ({"augment": "maybe"}, "p: option augment takes bool, not 'maybe'"),
    ({"steps": True}, "p: option steps takes int, not True"),
    ({"rate": "fast"}, "p: option rate takes float, not 'fast'"),
])
def test_bad_settings_name_the_rule(settings, message):
    with pytest.raises(FersynError, match=message.replace("(", r"\(")):
        build_options(Settings, settings, "p")


def test_pairs_need_an_equals_sign():
    with pytest.raises(FersynError, match="--identity-opt 'steps': write KEY=VALUE"):
        parse_pairs(["steps"], "--identity-opt")


def test_builtin_plugins_take_their_options():
    assert create_plugin("identity", "dcgan", steps="50").options.steps == 50
    assert create_plugin("classifier", "small-cnn", width=8).build_model((48, 48, 1), 6).layers[0].filters == 8
    with pytest.raises(FersynError, match="classifier plugin 'paper-cnn': unknown option width"):
        create_plugin("classifier", "paper-cnn", width=8)


def test_plugins_name_shows_options_and_json():
    shown = run("plugins", "stargan")
    assert shown.exit_code == 0
    assert "stargan (expression plugin, origin: built-in" in shown.output
    assert re.search(r"^lambda_expr +float +0\.5 ", shown.output, re.M)  # name, type, default in columns
    listing = json.loads(run("plugins", "dcgan", "--json").output)
    assert listing["kind"] == "identity" and {"name": "steps", "type": "int", "default": 3000,
                                              "help": "training steps (≈ 7 min on a 2-core CPU at 48×48)"} in listing["options"]
    assert_one_line_error(run("plugins", "stargn"), "did you mean 'stargan'?")


def test_options_must_be_a_dataclass_of_simple_types():
    class NotADataclass:
        steps = 3

    @dataclasses.dataclass
    class Listy:
        sizes: tuple = option((1, 2), "sizes")

    with pytest.raises(FersynError, match="p: its Options must be a @dataclasses.dataclass"):
        option_specs(NotADataclass, "p")
    with pytest.raises(FersynError, match="p: option sizes must be int, float, bool or str"):
        option_specs(Listy, "p")


def test_cli_option_flags_are_checked_before_any_work(tmp_path):
    assert_one_line_error(run("generate", "--out", tmp_path / "s.h5", "--identity-opt", "stepz=3"),
                          "identity plugin 'dcgan': unknown option stepz (valid: steps,")
    assert_one_line_error(run("generate", "--out", tmp_path / "s.h5", "--expression-opt", "lambda_expr=high"),
                          "expression plugin 'stargan': option lambda_expr takes float, not 'high'")
    assert_one_line_error(run("benchmark", "--ratio", "0", "--classifier", "small-cnn", "--classifier", "paper-cnn",
                              "--classifier-opt", "width=8", "--out", tmp_path / "b"),
                          "classifier plugin 'paper-cnn': unknown option width")
    assert_one_line_error(run("benchmark", "--ratio", "0", "--classifier-opt", "resnet.width=8", "--out", tmp_path / "b"),
                          "--classifier-opt names resnet, which is not among --classifier small-cnn")
    assert_one_line_error(run("benchmark", "--ratio", "0", "--classifier-opt", "width=wide", "--out", tmp_path / "b"),
                          "classifier plugin 'small-cnn': option width takes int, not 'wide'")
    assert_one_line_error(run("benchmark", "--ratio", "0", "--expression-opt", "steps=3", "--out", tmp_path / "b"),
                          "--identity-opt/--expression-opt set generators")
    assert not (tmp_path / "b").exists()


def test_apply_time_options_are_listed_as_such_and_left_out_of_what_a_fit_depends_on():
    from fersyn.plugins.options import fit_options

    @dataclasses.dataclass
    class EditOptions:
        steps: int = option(10, "training steps")
        strength: float = option(1.0, "how strongly apply() edits", apply_time=True)

    specs = {spec.name: spec for spec in option_specs(EditOptions)}
    assert specs["strength"].apply_time and not specs["steps"].apply_time
    assert fit_options(EditOptions(steps=3, strength=0.5)) == {"steps": 3}
