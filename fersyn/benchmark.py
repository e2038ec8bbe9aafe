"""`benchmark`: the sweep. For every classifier, ratio k and seed, train on the real training split
plus k × |real train| synthetic faces (balanced over the emotions) and test on real held-out faces.

One cell = (classifier, ratio, seed); ratio 0 is real-only, and a synthetic-only cell (as many
synthetic faces as real training faces) can be added. Validation (early stopping, best weights) and
test faces are always real; the generators never saw them. Each finished cell is written to
`results.csv` at once, so an interrupted sweep resumes where it stopped; cells are matched on their
whole configuration. At the end the summary, the bound and the plots are written (fersyn.report).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from fersyn.classifiers.training import BUDGETS, Budget
from fersyn.contracts import ContractError, checked_model
from fersyn.data import FaceSet, Split, load_dataset, split_dataset
from fersyn.distribute import describe, distributed, is_chief, make_strategy
from fersyn.errors import FersynError
from fersyn.files import atomic_output
from fersyn.mix import SyntheticSource, augmentation_draw
from fersyn.progress import format_duration
from fersyn.provenance import package_versions
from fersyn.results import (REAL_PLUS_AUGMENTED, REAL_PLUS_SYNTHETIC, RESULTS, SYNTHETIC_ONLY, ResultStore, Shard,
                            cell_key, check_sweep_folder, record_sweep)

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from fersyn.contracts import Classifier

log = logging.getLogger("fersyn")

GENERATED = "synthetic.h5"  # where a sweep keeps the set it generated itself
GENERATORS = "generators"  # and, per recipe, the fitted generators


# The option each key of a sweep folder's configuration comes from (for "differs in: …").
_OPTION_OF = {
    "data_fingerprint": "--data", "emotions": "--emotions", "image_size": "--image-size", "split": "--data",
    "split_seed": "--split-seed", "split_fingerprints": "--split-seed", "train_fraction": "--train-fraction", "budget": "--budget",
    "synthetic_fingerprint": "--synthetic (or --identity/--expression/--train-steps)",
    "option_epochs": "--epochs", "option_steps": "--steps", "option_patience": "--patience",
    "test_data_fingerprint": "--test-data",
}


CONTROLS = ("augment",)


@dataclass(frozen=True)
class Cell:
    classifier: str
    ratio: float | None  # None: synthetic only
    seed: int
    control: str | None = None  # "augment": the ratio is filled with augmented copies of real faces

    @property
    def training(self) -> str:
        if self.ratio is None:
            return SYNTHETIC_ONLY
        return REAL_PLUS_AUGMENTED if self.control == "augment" else REAL_PLUS_SYNTHETIC

    def describe(self) -> str:
        mix = "synthetic only" if self.ratio is None else ("real only" if self.ratio == 0 else f"ratio {self.ratio:g}")
        return f"{self.classifier}, {mix}{', augmented copies' if self.control else ''}, seed {self.seed}"


@dataclass
class BenchmarkResult:
    directory: Path
    summary: dict[str, Any]
    table: str
    files: list[Path]
    trained: int  # cells trained in this run
    skipped: int  # cells already finished in an earlier run
    failed: int
    seconds: float


def parse_ratios(values: str | float | Sequence[str | float]) -> tuple[float, ...]:
    """'0,1,2.5' (or several such) → sorted unique ratios; negative, non-numeric or none → error."""
    parts = [values] if isinstance(values, (str, int, float)) else list(values)
    texts = [t.strip() for part in parts for t in str(part).split(",") if t.strip()]
    if not texts:
        raise FersynError("no ratios given: pass --ratio with a comma list such as 0,1,2,5")
    ratios = []
    for text in texts:
        try:
            ratio = float(text)
        except ValueError:
            raise FersynError(f"--ratio: '{text}' is not a number (use a comma list such as 0,1,2.5)") from None
        if not math.isfinite(ratio) or ratio < 0:
            raise FersynError(f"--ratio: {text} is not allowed; ratios are finite and ≥ 0 (0 = real only)")
        ratios.append(ratio)
    return tuple(sorted(set(ratios)))


def benchmark(
    data: str | Path = "toy",
    out: str | Path = "fersyn-benchmark",
    *,
    ratios: str | float | Sequence[str | float] = (0, 1, 2, 5, 10),
    synthetic: str | Path | None = None,
    identity: str | None = None,
    expression: str | None = None,
    classifiers: Sequence[str] = ("small-cnn",),
    classifier_options: dict[str, Any] | None = None,
    identity_options: dict[str, Any] | None = None,
    expression_options: dict[str, Any] | None = None,
    seeds: int = 3,
    budget: str = "steps",
    epochs: int = 50,
    steps: int | None = None,
    patience: int = 5,
    synthetic_only: bool = False,
    controls: Sequence[str] = (),
    test_data: str | Path | None = None,
    emotions: str | Sequence[str] | None = None,
    image_size: int = 48,
    split_seed: int = 0,
    train_fraction: float = 1.0,
    generator_steps: int | None = None,
    force: bool = False,
    shard: str | Shard | None = None,
    strategy: "str | tf.distribute.Strategy" = "default",
    plugins_dir: str | Path | None = None,
) -> BenchmarkResult:
    """Run (or resume) the sweep into the folder `out`; see the module doc and `fersyn benchmark --help`."""
    from fersyn.registry import create_plugin, load_plugins

    started = time.perf_counter()
    ratios = parse_ratios(ratios)
    shard = Shard.parse(shard) if isinstance(shard, str) else shard
    _check_arguments(seeds, budget, epochs, steps, patience, synthetic, identity, expression, controls)
    load_plugins(plugins_dir)
    classifiers = tuple(dict.fromkeys(classifiers))
    # Unknown names or options fail now, not after loading the data; options are kept as built (typed).
    per_classifier = _options_per_classifier(classifiers, dict(classifier_options or {}))
    needs_synthetic = synthetic_only or any(r > 0 for r in ratios)
    if shard is not None and needs_synthetic and synthetic is None:
        raise FersynError("--shard needs --synthetic FILE: fit the generators once (`fersyn generate`) so that every "
                          "shard mixes the same synthetic faces")
    if strategy == "multiworker" and needs_synthetic and synthetic is None:
        raise FersynError("--strategy multiworker on benchmark needs --synthetic FILE, readable by every worker: fit "
                          "the generators first (`fersyn generate --strategy multiworker`)")
    if needs_synthetic and synthetic is None:
        identity, expression = identity or "dcgan", expression or "stargan"
        identity_options = dataclasses.asdict(create_plugin("identity", identity, **(identity_options or {})).options)
        expression_options = dataclasses.asdict(create_plugin("expression", expression, **(expression_options or {})).options)
    elif identity_options or expression_options:
        raise FersynError("--identity-opt/--expression-opt set generators, which run only without --synthetic "
                          "and with a ratio above 0 (or --synthetic-only)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FersynError(f"--out {out} is a file; give a folder for the results")

    distribution = make_strategy(strategy)  # before any TensorFlow work, as a multi-worker strategy must be
    chief = is_chief(distribution)  # the others of a multi-worker run train alike but write nothing
    faces = load_dataset(data, image_size=image_size, emotions=emotions)
    split = split_dataset(faces, seed=split_seed, train_fraction=train_fraction)
    cross = _cross_dataset_test(test_data, faces, image_size, split_seed) if test_data else None
    source, recipe = None, None
    if needs_synthetic and synthetic is not None:
        source = SyntheticSource(synthetic, faces.emotions, image_size)
    elif needs_synthetic:
        recipe = {"data": faces.fingerprint, "emotions": list(faces.emotions), "image_size": image_size,
                  "seed": split_seed, "train_fraction": train_fraction, "identity": identity, "expression": expression, "train_steps": generator_steps,
                  "identity_options": identity_options, "expression_options": expression_options}
    try:
        if source is not None:
            _check_not_fitted_on_held_out(source, faces, split, cross)
        config = {  # what every cell of this folder shares: contents, not names or paths
            "data_fingerprint": faces.fingerprint, "emotions": ",".join(faces.emotions), "image_size": image_size,
            "split": split.method, "split_seed": split_seed, "split_fingerprints": split.fingerprints(faces),
            **({"train_fraction": train_fraction} if train_fraction < 1 else {}),  # absent: older folders stay valid
            "synthetic_fingerprint": source.fingerprint if source else cell_key(recipe) if recipe else None,
            "budget": budget, "option_epochs": epochs if budget == "epochs" or steps is None else None,
            "option_steps": steps if budget == "steps" else None, "option_patience": patience if budget == "epochs" else None,
            "test_data_fingerprint": None if cross is None else cross.fingerprint,
        }
        for name in classifiers:  # one that breaks the contract stops the sweep before anything is written
            checked_model(create_plugin("classifier", name, image_size=image_size, **per_classifier[name]),
                          len(faces.emotions))
        if chief:
            check_sweep_folder(out, config, force=force, option_names=_OPTION_OF)  # before fitting any GAN
        if recipe is not None:
            top_ratio = max(max(ratios), 1.0 if synthetic_only else 0.0)
            path = _generated_set(data, recipe, len(split.train), out, top_ratio, distribution, plugins_dir)
            source = SyntheticSource(path, faces.emotions, image_size)
            _check_not_fitted_on_held_out(source, faces, split, cross)
        if source is not None:
            log.info("synthetic set %s", source.describe())
        made_by = (source.provenance if source else {})
        names = {"data": str(data), "synthetic": None if source is None else str(source.path),
                 "identity": made_by.get("identity", {}).get("plugin"), "expression": made_by.get("expression", {}).get("plugin"),
                 "generator_steps": None if recipe is None else generator_steps,
                 "test_data": None if cross is None else str(test_data),
                 "strategy": "{name} ({replicas} replica(s))".format(**describe(strategy, distribution))}
        if chief:
            record_sweep(out, config, {
                **names, "train_images": int(len(split.train)), "val_images": int(len(split.val)),
                "test_images": int(len(split.test)), "leaks_removed": split.leaks_removed,
                "synthetic_set": None if source is None else source.provenance,
                "synthetic_count": None if source is None else source.count,
                "synthetic_dropped_emotions": None if source is None else source.dropped,
                "synthetic_missing_emotions": None if source is None else source.missing,
                "synthetic_resized_from": None if source is None or source.stored_size == image_size else source.stored_size,
                "versions": package_versions(),
            })
        cells = [Cell(name, ratio, seed) for seed in range(seeds) for name in classifiers for ratio in ratios]
        cells += [Cell(name, None, seed) for seed in range(seeds) for name in classifiers] if synthetic_only else []
        cells += [Cell(name, ratio, seed, "augment") for seed in range(seeds) for name in classifiers
                  for ratio in ratios if ratio > 0] if "augment" in controls else []
        store = ResultStore(out, shard.results_name if shard else RESULTS, write=chief)
        runner = _CellRunner(faces, split, source, cross, config, names, store, budget, epochs, patience, steps,
                             per_classifier, distribution)
        if shard is not None:
            held = [cell for cell in cells if shard.holds(runner.key(cell))]
            log.info("shard %d/%d: %d of the sweep's %d cells", shard.index, shard.count, len(held), len(cells))
            cells = held
        trained, skipped, failed = runner.run_all(cells)
    finally:
        if source is not None:
            source.close()
    seconds = time.perf_counter() - started
    if not store.rows:  # only a shard can be given no cell
        return BenchmarkResult(out, {}, f"shard {shard.index}/{shard.count} holds none of this sweep's cells", [],
                               0, 0, 0, seconds)
    if not chief:
        return BenchmarkResult(out, {}, "a worker of a multi-worker run: the chief writes the results", [],
                               trained, skipped, failed, seconds)
    from fersyn.report import write_report

    report = write_report(out)  # in a shard's folder: the cells of the shards that wrote there so far
    return BenchmarkResult(out, report.summary, report.table, report.files, trained, skipped, failed, seconds)


def _check_arguments(seeds: int, budget: str, epochs: int, steps: int | None, patience: int,
                     synthetic: str | Path | None, identity: str | None, expression: str | None,
                     controls: Sequence[str]) -> None:
    unknown = sorted(set(controls) - set(CONTROLS))
    if unknown:
        raise FersynError(f"--control {', '.join(unknown)}: unknown (known: {', '.join(CONTROLS)})")
    if seeds < 1:
        raise FersynError(f"--seeds must be at least 1 (got {seeds})")
    if budget not in BUDGETS:
        raise FersynError(f"--budget must be one of {', '.join(BUDGETS)} (got {budget!r})")
    if epochs < 1 or patience < 1 or (steps is not None and steps < 1):
        raise FersynError("--epochs, --steps and --patience must be positive whole numbers")
    if synthetic is not None and (identity or expression):
        raise FersynError("give either --synthetic FILE or --identity/--expression (which generate a set), not both")


def _options_per_classifier(classifiers: Sequence[str], settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`--classifier-opt` settings per classifier, typed: `KEY=VALUE` applies to every classifier (and
    must suit each), `NAME.KEY=VALUE` to classifier NAME only."""
    from fersyn.registry import create_plugin

    targeted = {key.partition(".")[0] for key in settings if "." in key}
    strangers = sorted(targeted - set(classifiers))
    if strangers:
        raise FersynError(f"--classifier-opt names {', '.join(strangers)}, which is not among --classifier "
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


def _generated_set(data: str | Path, recipe: dict[str, Any], n_train: int, out: Path, top_ratio: float,
                   strategy: "tf.distribute.Strategy", plugins_dir: str | Path | None) -> Path:
    """The sweep's own synthetic set in `out`, generated by generators fitted on the training split
    (kept in `out/generators/<recipe>`), unless one of the same recipe, large enough, is there."""
    from fersyn.generate import generate

    path = out / GENERATED
    recipe_path = path.with_suffix(".recipe.json")
    count = math.ceil(top_ratio * n_train) + len(recipe["emotions"])  # + E: room for a random remainder
    try:
        saved = json.loads(recipe_path.read_text())
    except (OSError, ValueError):
        saved = {}  # none, or a kill left it unreadable: generate again
    if path.is_file() and isinstance(saved, dict) and saved.get("recipe") == recipe and saved.get("count", 0) >= count:
        log.info("reusing %s (%d faces)", path, saved["count"])
        return path
    recipe_path.unlink(missing_ok=True)  # the set is about to change: no stale recipe may describe it
    checkpoints = out / GENERATORS / cell_key(recipe)
    log.info("generating %d synthetic faces with %s + %s (generators kept in %s)", count, recipe["identity"],
             recipe["expression"], checkpoints)
    result = generate(data, path, identity=recipe["identity"], expression=recipe["expression"], count=count,
                      identity_options=recipe["identity_options"], expression_options=recipe["expression_options"],
                      emotions=recipe["emotions"], seed=recipe["seed"], train_steps=recipe["train_steps"],
                      checkpoints=checkpoints, image_size=recipe["image_size"], train_fraction=recipe["train_fraction"],
                      strategy=strategy, overwrite=True, plugins_dir=plugins_dir)
    if is_chief(strategy):
        with atomic_output(recipe_path) as temporary:
            temporary.write_text(json.dumps({"recipe": recipe, "count": count}, indent=2))
    log.info("expression fidelity of the synthetic set: %.1f%% (reference classifier %.1f%% on real test faces)",
             100 * result.metrics["expression_fidelity"], 100 * result.metrics["reference_real_test_accuracy"])
    return path


@dataclass
class _CrossTest:
    """Another dataset's test split, labelled with the benchmark's class indices."""

    faces: FaceSet  # the other dataset (shared emotions only)
    split: Split
    labels: np.ndarray  # of its test faces, as the benchmark's class indices

    @property
    def fingerprint(self) -> str:
        return self.faces.fingerprint


def _cross_dataset_test(test_data: str | Path, faces: FaceSet, image_size: int, seed: int) -> _CrossTest:
    other = load_dataset(test_data, image_size=image_size, emotions="present")
    common = tuple(e for e in other.emotions if e in faces.emotions)
    if not common:
        raise FersynError(f"--test-data {test_data} has {', '.join(other.emotions)}: no emotion in common with "
                          f"{', '.join(faces.emotions)}")
    other = other.only(common)
    other_split = split_dataset(other, seed=seed)  # its test split: its training split may have fed a generator
    labels = np.array([faces.emotions.index(common[label]) for label in other.labels[other_split.test]])
    log.info("cross-dataset test: %d faces of %s (%s)", len(labels), test_data, ", ".join(common))
    return _CrossTest(other, other_split, labels)


def _check_not_fitted_on_held_out(source: SyntheticSource, faces: FaceSet, split: Split, cross: _CrossTest | None) -> None:
    """Refuse a synthetic set whose generators were fitted on a face that is a validation or test face
    here (same dataset under another split, size or class set), in-dataset or in the cross-dataset test."""
    data = source.provenance.get("data")
    data = data if isinstance(data, dict) else {}
    checks = [(faces, split, np.r_[split.val, split.test])]
    checks += [(cross.faces, cross.split, cross.split.test)] if cross else []
    for other, other_split, held_out in checks:
        if Path(str(data.get("source", ""))).name != Path(other.source).name:
            continue  # generators fitted on another dataset: nothing of this one reached them
        if source.training_names is not None:
            seen = sum(name in source.training_names for name in other.names[held_out])
        elif data.get("fingerprint") == other.fingerprint:  # an older set, without names: compare the splits
            seen = data.get("split_fingerprints", {}).get("train") != other_split.fingerprints(other)["train"]
        else:
            log.warning("%s names no training faces: cannot check that its generators never saw a held-out face of %s",
                        source.path, other.source)
            continue
        if seen:
            raise FersynError(
                f"{source.path} was made by generators fitted on {other.source} under another split: they saw some of "
                "its held-out faces (generate it again with the same --seed, --emotions and --image-size, or use "
                "--identity/--expression)"
            )


class _CellRunner:
    """Trains and scores one cell at a time, and records its row."""

    def __init__(self, faces: FaceSet, split: Split, source: SyntheticSource | None, cross: _CrossTest | None,
                 config: dict[str, Any], names: dict[str, Any], store: ResultStore, budget: str, epochs: int,
                 patience: int, steps: int | None, classifier_options: dict[str, dict[str, Any]],
                 strategy: "tf.distribute.Strategy") -> None:
        self.faces, self.split, self.source, self.cross = faces, split, source, cross
        self.strategy = strategy
        self.config, self.names, self.store = config, names, store
        self.budget_kind, self.epochs, self.patience, self.steps = budget, epochs, patience, steps
        self.classifier_options = classifier_options
        self.n_real = int(len(split.train))

    def run_all(self, cells: list[Cell]) -> tuple[int, int, int]:
        """Run the cells not finished before; returns (trained, skipped, failed)."""
        pending = [cell for cell in cells if not self.store.finished(self.key(cell))]
        skipped = len(cells) - len(pending)
        if skipped:
            log.info("%d of %d cells already finished in %s; running the other %d", skipped, len(cells),
                     self.store.directory, len(pending))
        progress = SweepProgress([self.planned_steps(cell) for cell in pending], exact=self.budget_kind == "steps")
        failed = sum(not self.run(cell, progress.for_cell(number, cell)) for number, cell in enumerate(pending, 1))
        return len(pending), skipped, failed

    def classifier(self, name: str) -> "Classifier":
        """A new, untrained instance of classifier `name` with the sweep's options."""
        from fersyn.registry import create_plugin

        faces = self.faces
        return create_plugin("classifier", name, image_size=faces.image_size, channels=faces.images.shape[-1],
                             **self.classifier_options[name])

    def key_config(self, cell: Cell) -> dict[str, Any]:
        options = self.classifier_options[cell.classifier]
        config = {**self.config, **dataclasses.asdict(cell), "training": cell.training, "classifier_options": options}
        if cell.ratio == 0 or cell.control:
            config["synthetic_fingerprint"] = None  # no synthetic face in it: whatever set the folder uses
        return config

    def key(self, cell: Cell) -> str:
        return cell_key(self.key_config(cell))

    def budget(self, batch_size: int) -> Budget:
        """The cell's budget; a steps budget is validated about once per real epoch and rounded up to
        whole validation rounds (logged when that changes --steps)."""
        if self.budget_kind == "epochs":
            return Budget("epochs", epochs=self.epochs, patience=self.patience)
        real_epoch = math.ceil(self.n_real / batch_size)
        wanted = self.steps or self.epochs * real_epoch
        rounds = math.ceil(wanted / real_epoch)
        eval_every = math.ceil(wanted / rounds)
        return Budget("steps", steps=rounds * eval_every, eval_every=eval_every)

    def n_synthetic(self, cell: Cell) -> int:
        return self.n_real if cell.ratio is None else round(cell.ratio * self.n_real)

    def planned_steps(self, cell: Cell) -> int:
        batch = self.classifier(cell.classifier).batch_size
        budget = self.budget(batch)
        if budget.kind == "steps":
            return budget.steps
        images = self.n_synthetic(cell) + (0 if cell.ratio is None else self.n_real)
        return budget.epochs * math.ceil(images / batch)

    def run(self, cell: Cell, progress: "keras.callbacks.Callback") -> bool:
        """Train and score `cell`, record its row (a failure too); True if it succeeded."""
        import keras

        key_config = self.key_config(cell)
        row = {"key": cell_key(key_config), **self.names, **_flat(key_config),
               "classifier": _label(cell.classifier, self.classifier(cell.classifier).options),
               "classifier_plugin": cell.classifier}
        try:
            with distributed(self.strategy):  # per cell: clearing the session below resets the scope's graph
                row.update(self._train_and_score(cell, progress))
            row.update(status="ok", error="")
        except ContractError:
            raise  # a plugin that breaks the contract would fail every cell: stop, naming the rule
        except Exception as error:  # a failing cell is recorded and the sweep goes on
            message = " ".join(f"{type(error).__name__}: {error}".split())
            log.warning("cell %s failed: %s", cell.describe(), message)
            row.update(status="failed", error=message[:500])
        finally:
            keras.backend.clear_session()  # free the cell's graph: a long sweep must not grow
        self.store.record(row)
        return row["status"] == "ok"

    def _train_and_score(self, cell: Cell, progress: "keras.callbacks.Callback") -> dict[str, Any]:
        from fersyn.classifiers.training import train_classifier
        from fersyn.mix import TrainingStream
        from fersyn.stats import classification_scores

        faces, split = self.faces, self.split
        classifier = self.classifier(cell.classifier)
        n_synthetic = self.n_synthetic(cell)
        real = split.train if cell.ratio is not None else split.train[:0]
        draw = augmented = None
        if cell.control == "augment":
            augmented = augmentation_draw(faces.labels[real], n_synthetic, np.random.default_rng([cell.seed, 2]))
        elif n_synthetic:
            draw = self.source.draw(n_synthetic, np.random.default_rng([cell.seed, 1]))
            if draw.repeated:
                log.warning("%s: the synthetic set ran short; %d faces are used twice or more", cell.describe(), draw.repeated)
        stream = TrainingStream(faces.images[real], faces.labels[real], classifier.batch_size, cell.seed, self.source, draw,
                                augmented)
        budget = self.budget(classifier.batch_size)
        if budget.kind == "steps" and self.steps and budget.steps != self.steps:
            log.info("%s: --steps %d rounded up to %d (%d validation rounds of %d steps)", cell.describe(), self.steps,
                     budget.steps, budget.steps // budget.eval_every, budget.eval_every)
        record = train_classifier(classifier, stream, faces.images[split.val], faces.labels[split.val],
                                  len(faces.emotions), budget=budget, seed=cell.seed, callbacks=[progress])
        scores = classification_scores(faces.labels[split.test], classifier.predict_proba(faces.images[split.test]).argmax(1),
                                       faces.emotions)
        row = {
            "n_real": int(len(real)), "n_synthetic": n_synthetic, "synthetic_repeated": 0 if draw is None else draw.repeated,
            "n_augmented": 0 if augmented is None else len(augmented.rows),
            "batch_size": classifier.batch_size, "step_budget": budget.steps if budget.kind == "steps" else None,
            "steps": record.steps, "epochs": round(record.epochs, 3), "validations": record.validations,
            "best_validation": record.best_validation, "train_seconds": round(record.seconds, 2),
            "images_per_second": round(record.steps * classifier.batch_size / record.seconds, 1),
            "accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"],
            **{f"recall_{e}": v for e, v in scores["recall"].items()},
            "confusion": json.dumps(scores["confusion"]),
            "cross_accuracy": None, "cross_macro_f1": None, "cross_confusion": "",
        }
        if self.cross is not None:
            test_images = self.cross.faces.images[self.cross.split.test]
            cross = classification_scores(self.cross.labels, classifier.predict_proba(test_images).argmax(1), faces.emotions)
            row.update(cross_accuracy=cross["accuracy"], cross_macro_f1=cross["macro_f1"],
                       cross_confusion=json.dumps(cross["confusion"]))
        log.info("%s: accuracy %.1f%% after %d steps (%.0f s)", cell.describe(), 100 * scores["accuracy"], record.steps, record.seconds)
        return row


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A cell's configuration as CSV columns (nested values as JSON)."""
    return {k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v for k, v in config.items()}


class SweepProgress:
    """Logs, after each validation round, the cell, its round, and the time left for the whole run."""

    def __init__(self, planned_steps: list[int], *, exact: bool) -> None:
        self.planned, self.exact = planned_steps, exact
        self.done_steps, self.training_seconds = 0, 0.0

    def for_cell(self, number: int, cell: Cell) -> "keras.callbacks.Callback":
        import keras

        sweep = self

        class CellProgress(keras.callbacks.Callback):
            # Only epoch-end hooks: a per-batch hook would make Keras sync after every step.
            def on_train_begin(self, logs=None) -> None:
                self.started, self.steps = time.perf_counter(), 0

            def on_epoch_end(self, epoch: int, logs=None) -> None:
                self.steps += self.params["steps"] or 0
                elapsed = time.perf_counter() - self.started
                rate = (sweep.done_steps + self.steps) / max(sweep.training_seconds + elapsed, 1e-9)
                left_steps = max(sweep.planned[number - 1] - self.steps, 0) + sum(sweep.planned[number:])
                log.info("[cell %d/%d] %s: %s %d/%d, val loss %.3f · time left %s%s", number, len(sweep.planned),
                         cell.describe(), "round" if sweep.exact else "epoch", epoch + 1, self.params["epochs"],
                         (logs or {}).get("val_loss", float("nan")), "" if sweep.exact else "≤ ",
                         format_duration(left_steps / max(rate, 1e-9)))

            def on_train_end(self, logs=None) -> None:
                sweep.done_steps += self.steps
                sweep.training_seconds += time.perf_counter() - self.started

        return CellProgress()
