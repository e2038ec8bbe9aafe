"""`stargan`: the built-in expression generator — a light StarGAN for CPUs.

As in StarGAN (Choi et al., 2018) the generator takes a face and a target emotion (one-hot maps
concatenated as channels); the discriminator is a PatchGAN with an auxiliary emotion classifier;
losses are adversarial (WGAN-GP) + domain classification + cycle reconstruction (λ_cls 1, λ_rec 10,
λ_gp 10 by default, as the paper's code). Lighter than the original for a CPU: it downsamples
twice before fewer, narrower residual blocks, upsamples by resize-then-convolve (no checkerboard),
and, as GANimation does, outputs an attention mask that copies the unchanged parts of the input
face, so that identity survives and the generator only paints what the expression moves.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from fersyn.contracts import ExpressionGenerator
from fersyn.errors import FersynError
from fersyn.generators.training import batches, fit_for_steps, load_gan, save_gan, to_uint8, to_unit_range
from fersyn.registry import register_expression


@keras.saving.register_keras_serializable(package="fersyn")
class AttentionBlend(layers.Layer):
    """mask · input + (1 − mask) · painted: where the mask is 1 the input face is kept as it is."""

    def call(self, image: tf.Tensor, painted: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        return mask * image + (1.0 - mask) * painted


def _conv_norm_relu(x, filters: int, kernel: int, strides: int = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.GroupNormalization(groups=-1)(x)  # instance norm, as StarGAN
    return layers.ReLU()(x)


def build_generator(image_size: int, channels: int, num_classes: int, width: int, res_blocks: int) -> keras.Model:
    """(face, target one-hot) → (edited face in -1..1, attention mask)."""
    image = layers.Input((image_size, image_size, channels), name="face")
    target = layers.Input((num_classes,), name="target")
    maps = layers.UpSampling2D(image_size)(layers.Reshape((1, 1, num_classes))(target))
    x = _conv_norm_relu(layers.Concatenate()([image, maps]), width, 7)
    x = _conv_norm_relu(x, width * 2, 4, strides=2)
    x = _conv_norm_relu(x, width * 4, 4, strides=2)
    for _ in range(res_blocks):
        y = _conv_norm_relu(x, width * 4, 3)
        y = layers.GroupNormalization(groups=-1)(layers.Conv2D(width * 4, 3, padding="same", use_bias=False)(y))
        x = layers.Add()([x, y])
    for filters in (width * 2, width):
        x = _conv_norm_relu(layers.UpSampling2D(2)(x), filters, 3)
    painted = layers.Conv2D(channels, 7, padding="same", activation="tanh", name="painted")(x)
    mask = layers.Conv2D(1, 7, padding="same", activation="sigmoid", name="mask")(x)
    return keras.Model([image, target], [AttentionBlend()(image, painted, mask), mask], name="generator")


def build_discriminator(image_size: int, channels: int, num_classes: int, width: int) -> keras.Model:
    """Face → (real/fake score per patch, emotion logits): four strided convolutions, two heads."""
    image = layers.Input((image_size, image_size, channels))
    x = image
    for multiple in (1, 2, 4, 8):
        x = layers.LeakyReLU(0.01)(layers.Conv2D(width * multiple, 4, strides=2, padding="same")(x))
    source = layers.Conv2D(1, 3, padding="same", name="source")(x)
    logits = layers.Flatten(name="emotion")(layers.Conv2D(num_classes, x.shape[1], use_bias=False)(x))
    return keras.Model(image, [source, logits], name="discriminator")


@keras.saving.register_keras_serializable(package="fersyn")
class StarGAN(keras.Model):
    """The GAN itself; one `train_step` = `n_critic` discriminator updates, then one generator update."""

    def __init__(self, image_size: int = 48, channels: int = 1, emotions: Sequence[str] = (), width: int = 32,
                 res_blocks: int = 3, n_critic: int = 2, lambda_cls: float = 1.0, lambda_rec: float = 10.0,
                 lambda_gp: float = 10.0, lambda_mask: float = 0.05, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = dict(image_size=image_size, channels=channels, emotions=list(emotions), width=width,
                           res_blocks=res_blocks, n_critic=n_critic, lambda_cls=lambda_cls, lambda_rec=lambda_rec,
                           lambda_gp=lambda_gp, lambda_mask=lambda_mask, seed=seed)
        self.emotions, self.num_classes, self.n_critic = list(emotions), len(emotions), n_critic
        self.lambda_cls, self.lambda_rec, self.lambda_gp, self.lambda_mask = lambda_cls, lambda_rec, lambda_gp, lambda_mask
        self.generator = build_generator(image_size, channels, self.num_classes, width, res_blocks)
        self.discriminator = build_discriminator(image_size, channels, self.num_classes, width)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_adv", "d_cls", "gp", "g_adv", "g_cls", "g_rec")}
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), **self.config}

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def get_compile_config(self) -> dict:
        return {name: keras.optimizers.serialize(getattr(self, name)) for name in ("d_optimizer", "g_optimizer")}

    def compile_from_config(self, config: dict) -> None:
        # Rebuilding the optimizers' variables lets `load_model` restore their state: training resumes exactly.
        self.compile(**{name: keras.optimizers.deserialize(value) for name, value in config.items()})
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def call(self, inputs: tuple, training: bool = False) -> tf.Tensor:
        return self.generator(inputs, training=training)[0]

    def _classification_loss(self, labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))

    def _random_targets(self, n: tf.Tensor) -> tf.Tensor:
        return keras.random.randint((n,), 0, self.num_classes, seed=self.seed_generator)

    def _discriminator_step(self, real: tf.Tensor, labels: tf.Tensor) -> None:
        n = tf.shape(real)[0]
        targets = tf.one_hot(self._random_targets(n), self.num_classes)
        fake = self.generator([real, targets], training=True)[0]
        alpha = keras.random.uniform((n, 1, 1, 1), seed=self.seed_generator)
        mixed = alpha * real + (1 - alpha) * fake
        with tf.GradientTape() as tape:
            real_source, real_logits = self.discriminator(real, training=True)
            fake_source, _ = self.discriminator(fake, training=True)
            with tf.GradientTape() as penalty_tape:
                penalty_tape.watch(mixed)
                mixed_source, _ = self.discriminator(mixed, training=True)
            slopes = tf.sqrt(tf.reduce_sum(tf.square(penalty_tape.gradient(mixed_source, mixed)), axis=[1, 2, 3]) + 1e-12)
            gp = tf.reduce_mean(tf.square(slopes - 1.0))
            adversarial = tf.reduce_mean(fake_source) - tf.reduce_mean(real_source)
            classification = self._classification_loss(labels, real_logits)
            loss = adversarial + self.lambda_cls * classification + self.lambda_gp * gp
        grads = tape.gradient(loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        for name, value in (("d_adv", adversarial), ("d_cls", classification), ("gp", gp)):
            self.trackers[name].update_state(value)

    def _generator_step(self, real: tf.Tensor, labels: tf.Tensor) -> None:
        target_ids = self._random_targets(tf.shape(real)[0])
        with tf.GradientTape() as tape:
            fake, mask = self.generator([real, tf.one_hot(target_ids, self.num_classes)], training=True)
            fake_source, fake_logits = self.discriminator(fake, training=True)
            reconstructed, _ = self.generator([fake, tf.one_hot(labels, self.num_classes)], training=True)
            adversarial = -tf.reduce_mean(fake_source)
            classification = self._classification_loss(target_ids, fake_logits)
            reconstruction = tf.reduce_mean(tf.abs(real - reconstructed))
            # GANimation's attention penalty: without it the mask saturates at "copy the input".
            loss = (adversarial + self.lambda_cls * classification + self.lambda_rec * reconstruction
                    + self.lambda_mask * tf.reduce_mean(mask))
        grads = tape.gradient(loss, self.generator.trainable_weights)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)
        for name, value in (("g_adv", adversarial), ("g_cls", classification), ("g_rec", reconstruction)):
            self.trackers[name].update_state(value)

    def train_step(self, data: tuple) -> dict:
        images, labels = data
        image_chunks, label_chunks = tf.split(images, self.n_critic), tf.split(labels, self.n_critic)
        for real, real_labels in zip(image_chunks, label_chunks):
            self._discriminator_step(real, real_labels)
        self._generator_step(image_chunks[-1], label_chunks[-1])
        return {name: tracker.result() for name, tracker in self.trackers.items()}


@dataclasses.dataclass
class StarGANOptions:
    steps: int = 4000  # generator iterations; ≈ 16 min on a 2-core CPU at 48×48
    batch_size: int = 16
    width: int = 16  # channels 16-32-64: 4.2 steps/s on a 2-core CPU (32: 1.7 steps/s)
    res_blocks: int = 3
    n_critic: int = 2
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    lambda_mask: float = 0.05
    learning_rate: float = 1e-4


@register_expression("stargan")
class StarGANExpression(ExpressionGenerator):
    """Light StarGAN (WGAN-GP, PatchGAN + emotion head, cycle loss, attention mask) imposing emotions."""

    Options = StarGANOptions

    def __init__(self, options: StarGANOptions | None = None, *, image_size: int = 48, channels: int = 1) -> None:
        super().__init__(options, image_size=image_size, channels=channels)
        if image_size % 4:
            raise FersynError(f"stargan needs an image size divisible by 4 (got {image_size})")
        self.gan: StarGAN | None = None

    @property
    def trained_steps(self) -> int:
        return 0 if self.gan is None else int(self.gan.g_optimizer.iterations.numpy())

    @property
    def emotions(self) -> list[str]:
        return [] if self.gan is None else self.gan.emotions

    def fit(self, faces: np.ndarray, labels: np.ndarray, emotions: Sequence[str], *, steps: int | None = None, seed: int = 0) -> None:
        o = self.options
        if self.gan is None:
            keras.utils.set_random_seed(seed)
            self.gan = StarGAN(self.image_size, self.channels, emotions, o.width, o.res_blocks, o.n_critic,
                               o.lambda_cls, o.lambda_rec, o.lambda_gp, o.lambda_mask, seed)
            self.gan.compile(d_optimizer=keras.optimizers.Adam(o.learning_rate, beta_1=0.5, beta_2=0.999),
                             g_optimizer=keras.optimizers.Adam(o.learning_rate, beta_1=0.5, beta_2=0.999))
        elif list(emotions) != self.emotions:
            raise FersynError(f"this stargan was trained on {', '.join(self.emotions)}; cannot continue on {', '.join(emotions)}")
        already = self.trained_steps
        batch = min(o.batch_size, len(faces) // o.n_critic) * o.n_critic
        stream = batches((faces, np.asarray(labels, np.int32)), batch, seed + already)
        fit_for_steps(self.gan, stream, o.steps if steps is None else steps, "stargan", already)

    def apply(self, faces: np.ndarray, emotions: Sequence[str], *, seed: int) -> np.ndarray:
        unknown = sorted(set(emotions) - set(self.emotions))
        if unknown:
            raise FersynError(f"stargan was trained on {', '.join(self.emotions)}, not {', '.join(unknown)}")
        index = {emotion: i for i, emotion in enumerate(self.emotions)}
        targets = np.eye(len(self.emotions), dtype=np.float32)[[index[e] for e in emotions]]
        edited, _ = self.gan.generator.predict([to_unit_range(faces), targets], batch_size=256, verbose=0)
        return to_uint8(edited)

    def save(self, directory: Path) -> None:
        self.write_manifest(directory)
        save_gan(self.gan, directory)

    @classmethod
    def load(cls, directory: Path) -> "StarGANExpression":
        plugin = cls.from_manifest(cls.read_manifest(directory))
        plugin.gan = load_gan(directory)
        return plugin
