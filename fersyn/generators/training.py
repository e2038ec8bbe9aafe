"""What the built-in GANs share: pixel scaling, the input pipeline, a step-budget fit with progress,
differentiable augmentation, and saving a GAN with its options as one Keras 3 checkpoint."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

log = logging.getLogger("fersyn")

CHECKPOINT = "gan.keras"


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 0..255 → float32 -1..1 (what tanh generators produce)."""
    return images.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float -1..1 → uint8 0..255."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def batches(arrays: tuple[np.ndarray, ...], batch_size: int, seed: int) -> tf.data.Dataset:
    """An endless, shuffled stream of full batches of `arrays` (images first, scaled to -1..1)."""
    images, *rest = arrays
    dataset = tf.data.Dataset.from_tensor_slices((to_unit_range(images), *rest))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    return dataset.batch(batch_size, drop_remainder=True).prefetch(2).with_options(quick_teardown())


def quick_teardown() -> tf.data.Options:
    """tf.data options without autotuning: with it, deleting an endless iterator at the end of `fit`
    sporadically blocked ~9 s on this CPU, waiting for the autotuner's thread."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


class StepProgress(keras.callbacks.Callback):
    """Logs steps done, speed, losses and time left about every 10 % of the budget or 30 s."""

    def __init__(self, label: str, steps: int, already: int = 0) -> None:
        super().__init__()
        self.label, self.steps, self.already = label, steps, already
        self.every = max(1, steps // 10)

    def on_train_begin(self, logs=None) -> None:
        self.started = self.last = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        done, now = batch + 1, time.perf_counter()
        if done % self.every and now - self.last < 30 and done != self.steps:
            return
        self.last = now
        rate = done / (now - self.started)
        losses = " ".join(f"{k} {float(v):.3f}" for k, v in (logs or {}).items())
        log.info(
            "%s: step %d/%d, %.1f steps/s, %s, %s left",
            self.label, self.already + done, self.already + self.steps, rate, losses,
            _duration((self.steps - done) / rate),
        )


def _duration(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def fit_for_steps(model: keras.Model, dataset: tf.data.Dataset, steps: int, label: str, already: int) -> dict[str, float]:
    """Run `steps` train steps of `model` on `dataset`; returns the final mean losses."""
    history = model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0,
                        callbacks=[StepProgress(label, steps, already)])
    return {key: float(values[-1]) for key, values in history.history.items()}


def diff_augment(images: tf.Tensor, seed_generator: keras.random.SeedGenerator) -> tf.Tensor:
    """Differentiable augmentation (brightness, contrast, translation), applied to real and fake
    images alike before the discriminator, so that it cannot memorise a small training set."""
    n = tf.shape(images)[0]
    brightness = keras.random.uniform((n, 1, 1, 1), -0.2, 0.2, seed=seed_generator)
    contrast = keras.random.uniform((n, 1, 1, 1), 0.75, 1.25, seed=seed_generator)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = (images - mean) * contrast + mean + brightness
    limit = max(1, images.shape[1] // 12)
    shift = keras.random.randint((2,), -limit, limit + 1, seed=seed_generator)
    return tf.roll(images, shift=shift, axis=[1, 2])


def save_gan(model: keras.Model, directory: Path) -> None:
    model.save(Path(directory) / CHECKPOINT)


def load_gan(directory: Path) -> keras.Model:
    return keras.saving.load_model(Path(directory) / CHECKPOINT)
