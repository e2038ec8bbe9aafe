"""`generate`: fit (or load) an identity and an expression generator on a dataset's training split,
then write a labelled synthetic set, a sample grid and quality metrics.

Only the training split ever reaches a generator; the test split is used once, to score the
reference classifier and the synthetic set against real held-out faces.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fersyn.data import FaceSet, Split, load_dataset
from fersyn.data.layout import DEFAULT_LAYOUT, Layout
from fersyn.data.regime import Regime
from fersyn.data.splits import fold_splits
from fersyn.data.synthetic import SyntheticWriter
from fersyn.errors import FersynError
from fersyn.generation.drawing import save_grid, write_faces
from fersyn.generation.fitting import GeneratorFit, fitted_generator
from fersyn.generation.pretraining import load_pretraining, pretrained_checkpoint
from fersyn.generation.recipe import Recipe
from fersyn.judges.quality import (
    fitted_judge,
    identity_preservation,
    independent_fidelity,
    judged_probabilities,
    quality_metrics,
)
from fersyn.plugins.contracts import Generator, checked_edits, checked_samples
from fersyn.plugins.options import build_options
from fersyn.runtime.distribute import describe, distributed, is_chief, make_strategy, output_of_this_worker
from fersyn.runtime.files import atomic_output, check_output_path
from fersyn.runtime.precision import fallback_note, policy_for, precision_scope, resolve_precision
from fersyn.runtime.provenance import keyed, package_versions
from fersyn.runtime.training_log import TensorBoardLog, TrainingLog

log = logging.getLogger("fersyn")

MIN_TRAINING_IMAGES = 64  # below this a GAN has too little to learn from (and a batch may not fill)


@dataclass
class GenerateResult:
    path: Path
    grid_path: Path
    count: int
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    seconds: float
    written: bool = True  # False on a worker other than the chief of a multi-worker run


def generate(
    recipe: Recipe, faces: FaceSet, split: Split, out: str | Path, *, regime: Regime | None = None, fold: int = 0,
    count: int = 1000, generator_seed: int | None = None, checkpoints: str | Path | None = None,
    strategy: str = "default", overwrite: bool = False, plugins_dir: str | Path | None = None,
    tensorboard: str | Path | None = None,
) -> GenerateResult:
    """Fit `recipe`'s generators on the training faces of `split` of the loaded `faces`, and write `count` synthetic
    faces, balanced over the emotions, to the HDF5 file `out` (see module doc). `regime` (default: `faces` as
    loaded, one split) and `fold` are what the split was made by, for the set's provenance; its `split_seed` also
    seeds the judge and the scoring. `generator_seed` (default: that split seed) seeds the generators' training and
    sampling, so that fits of one recipe on one split can differ. The judge scores the set; with its
    `filter_confidence` τ a face is kept only if the judge gives its emotion p ≥ τ (more drawn until `count`, up to
    MAX_DRAWS times). With `tensorboard` a folder, each generator's fit writes its losses and face grids there."""
    from fersyn.plugins.registry import get_plugin

    started = time.perf_counter()
    regime = regime or Regime(data=faces.source, image_size=faces.images.shape[1], emotions=tuple(faces.emotions))
    generator_seed = regime.split_seed if generator_seed is None else generator_seed
    recipe = recipe.resolved()
    out, grid_path = _checked_before_work(recipe, out, count, overwrite, plugins_dir)
    if len(split.train) < MIN_TRAINING_IMAGES:
        raise FersynError(f"the training split of {faces.source} has {len(split.train)} images; training a GAN needs at "
                          f"least {MIN_TRAINING_IMAGES} (use a larger dataset)")
    distribution = make_strategy(strategy)  # before any TensorFlow work, as a multi-worker strategy must be
    policy = resolve_precision(recipe.precision)
    # Every worker of a multi-worker run trains and samples alike; only the chief writes.
    with distributed(distribution), output_of_this_worker(out, distribution) as written:
        if checkpoints is not None:
            _make_folder(Path(checkpoints))
        # A pretrained judge only loads: now, so that missing weights stop the run before any long fit.
        judged_by = get_plugin("judge", recipe.judge).cls
        referee = fitted_judge(recipe.judge, faces, split, seed=regime.split_seed) if judged_by.pretrained else None
        pretraining = None if recipe.pretrain is None else load_pretraining(
            recipe.pretrain, steps=recipe.pretrain_steps, image_size=faces.images.shape[1], emotions=faces.emotions,
            held_out=faces.images[np.concatenate([split.val, split.test])], held_out_label="validation and test faces of this split")
        fits = _FoldFits(recipe, faces, split, policy, generator_seed, pretraining)
        fitted, seconds = fits.run(checkpoints, rescue=out.with_name(out.stem + "_generators"), tensorboard=tensorboard)
        began = time.perf_counter()
        if referee is None:
            log.info("fitting the judge %s on the real training split", recipe.judge)
            referee = fitted_judge(recipe.judge, faces, split, seed=regime.split_seed)
        seconds["judge"] = time.perf_counter() - began
        provenance = {
            "data": {**_data_record(faces, split, regime.layout), **regime.regime_record(), "fold": fold},
            **keyed({"preset": recipe.preset}),
            **{kind: _generator_record(fitted[kind], getattr(recipe, kind), fits.policies[kind]) for kind in fitted},
            "seed": generator_seed,  # of the generators' training and sampling; a stored key (a set's fingerprint reads it)
            "count": count,
            "strategy": describe(strategy, distribution),
            "precision": recipe.precision,  # asked for; each generator's own is above
            "precision_note": fallback_note(recipe.precision, policy),
            "judge": {"name": recipe.judge, "code_version": referee.fit_code_version, "weights": referee.provenance()},
            **({"pretraining": pretraining.record(fits.pretrained)} if pretraining is not None else {}),
            "versions": package_versions(),
        }
        writing = _SetWriting(faces, split, fitted, referee, recipe, generator_seed, regime.split_seed)
        metrics = writing.write(written, overwrite, count, provenance, seconds, pretraining)
        save_grid(writing.sample["sources"], writing.sample["edits"], faces.emotions, written.with_name(grid_path.name))
    return GenerateResult(out, grid_path, count, metrics, provenance, time.perf_counter() - started,
                          is_chief(distribution))


