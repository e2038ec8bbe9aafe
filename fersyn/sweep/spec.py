"""What a benchmark sweep is: a frozen, self-validating specification (data, regime, folds, budget,
generators, controls, classifiers, seeds) and the cells it yields.

One cell = (classifier, training, ratio, seed, fold). Training is one of TRAININGS: real only
(ratio 0), real + k × |real train| synthetic faces, real + k × augmented copies of real training faces
(the augmentation control), real + k × real faces of training subjects a low-data regime left out (the
positive control: what perfect synthetic data would give), or synthetic only. The CLI and
benchmarks/reproduce.py build a SweepSpec; `fersyn.sweep.run.benchmark` runs it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from fersyn.data.layout import DEFAULT_LAYOUT, Layout
from fersyn.errors import FersynError
from fersyn.runtime.precision import DEFAULT_PRECISION, PRECISIONS
from fersyn.generation.presets import DEFAULT_JUDGE, SETTINGS, with_preset
from fersyn.analysis.stats import MARGIN

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
class SweepSpec:
    """Everything that decides a sweep's numbers; checked when made (FersynError, one line each)."""

    data: str = "toy"
    layout: Layout = DEFAULT_LAYOUT  # how to read `data` (label map, annotations, subjects, face crops)
    ratios: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0)
    classifiers: tuple[str, ...] = ("small-cnn",)
    classifier_options: Mapping[str, Any] = field(default_factory=dict)  # KEY or NAME.KEY → value
    seeds: int = 3
    folds: int = 1  # > 1: subject k-fold cross-validation
    # The regime: which faces, how large, how split, how much of the training split is kept.
    emotions: str | tuple[str, ...] | None = None
    image_size: int = 48
    split_seed: int = 0
    train_fraction: float = 1.0
    # The budget every cell gets the same of.
    budget: str = "steps"
    epochs: int | None = None  # None: PAPER_EPOCHS under the epochs budget, STEPS_BUDGET_EPOCHS under steps
    steps: int | None = None
    patience: int = 5
    # Where synthetic faces come from: a set (a file, or a folder of fold-I.h5), or generators to fit.
    synthetic: str | None = None
    identity: str | None = None
    expression: str | None = None
    identity_options: Mapping[str, Any] = field(default_factory=dict)
    expression_options: Mapping[str, Any] = field(default_factory=dict)
    train_steps: int | None = None  # of each generator fitted (None: each plugin's own)
    judge: str | None = None  # scores (and with filter_confidence, filters) the sets fitted here; None: reference
    filter_confidence: float | None = None  # keep a generated face only if the judge gives its emotion p ≥ this
    preset: str | None = None  # a named recipe (fersyn.generation.presets) filling in the generator settings above left at None
    # Independent fits of the generators per fold (other generator seeds, one set each): seed s mixes fit s % N, so
    # the seeds resample the recipe's fits, not one fitted pair.
    generator_fits: int = 1
    # External faces each generator is pretrained on once (fersyn.generation.pretraining), for pretrain_steps, before train_steps
    # of fine-tuning on each fold.
    pretrain: str | None = None
    pretrain_steps: int | None = None
    allow_unverified_synthetic: bool = False
    # Controls and extra arms.
    controls: tuple[str, ...] = ()
    controls_only: bool = False  # no synthetic cell: real only and the controls (no generator is fitted)
    synthetic_only: bool = False
    test_data: str | None = None
    test_layout: Layout = DEFAULT_LAYOUT  # how to read `test_data`
    margin: float = MARGIN  # the bound's equivalence margin, a fraction
    precision: str = DEFAULT_PRECISION  # of every model's training: float32 or mixed (fersyn.runtime.precision)

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen: normalise once)
        set_("data", str(self.data))
        set_("ratios", tuple(sorted({0.0, *parse_ratios(self.ratios)})))  # every gain is measured against real only
        set_("classifiers", tuple(dict.fromkeys(self.classifiers)))
        set_("controls", tuple(dict.fromkeys(self.controls)))
        for name in ("layout", "test_layout"):  # a mapping, as a stored record gives it
            if isinstance(getattr(self, name), Mapping):
                set_(name, Layout(**getattr(self, name)))
        if isinstance(self.emotions, list):  # hashable, as a cache key of the loaded data
            set_("emotions", tuple(self.emotions))
        for name in ("synthetic", "test_data", "pretrain"):
            if getattr(self, name) is not None:
                set_(name, str(getattr(self, name)))
        unknown = sorted(set(self.controls) - set(CONTROLS))
        if unknown:
            raise FersynError(f"`controls` {', '.join(unknown)}: unknown (known: {', '.join(CONTROLS)})")
        if not self.classifiers:
            raise FersynError("no classifier given: pass `classifiers` NAME (see `fersyn plugins --kind classifier`)")
        if self.seeds < 1:
            raise FersynError(f"`seeds` must be at least 1 (got {self.seeds})")
        if self.folds < 1:
            raise FersynError(f"`folds` must be at least 1 (got {self.folds}); 1 is a single split")
        if self.budget not in BUDGETS:
            raise FersynError(f"`budget` must be one of {', '.join(BUDGETS)} (got {self.budget!r})")
        if self.epochs is None:
            set_("epochs", PAPER_EPOCHS if self.budget == "epochs" else STEPS_BUDGET_EPOCHS)
        if self.epochs < 1 or self.patience < 1 or (self.steps is not None and self.steps < 1):
            raise FersynError("`epochs`, `steps` and `patience` must be positive whole numbers")
        if not 0 < self.train_fraction <= 1:
            raise FersynError(f"`train_fraction` must be above 0 and at most 1 (got {self.train_fraction})")
        if self.precision not in PRECISIONS:
            raise FersynError(f"`precision` {self.precision}: unknown (known: {', '.join(PRECISIONS)})")
        if not 0 < self.margin < 1:
            raise FersynError(f"`margin` must be a fraction between 0 and 1 (got {self.margin:g})")
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
        if self.filter_confidence is not None and not (0 < self.filter_confidence < 1 and self.fits_generators):
            raise FersynError("`filter_confidence` must lie between 0 and 1, and filters only the sets a sweep fits "
                              "itself (`identity`/`expression`); filter a `synthetic` set with `fersyn generate`")
        if (self.pretrain is not None or self.pretrain_steps is not None) and not (self.fits_generators and self.pretrain):
            raise FersynError("`pretrain` DATA pretrains the generators a sweep fits itself (`identity`/`expression`), "
                              "and `pretrain_steps` needs it")
        if self.generator_fits < 1:
            raise FersynError(f"`generator_fits` must be at least 1 (got {self.generator_fits})")
        if self.generator_fits > 1 and not self.needs_synthetic:
            raise FersynError(f"`generator_fits` {self.generator_fits} needs synthetic cells: a ratio above 0 (or "
                              "`synthetic_only`) without `controls_only`")
        if self.seeds % self.generator_fits:
            raise FersynError(f"`generator_fits` {self.generator_fits} needs `seeds` a multiple of {self.generator_fits} "
                              f"(got {self.seeds}): each fit gets as many seeds")
        if self.fits_generators:  # the built-in generators unless named (or a preset names others)
            # SweepSpec's fields carry the names of generate()'s arguments that a preset fills in.
            for name, value in with_preset(self.preset, **{name: getattr(self, name) for name in SETTINGS}).items():
                set_(name, value)
        elif self.preset is not None:
            raise FersynError(f"`preset` {self.preset} sets the generators a sweep fits: it needs a ratio above 0 and "
                              f"no `synthetic` set")
        set_("judge", self.judge or DEFAULT_JUDGE)

    def record(self) -> dict[str, Any]:
        """The spec as sweep.json records it: layouts only where they differ from the default, so that the records
        of runs without one stay as they were."""
        record = dataclasses.asdict(self)
        if self.preset is None:  # as recorded before presets
            del record["preset"]
        if self.generator_fits == 1:  # as recorded before fits were counted
            del record["generator_fits"]
        if self.pretrain is None:  # as recorded before pretraining
            del record["pretrain"], record["pretrain_steps"]
        for name in ("layout", "test_layout"):
            described = getattr(self, name).describe()
            if described:
                record[name] = described
            else:
                del record[name]
        return record

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
