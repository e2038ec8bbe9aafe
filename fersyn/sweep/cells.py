"""Running a sweep's cells: for each, the training stream (real faces plus its extra faces), the budget, training
and scoring on the fold's real test faces, and its row in results.csv."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fersyn.classifiers.protocol import PROCESS_KEPT_MODELS, Budget
from fersyn.data import FaceSet, Split
from fersyn.data.synthetic import SyntheticSource
from fersyn.plugins.contracts import ContractError, code_version
from fersyn.runtime.distribute import distributed
from fersyn.runtime.precision import policy_for
from fersyn.runtime.progress import SweepProgress
from fersyn.sweep.held_out import CrossTest
from fersyn.sweep.mix import balanced_rows
from fersyn.sweep.row import Row, Scores
from fersyn.sweep.spec import MIN_STEPS, REAL_ONLY, REAL_PLUS_AUGMENTED, REAL_PLUS_REAL, SYNTHETIC_ONLY, Cell, Sweep
from fersyn.sweep.store import ResultStore, cell_key

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from fersyn.plugins.contracts import Classifier
    from fersyn.sweep.mix import TrainingStream

log = logging.getLogger("fersyn")
LATE_PEAK = 0.9  # a cell whose best validation falls after this share of its rounds may want more budget


@dataclass(frozen=True)
class SweepData:
    """What the cells train and test on: the faces, each fold's split, synthetic sets and the proofs that they
    never saw a held-out face (`checks`), both per generator fit and fold, and the cross-dataset test."""

    faces: FaceSet
    splits: list[Split]
    sources: list[list[SyntheticSource]]
    checks: list[list[str]]
    cross: CrossTest | None


class CellRunner:
    """Trains and scores one cell at a time, and records its row."""

    def __init__(self, spec: Sweep, data: SweepData, config: dict[str, Any], names: dict[str, Any],
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
        if self.classifier_policy[cell.classifier] != "float32":  # float32: the value before it was keyed (as keyed())
            config["precision"] = self.classifier_policy[cell.classifier]
        if cell.needs_synthetic:
            config["generator_code"] = self.generator_code  # None for a given set: its fingerprint holds its recipe
        else:  # no synthetic face in it: whatever sets, and however many fits of them, the folder uses
            config["synthetic_fingerprint"] = None
            config.pop("generator_fits", None)
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
        fit = self.spec.fit_of(cell.seed)
        row = Row(cell_key(key_config), classifier_label(cell.classifier, self.classifier(cell.classifier).options),
                  cell.classifier, self.classifier_policy[cell.classifier], fit,
                  self.checks[fit][cell.fold] if cell.needs_synthetic else None, self.names, _flat(key_config))
        try:
            with distributed(self.strategy):  # per cell: clearing the session below resets the scope's graph
                row = dataclasses.replace(row, scores=self._train_and_score(cell, progress))
        except ContractError:
            raise  # a plugin that breaks the contract would fail every cell: stop, naming the rule
        except Exception as error:  # a failing cell is recorded and the sweep goes on
            message = " ".join(f"{type(error).__name__}: {error}".split())
            log.warning("cell %s failed: %s", cell.describe(self.spec.folds), message)
            row = dataclasses.replace(row, status="failed", error=message[:500])
        finally:
            keras.backend.clear_session()  # free the cell's graph: a long sweep must not grow
        self.store.record(row)
        return row.status == "ok"

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

    def _train_and_score(self, cell: Cell, progress: "keras.callbacks.Callback") -> Scores:
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
        cross = None
        if self.cross is not None:
            cross_predicted = classifier.predict_proba(self.cross.faces.images[self.cross.split.test]).argmax(1)
            cross = {**classification_scores(self.cross.labels, cross_predicted, faces.emotions),
                     "predictions": _digits(cross_predicted)}
        peaked_late = bool(record.best_validation > LATE_PEAK * budget.rounds)
        log.info("%s: accuracy %.1f%% after %d steps (%.0f s)%s", cell.describe(self.spec.folds),
                 100 * scores["accuracy"], record.steps, record.seconds,
                 f"; best validation in round {record.best_validation} of {record.validations}: the budget may be "
                 "binding" if peaked_late else "")
        return Scores(
            n_real=int(len(split.train)) if cell.training != SYNTHETIC_ONLY else 0, n_extra=n_extra,
            extra_repeated=repeated, batch_size=classifier.batch_size,
            step_budget=budget.steps if budget.kind == "steps" else None, steps=record.steps,
            epochs=round(record.epochs, 3), validations=record.validations, best_validation=record.best_validation,
            peaked_late=peaked_late, train_seconds=round(record.seconds, 2),
            images_per_second=round(record.steps * classifier.batch_size / record.seconds, 1),
            accuracy=scores["accuracy"], macro_f1=scores["macro_f1"], confusion=json.dumps(scores["confusion"]),
            test_predictions=_digits(predicted), recall=scores["recall"],
            **({} if cross is None else {"cross_accuracy": cross["accuracy"], "cross_macro_f1": cross["macro_f1"],
                                         "cross_confusion": json.dumps(cross["confusion"]),
                                         "cross_predictions": cross["predictions"]}))


def _digits(predicted: np.ndarray) -> str:
    """Predicted class indices as one string of digits (a row of results.csv stays one line)."""
    return "".join(str(int(p)) for p in predicted)


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A cell's configuration as CSV columns (nested values as JSON)."""
    return {k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v for k, v in config.items()}


def classifier_label(name: str, options: Any) -> str:
    """How results name a classifier: its plugin name, with the options that differ from their defaults."""
    defaults = dataclasses.asdict(type(options)())
    changed = {k: v for k, v in dataclasses.asdict(options).items() if v != defaults[k]}
    return name + ("(" + ",".join(f"{k}={v}" for k, v in changed.items()) + ")" if changed else "")