def generate_sets(regime: Regime, recipe: Recipe, out: str | Path, *, count: int = 1000,
                  generator_seed: int | None = None, checkpoints: str | Path | None = None, **options: Any,
                  ) -> list[GenerateResult]:
    """`fersyn generate`: read `regime`'s data once, then one set (`out`, a file) or, with `folds` K > 1, one set per
    fold into the folder `out` (fold-0.h5 …, what `fersyn benchmark --synthetic OUT --folds K` reads), each from
    generators fitted on that fold's training faces only. Checkpoints go to CHECKPOINTS (/fold-I), training logs to
    `tensorboard` (/fold-I); `options` as for `generate`."""
    from fersyn.sweep.spec import fold_set_path

    out = Path(out)
    if regime.folds > 1 and out.exists() and not out.is_dir():
        raise FersynError(f"`out` {out} is a file; with `folds` give a folder (it gets fold-0.h5 … "
                          f"fold-{regime.folds - 1}.h5)")
    resolved = recipe.resolved()
    _checked_before_work(resolved, fold_set_path(out, 0) if regime.folds > 1 else out, count,
                         options.get("overwrite", False), options.get("plugins_dir"))
    faces = regime.load()
    splits = regime.splits(faces)
    if regime.folds == 1:
        return [generate(resolved, faces, splits[0], out, regime=regime, count=count, generator_seed=generator_seed,
                         checkpoints=checkpoints, **options)]
    _make_folder(out)
    results = []
    tensorboard = options.pop("tensorboard", None)
    for fold, split in enumerate(splits):
        log.info("fold %d of %d", fold + 1, regime.folds)
        fold_checkpoints, fold_logs = (None if folder is None else Path(folder) / f"fold-{fold}"
                                       for folder in (checkpoints, tensorboard))
        results.append(generate(resolved, faces, split, fold_set_path(out, fold), regime=regime, fold=fold, count=count,
                                generator_seed=generator_seed, checkpoints=fold_checkpoints, tensorboard=fold_logs,
                                **options))
    return results


