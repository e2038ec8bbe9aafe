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
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from fersyn.analysis.summary import Summary
from fersyn.classifiers.protocol import MAX_VALIDATIONS
from fersyn.data import FaceSet, Split, load_dataset
from fersyn.data.leaks import check_unseen
from fersyn.data.synthetic import SyntheticSource
from fersyn.errors import FersynError
from fersyn.plugins.contracts import checked_model
from fersyn.runtime.distribute import describe, is_chief, make_strategy
from fersyn.runtime.precision import fallback_note, policy_for, precision_scope, resolve_precision
from fersyn.runtime.provenance import keyed, package_versions
from fersyn.sweep.cells import CellRunner, SweepData
from fersyn.sweep.held_out import HeldOutFaces, cross_dataset_test, test_faces_record
from fersyn.sweep.sets import GENERATED, fit_recipe, generated_set
from fersyn.sweep.spec import MIN_STEPS, Cell, Sweep
from fersyn.sweep.store import RESULTS, SCHEMA, ResultStore, Shard, cell_key, check_sweep_folder, record_sweep

if TYPE_CHECKING:
    import tensorflow as tf


log = logging.getLogger("fersyn")


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
    started = time.perf_counter()
    shard = Shard.parse(shard) if isinstance(shard, str) else shard
    spec, per_classifier, out = _checked(spec, out, shard, strategy, plugins_dir)
    distribution = make_strategy(strategy)  # before any TensorFlow work, as a multi-worker strategy must be
    chief = is_chief(distribution)  # the others of a multi-worker run train alike but write nothing
    faces = spec.load()
    splits = spec.splits(faces)
    cross = cross_dataset_test(spec, faces) if spec.test_data else None
    policy = resolve_precision(spec.precision)
    # The pretraining data by content, read once for every fit's recipe.
    pretrain = (load_dataset(spec.pretrain, image_size=spec.image_size, emotions="present").fingerprint
                if spec.pretrain and spec.fits_generators else None)
    recipes = [fit_recipe(spec, faces, policy, fit, pretrain) for fit in range(spec.generator_fits)] if spec.fits_generators else []
    recipe = recipes[0] if recipes else None  # fit 0's: it keys the folder's configuration
    sources: list[list[SyntheticSource]] = _given_sets(spec, faces)  # per generator fit (a given set: one), per fold
    try:
        config = _folder_config(spec, faces, splits, sources, recipe, cross)
        _check_classifiers(spec, per_classifier, policy, len(faces.emotions))
        if chief:
            check_sweep_folder(out, config, force=force, argument_names=_ARGUMENT_OF)  # before fitting any GAN
        held_out = HeldOutFaces(spec, faces, splits, cross)
        for fitted in recipes:
            sources.append([SyntheticSource(generated_set(spec, fitted, faces, splits, fold, out, distribution,
                                                          plugins_dir, tensorboard), faces.emotions, spec.image_size)
                            for fold in range(len(splits))])
        every_set = [source for fit in sources for source in fit]  # fit by fit, fold by fold
        checks = [[check_unseen(source, held_out.of_fold(fold), allow_unverified=spec.allow_unverified_synthetic)
                   for fold, source in enumerate(fit)] for fit in sources]
        if sources:
            log.info("synthetic set %s", every_set[0].describe())
        names = _names(spec, every_set, out, recipe, cross, describe(strategy, distribution))
        if chief:
            record_sweep(out, config, _provenance(spec, names, splits, every_set, policy),
                         test_faces=test_faces_record(faces, splits, cross))
        store = ResultStore(out, shard.results_name if shard else RESULTS, write=chief)
        runner = CellRunner(spec, SweepData(faces, splits, sources, checks, cross), config, names, store,
                            per_classifier, distribution, recipe["code"] if recipe else None, policy,
                            training_logs=None if tensorboard is None else Path(tensorboard) / "cells")
        trained, skipped, failed = runner.run_all(_cells_of(runner, list(spec.cells()), shard))
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
    return SweepResult(out, Summary.from_dict(written.summary), written.table, written.files, trained, skipped, failed,
                       seconds)


