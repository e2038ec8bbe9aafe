"""`dcgan`: the built-in identity generator — an unconditional DCGAN that draws new faces.

Choices for stability on small data (CK+ has ~650 training faces): the non-saturating GAN loss,
batch norm in the generator, resize-then-convolve upsampling (no checkerboard), dropout in the
discriminator, and differentiable augmentation (brightness, contrast, translation) of every image
the discriminator sees, so that it cannot simply memorise the training set.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from fersyn.data.pixels import from_signed_unit
from fersyn.generators.shared import GANModel, GANPlugin, batches, diff_augment, fit_for_steps
from fersyn.plugins.contracts import IdentityGenerator, option
from fersyn.plugins.registry import register_identity
from fersyn.runtime.distribute import per_replica_loss, replica_share
from fersyn.runtime.inference import predict


def build_generator(image_size: int, channels: int, latent_dim: int, width: int) -> keras.Model:
    """Latent vector → image in -1..1: dense to (size/8)², three ×2 upsampling blocks, tanh."""
    base = math.ceil(image_size / 8)
    model = [
        layers.Input((latent_dim,)),
        layers.Dense(base * base * width * 8, use_bias=False),
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.Reshape((base, base, width * 8)),
    ]
    for multiple in (4, 2, 1):
        model += [
            layers.UpSampling2D(2),
            layers.Conv2D(width * multiple, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
        ]
    # The output layers are float32 under a mixed policy: losses and images stay full precision.
    model += [layers.Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32")]
    if base * 8 != image_size:
        model.append(layers.CenterCrop(image_size, image_size, dtype="float32"))
    return keras.Sequential(model, name="generator")


def build_discriminator(image_size: int, channels: int, width: int) -> keras.Model:
    """Image → one real/fake logit: three strided convolutions, dropout, dense."""
    model = [layers.Input((image_size, image_size, channels))]
    for multiple in (1, 2, 4):
        model += [layers.Conv2D(width * multiple, 4, strides=2, padding="same"), layers.LeakyReLU(0.2)]
    model += [layers.Flatten(), layers.Dropout(0.3), layers.Dense(1, dtype="float32")]
    return keras.Sequential(model, name="discriminator")


def _cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean binary cross-entropy over this replica's batch (the function, not the `Loss` class, which
    would already divide by the number of replicas)."""
    return tf.reduce_mean(keras.losses.binary_crossentropy(labels, logits, from_logits=True))


@dataclasses.dataclass
class DCGANOptions:
    steps: int = option(3000, "training steps (≈ 7 min on a 2-core CPU at 48×48)")
    batch_size: int = option(32, "faces per step")
    latent_dim: int = option(128, "size of the random code behind each identity")
    width: int = option(24, "generator channels 8w-4w-2w-w (32 trains 1.6× slower)")
    learning_rate: float = option(2e-4, "Adam learning rate of both networks")
    augment: bool = option(True, "differentiable augmentation of the discriminator's inputs")


@keras.saving.register_keras_serializable(package="fersyn")
class DCGAN(GANModel):
    """The GAN itself, trained with `fit` through a custom `train_step` (the keras.io GAN idiom)."""

    Options = DCGANOptions

    def __init__(self, image_size: int, channels: int, options: DCGANOptions | dict, seed: int = 0, **kwargs) -> None:
        super().__init__(image_size, channels, options, seed, **kwargs)
        o = self.options
        with self.own_policy():
            self.generator = build_generator(image_size, channels, o.latent_dim, o.width)
            self.discriminator = build_discriminator(image_size, channels, o.width)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss")}
        self.built = True

    def call(self, latent: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.generator(latent, training=training)

    def _latent(self, n: tf.Tensor) -> tf.Tensor:
        return replica_share(lambda m: keras.random.normal((m, self.options.latent_dim), seed=self.seed_generator), n)

    def _seen(self, images: tf.Tensor) -> tf.Tensor:
        return self.discriminator(diff_augment(images, self.seed_generator) if self.options.augment else images, training=True)

    def train_step(self, data: tuple) -> dict:
        real = data[0] if isinstance(data, tuple) else data
        batch_size = tf.shape(real)[0]
        latent = self._latent(batch_size)
        fake = self.generator(latent, training=True)
        with tf.GradientTape() as tape:
            real_logits, fake_logits = self._seen(real), self._seen(fake)
            d_loss = _cross_entropy(tf.ones_like(real_logits), real_logits) + _cross_entropy(tf.zeros_like(fake_logits), fake_logits)
            scaled = self.d_optimizer.scale_loss(per_replica_loss(d_loss))
        grads = tape.gradient(scaled, self.discriminator.trainable_weights)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

        latent = self._latent(batch_size)
        with tf.GradientTape() as tape:
            fake_logits = self._seen(self.generator(latent, training=True))
            g_loss = _cross_entropy(tf.ones_like(fake_logits), fake_logits)  # non-saturating loss
            scaled = self.g_optimizer.scale_loss(per_replica_loss(g_loss))
        grads = tape.gradient(scaled, self.generator.trainable_weights)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)

        return self.tracked(d_loss=d_loss, g_loss=g_loss)


@register_identity("dcgan")
class DCGANIdentity(GANPlugin, IdentityGenerator):
    """DCGAN (non-saturating loss, batch norm, differentiable augmentation) drawing new identities."""

    Options = DCGANOptions
    mixed_precision = True
    gan: DCGAN | None = None

    def fit(self, faces: np.ndarray, *, steps: int | None = None, seed: int = 0) -> None:
        o = self.options
        if self.gan is None:
            keras.utils.set_random_seed(seed)
            self.gan = DCGAN(self.image_size, self.channels, o, seed)
            self.gan.compile(d_optimizer=keras.optimizers.Adam(o.learning_rate, beta_1=0.5),
                             g_optimizer=keras.optimizers.Adam(o.learning_rate, beta_1=0.5))
        already = self.trained_steps
        stream = batches((faces,), min(o.batch_size, len(faces)), seed + already)
        fit_for_steps(self.gan, stream, o.steps if steps is None else steps, "dcgan", already, self.training_log,
                      grid=lambda: self.sample(32, seed=0).reshape(4, 8, *self.image_shape))  # the same 32 latents

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        latent = np.random.default_rng(seed).standard_normal((n, self.options.latent_dim)).astype(np.float32)
        return from_signed_unit(predict(self.fitted_gan().generator, latent))