def _checked_before_work(recipe: Recipe, out: str | Path, count: Any, overwrite: bool,
                         plugins_dir: str | Path | None) -> tuple[Path, Path]:
    """What can be refused before any data is read or model trained; returns `out` and its grid's path."""
    _check_count(count)
    out = Path(out)
    grid_path = out.with_name(out.stem + "_grid.png")
    for path in (out, grid_path):
        check_output_path(path, overwrite=overwrite)
    _check_plugins(recipe, plugins_dir)
    return out, grid_path


def _check_plugins(recipe: Recipe, plugins_dir: str | Path | None) -> None:
    """Unknown plugins or options fail now, before any data is read or model trained."""
    from fersyn.plugins.registry import get_plugin, load_plugins

    load_plugins(plugins_dir)
    for kind in ("identity", "expression"):
        build_options(get_plugin(kind, getattr(recipe, kind)).cls.Options, dict(getattr(recipe, f"{kind}_options")),
                      f"{kind} plugin '{getattr(recipe, kind)}'")
    get_plugin("judge", recipe.judge)


def _data_record(faces: FaceSet, split: Split, layout: Layout) -> dict[str, Any]:
    return {"source": faces.source, "fingerprint": faces.fingerprint, "image_size": faces.images.shape[1],
            "emotions": list(faces.emotions), "split": split.method, "split_fingerprints": split.fingerprints(faces),
            "leaks_removed": split.leaks_removed, "train_images": len(split.train), "val_images": int(len(split.val)),
            "test_images": int(len(split.test)), **keyed({"layout": layout.describe()})}


def _check_count(count: Any) -> None:
    """The recipe checks its own settings (fersyn.settings); the count is generate's."""
    if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
        raise FersynError(f"`count` must be a positive whole number (got {count!r})")


def _generator_record(generator: Generator, name: str, policy: str) -> dict[str, Any]:
    return {"plugin": name, "options": dataclasses.asdict(generator.options), "trained_steps": generator.trained_steps,
            "code_version": generator.fit_code_version, "precision": policy}