def _checked(spec: Sweep, out: str | Path, shard: Shard | None, strategy: Any,
             plugins_dir: str | Path | None) -> tuple[Sweep, dict[str, dict[str, Any]], Path]:
    """What can be refused before any data is read: unknown plugins or options, and options that do not go
    together. Returns the spec with its generators' options as built (typed), each classifier's, and `out`."""
    from fersyn.plugins.registry import create_plugin, load_plugins

    load_plugins(plugins_dir)
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
    return spec, per_classifier, out


def _given_sets(spec: Sweep, faces: FaceSet) -> list[list[SyntheticSource]]:
    """The sets of `synthetic`, per generator fit and fold; a set that serves several folds is opened once."""
    if spec.synthetic is None:
        return []
    opened: dict[Path, SyntheticSource] = {}
    for fit in range(spec.generator_fits):
        for fold in range(spec.folds):
            path = spec.synthetic_path(fold, fit)
            if path not in opened:
                opened[path] = SyntheticSource(path, faces.emotions, spec.image_size)
    return [[opened[spec.synthetic_path(fold, fit)] for fold in range(spec.folds)] for fit in range(spec.generator_fits)]


def _folder_config(spec: Sweep, faces: FaceSet, splits: list[Split], sources: list[list[SyntheticSource]],
                   recipe: dict[str, Any] | None, cross: Any) -> dict[str, Any]:
    """What every cell of a sweep folder shares: contents, not names or paths (a folder of another is refused)."""
    return {
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
        **keyed({"generator_fits": spec.generator_fits}),
    }


def _check_classifiers(spec: Sweep, per_classifier: dict[str, dict[str, Any]], policy: str, classes: int) -> None:
    """A classifier that breaks the contract stops the sweep before anything is written."""
    from fersyn.plugins.registry import create_plugin

    for name in spec.classifiers:
        classifier = create_plugin("classifier", name, image_size=spec.image_size, **per_classifier[name])
        with precision_scope(policy_for(type(classifier), policy)):
            checked_model(classifier, classes)


def _names(spec: Sweep, every_set: list[SyntheticSource], out: Path, recipe: dict[str, Any] | None, cross: Any,
           strategy: dict[str, Any]) -> dict[str, Any]:
    """What each row records of where its faces came from: names and paths, which the configuration leaves out."""
    made_by = every_set[0].provenance if every_set else {}
    one_file = spec.folds == 1 and spec.generator_fits == 1
    generated_at = None if recipe is None else str(every_set[0].path if one_file else out / GENERATED)
    return {"data": spec.data, "synthetic": spec.synthetic or generated_at,
            "allow_unverified_synthetic": spec.allow_unverified_synthetic,
            "identity": made_by.get("identity", {}).get("plugin"), "expression": made_by.get("expression", {}).get("plugin"),
            "train_steps": None if recipe is None else spec.train_steps,
            "test_data": None if cross is None else spec.test_data,
            "strategy": "{name} ({replicas} replica(s))".format(**strategy)}


def _provenance(spec: Sweep, names: dict[str, Any], splits: list[Split], every_set: list[SyntheticSource],
                policy: str) -> dict[str, Any]:
    return {
        **names, "spec": _jsonable(spec.record()), "margin": spec.margin / 100,  # a fraction, as stats takes it
        "train_images": [int(len(s.train)) for s in splits], "val_images": [int(len(s.val)) for s in splits],
        "test_images": [int(len(s.test)) for s in splits], "unused_train_images": [int(len(s.unused)) for s in splits],
        "leaks_removed": [s.leaks_removed for s in splits],
        "synthetic_sets": [s.provenance for s in every_set],
        "synthetic_metrics": [s.metrics for s in every_set],
        "synthetic_count": [s.count for s in every_set],
        "synthetic_dropped_emotions": every_set[0].dropped if every_set else None,
        "synthetic_missing_emotions": every_set[0].missing if every_set else None,
        "precision_policy": policy, "precision_note": fallback_note(spec.precision, policy),
        "versions": package_versions(),
    }


def _cells_of(runner: CellRunner, cells: list[Cell], shard: Shard | None) -> list[Cell]:
    """The cells this run trains: all, or a shard's (chosen by their keys, so every shard agrees)."""
    if shard is None:
        return cells
    keys = [runner.key(cell) for cell in cells]
    mine = shard.select(keys)
    held = [cell for cell, key in zip(cells, keys) if key in mine]
    log.info("shard %d/%d: %d of the sweep's %d cells", shard.index, shard.count, len(held), len(cells))
    return held


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
