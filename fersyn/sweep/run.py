"""`benchmark`: run a sweep (fersyn.sweep.spec.Sweep). For every cell — classifier, training, ratio,
seed and fold — train on the fold's real training faces plus the cell's extra faces (synthetic,
augmented copies, or real faces of unused training subjects) and test on the fold's real held-out faces.

Validation and test faces are always real; generators are fitted per fold on that fold's training
faces only, and every synthetic set is proved by content never to have seen a held-out face
(fersyn.data.leaks). Each finished cell is written to `results.csv` at once, with its predictions on
every test face, so an interrupted sweep resumes where it stopped (cells are matched on their whole
configuration). At the end the report (fersyn.analysis.report) gives accuracies, gains, efficiencies and the
bound with their bootstrap intervals.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from fersyn.analysis.summary import Summary
from fersyn.classifiers.protocol import MAX_VALIDATIONS, PROCESS_KEPT_MODELS, Budget
from fersyn.data import FaceSet, Split, load_dataset, split_dataset
from fersyn.data.layout import Layout
from fersyn.data.leaks import HeldOut, check_unseen
from fersyn.data.splits import fold_splits
from fersyn.data.synthetic import SyntheticSource
from fersyn.errors import FersynError
from fersyn.judges.quality import format_independent
from fersyn.plugins.contracts import ContractError, checked_model, code_version
from fersyn.plugins.options import fit_options
from fersyn.runtime.distribute import describe, distributed, is_chief, make_strategy
from fersyn.runtime.files import atomic_output
from fersyn.runtime.precision import fallback_note, policy_for, precision_scope, resolve_precision
from fersyn.runtime.progress import SweepProgress
from fersyn.runtime.provenance import package_versions
from fersyn.sweep.mix import balanced_rows
from fersyn.sweep.spec import (
    MIN_STEPS,
    REAL_ONLY,
    REAL_PLUS_AUGMENTED,
    REAL_PLUS_REAL,
    SYNTHETIC_ONLY,
    Cell,
    Sweep,
    fit_folder,
    fold_set_path,
)
from fersyn.sweep.store import RESULTS, SCHEMA, ResultStore, Shard, cell_key, check_sweep_folder, record_sweep

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from fersyn.plugins.contracts import Classifier
    from fersyn.sweep.mix import TrainingStream

log = logging.getLogger("fersyn")

GENERATED = "synthetic"  # the folder where a sweep keeps the sets it generated itself, one per fold
GENERATORS = "generators"  # and, per recipe, the fitted generators
LATE_PEAK = 0.9  # a cell whose best validation falls after this share of its rounds may want more budget


# The argument each key of a sweep folder's configuration comes from (for "differs in: …"; the CLI names flags).
_ARGUMENT_OF = {
    "data_fingerprint": "`data`", "emotions": "`emotions`", "image_size": "`image_size`", "split": "`data`",
    "split_seed": "`split_seed`", "split_fingerprints": "`split_seed`", "train_fraction": "`train_fraction`",
    "folds": "`folds`", "budget": "`budget`", "schema": "the fersyn version (results schema)",
    "synthetic_fingerprint": "`synthetic` (or `identity`/`expression`/`train_steps`/`filter_confidence`)",
    "option_epochs": "`epochs`", "option_steps": "`steps`", "option_patience": "`patience`",
    "option_min_steps": "the default steps budget (fersyn version)",
    "option_max_validations": "the validation rounds of a steps budget (fersyn version)",
    "test_data_fingerprint": "`test_data`", "generator_fits": "`generator_fits`",
}


@dataclass
class SweepResult:
    directory: Path
    summary: Summary | None  # None for a shard given no cell, or a worker other than the chief
    table: str
    files: list[Path]
    trained: int  # cells trained in this run
    skipped: int  # cells already finished in an earlier run
    failed: int
    seconds: float


def run_sweep(
    spec: Sweep,
    out: str | Path = "fersyn-benchmark",
    *,
    force: bool = False,
    shard: str | Shard | None = None,
    strategy: "str | tf.distribute.Strategy" = "default",
    plugins_dir: str | Path | None = None,
    tensorboard: str | Path | None = None,
) -> SweepResult:
    """Run (or resume) the sweep `spec` into the folder `out`; see the module doc and `fersyn benchmark --help`.
    `force` moves aside results of another sweep found in `out`; `shard` (I/N) runs part of the cells. With
    `tensorboard` a folder, the generators fitted here and each cell write training logs there."""
    from fersyn.plugins.registry import create_plugin, load_plugins

    started = time.perf_counter()
    shard = Shard.parse(shard) if isinstance(shard, str) else shard
    load_plugins(plugins_dir)
    # Unknown names or options fail now, not after loading the data; options are kept as built (typed).
    per_classifier = _options_per_classifier(spec.classifiers, dict(spec.classifier_options))
    if spec.fits_generators:
        spec = dataclasses.replace(spec, **{f"{kind}_options": dataclasses.asdict(create_plugin(
            kind, getattr(spec, kind), **dict(getattr(spec, f"{kind}_options"))).options) for kind in ("identity", "expression")})
    if shard is not None and spec.fits_generators:
        raise FersynError("`shard` needs `synthetic` FILE: fit the generators once (`fersyn generate`) so that every "
                          "shard mixes the same synthetic faces")
    if strategy == "multiworker" and spec.fits_generators:
        raise FersynError("`strategy` multiworker on benchmark needs `synthetic` FILE, readable by every worker: fit "
                          "the generators first (`fersyn generate --strategy multiworker`)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FersynError(f"`out` {out} is a file; give a folder for the results")
    if spec.synthetic is not None:
        _check_synthetic_paths(spec)

    distribution = make_strategy(strategy)  # before any TensorFlow work, as a multi-worker strategy must be
    chief = is_chief(distribution)  # the others of a multi-worker run train alike but write nothing
    faces = load_dataset(spec.data, image_size=spec.image_size, emotions=spec.emotions, layout=spec.layout)
    splits = fold_splits(faces, spec.folds, seed=spec.split_seed, train_fraction=spec.train_fraction)
    cross = _cross_dataset_test(spec, faces) if spec.test_data else None
    policy = resolve_precision(spec.precision)
    # The pretraining data by content, read once for every fit's recipe.
    pretrain = (load_dataset(spec.pretrain, image_size=spec.image_size, emotions="present").fingerprint
                if spec.pretrain and spec.fits_generators else None)
    recipes = [_recipe(spec, faces, policy, fit, pretrain) for fit in range(spec.generator_fits)] if spec.fits_generators else []
    recipe = recipes[0] if recipes else None  # fit 0's: it keys the folder's configuration, as before fits were counted
    sources: list[list[SyntheticSource]] = []  # per generator fit (a given set: one), per fold
    try:
        if spec.synthetic is not None:  # one set for every fold is opened once
            opened: dict[Path, SyntheticSource] = {}
            for fit in range(spec.generator_fits):
                sources.append([])
                for fold in range(spec.folds):
                    path = spec.synthetic_path(fold, fit)
                    if path not in opened:
                        opened[path] = SyntheticSource(path, faces.emotions, spec.image_size)
                    sources[fit].append(opened[path])
        config = {  # what every cell of this folder shares: contents, not names or paths
            "schema": SCHEMA, "data_fingerprint": faces.fingerprint, "emotions": ",".join(faces.emotions),
            "image_size": spec.image_size, "split": splits[0].method, "split_seed": spec.split_seed, "folds": spec.folds,
            "split_fingerprints": [split.fingerprints(faces) for split in splits], "train_fraction": spec.train_fraction,
            "synthetic_fingerprint": ([s.fingerprint for fit in sources for s in fit] if sources else
                                      cell_key({k: v for k, v in recipe.items() if k != "code"}) if recipe else None),
            "budget": spec.budget, "option_epochs": spec.epochs if spec.budget == "epochs" or spec.steps is None else None,
            "option_steps": spec.steps if spec.budget == "steps" else None,
            "option_min_steps": MIN_STEPS if spec.budget == "steps" and spec.steps is None else None,
            "option_max_validations": MAX_VALIDATIONS if spec.budget == "steps" else None,
            "option_patience": spec.patience if spec.budget == "epochs" else None,
            "test_data_fingerprint": None if cross is None else cross.fingerprint,
            # Only when several, so that the folders of earlier sweeps keep their configuration (and cell keys).
            **({"generator_fits": spec.generator_fits} if spec.generator_fits > 1 else {}),
        }
        for name in spec.classifiers:  # one that breaks the contract stops the sweep before anything is written
            classifier = create_plugin("classifier", name, image_size=spec.image_size, **per_classifier[name])
            with precision_scope(policy_for(type(classifier), policy)):
                checked_model(classifier, len(faces.emotions))
        if chief:
            check_sweep_folder(out, config, force=force, argument_names=_ARGUMENT_OF)  # before fitting any GAN
        held_out = _HeldOutFaces(spec, faces, splits, cross)
        for fitted in recipes:
            sources.append([])
            for fold, split in enumerate(splits):
                path = _generated_set(spec, fitted, fold, len(split.train), out, distribution, plugins_dir, tensorboard)
                sources[-1].append(SyntheticSource(path, faces.emotions, spec.image_size))
        every_set = [source for fit in sources for source in fit]  # fit by fit, fold by fold
        checks = [[check_unseen(source, held_out.of_fold(fold), allow_unverified=spec.allow_unverified_synthetic)
                   for fold, source in enumerate(fit)] for fit in sources]
        if sources:
            log.info("synthetic set %s", every_set[0].describe())
        made_by = every_set[0].provenance if sources else {}
        one_file = spec.folds == 1 and spec.generator_fits == 1
        generated_at = None if recipe is None else str(every_set[0].path if one_file else out / GENERATED)
        names = {"data": spec.data, "synthetic": spec.synthetic or generated_at,
                 "allow_unverified_synthetic": spec.allow_unverified_synthetic,
                 "identity": made_by.get("identity", {}).get("plugin"), "expression": made_by.get("expression", {}).get("plugin"),
                 "train_steps": None if recipe is None else spec.train_steps,
                 "test_data": None if cross is None else spec.test_data,
                 "strategy": "{name} ({replicas} replica(s))".format(**describe(strategy, distribution))}
        if chief:
            record_sweep(out, config, {
                **names, "spec": _jsonable(spec.record()), "margin": spec.margin / 100,  # a fraction, as stats takes it
                "train_images": [int(len(s.train)) for s in splits], "val_images": [int(len(s.val)) for s in splits],
                "test_images": [int(len(s.test)) for s in splits], "unused_train_images": [int(len(s.unused)) for s in splits],
                "leaks_removed": [s.leaks_removed for s in splits],
                "synthetic_sets": [s.provenance for s in every_set],
                "synthetic_metrics": [s.metrics for s in every_set],
                "synthetic_count": [s.count for s in every_set],
                "synthetic_dropped_emotions": every_set[0].dropped if sources else None,
                "synthetic_missing_emotions": every_set[0].missing if sources else None,
                "precision_policy": policy, "precision_note": fallback_note(spec.precision, policy),
                "versions": package_versions(),
            }, test_faces=_test_faces(faces, splits, cross))
        cells = list(spec.cells())
        store = ResultStore(out, shard.results_name if shard else RESULTS, write=chief)
        runner = _CellRunner(spec, _SweepData(faces, splits, sources, checks, cross), config, names, store,
                             per_classifier, distribution, recipe["code"] if recipe else None, policy,
                             training_logs=None if tensorboard is None else Path(tensorboard) / "cells")
        if shard is not None:
            keys = [runner.key(cell) for cell in cells]
            mine = shard.select(keys)
            held = [cell for cell, key in zip(cells, keys) if key in mine]
            log.info("shard %d/%d: %d of the sweep's %d cells", shard.index, shard.count, len(held), len(cells))
            cells = held
        trained, skipped, failed = runner.run_all(cells)
    finally:
        for source in dict.fromkeys(source for fit in sources for source in fit):  # once each, though folds may share it
            source.close()
    seconds = time.perf_counter() - started
    if not store.rows:  # only a shard can be given no cell
        return SweepResult(out, None, f"shard {shard.index}/{shard.count} holds none of this sweep's cells", [],
                               0, 0, 0, seconds)
    if not chief:
        return SweepResult(out, None, "a worker of a multi-worker run: the chief writes the results", [],
                               trained, skipped, failed, seconds)
    from fersyn.analysis.report import report

    written = report(out)  # in a shard's folder: the cells of the shards that wrote there so far
    return SweepResult(out, Summary.from_dict(written.summary), written.table, written.files, trained, skipped, failed, seconds)


def _check_synthetic_paths(spec: Sweep) -> None:
    """--synthetic is one set (used by every fold) or a folder holding fold-I.h5 for each fold (and fit-J/fold-I.h5
    for each further generator fit J)."""
    path = Path(spec.synthetic)
    if not path.exists():
        raise FersynError(f"`synthetic` {path}: no such file or folder; make one with `fersyn generate`")
    if spec.generator_fits > 1 and not path.is_dir():
        raise FersynError(f"`generator_fits` {spec.generator_fits} needs `synthetic` to be a folder of sets per fit "
                          f"(fold-I.h5, fit-1/fold-I.h5, ...), as a sweep with `generator_fits` writes in OUT/synthetic")
    if path.is_dir():
        if spec.folds == 1 and spec.generator_fits == 1:
            raise FersynError(f"`synthetic` {path} is a folder: give one set (a .h5 file), or a folder of one set per "
                              "fold with `folds` K (or per generator fit with `generator_fits` N)")
        missing = [str(spec.synthetic_path(fold, fit).relative_to(path)) for fit in range(spec.generator_fits)
                   for fold in range(spec.folds) if not spec.synthetic_path(fold, fit).is_file()]
        if missing:
            raise FersynError(f"`synthetic` {path} is a folder without {', '.join(missing)}: make one set per fold with "
                              f"`fersyn generate --folds {spec.folds} --out {path}` (same `split_seed` and `train_fraction`)")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _options_per_classifier(classifiers: Sequence[str], settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`--classifier-opt` settings per classifier, typed: `KEY=VALUE` applies to every classifier (and
    must suit each), `NAME.KEY=VALUE` to classifier NAME only."""
    from fersyn.plugins.registry import create_plugin

    targeted = {key.partition(".")[0] for key in settings if "." in key}
    strangers = sorted(targeted - set(classifiers))
    if strangers:
        raise FersynError(f"`classifier_options` names {', '.join(strangers)}, which is not among `classifiers` "
                          f"{', '.join(classifiers)}")
    per_classifier = {}
    for name in classifiers:
        own = {key: value for key, value in settings.items() if "." not in key}
        own.update({key.partition(".")[2]: value for key, value in settings.items() if key.partition(".")[0] == name})
        per_classifier[name] = dataclasses.asdict(create_plugin("classifier", name, **own).options)
    return per_classifier