class _FoldFits:
    """Fitting a fold's identity and expression generators (each pretrained first where `pretraining` is given and
    it counts its steps), with the smoke checks, checkpoints and training logs of fersyn.generation.fitting."""

    def __init__(self, recipe: Recipe, faces: FaceSet, split: Split, policy: str, seed: int, pretraining: Any) -> None:
        from fersyn.plugins.registry import get_plugin

        self.recipe, self.faces, self.split, self.seed, self.pretraining = recipe, faces, split, seed, pretraining
        self.train = faces.subset(split.train)
        self.policies = {kind: policy_for(get_plugin(kind, getattr(recipe, kind)).cls, policy)
                         for kind in ("identity", "expression")}
        self.pretrained: list[str] = []

    def jobs(self, seed: int) -> dict[str, GeneratorFit]:
        from fersyn.plugins.registry import create_plugin

        train, recipe, size = self.train, self.recipe, self.faces.images.shape[1]
        channels, probe = self.faces.images.shape[-1], train.images[:len(train.emotions)]
        return {
            "identity": GeneratorFit(
                lambda: create_plugin("identity", recipe.identity, image_size=size, channels=channels,
                                      **dict(recipe.identity_options)),
                lambda g, steps, part: g.fit(part.images, steps=steps, seed=seed),
                lambda g: checked_samples(g, 2, seed)),
            "expression": GeneratorFit(
                lambda: create_plugin("expression", recipe.expression, image_size=size, channels=channels,
                                      **dict(recipe.expression_options)),
                lambda g, steps, part: g.fit(part.images, part.labels, part.emotions, steps=steps, seed=seed),
                lambda g: checked_edits(g, probe, train.emotions, seed)),
        }

    def run(self, checkpoints: str | Path | None, *, rescue: Path,
            tensorboard: str | Path | None) -> tuple[dict[str, Generator], dict[str, float]]:
        """The fitted generators, and the seconds each took (a set's metrics record where its time went)."""
        from fersyn.plugins.registry import get_plugin

        trained_on = {"data": self.faces.fingerprint, "train": self.split.fingerprints(self.faces)["train"],
                      "emotions": list(self.faces.emotions), "image_size": self.faces.images.shape[1]}
        fitted, seconds = {}, {}
        for kind, job in self.jobs(self.seed).items():
            began = time.perf_counter()
            name, steps, start_from, policy = getattr(self.recipe, kind), self.recipe.train_steps, None, self.policies[kind]
            if self.pretraining is not None and get_plugin(kind, name).cls.trained_steps is not Generator.trained_steps:
                with precision_scope(policy):  # seeded 0: one pretraining serves every fold, fit and seed
                    start_from = pretrained_checkpoint(self.pretraining, self.jobs(0)[kind], precision=policy, seed=0,
                                                       training_log=TrainingLog())
                own = getattr(job.make().options, "steps", 0)
                steps = (self.pretraining.steps or own) + (steps or own)  # fine-tuning continues the count
                self.pretrained.append(kind)
            training_log = TrainingLog() if tensorboard is None else TensorBoardLog(Path(tensorboard) / f"{kind}-{name}")
            record = {**trained_on, "precision": policy, **({"pretrained_on": start_from[1]["data"],
                                                             "pretrain_steps": self.pretraining.steps} if start_from else {})}
            with precision_scope(policy):
                fitted[kind] = fitted_generator(
                    job, self.train, train_steps=steps, checkpoints=None if checkpoints is None else Path(checkpoints),
                    rescue=rescue, trained_on=record, seed=self.seed, training_log=training_log, start_from=start_from)
            training_log.close()
            seconds[kind] = time.perf_counter() - began
        return fitted, seconds


class _SetWriting:
    """Writing a set: faces drawn (and filtered by the judge where asked), scored, and stored with their provenance."""

    def __init__(self, faces: FaceSet, split: Split, fitted: dict[str, Generator], referee: Any, recipe: Recipe,
                 generator_seed: int, split_seed: int) -> None:
        self.faces, self.split, self.fitted, self.referee, self.judge = faces, split, fitted, referee, recipe.judge
        self.filter_confidence, self.generator_seed, self.split_seed = recipe.filter_confidence, generator_seed, split_seed
        self.sample: dict[str, Any] = {}

    def keep(self, images: np.ndarray, emotion: str) -> np.ndarray:
        emotions = self.faces.emotions
        chance = judged_probabilities(self.referee, images, emotions)[:, emotions.index(emotion)]
        return np.isnan(chance) | (chance >= self.filter_confidence)  # an emotion it cannot judge is kept

    def write(self, written: Path, overwrite: bool, count: int, provenance: dict[str, Any], seconds: dict[str, float],
              pretraining: Any) -> dict[str, Any]:
        faces, split, filtering = self.faces, self.split, self.filter_confidence is not None
        train, test = faces.subset(split.train), faces.subset(split.test)
        began = time.perf_counter()
        with atomic_output(written, overwrite=overwrite) as temporary:
            writer = SyntheticWriter(temporary, faces.images.shape[1:], faces.emotions)
            try:
                self.sample = sample = write_faces(writer, self.fitted["identity"], self.fitted["expression"],
                                                    faces.emotions, count, self.generator_seed,
                                                    self.keep if filtering else None)
                if filtering:
                    provenance["filter"] = {"judge": self.judge, "confidence": self.filter_confidence, **sample["filter"]}
                teacher = getattr(self.fitted["expression"].options, "teacher", None)
                metrics = quality_metrics(self.referee, sample["images"], sample["emotions"], test, seed=self.split_seed,
                                          teacher=teacher)
                metrics.update(identity_preservation(sample["sources"], sample["edits"]))
                metrics["independent"] = independent_fidelity(
                    sample["images"], sample["emotions"], test, train, teacher=teacher,
                    filter_judge=self.judge if filtering else None, fitted={self.judge: self.referee}, seed=self.split_seed,
                    pretrained_on=None if pretraining is None else pretraining.faces)
                if filtering:
                    metrics["filter"] = provenance["filter"]
                metrics["seconds"] = {**seconds, "faces and metrics": time.perf_counter() - began}
                writer.set_attributes(provenance=provenance, metrics=metrics)
                writer.set_training_names(train.names)
                # The pretraining faces too: a benchmark's leak check then covers its other test data as well.
                writer.set_training_faces(train.images if pretraining is None else
                                          np.concatenate([train.images, pretraining.faces.images]))
            finally:
                writer.close()
        return metrics


