"""The training protocol shared by every classifier (the paper's): Adam, cross-entropy, the best
weights on the real validation loss restored at the end; and two ways to bound the work.

- `epochs` (the paper's): up to E passes over the training stream, stopping early when the real
  validation loss has not improved for `patience` epochs. More data means more gradient steps.
- `steps`: exactly S gradient steps whatever the amount of data, validated every `eval_every`
  steps, so that a gain from more data is not a gain from more compute.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal, Sequence

import numpy as np

from fersyn.data.pixels import to_unit_interval
from fersyn.plugins.contracts import Classifier, checked_model
from fersyn.runtime.inference import loss_and_accuracy
from fersyn.runtime.precision import policy_for, precision_scope

if TYPE_CHECKING:
    import keras

    from fersyn.sweep.mix import TrainingStream

BUDGETS = ("epochs", "steps")
# A steps budget is validated once per real epoch but at most this often: on a small real set that
# is every few steps, and 250 validations took 40 % of a cell's time for nothing a best-of-25 misses.
MAX_VALIDATIONS = 25


@dataclass(frozen=True)
class Budget:
    kind: Literal["epochs", "steps"] = "epochs"
    epochs: int = 50
    patience: int = 5
    steps: int = 0  # for kind "steps"
    eval_every: int = 0  # for kind "steps": gradient steps between validations

    @classmethod
    def of_steps(cls, wanted: int, real_epoch: int) -> "Budget":
        """At least `wanted` steps, validated once per `real_epoch` steps but at most MAX_VALIDATIONS
        times, rounded up to whole validation rounds."""
        rounds = min(math.ceil(wanted / real_epoch), MAX_VALIDATIONS)
        eval_every = math.ceil(wanted / rounds)
        return cls("steps", steps=rounds * eval_every, eval_every=eval_every)

    @property
    def rounds(self) -> int:
        """Validation rounds the budget allows: epochs, or rounds of eval_every steps."""
        return self.epochs if self.kind == "epochs" else -(-self.steps // self.eval_every)

    def __post_init__(self) -> None:
        if self.kind not in BUDGETS:
            raise ValueError(f"budget kind must be one of {BUDGETS}, not {self.kind!r}")
        if self.kind == "steps" and not (self.steps > 0 and self.eval_every > 0):
            raise ValueError("a steps budget needs steps > 0 and eval_every > 0")


class KeptModels:
    """Compiled models kept from one training to the next, one per architecture (classifier class,
    options, input shape, classes, dtype policy), at most `limit` of them: the most recently used. A
    training builds its model fresh under its seed, as always, then trains the kept model with those
    fresh values (weights, batch-norm statistics, dropout seeds) and a reset optimizer copied in: the
    same numbers as training the fresh model, but TensorFlow traces the training, validation and
    prediction functions once instead of once per training (measured: most of a short cell's time)."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self._models: dict[tuple, tuple["keras.Model", list[np.ndarray]]] = {}  # oldest use first

    def take(self, key: tuple, fresh: "keras.Model", compile_model: "Callable[[keras.Model], None]") -> "keras.Model":
        """The kept model for `key` holding `fresh`'s values, or `fresh` itself, compiled and kept."""
        kept = self._models.pop(key, None)
        if kept is not None and _same_variables(kept[0].variables, fresh.variables):
            model, optimizer_start = self._models[key] = kept
            for target, value in zip(model.variables, fresh.variables):
                target.assign(value.value)
            for target, value in zip(model.optimizer.variables, optimizer_start):
                target.assign(value)
            return model
        compile_model(fresh)
        self._models[key] = (fresh, [np.array(v.numpy()) for v in fresh.optimizer.variables])
        while len(self._models) > self.limit:
            del self._models[next(iter(self._models))]
        return fresh


# The process's own: a sweep's cells, and the sweeps after it in the same process (a notebook, a
# test session), train the models compiled first.
PROCESS_KEPT_MODELS = KeptModels()


def _same_variables(kept: Sequence, fresh: Sequence) -> bool:
    return len(kept) == len(fresh) and all(
        tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype for a, b in zip(kept, fresh))


@dataclass(frozen=True)
class TrainingRecord:
    validations: int  # validation rounds run: epochs (budget epochs), or rounds of eval_every steps
    best_validation: int  # the round whose weights were kept (1-based)
    steps: int  # gradient steps taken
    epochs: float  # passes over the training stream (steps × batch / stream size)
    seconds: float
    val_loss: list[float]


def train_classifier(
    classifier: Classifier,
    stream: "TrainingStream",
    val_images: np.ndarray,
    val_labels: np.ndarray,
    num_classes: int,
    *,
    budget: Budget = Budget(),
    seed: int = 0,
    callbacks: Sequence["keras.callbacks.Callback"] = (),
    policy: str = "float32",
    kept: KeptModels | None = None,
) -> TrainingRecord:
    """Build `classifier`'s model and fit it on `stream` under `budget`; val images uint8, labels indices.
    The model is built under the dtype `policy` if the classifier is mixed-safe (fersyn.runtime.precision);
    with `kept`, a compiled model of the same architecture is reused (KeptModels)."""
    import keras

    keras.utils.set_random_seed(seed)
    model_policy = policy_for(type(classifier), policy)
    with precision_scope(model_policy):
        model = checked_model(classifier, num_classes)

    def compile_model(fresh: "keras.Model") -> None:
        fresh.compile(optimizer=keras.optimizers.Adam(classifier.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        fresh.optimizer.build(fresh.trainable_variables)  # not in fit's first step: TensorFlow would trace that twice

    if kept is None:
        compile_model(model)
    else:
        architecture = (type(classifier), repr(classifier.options), classifier.image_shape, num_classes, model_policy,
                        classifier.learning_rate)
        model = kept.take(architecture, model, compile_model)
    if budget.kind == "epochs":
        rounds, steps_per_round, patience = budget.epochs, None, budget.patience
    else:
        rounds = budget.rounds
        steps_per_round, patience = budget.eval_every, rounds  # never stops early: every cell gets all its steps
    val_loss: list[float] = []
    unit_val_images = to_unit_interval(val_images)

    def validate(epoch: int, logs: dict) -> None:
        # What fit's validation_data would add to the epoch's logs (the same numbers: fersyn.runtime.inference),
        # without the data pipeline and callbacks Model.evaluate sets up each round. The callbacks after
        # this one (best weights, progress, TensorBoard, History) get the same logs.
        logs["val_loss"], logs["val_accuracy"] = loss_and_accuracy(model, unit_val_images, val_labels)
        val_loss.append(logs["val_loss"])

    keep_best = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    started = time.perf_counter()
    model.fit(
        stream.dataset(repeat=budget.kind == "steps"),
        epochs=rounds,
        steps_per_epoch=steps_per_round,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=validate), keep_best, *callbacks],
        shuffle=False,  # the stream shuffles itself
        verbose=0,
    )
    classifier.model = model
    steps = len(val_loss) * (steps_per_round or stream.steps_per_epoch)
    passes = len(val_loss) if budget.kind == "epochs" else steps * classifier.batch_size / stream.size
    best = int(np.nanargmin(val_loss)) + 1 if np.isfinite(val_loss).any() else len(val_loss)
    return TrainingRecord(len(val_loss), best, steps, passes, time.perf_counter() - started, val_loss)