def _label(name: str, options: Any) -> str:
    """How results name a classifier: its plugin name, with the options that differ from their defaults."""
    defaults = dataclasses.asdict(type(options)())
    changed = {k: v for k, v in dataclasses.asdict(options).items() if v != defaults[k]}
    return name + ("(" + ",".join(f"{k}={v}" for k, v in changed.items()) + ")" if changed else "")


def _recipe(spec: Sweep, faces: FaceSet, policy: str, fit: int = 0, pretrain: str | None = None) -> dict[str, Any]:
    """What decides the generators of fit `fit` that a sweep fits itself (their cache key, without the fold)."""
    # Its keys are stored (OUT/synthetic/*.recipe.json) and hashed (the cache key, the synthetic fingerprint of
    # sweep.json): "seed" stays the name of the split seed there, so that existing sweeps resume.
    # "code" (each generator's code version) is left out of sweep.json's synthetic fingerprint, so an edited
    # plugin refits and regenerates in the same folder, and its cells run again (their keys hold it).
    from fersyn.plugins.registry import get_plugin

    plugins = {kind: get_plugin(kind, getattr(spec, kind)).cls for kind in ("identity", "expression")}
    policies = {f"{kind}_precision": policy_for(cls, policy) for kind, cls in plugins.items()}
    return {"data": faces.fingerprint, "emotions": list(faces.emotions), "image_size": spec.image_size,
            "seed": spec.split_seed, "train_fraction": spec.train_fraction, "folds": spec.folds,
            "identity": spec.identity, "expression": spec.expression, "train_steps": spec.train_steps,
            "identity_options": dict(spec.identity_options), "expression_options": dict(spec.expression_options),
            "code": {kind: code_version(cls) for kind, cls in plugins.items()},
            # Left out under float32 and without a filter, so that older recipes keep their keys.
            **{key: value for key, value in policies.items() if value != "float32"},
            **({"filter": {"judge": spec.judge, "confidence": spec.filter_confidence}}
               if spec.filter_confidence is not None else {}),
            # Subjects and predefined splits are not in the data's fingerprint: a layout that sets them is.
            **({"layout": spec.layout.describe()} if spec.layout.describe() else {}),
            # Fit 0 is the recipe as it was before fits were counted; each further fit is keyed (and seeded) apart.
            **({"generator_fit": fit} if fit else {}),
            # The pretraining data's fingerprint `pretrain` (left out without one, so that older recipes keep their keys).
            **({"pretrain": {"data": pretrain, "steps": spec.pretrain_steps}} if pretrain else {})}