def measure_independent_fidelity(path: str | Path, *, data: str | Path | None = None, layout: Layout = DEFAULT_LAYOUT,
                                 samples: int = 1200) -> dict[str, Any]:
    """For a set made before fersyn measured independent fidelity: measure it now on up to `samples` of its faces
    and record it in the set's metrics (`metrics["independent"]`, as `generate` writes it). The generators'
    training faces and the real test faces come from the split its provenance records, of `data` (default: the
    source it records); the teacher, the filter and any pretraining data from its provenance."""
    import h5py

    from fersyn.data.synthetic import read_synthetic_attributes

    attributes = read_synthetic_attributes(path)
    provenance, metrics = attributes.get("provenance") or {}, attributes.get("metrics") or {}
    recorded = provenance.get("data")
    if not recorded:
        raise FersynError(f"{path} records no provenance of its data: fersyn cannot tell which faces its generators saw")
    if recorded.get("layout") and layout.describe() != recorded["layout"]:
        raise FersynError(f"{path} was made with the layout {recorded['layout']}: give that layout")
    faces = load_dataset(data or recorded["source"], image_size=recorded["image_size"], emotions=recorded["emotions"],
                         layout=layout)
    if faces.fingerprint != recorded["fingerprint"]:
        raise FersynError(f"{data or recorded['source']} is not the data {path} was made from (fingerprint "
                          f"{faces.fingerprint}, not {recorded['fingerprint']})")
    split = fold_splits(faces, recorded["folds"], seed=recorded["split_seed"], train_fraction=recorded["train_fraction"])[recorded["fold"]]
    if split.fingerprints(faces) != recorded["split_fingerprints"]:
        raise FersynError(f"the split of {path} could not be made again from its provenance (another fersyn version?)")
    with h5py.File(path, "r") as store:
        keep = np.sort(np.random.default_rng(recorded["split_seed"]).permutation(len(store["labels"]))[:samples])
        images, labels = store["images"][keep], store["labels"][keep]
    independent = independent_fidelity(
        images, np.array(attributes["emotions"])[labels], faces.subset(split.test), faces.subset(split.train),
        teacher=provenance.get("expression", {}).get("options", {}).get("teacher"),
        filter_judge=(provenance.get("filter") or {}).get("judge"),
        pretrained_on=_pretrained_on(path, provenance.get("pretraining"), faces, split), seed=recorded["split_seed"])
    with h5py.File(path, "r+") as store:
        store.attrs["metrics"] = json.dumps({**metrics, "independent": independent})
    return independent


def _pretrained_on(path: str | Path, pretraining: dict[str, Any] | None, faces: FaceSet, split: Split) -> FaceSet | None:
    """The external faces a set's generators were pretrained on, as its provenance records them (None: none)."""
    if not pretraining:
        return None
    external = load_pretraining(pretraining["data"], steps=pretraining["steps"], image_size=faces.image_size,
                                emotions=faces.emotions, held_out=faces.images[split.test], held_out_label="test faces")
    if external.faces.fingerprint != pretraining["fingerprint"]:
        raise FersynError(f"{pretraining['data']} is not the data the generators of {path} were pretrained on "
                          f"(fingerprint {external.faces.fingerprint}, not {pretraining['fingerprint']})")
    return external.faces


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FersynError(f"cannot use {folder} as the checkpoints folder ({error.strerror})") from None
