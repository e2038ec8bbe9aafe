"""What the built-in GANs share: the input pipeline, a step-budget fit with progress,
differentiable augmentation, a `keras.Model` base that saves and resumes with both optimizers, and a
plugin base that keeps such a model as one Keras 3 checkpoint beside its manifest."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar

import keras
import numpy as np
import tensorflow as tf

from fersyn.data.pipeline import quick_teardown
from fersyn.data.pixels import to_signed_unit
from fersyn.errors import FersynError
from fersyn.runtime.distribute import replica_share
from fersyn.runtime.precision import precision_scope
from fersyn.runtime.progress import StepProgress
from fersyn.runtime.training_log import TrainingLog

CHECKPOINT = "gan.keras"


def batches(arrays: tuple[np.ndarray, ...], batch_size: int, seed: int) -> tf.data.Dataset:
    """An endless, shuffled stream of full batches of `arrays` (images first, scaled to -1..1)."""
    images, *rest = arrays
    dataset = tf.data.Dataset.from_tensor_slices((to_signed_unit(images), *rest))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    return dataset.batch(batch_size, drop_remainder=True).prefetch(2).with_options(quick_teardown())


def fit_for_steps(model: keras.Model, dataset: tf.data.Dataset, steps: int, label: str, already: int,
                  training_log: TrainingLog = TrainingLog(), grid: Callable[[], np.ndarray] | None = None) -> None:
    """Run `steps` train steps of `model` on `dataset`, logging progress, and each step's losses and
    every so often the faces `grid()` makes into `training_log` (when it is active)."""
    callbacks = [StepProgress(label, steps, already)]
    if training_log.active:
        callbacks.append(_LoggedSteps(training_log, grid, already, already + steps))
    model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0, callbacks=callbacks)


class _LoggedSteps(keras.callbacks.Callback):
    """Losses at every step, and a face grid when the log wants one and at the last step."""

    def __init__(self, training_log: TrainingLog, grid: Callable[[], np.ndarray] | None, already: int, last: int) -> None:
        super().__init__()
        self.training_log, self.grid, self.already, self.last = training_log, grid, already, last

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        step = self.already + batch + 1
        self.training_log.scalars(step, {name: float(value) for name, value in (logs or {}).items()})
        if self.grid is not None and (self.training_log.wants_faces(step) or step == self.last):
            self.training_log.faces(step, "faces", self.grid())


def diff_augment(images: tf.Tensor, seed_generator: keras.random.SeedGenerator) -> tf.Tensor:
    """Differentiable augmentation (brightness, contrast, translation), applied to real and fake
    images alike before the discriminator, so that it cannot memorise a small training set."""
    n = tf.shape(images)[0]
    brightness = replica_share(lambda m: keras.random.uniform((m, 1, 1, 1), -0.2, 0.2, seed=seed_generator), n)
    contrast = replica_share(lambda m: keras.random.uniform((m, 1, 1, 1), 0.75, 1.25, seed=seed_generator), n)
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    images = (images - mean) * contrast + mean + brightness
    limit = max(1, images.shape[1] // 12)
    shift = keras.random.randint((2,), -limit, limit + 1, seed=seed_generator)
    return tf.roll(images, shift=shift, axis=[1, 2])


class GANModel(keras.Model):
    """A GAN as one `keras.Model` with a `generator`, a `discriminator`, an optimizer for each
    (passed to `compile`; wrapped for loss scaling under `mixed_float16`, so a `train_step` passes each
    loss through `optimizer.scale_loss`) and loss trackers in `self.trackers`. It is built from its plugin's Options
    object (a dict when Keras rebuilds it from a saved config); saved with `save`, it loads back with
    both optimizers' state, so training resumes."""

    Options: ClassVar[type]
    generator: keras.Model
    discriminator: keras.Model
    trackers: dict[str, keras.metrics.Mean]

    def __init__(self, image_size: int, channels: int, options: Any, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.image_size, self.channels, self.seed = image_size, channels, seed
        self.options = options if isinstance(options, self.Options) else self.Options(**options)

    def own_policy(self) -> contextlib.AbstractContextManager:
        """Build the networks inside this: under the GAN's own dtype policy, the global one when it is made,
        the saved one when Keras loads it (whatever the global policy is then)."""
        return precision_scope(self.dtype_policy.name)

    def get_config(self) -> dict:
        return {**super().get_config(), "image_size": self.image_size, "channels": self.channels,
                "options": dataclasses.asdict(self.options), "seed": self.seed}

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        super().compile(**kwargs)
        if self.dtype_policy.name == "mixed_float16":  # float16 gradients underflow without loss scaling
            d_optimizer, g_optimizer = (optimizer if isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
                                        else keras.optimizers.LossScaleOptimizer(optimizer)
                                        for optimizer in (d_optimizer, g_optimizer))
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        # Built now, not lazily in the first train_step: variables made inside a tf.function make TensorFlow
        # trace it twice, and a GAN step takes seconds to trace. Also lets `load_model` restore their state.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self) -> dict:
        return {name: keras.optimizers.serialize(getattr(self, name)) for name in ("d_optimizer", "g_optimizer")}

    def compile_from_config(self, config: dict) -> None:
        self.compile(**{name: keras.optimizers.deserialize(value) for name, value in config.items()})

    def tracked(self, **losses: tf.Tensor) -> dict:
        """Update the loss trackers and return their means (what `train_step` returns)."""
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


class GANPlugin:
    """Mixin for a generator plugin that keeps a `GANModel` in `self.gan`: steps, save and load."""

    gan: GANModel | None = None

    @property
    def trained_steps(self) -> int:
        return 0 if self.gan is None else int(self.gan.g_optimizer.iterations.numpy())

    def fitted_gan(self) -> GANModel:
        if self.gan is None:
            raise self.not_fitted("using it")
        return self.gan

    def save_state(self, directory: Path) -> None:
        self.fitted_gan().save(directory / CHECKPOINT)

    def load_state(self, directory: Path) -> None:
        try:
            self.gan = keras.saving.load_model(directory / CHECKPOINT)
        except (OSError, ValueError) as error:
            raise FersynError(f"{directory}: cannot load {CHECKPOINT} ({error})") from None