def _generator_seed(recipe: dict[str, Any]) -> int:
    """The seed of a recipe's generators: the split seed for fit 0 (as before), one drawn from it for each other fit."""
    fit = recipe.get("generator_fit", 0)
    return recipe["seed"] if fit == 0 else int(np.random.SeedSequence([recipe["seed"], fit]).generate_state(1)[0])


def _fit_key(recipe: dict[str, Any]) -> str:
    """The cache key of a recipe's fitted generators: the recipe without apply-time options and filter, which
    change the set made with the generators but not the generators."""
    from fersyn.plugins.registry import get_plugin

    fitted = {f"{kind}_options": fit_options(get_plugin(kind, recipe[kind]).cls.Options(**recipe[f"{kind}_options"]))
              for kind in ("identity", "expression")}
    return cell_key({**{k: v for k, v in recipe.items() if k != "filter"}, **fitted})


def _generated_set(spec: Sweep, recipe: dict[str, Any], fold: int, n_train: int, out: Path,
                   strategy: "tf.distribute.Strategy", plugins_dir: str | Path | None,
                   tensorboard: str | Path | None) -> Path:
    """Fold `fold`'s synthetic set in `out` (`synthetic/fold-I.h5`; fit j ≥ 1 of the recipe: `synthetic/fit-j/fold-I.h5`),
    made by generators fitted on that fold's training faces only (kept in `out/generators/<recipe>/fold-I`), unless one
    of the same recipe, large enough, is there."""
    from fersyn.generation.sets import generate

    fit = recipe.get("generator_fit", 0)
    path = fold_set_path(fit_folder(out / GENERATED, fit), fold)
    recipe_path = path.with_suffix(".recipe.json")
    top_ratio = max(max(spec.ratios), 1.0 if spec.synthetic_only else 0.0)
    count = math.ceil(top_ratio * n_train) + len(recipe["emotions"])  # + E: room for a random remainder
    try:
        saved = json.loads(recipe_path.read_text())
    except (OSError, ValueError):
        saved = {}  # none, or a kill left it unreadable: generate again
    if path.is_file() and isinstance(saved, dict) and saved.get("recipe") == recipe and saved.get("count", 0) >= count:
        log.info("reusing %s (%d faces)", path, saved["count"])
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    recipe_path.unlink(missing_ok=True)  # the set is about to change: no stale recipe may describe it
    checkpoints = out / GENERATORS / _fit_key(recipe) / f"fold-{fold}"
    logs = None if tensorboard is None else Path(tensorboard) / GENERATORS / _fit_key(recipe) / f"fold-{fold}"
    log.info("generating %d synthetic faces for fold %d of %d%s with %s + %s (generators kept in %s)", count, fold + 1,
             spec.folds, f", generator fit {fit + 1} of {spec.generator_fits}" if spec.generator_fits > 1 else "",
             recipe["identity"], recipe["expression"], checkpoints)
    result = generate(spec.data, path, identity=recipe["identity"], expression=recipe["expression"], count=count,
                      identity_options=recipe["identity_options"], expression_options=recipe["expression_options"],
                      emotions=recipe["emotions"], split_seed=recipe["seed"], generator_seed=_generator_seed(recipe),
                      train_steps=recipe["train_steps"],
                      checkpoints=checkpoints, image_size=recipe["image_size"], train_fraction=recipe["train_fraction"],
                      folds=spec.folds, fold=fold, strategy=strategy, overwrite=True, plugins_dir=plugins_dir, tensorboard=logs,
                      judge=spec.judge, filter_confidence=recipe.get("filter", {}).get("confidence"),
                      precision=spec.precision, layout=spec.layout, pretrain=spec.pretrain, pretrain_steps=spec.pretrain_steps)
    if is_chief(strategy):
        with atomic_output(recipe_path) as temporary:
            temporary.write_text(json.dumps({"recipe": recipe, "count": count}, indent=2))
    log.info("expression fidelity of the synthetic set: %.1f%% (judge %s: %.1f%% on real test faces)",
             100 * result.metrics["expression_fidelity"], result.metrics["judge"], 100 * result.metrics["judge_real_test_accuracy"])
    for line in format_independent(result.metrics["independent"]):
        (log.warning if line.startswith("WARNING") else log.info)(line.removeprefix("WARNING: "))
    return path


