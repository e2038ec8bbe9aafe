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
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from fersyn.contracts import Classifier, checked_model
from fersyn.pixels import to_unit_interval
from fersyn.precision import policy_for, precision_scope

if TYPE_CHECKING:
    import keras

    from fersyn.mix import TrainingStream

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
) -> TrainingRecord:
    """Build `classifier`'s model and fit it on `stream` under `budget`; val images uint8, labels indices.
    The model is built under the dtype `policy` if the classifier is mixed-safe (fersyn.precision)."""
    import keras

    keras.utils.set_random_seed(seed)
    with precision_scope(policy_for(type(classifier), policy)):
        model = checked_model(classifier, num_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(classifier.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.optimizer.build(model.trainable_variables)  # not in fit's first step: TensorFlow would trace that twice
    if budget.kind == "epochs":
        rounds, steps_per_round, patience = budget.epochs, None, budget.patience
    else:
        rounds = budget.rounds
        steps_per_round, patience = budget.eval_every, rounds  # never stops early: every cell gets all its steps
    keep_best = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(
        stream.dataset(repeat=budget.kind == "steps"),
        validation_data=(to_unit_interval(val_images), val_labels),
        epochs=rounds,
        steps_per_epoch=steps_per_round,
        callbacks=[keep_best, *callbacks],
        shuffle=False,  # the stream shuffles itself
        verbose=0,
    )
    classifier.model = model
    val_loss = [float(v) for v in history.history["val_loss"]]
    steps = len(val_loss) * (steps_per_round or stream.steps_per_epoch)
    passes = len(val_loss) if budget.kind == "epochs" else steps * classifier.batch_size / stream.size
    best = int(np.nanargmin(val_loss)) + 1 if np.isfinite(val_loss).any() else len(val_loss)
    return TrainingRecord(len(val_loss), best, steps, passes, time.perf_counter() - started, val_loss)
