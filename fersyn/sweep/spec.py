"""What a benchmark sweep is: a frozen, self-validating specification (data, regime, folds, budget,
generators, controls, classifiers, seeds) and the cells it yields.

One cell = (classifier, training, ratio, seed, fold). Training is one of TRAININGS: real only
(ratio 0), real + k × |real train| synthetic faces, real + k × augmented copies of real training faces
(the augmentation control), real + k × real faces of training subjects a low-data regime left out (the
positive control: what perfect synthetic data would give), or synthetic only. The CLI and
benchmarks/reproduce.py build a Sweep; `fersyn.sweep.run.run_sweep` runs it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from fersyn.data.layout import DEFAULT_LAYOUT, Layout
from fersyn.data.regime import Regime
from fersyn.errors import FersynError
from fersyn.generation.presets import DEFAULT_JUDGE, SETTINGS, with_preset
from fersyn.generation.recipe import Recipe
from fersyn.runtime.provenance import keyed
from fersyn.settings import POSITIVE, setting

MARGIN_POINTS = 1.0  # the bound's default equivalence margin δ, in accuracy points

BUDGETS = ("steps", "epochs")
# The `training` column of a results row.
REAL_ONLY = "real-only"
REAL_PLUS_SYNTHETIC = "real+synthetic"
REAL_PLUS_AUGMENTED = "real+augmented"
REAL_PLUS_REAL = "real+real"  # the positive control
SYNTHETIC_ONLY = "synthetic-only"
TRAININGS = (REAL_ONLY, REAL_PLUS_SYNTHETIC, REAL_PLUS_AUGMENTED, REAL_PLUS_REAL, SYNTHETIC_ONLY)
CONTROLS = {"augment": REAL_PLUS_AUGMENTED, "real": REAL_PLUS_REAL}
PAPER_EPOCHS = 50  # the paper's "up to 50 epochs" (with early stopping)
# The default steps budget: this many epochs of the real training split, and at least MIN_STEPS steps.
# 50 epochs were binding on CK+48 10-fold (10 of 30 real-only cells kept weights from the last 5 rounds;
# with 100, 6 of 30 from the last 10, median best round 70.5); on a quarter of toy 100 epochs are 400 steps,
# and 2 of 3 real-only cells peaked in the last 10 % (800 steps: 1 of 3; 1,200: none, at 800's accuracy).
STEPS_BUDGET_EPOCHS = 100
MIN_STEPS = 1000


@dataclass(frozen=True)
class Cell:
    classifier: str
    training: str
    ratio: float | None  # None: synthetic only
    seed: int
    fold: int = 0

    @property
    def needs_synthetic(self) -> bool:
        return self.training in (REAL_PLUS_SYNTHETIC, SYNTHETIC_ONLY)

    def describe(self, folds: int = 1) -> str:
        mix = {REAL_ONLY: "real only", SYNTHETIC_ONLY: "synthetic only"}.get(self.training) or (  # ratio None: no :g
            f"ratio {self.ratio:g}" + {REAL_PLUS_AUGMENTED: ", augmented copies",
                                       REAL_PLUS_REAL: ", unused real faces"}.get(self.training, ""))
        where = f", fold {self.fold + 1}/{folds}" if folds > 1 else ""
        return f"{self.classifier}, {mix}, seed {self.seed}{where}"


def parse_ratios(values: str | float | Sequence[str | float]) -> tuple[float, ...]:
    """'0,1,2.5' (or several such) → sorted unique ratios; negative, non-numeric or none → error."""
    parts = [values] if isinstance(values, (str, int, float)) else list(values)
    texts = [t.strip() for part in parts for t in str(part).split(",") if t.strip()]
    if not texts:
        raise FersynError("no ratios given: pass `ratios` with a comma list such as 0,1,2,5")
    ratios = []
    for text in texts:
        try:
            ratio = float(text)
        except ValueError:
            raise FersynError(f"`ratios`: '{text}' is not a number (use a comma list such as 0,1,2.5)") from None
        if not math.isfinite(ratio) or ratio < 0:
            raise FersynError(f"`ratios`: {text} is not allowed; ratios are finite and ≥ 0 (0 = real only)")
        ratios.append(ratio)
    return tuple(sorted(set(ratios)))


@dataclass(frozen=True)
class Sweep(Recipe, Regime):
    """Everything that decides a sweep's numbers, each setting once (fersyn.settings): its default, unit, check
    and help, from which `fersyn benchmark`'s options are derived. Checked when made (FersynError, one line). Its
    regime (fersyn.data.regime) and its generators' recipe (fersyn.generation.recipe) are those of `fersyn
    generate`; the rest is the sweep's own: ratios, classifiers, seeds, budget, controls, test data, margin."""

    ratios: tuple[float, ...] = setting(
        (0.0, 1.0, 2.0, 5.0, 10.0), "Extra images per real training image: a comma list, repeatable; fractions "
        "allowed; 0 (real only) is always run.", flag="--ratio", repeat=True)
    classifiers: tuple[str, ...] = setting(("small-cnn",), "Classifier plugin; repeat for several.", flag="--classifier",
                                           repeat=True)
    classifier_options: Mapping[str, Any] = setting(
        help="An option of the classifier plugins (NAME.KEY=VALUE: for classifier NAME only), repeatable; `fersyn "
             "plugins NAME` lists them.", factory=dict, flag="--classifier-opt", repeat=True, metavar="KEY=VALUE")
    seeds: int = setting(3, "Seeds per cell (0..N-1): classifier init, data order, synthetic draw.", **POSITIVE)
    # The regime: which faces, how large, how split, how much of the training split is kept.
    # The budget every cell gets the same of.
    budget: str = setting("steps", "What every cell gets the same of.", choices=BUDGETS)
    epochs: int | None = setting(None, "Budget epochs: at most this many passes (default 50, the paper's); budget "
                                       "steps: the steps budget in epochs of the real training split (default 100, "
                                       "at least 1,000 steps).", **POSITIVE)
    steps: int | None = setting(None, "Budget steps: gradient steps per cell (overrides `epochs`).", **POSITIVE)
    patience: int = setting(5, "Budget epochs: stop after this many epochs without a better validation loss.",
                            **POSITIVE)
    # Where synthetic faces come from: a set (a file, or a folder of fold-I.h5), or generators to fit.
    synthetic: str | None = setting(None, "A synthetic set made by `fersyn generate` (HDF5), or with `folds` a folder "
                                          "of one set per fold (`fersyn generate --folds K`).")
    generator_fits: int = setting(1, "Independent generator fits per fold (different generator seeds); seed s uses "
                                     "fit s mod N, so the statistics resample fits; `seeds` must be a multiple of N.",
                                  **POSITIVE)
    allow_unverified_synthetic: bool = setting(
        False, "Use a `synthetic` set that records no content hashes of its generators' training faces (logged, and "
               "recorded in every row).")
    # Controls and extra arms.
    controls: tuple[str, ...] = setting(
        (), "augment: fill each ratio with augmented copies of real training faces instead; real (needs "
            "`train_fraction` < 1): with real faces of the training subjects the regime left out. Repeatable.",
        flag="--control", repeat=True, choices=tuple(CONTROLS))
    controls_only: bool = setting(False, "Run real only and the `controls` curves, without synthetic faces (no "
                                         "generator is fitted).")
    synthetic_only: bool = setting(False, "Add a cell trained on synthetic faces alone (as many as real training "
                                          "faces).")
    test_data: str | None = setting(None, "Also test on this dataset's test split (emotions intersected): a "
                                          "cross-dataset score.")
    test_layout: Layout = setting(DEFAULT_LAYOUT, "How to read `test_data`.", cli=False)
    margin: float = setting(MARGIN_POINTS, "Equivalence margin of the bound.", unit="accuracy points",
                            check=lambda points: 0 < points < 100, rule="must lie between 0 and 100 points")

    @classmethod
    def embedded_default(cls) -> "Sweep":
        """What `fersyn benchmark` runs with no arguments: a low-data sweep on the embedded toy faces with the GAN,
        the augmentation control and the positive control, so that a first run shows all three curves. Sized for
        float32 (CPUs without native bfloat16): 32×32 faces and 600 steps a cell (48×48 and 1,000 steps took more
        than 6 minutes in float32 on a 2-core CPU)."""
        return cls(data="toy", train_fraction=0.25, ratios=(0.0, 2.0), seeds=2, train_steps=400,
                   controls=("augment", "real"), image_size=32, steps=600)

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen: normalise once)
        set_("ratios", tuple(sorted({0.0, *parse_ratios(self.ratios)})))  # every gain is measured against real only
        for name in ("classifiers", "controls"):  # one name alone, or several once each
            value = getattr(self, name)
            set_(name, (value,) if isinstance(value, str) else tuple(dict.fromkeys(value)))
        for name in ("synthetic", "test_data"):
            if getattr(self, name) is not None:
                set_(name, str(getattr(self, name)))
        super().__post_init__()  # the recipe's and the regime's (which check every setting)
        if not self.classifiers:
            raise FersynError("no classifier given: pass `classifiers` NAME (see `fersyn plugins --kind classifier`)")
        if self.epochs is None:
            set_("epochs", PAPER_EPOCHS if self.budget == "epochs" else STEPS_BUDGET_EPOCHS)
        if self.synthetic is not None and (self.identity or self.expression):
            raise FersynError("give either `synthetic` FILE or `identity`/`expression` (which generate a set), not both")
        if "real" in self.controls and self.train_fraction >= 1:
            raise FersynError("`controls` real needs a low-data regime (`train_fraction` below 1): it fills each ratio "
                              "with real faces of the training subjects that the regime leaves out")
        if self.controls_only and not self.controls:
            raise FersynError("`controls_only` needs `controls` augment and/or `controls` real")
        if self.controls_only and (self.synthetic_only or self.synthetic or self.identity or self.expression):
            raise FersynError("`controls_only` runs no synthetic cell: drop `synthetic`, `identity`, `expression` "
                              "and `synthetic_only`")
        if (self.identity_options or self.expression_options) and not self.fits_generators:
            raise FersynError("`identity_options`/`expression_options` set generators, which run only without "
                              "`synthetic` and with a ratio above 0 (or `synthetic_only`)")
        if self.filter_confidence is not None and not self.fits_generators:
            raise FersynError("`filter_confidence` filters only the sets a sweep fits itself (`identity`/`expression`); "
                              "filter a `synthetic` set with `fersyn generate`")
        if (self.pretrain is not None or self.pretrain_steps is not None) and not (self.fits_generators and self.pretrain):
            raise FersynError("`pretrain` DATA pretrains the generators a sweep fits itself (`identity`/`expression`), "
                              "and `pretrain_steps` needs it")
        if self.generator_fits > 1 and not self.needs_synthetic:
            raise FersynError(f"`generator_fits` {self.generator_fits} needs synthetic cells: a ratio above 0 (or "
                              "`synthetic_only`) without `controls_only`")
        if self.seeds % self.generator_fits:
            raise FersynError(f"`generator_fits` {self.generator_fits} needs `seeds` a multiple of {self.generator_fits} "
                              f"(got {self.seeds}): each fit gets as many seeds")
        if self.fits_generators:  # the built-in generators unless named (or a preset names others)
            # Sweep's fields carry the names of generate()'s arguments that a preset fills in.
            for name, value in with_preset(self.preset, **{name: getattr(self, name) for name in SETTINGS}).items():
                set_(name, value)
        elif self.preset is not None:
            raise FersynError(f"`preset` {self.preset} sets the generators a sweep fits: it needs a ratio above 0 and "
                              f"no `synthetic` set")
        set_("judge", self.judge or DEFAULT_JUDGE)

    def record(self) -> dict[str, Any]:
        """The spec as sweep.json records it: layouts as they differ from the default, and the settings added since
        records were first kept left out at their earlier value (fersyn.runtime.provenance.keyed)."""
        record = dataclasses.asdict(self)
        record.update(layout=self.layout.describe(), test_layout=self.test_layout.describe())
        return keyed(record)

    @property
    def needs_synthetic(self) -> bool:
        return self.synthetic_only or (not self.controls_only and any(r > 0 for r in self.ratios))

    @property
    def fits_generators(self) -> bool:
        return self.needs_synthetic and self.synthetic is None

    def fit_of(self, seed: int) -> int:
        """The generator fit whose sets the cells of `seed` mix in (every arm of the seed belongs to it, for pairing)."""
        return seed % self.generator_fits

    def cells(self) -> Iterator[Cell]:
        """Every cell, seed by seed and fold by fold, so that an interrupted sweep has whole seeds."""
        trainings = ([] if self.controls_only else [REAL_PLUS_SYNTHETIC]) + [CONTROLS[c] for c in self.controls]
        for seed in range(self.seeds):
            for fold in range(self.folds):
                for name in self.classifiers:
                    for ratio in self.ratios:
                        if ratio == 0:
                            yield Cell(name, REAL_ONLY, 0.0, seed, fold)
                            continue
                        for training in trainings:
                            yield Cell(name, training, ratio, seed, fold)
                    if self.synthetic_only:
                        yield Cell(name, SYNTHETIC_ONLY, None, seed, fold)

    def synthetic_path(self, fold: int, fit: int = 0) -> Path:
        """The set fold `fold` mixes in: --synthetic itself, or its fold-I.h5 where it is a folder (fit-J/fold-I.h5
        for generator fit J ≥ 1, as a sweep that fits its generators lays them out)."""
        path = Path(self.synthetic)
        return fold_set_path(fit_folder(path, fit), fold) if path.is_dir() else path


def fit_folder(folder: Path, fit: int) -> Path:
    """Where the sets of generator fit `fit` lie in a folder of sets: fit 0's in the folder itself."""
    return Path(folder) / f"fit-{fit}" if fit else Path(folder)


def fold_set_path(folder: Path, fold: int) -> Path:
    """Where `fersyn generate --folds K --out FOLDER` writes fold `fold`'s set."""
    return Path(folder) / f"fold-{fold}.h5"