@dataclass
class _CrossTest:
    """Another dataset's test split, labelled with the benchmark's class indices."""

    faces: FaceSet  # the other dataset (shared emotions only)
    split: Split
    labels: np.ndarray  # of its test faces, as the benchmark's class indices
    spec: str
    emotions: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        return self.faces.fingerprint


def _cross_dataset_test(spec: Sweep, faces: FaceSet) -> _CrossTest:
    test_data, split_seed = spec.test_data, spec.split_seed
    other = load_dataset(test_data, image_size=spec.image_size, emotions="present", layout=spec.test_layout)
    common = tuple(e for e in other.emotions if e in faces.emotions)
    if not common:
        raise FersynError(f"`test_data` {test_data} has {', '.join(other.emotions)}: no emotion in common with "
                          f"{', '.join(faces.emotions)}")
    other = other.only(common)
    other_split = split_dataset(other, seed=split_seed)  # its test split: its training split may have fed a generator
    labels = np.array([faces.emotions.index(common[label]) for label in other.labels[other_split.test]])
    log.info("cross-dataset test: %d faces of %s (%s)", len(labels), test_data, ", ".join(common))
    return _CrossTest(other, other_split, labels, str(test_data), common)


class _HeldOutFaces:
    """The faces no generator may have seen, per fold, at any image size (a set may have been fitted at
    another size than the sweep's): the fold's validation and test faces, and the cross-dataset test faces."""

    def __init__(self, spec: Sweep, faces: FaceSet, splits: list[Split], cross: _CrossTest | None) -> None:
        self.spec, self.faces, self.splits, self.cross = spec, faces, splits, cross

        @lru_cache(maxsize=4)
        def load(data: str, size: int, emotions: Any, layout: Layout) -> FaceSet:
            return load_dataset(data, image_size=size, emotions=emotions, layout=layout)

        self.load = load

    def _at(self, data: str, emotions: Any, layout: Layout, loaded: FaceSet,
            indices: np.ndarray) -> Callable[[int], np.ndarray]:
        def faces_at(size: int) -> np.ndarray:
            # Reloaded in the same order, so indices still point at the same faces.
            source = loaded if size == loaded.image_size else self.load(data, size, emotions, layout)
            if source is not loaded and loaded.emotions != source.emotions:
                source = source.only(loaded.emotions)
            return source.images[indices]

        return faces_at

    def of_fold(self, fold: int) -> list[HeldOut]:
        split = self.splits[fold]
        emotions = self.spec.emotions  # Sweep made a list a tuple: hashable, as the cache key it is
        where = "" if split.folds == 1 else f" {split.name}"
        held = [HeldOut(f"{self.spec.data}{where}: validation and test faces",
                        self._at(self.spec.data, emotions, self.spec.layout, self.faces, np.r_[split.val, split.test]))]
        if self.cross is not None:
            held.append(HeldOut(f"{self.cross.spec} (the cross-dataset test): test faces",
                                self._at(self.cross.spec, "present", self.spec.test_layout, self.cross.faces,
                                         self.cross.split.test)))
        return held


