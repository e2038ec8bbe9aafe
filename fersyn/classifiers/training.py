"""The training protocol shared by every classifier (the paper's): Adam, cross-entropy, early
stopping on the real validation loss with the best weights restored."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from fersyn.contracts import Classifier


@dataclass(frozen=True)
class TrainingRecord:
    epochs: int
    best_epoch: int
    steps: int
    seconds: float
    val_loss: list[float]


def train_classifier(
    classifier: Classifier,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    num_classes: int,
    *,
    epochs: int = 50,
    patience: int = 5,
    seed: int = 0,
    verbose: int = 0,
) -> TrainingRecord:
    """Build `classifier`'s model and fit it; labels are class indices, images uint8."""
    import keras

    keras.utils.set_random_seed(seed)
    model = classifier.build_model(classifier.image_shape, num_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(classifier.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(
        train_images.astype(np.float32) / 255.0,
        train_labels,
        validation_data=(val_images.astype(np.float32) / 255.0, val_labels),
        batch_size=classifier.batch_size,
        epochs=epochs,
        callbacks=[stop],
        shuffle=True,
        verbose=verbose,
    )
    classifier.model = model
    val_loss = [float(v) for v in history.history["val_loss"]]
    steps_per_epoch = int(np.ceil(len(train_images) / classifier.batch_size))
    return TrainingRecord(len(val_loss), int(np.argmin(val_loss)) + 1, steps_per_epoch * len(val_loss), time.perf_counter() - started, val_loss)
