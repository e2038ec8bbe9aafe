"""A convolutional VAE identity generator for fersyn: another model family than the built-in GANs.

The encoder maps a face to a Gaussian over a small latent space, the decoder maps a latent code
back to a face; training maximises the evidence lower bound (reconstruction + KL). New identities
are decoded from codes drawn from the prior N(0, I). Registered through the entry point in
pyproject.toml (group `fersyn.identity`, name `vae`); the class needs no decorator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from fersyn.data.pixels import from_unit_interval, to_unit_interval
from fersyn.plugins.contracts import IdentityGenerator, option

WEIGHTS = "vae.keras"


@dataclasses.dataclass
class VAEOptions:
    steps: int = option(1000, "training steps (≈ 3.5 min on a 2-core CPU at 48×48)")
    batch_size: int = option(64, "faces per step")
    latent_dim: int = option(32, "size of the latent code")
    kl_weight: float = option(1.0, "weight of the KL term (β-VAE when ≠ 1)")
    learning_rate: float = option(1e-3, "Adam learning rate")


@keras.saving.register_keras_serializable(package="fersyn_vae")
class VAE(keras.Model):
    """Encoder + decoder trained on the ELBO, as in the keras.io VAE example."""

    def __init__(self, image_size: int = 48, latent_dim: int = 32, kl_weight: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.image_size, self.latent_dim, self.kl_weight = image_size, latent_dim, kl_weight
        quarter = image_size // 4
        self.encoder = keras.Sequential([
            layers.Input((image_size, image_size, 1)),
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(2 * latent_dim),
        ], name="encoder")
        self.decoder = keras.Sequential([
            layers.Input((latent_dim,)),
            layers.Dense(quarter * quarter * 64, activation="relu"), layers.Reshape((quarter, quarter, 64)),
            layers.UpSampling2D(), layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.UpSampling2D(), layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
        ], name="decoder")
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True  # both halves are built: saving keeps the weights, loading restores the optimizer

    @property
    def metrics(self) -> list:
        return [self.loss_tracker]

    def train_step(self, images: tf.Tensor) -> dict:
        with tf.GradientTape() as tape:
            z_mean, z_log_var = tf.split(self.encoder(images), 2, axis=-1)
            noise = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
            decoded = self.decoder(z_mean + tf.exp(0.5 * z_log_var) * noise)
            reconstruction = tf.reduce_mean(tf.reduce_sum(keras.losses.binary_crossentropy(images, decoded), axis=(1, 2)))
            kl = -0.5 * tf.reduce_mean(tf.reduce_sum(1 + z_log_var - z_mean**2 - tf.exp(z_log_var), axis=1))
            loss = reconstruction + self.kl_weight * kl
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def get_config(self) -> dict:
        return {**super().get_config(), "image_size": self.image_size, "latent_dim": self.latent_dim,
                "kl_weight": self.kl_weight}


class VAEIdentity(IdentityGenerator):
    """Convolutional VAE (ELBO, 32-d latent): new identities decoded from the Gaussian prior."""

    Options = VAEOptions

    def __init__(self, options: VAEOptions | None = None, *, image_size: int = 48, channels: int = 1) -> None:
        super().__init__(options, image_size=image_size, channels=channels)
        if image_size % 4 or channels != 1:
            raise ValueError("the VAE works on grayscale faces whose size is a multiple of 4")
        self.vae: VAE | None = None

    @property
    def trained_steps(self) -> int:
        return 0 if self.vae is None else int(self.vae.optimizer.iterations.numpy())

    def fit(self, faces: np.ndarray, *, steps: int | None = None, seed: int = 0) -> None:
        steps = self.options.steps if steps is None else steps
        if self.vae is None:  # built here, after seeding: the same seed gives the same initial weights
            keras.utils.set_random_seed(seed)
            self.vae = VAE(self.image_size, self.options.latent_dim, self.options.kl_weight)
            self.vae.compile(optimizer=keras.optimizers.Adam(self.options.learning_rate))
            self.vae.optimizer.build(self.vae.trainable_variables)  # now, not in fit: that would trace twice
        keras.utils.set_random_seed(seed + self.trained_steps)  # a resumed fit continues, not repeats
        images = tf.data.Dataset.from_tensor_slices(to_unit_interval(faces))
        batches = images.shuffle(len(faces), seed=seed).repeat().batch(self.options.batch_size, drop_remainder=True)
        self.vae.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        if self.vae is None:
            raise self.not_fitted("sample()")
        if n < 0:
            raise ValueError(f"cannot sample {n} faces")
        codes = np.random.default_rng(seed).standard_normal((n, self.options.latent_dim)).astype(np.float32)
        decoded = self.vae.decoder.predict(codes, batch_size=256, verbose=0) if n else np.zeros((0, *self.image_shape))
        return from_unit_interval(decoded)

    def save_state(self, directory: Path) -> None:
        if self.vae is None:
            raise self.not_fitted("save()")
        self.vae.save(directory / WEIGHTS)

    def load_state(self, directory: Path) -> None:
        self.vae = keras.saving.load_model(directory / WEIGHTS)