def _test_faces(faces: FaceSet, splits: list[Split], cross: _CrossTest | None) -> dict[str, Any]:
    """Who each test face is (for the bootstrap over subjects) and its label, per fold and for --test-data;
    a row's predictions are in this order."""
    def described(part: FaceSet, indices: np.ndarray, labels: np.ndarray) -> dict[str, list]:
        groups = part.subjects[indices] if part.subjects is not None else part.names[indices]
        return {"names": part.names[indices].tolist(), "groups": [str(g) for g in groups], "labels": labels.tolist()}

    return {
        "folds": [described(faces, split.test, faces.labels[split.test]) for split in splits],
        "cross": None if cross is None else described(cross.faces, cross.split.test, cross.labels),
        "grouped_by": "subject" if faces.subjects is not None else "face",
    }


@dataclass(frozen=True)
class _SweepData:
    """What the cells train and test on: the faces, each fold's split, synthetic sets and the proofs that they
    never saw a held-out face (`checks`), both per generator fit and fold, and the cross-dataset test."""

    faces: FaceSet
    splits: list[Split]
    sources: list[list[SyntheticSource]]
    checks: list[list[str]]
    cross: _CrossTest | None


class _CellRunner:
    """Trains and scores one cell at a time, and records its row."""

    def __init__(self, spec: Sweep, data: _SweepData, config: dict[str, Any], names: dict[str, Any],
                 store: ResultStore, classifier_options: dict[str, dict[str, Any]],
                 strategy: "tf.distribute.Strategy", generator_code: dict[str, str] | None, policy: str, *,
                 training_logs: Path | None = None) -> None:
        self.spec, self.faces, self.splits, self.sources, self.cross = spec, data.faces, data.splits, data.sources, data.cross
        self.training_logs = training_logs  # each cell's losses go to TRAINING_LOGS/<cell> for TensorBoard
        self.checks = data.checks
        self.config, self.names, self.store = config, names, store
        self.classifier_options, self.strategy = classifier_options, strategy
        from fersyn.plugins.registry import get_plugin

        # Code versions are part of every cell's key: a cell of an edited plugin runs again.
        self.classifier_code = {name: code_version(get_plugin("classifier", name).cls) for name in spec.classifiers}
        self.generator_code = generator_code
        # The dtype policy asked for, as each classifier gets it (float32 unless it opts in to mixed precision).
        self.classifier_policy = {name: policy_for(get_plugin("classifier", name).cls, policy) for name in spec.classifiers}
        import tensorflow as tf

        # Compiled models reused from cell to cell, and from an earlier sweep of this process (KeptModels); not
        # under a distribution strategy, whose variables belong to the scope each cell enters anew.
        self.kept_models = PROCESS_KEPT_MODELS if strategy is tf.distribute.get_strategy() else None

    def run_all(self, cells: list[Cell]) -> tuple[int, int, int]:
        """Run the cells not finished before; returns (trained, skipped, failed)."""
        superseded = self.store.drop_superseded({cell: self.key(cell) for cell in cells})
        if superseded:
            log.info("%d results of an earlier version of a plugin's code dropped: those cells run again", superseded)
        pending = [cell for cell in cells if not self.store.finished(self.key(cell))]
        skipped = len(cells) - len(pending)
        if skipped:
            log.info("%d of %d cells already finished in %s; running the other %d", skipped, len(cells),
                     self.store.directory, len(pending))
        progress = SweepProgress([self.planned_steps(cell) for cell in pending], exact=self.spec.budget == "steps",
                                 folds=self.spec.folds)
        # Each cell ends in clear_session(), whose gc.collect() scanned every object of the process (0.22 s a cell,
        # 4 % of it); frozen, the objects made before the sweep are not scanned (0.01 s), and thawed after it.
        gc.freeze()
        try:
            failed = sum(not self.run(cell, progress.for_cell(number, cell)) for number, cell in enumerate(pending, 1))
        finally:
            gc.unfreeze()
        return len(pending), skipped, failed

    def classifier(self, name: str) -> "Classifier":
        """A new, untrained instance of classifier `name` with the sweep's options."""
        from fersyn.plugins.registry import create_plugin

        faces = self.faces
        return create_plugin("classifier", name, image_size=faces.image_size, channels=faces.images.shape[-1],
                             **self.classifier_options[name])

    def key_config(self, cell: Cell) -> dict[str, Any]:
        options = self.classifier_options[cell.classifier]
        config = {**self.config, **dataclasses.asdict(cell), "classifier_options": options,
                  "classifier_code": self.classifier_code[cell.classifier]}
        if self.classifier_policy[cell.classifier] != "float32":  # so float32 cells keep the keys they had before
            config["precision"] = self.classifier_policy[cell.classifier]
        if cell.needs_synthetic:
            config["generator_code"] = self.generator_code  # None for a given set: its fingerprint holds its recipe
        else:
            config["synthetic_fingerprint"] = None  # no synthetic face in it: whatever set the folder uses
        return config

    def key(self, cell: Cell) -> str:
        return cell_key(self.key_config(cell))

    def budget(self, batch_size: int, n_real: int) -> Budget:
        """The cell's budget; a steps budget is validated about once per real epoch (at most
        MAX_VALIDATIONS times) and rounded up to whole validation rounds (logged when that changes --steps)."""
        spec = self.spec
        if spec.budget == "epochs":
            return Budget("epochs", epochs=spec.epochs, patience=spec.patience)
        real_epoch = math.ceil(n_real / batch_size)
        wanted = spec.steps or max(spec.epochs * real_epoch, MIN_STEPS)
        return Budget.of_steps(wanted, real_epoch)

    def n_extra(self, cell: Cell) -> int:
        """Faces added to the real ones: synthetic, augmented or unused real (synthetic only: as many as real)."""
        n_real = len(self.splits[cell.fold].train)
        return n_real if cell.ratio is None else round(cell.ratio * n_real)

    def planned_steps(self, cell: Cell) -> int:
        batch = self.classifier(cell.classifier).batch_size
        n_real = len(self.splits[cell.fold].train)
        budget = self.budget(batch, n_real)
        if budget.kind == "steps":
            return budget.steps
        images = self.n_extra(cell) + (0 if cell.training == SYNTHETIC_ONLY else n_real)
        return budget.epochs * math.ceil(images / batch)

    def run(self, cell: Cell, progress: "keras.callbacks.Callback") -> bool:
        """Train and score `cell`, record its row (a failure too); True if it succeeded."""
        import keras

        key_config = self.key_config(cell)
        row = {"key": cell_key(key_config), **self.names, **_flat(key_config),
               "classifier": _label(cell.classifier, self.classifier(cell.classifier).options),
               "classifier_plugin": cell.classifier, "precision": self.classifier_policy[cell.classifier],
               "generator_fit": self.spec.fit_of(cell.seed),
               "synthetic_check": self.checks[self.spec.fit_of(cell.seed)][cell.fold] if cell.needs_synthetic else None}
        try:
            with distributed(self.strategy):  # per cell: clearing the session below resets the scope's graph
                row.update(self._train_and_score(cell, progress))
            row.update(status="ok", error="")
        except ContractError:
            raise  # a plugin that breaks the contract would fail every cell: stop, naming the rule
        except Exception as error:  # a failing cell is recorded and the sweep goes on
            message = " ".join(f"{type(error).__name__}: {error}".split())
            log.warning("cell %s failed: %s", cell.describe(self.spec.folds), message)
            row.update(status="failed", error=message[:500])
        finally:
            keras.backend.clear_session()  # free the cell's graph: a long sweep must not grow
        self.store.record(row)
        return row["status"] == "ok"

    def _stream(self, cell: Cell, batch_size: int) -> tuple["TrainingStream", int, int]:
        """The cell's training stream, the number of extra faces and how many of them repeat."""
        from fersyn.sweep.mix import TrainingStream

        faces, split = self.faces, self.splits[cell.fold]
        n_extra = 0 if cell.training == REAL_ONLY else self.n_extra(cell)
        real = split.train[:0] if cell.training == SYNTHETIC_ONLY else split.train
        source = draw = augmented = None
        repeated = 0
        if cell.training == REAL_PLUS_AUGMENTED:
            augmented = balanced_rows(faces.labels[real], n_extra, np.random.default_rng([cell.seed, 2]))
            repeated = augmented.repeated
        elif cell.training == REAL_PLUS_REAL:  # the positive control: real faces of the subjects left out
            unused = balanced_rows(faces.labels[split.unused], n_extra, np.random.default_rng([cell.seed, 3]))
            real, repeated = np.r_[real, split.unused[unused.rows]], unused.repeated
        elif n_extra:
            source = self.sources[self.spec.fit_of(cell.seed)][cell.fold]
            draw = source.draw(n_extra, np.random.default_rng([cell.seed, 1]))
            repeated = draw.repeated
        if repeated and cell.training != REAL_PLUS_AUGMENTED:  # augmented copies differ even of one face
            log.warning("%s: too few extra faces; %d are used twice or more", cell.describe(self.spec.folds), repeated)
        stream = TrainingStream(faces.images[real], faces.labels[real], batch_size, cell.seed, source, draw, augmented)
        return stream, n_extra, repeated

    def _train_and_score(self, cell: Cell, progress: "keras.callbacks.Callback") -> dict[str, Any]:
        from fersyn.analysis.scores import classification_scores
        from fersyn.classifiers.protocol import train_classifier

        faces, split = self.faces, self.splits[cell.fold]
        classifier = self.classifier(cell.classifier)
        stream, n_extra, repeated = self._stream(cell, classifier.batch_size)
        budget = self.budget(classifier.batch_size, len(split.train))
        if budget.kind == "steps" and self.spec.steps and budget.steps != self.spec.steps:
            log.info("%s: `steps` %d rounded up to %d (%d validation rounds of %d steps)", cell.describe(self.spec.folds),
                     self.spec.steps, budget.steps, budget.steps // budget.eval_every, budget.eval_every)
        callbacks = [progress]
        if self.training_logs is not None:
            import keras

            ratio = "synthetic-only" if cell.ratio is None else f"ratio-{cell.ratio:g}"
            folder = self.training_logs / f"{cell.classifier}_{cell.training}_{ratio}_seed-{cell.seed}_fold-{cell.fold}"
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(folder), write_graph=False))
        record = train_classifier(classifier, stream, faces.images[split.val], faces.labels[split.val],
                                  len(faces.emotions), budget=budget, seed=cell.seed, callbacks=callbacks,
                                  policy=self.classifier_policy[cell.classifier], kept=self.kept_models)
        predicted = classifier.predict_proba(faces.images[split.test]).argmax(1)
        scores = classification_scores(faces.labels[split.test], predicted, faces.emotions)
        row = {
            "n_real": int(len(split.train)) if cell.training != SYNTHETIC_ONLY else 0, "n_extra": n_extra,
            "extra_repeated": repeated, "batch_size": classifier.batch_size,
            "step_budget": budget.steps if budget.kind == "steps" else None,
            "steps": record.steps, "epochs": round(record.epochs, 3), "validations": record.validations,
            "best_validation": record.best_validation,
            "peaked_late": bool(record.best_validation > LATE_PEAK * budget.rounds),
            "train_seconds": round(record.seconds, 2),
            "images_per_second": round(record.steps * classifier.batch_size / record.seconds, 1),
            "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"],
            **{f"recall_{e}": v for e, v in scores["recall"].items()},
            "confusion": json.dumps(scores["confusion"]), "test_predictions": _digits(predicted),
            "cross_accuracy": None, "cross_macro_f1": None, "cross_confusion": "", "cross_predictions": "",
        }
        if self.cross is not None:
            test_images = self.cross.faces.images[self.cross.split.test]
            cross_predicted = classifier.predict_proba(test_images).argmax(1)
            cross = classification_scores(self.cross.labels, cross_predicted, faces.emotions)
            row.update(cross_accuracy=cross["accuracy"], cross_macro_f1=cross["macro_f1"],
                       cross_confusion=json.dumps(cross["confusion"]), cross_predictions=_digits(cross_predicted))
        log.info("%s: accuracy %.1f%% after %d steps (%.0f s)%s", cell.describe(self.spec.folds),
                 100 * scores["accuracy"], record.steps, record.seconds,
                 f"; best validation in round {record.best_validation} of {record.validations}: the budget may be "
                 "binding" if row["peaked_late"] else "")
        return row


def _digits(predicted: np.ndarray) -> str:
    """Predicted class indices as one string of digits (a row of results.csv stays one line)."""
    return "".join(str(int(p)) for p in predicted)


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A cell's configuration as CSV columns (nested values as JSON)."""
    return {k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v for k, v in config.items()}

