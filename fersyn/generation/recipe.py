"""`Recipe`: what makes a synthetic set — the identity and expression generators, their options and steps, the judge
that scores (and may filter) it, a named preset that fills in what is left out, pretraining on external faces, and
the precision of training. Its settings are defined once here (fersyn.settings) for the Python API and the command
line alike; `fersyn benchmark`'s Sweep is a Recipe too."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from fersyn.generation.presets import JUDGE_HELP, PRESET_HELP, PRESETS, SETTINGS, with_preset
from fersyn.runtime.precision import DEFAULT_PRECISION, PRECISION_HELP, PRECISIONS
from fersyn.settings import POSITIVE, check_settings, setting


@dataclass(frozen=True)
class Recipe:
    identity: str | None = setting(None, "Identity generator to fit and sample (default dcgan).")
    expression: str | None = setting(None, "Expression generator to fit and apply (default stargan).")
    identity_options: Mapping[str, Any] = setting(
        help="An option of the identity plugin, repeatable; `fersyn plugins NAME` lists them.", factory=dict,
        flag="--identity-opt", repeat=True, metavar="KEY=VALUE")
    expression_options: Mapping[str, Any] = setting(
        help="An option of the expression plugin, repeatable; `fersyn plugins NAME` lists them.", factory=dict,
        flag="--expression-opt", repeat=True, metavar="KEY=VALUE")
    train_steps: int | None = setting(None, "Steps to train each generator (default: each plugin's own budget).",
                                      **POSITIVE)
    judge: str | None = setting(None, JUDGE_HELP)
    filter_confidence: float | None = setting(
        None, "Keep a generated face only if the judge gives its intended emotion a probability ≥ TAU; draw more "
              "until the count is met (acceptance per emotion recorded).", metavar="TAU",
        check=lambda tau: 0 < tau < 1, rule="must lie between 0 and 1")
    preset: str | None = setting(None, PRESET_HELP, choices=tuple(PRESETS))
    pretrain: str | None = setting(None, "External faces (e.g. a FER2013 CSV: its Training rows) to pretrain each "
                                         "generator on once (cached), before `train_steps` of fine-tuning on the fold; "
                                         "refused if they hold a test face.")
    pretrain_steps: int | None = setting(None, "Steps of pretraining per generator (default: each plugin's own "
                                               "budget).", **POSITIVE)
    precision: str = setting(DEFAULT_PRECISION, PRECISION_HELP, choices=PRECISIONS)

    def __post_init__(self) -> None:
        if self.pretrain is not None:
            object.__setattr__(self, "pretrain", str(self.pretrain))
        if hasattr(super(), "__post_init__"):  # a Sweep's regime
            super().__post_init__()
        check_settings(self)

    def resolved(self) -> "Recipe":
        """The recipe with what it leaves out filled in: its preset's settings, then the built-in defaults (dcgan,
        stargan, the reference judge)."""
        return dataclasses.replace(self, **with_preset(self.preset, **{name: getattr(self, name) for name in SETTINGS}))
