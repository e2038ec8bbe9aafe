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
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from fersyn.data.pixels import from_signed_unit, to_signed_unit
from fersyn.errors import FersynError
from fersyn.generators.shared import GANModel, GANPlugin, batches, diff_augment, fit_for_steps
from fersyn.judges.quality import teacher_names
from fersyn.plugins.contracts import ExpressionGenerator, option
from fersyn.plugins.registry import register_expression
from fersyn.runtime.distribute import per_replica_loss, replica_share
from fersyn.runtime.inference import predict


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
    # The output layers are float32 under a mixed policy: losses and images stay full precision.
    painted = layers.Conv2D(channels, 7, padding="same", activation="tanh", name="painted", dtype="float32")(x)
    mask = layers.Conv2D(1, 7, padding="same", activation="sigmoid", name="mask", dtype="float32")(x)
    return keras.Model([image, target], [AttentionBlend(dtype="float32")(image, painted, mask), mask], name="generator")


def build_expression_critic(image_size: int, channels: int, num_classes: int) -> keras.Model:
    """The `own` teacher: a small emotion classifier for images in -1..1, trained once on the real
    training faces and then frozen: its loss tells the generator whether the target emotion can be
    read, a signal the discriminator's own head (which co-adapts with the generator) gives only
    weakly. Two blocks of two convolutions without batch norm: an architecture unlike the `reference`
    judge's (small-cnn, batch norm after each convolution), so that a shortcut learnt to please one is
    less likely to please both. Of the batch-norm-free designs tried it read toy's held-out faces best."""
    x = image = layers.Input((image_size, image_size, channels))
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(layers.Conv2D(filters, 3, padding="same", activation="relu")(x))
    x = layers.Dropout(0.3)(layers.Flatten()(x))
    return keras.Model(image, layers.Dense(num_classes, dtype="float32")(x), name="own_critic")


def build_judge_teacher(judge_name: str, image_size: int, channels: int, emotions: Sequence[str]) -> keras.Model:
    """A pretrained judge as the teacher: images in -1..1 → the log of its probabilities of `emotions`
    (renormalised over them: logits for the same loss as the own critic's), frozen."""
    from fersyn.plugins.registry import create_plugin, get_plugin, load_plugins

    load_plugins()
    if not get_plugin("judge", judge_name).cls.pretrained:
        raise FersynError(f"stargan's teacher must be `own` or a pretrained judge; '{judge_name}' learns from the "
                          "training faces (that is what `own` does)")
    judge = create_plugin("judge", judge_name, image_size=image_size, channels=channels)
    judge.fit(np.zeros((0, image_size, image_size, channels), np.uint8), np.zeros(0, int), emotions, validation=(None, None))
    unknown = [e for e in emotions if e not in judge.emotions]
    if unknown:
        raise FersynError(f"the teacher '{judge_name}' cannot read {', '.join(unknown)}; train on other emotions, "
                          "or with teacher own")
    scorer = judge.scorer()
    scorer.trainable = False
    columns = [judge.emotions.index(e) for e in emotions]
    image = layers.Input((image_size, image_size, channels))
    probabilities = scorer(layers.Rescaling(0.5, offset=0.5)(image))[0]
    logits = layers.Lambda(lambda p: keras.ops.log(keras.ops.take(p, columns, axis=1) + 1e-7), dtype="float32")(probabilities)
    return keras.Model(image, logits, name=f"{judge_name.replace('-', '_')}_teacher")


def build_teacher(names: Sequence[str], image_size: int, channels: int, emotions: Sequence[str]) -> keras.Model:
    """The frozen teacher of the expression loss, images in -1..1 → logits. Several ("own+fer2013-cnn") are
    averaged in log-probability (the log of their probabilities' geometric mean): a mark must please each one."""
    if len(set(names)) != len(names) or not names:
        raise FersynError(f"stargan's teacher names each teacher once, joined by '+' (got '{'+'.join(names)}')")
    parts = [build_expression_critic(image_size, channels, len(emotions)) if name == "own" else
             build_judge_teacher(name, image_size, channels, emotions) for name in names]
    if len(parts) == 1:
        return parts[0]
    image = layers.Input((image_size, image_size, channels))
    logits = [layers.Activation("log_softmax", dtype="float32")(part(image)) for part in parts]
    return keras.Model(image, layers.Average(dtype="float32")(logits), name="teachers")


def cutout(images: tf.Tensor, seed_generator: keras.random.SeedGenerator) -> tf.Tensor:
    """Each image with a random square a quarter of its side set to grey (0 in -1..1): a teacher that is read
    through holes cannot be pleased by one patch of pixels."""
    n, size = tf.shape(images)[0], images.shape[1]
    half = max(1, size // 8)
    centres = replica_share(lambda m: keras.random.randint((m, 2), 0, size, seed=seed_generator), n)
    rows, columns = tf.range(size)[None, :, None], tf.range(size)[None, None, :]
    inside = ((tf.abs(rows - centres[:, :1, None]) < half) & (tf.abs(columns - centres[:, 1:, None]) < half))
    return images * (1.0 - tf.cast(inside, images.dtype)[..., None])


def build_discriminator(image_size: int, channels: int, num_classes: int, width: int) -> keras.Model:
    """Face → (real/fake score per patch, emotion logits): four strided convolutions, two heads."""
    image = layers.Input((image_size, image_size, channels))
    x = image
    for multiple in (1, 2, 4, 8):
        x = layers.LeakyReLU(0.01)(layers.Conv2D(width * multiple, 4, strides=2, padding="same")(x))
    source = layers.Conv2D(1, 3, padding="same", name="source", dtype="float32")(x)
    logits = layers.Flatten(name="emotion", dtype="float32")(
        layers.Conv2D(num_classes, x.shape[1], use_bias=False, dtype="float32")(x))
    return keras.Model(image, [source, logits], name="discriminator")


@dataclasses.dataclass
class StarGANOptions:
    steps: int = option(4000, "generator iterations (≈ 16 min on a 2-core CPU at 48×48)")
    batch_size: int = option(16, "faces per step")
    width: int = option(16, "channels of the first layer, doubled twice (32 runs 2.5× slower)")
    res_blocks: int = option(3, "residual blocks at the bottleneck")
    n_critic: int = option(2, "critic updates per generator update")
    lambda_cls: float = option(1.0, "weight of the emotion-classification loss")
    lambda_rec: float = option(10.0, "weight of the cycle-reconstruction loss")
    lambda_gp: float = option(10.0, "weight of the WGAN gradient penalty")
    lambda_mask: float = option(0.05, "weight of the attention-mask sparsity loss")
    lambda_expr: float = option(0.5, "weight of the frozen teacher's expression loss (0: off)")
    teacher: str = option("own", "what the expression loss trains against: own (a critic fitted on the training faces), "
                                 "a pretrained judge, e.g. fer-mini-xception (its verdicts on this generator are flagged), "
                                 "or several joined by '+' (averaged), e.g. own+fer2013-cnn")
    teacher_augment: bool = option(False, "show the teacher each edit brightened, contrasted, shifted and with a square "
                                          "cut out: a mark that pleases one view of it must survive the others")
    augment: bool = option(False, "augment the critic's inputs (lowered fidelity on CK+)")
    learning_rate: float = option(1e-4, "Adam learning rate of both networks")


@keras.saving.register_keras_serializable(package="fersyn")
class StarGAN(GANModel):
    """The GAN itself; one `train_step` = `n_critic` discriminator updates, then one generator update."""

    Options = StarGANOptions

    def __init__(self, image_size: int, channels: int, options: StarGANOptions | dict, emotions: Sequence[str] = (),
                 seed: int = 0, **kwargs) -> None:
        super().__init__(image_size, channels, options, seed, **kwargs)
        self.emotions, self.num_classes = list(emotions), len(emotions)
        with self.own_policy():
            self.generator = build_generator(image_size, channels, self.num_classes, self.options.width, self.options.res_blocks)
            self.discriminator = build_discriminator(image_size, channels, self.num_classes, self.options.width)
            self.expression_critic = build_teacher(teacher_names(self.options.teacher), image_size, channels, self.emotions)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("d_adv", "d_cls", "gp", "g_adv", "g_cls", "g_rec", "g_expr")}
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), "emotions": self.emotions}

    @property
    def own_critic(self) -> keras.Model | None:
        """The teacher fitted on the training faces (`own`), alone or among others; None without one."""
        critic = self.expression_critic
        return critic if critic.name == "own_critic" else next(
            (layer for layer in critic.layers if layer.name == "own_critic"), None)

    def call(self, inputs: tuple, training: bool = False) -> tf.Tensor:
        return self.generator(inputs, training=training)[0]

    def _classification_loss(self, labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))

    def _judge(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The discriminator's (patch scores, emotion logits), on augmented images when augmenting:
        on a few hundred faces its emotion head otherwise memorises them, and the generator learns
        to please it with invisible changes."""
        return self.discriminator(diff_augment(images, self.seed_generator) if self.options.augment else images, training=True)

    def _random_targets(self, n: tf.Tensor) -> tf.Tensor:
        return replica_share(lambda m: keras.random.randint((m,), 0, self.num_classes, seed=self.seed_generator), n)

    def _discriminator_step(self, real: tf.Tensor, labels: tf.Tensor) -> dict:
        n = tf.shape(real)[0]
        targets = tf.one_hot(self._random_targets(n), self.num_classes)
        fake = self.generator([real, targets], training=True)[0]
        alpha = replica_share(lambda m: keras.random.uniform((m, 1, 1, 1), seed=self.seed_generator), n)
        mixed = alpha * real + (1 - alpha) * fake
        with tf.GradientTape() as tape:
            real_source, real_logits = self._judge(real)
            fake_source, _ = self._judge(fake)
            with tf.GradientTape() as penalty_tape:
                penalty_tape.watch(mixed)
                mixed_source, _ = self._judge(mixed)
            slopes = tf.sqrt(tf.reduce_sum(tf.square(penalty_tape.gradient(mixed_source, mixed)), axis=[1, 2, 3]) + 1e-12)
            gp = tf.reduce_mean(tf.square(slopes - 1.0))
            adversarial = tf.reduce_mean(fake_source) - tf.reduce_mean(real_source)
            classification = self._classification_loss(labels, real_logits)
            loss = self.d_optimizer.scale_loss(
                per_replica_loss(adversarial + self.options.lambda_cls * classification + self.options.lambda_gp * gp))
        grads = tape.gradient(loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        return self.tracked(d_adv=adversarial, d_cls=classification, gp=gp)

    def _generator_step(self, real: tf.Tensor, labels: tf.Tensor) -> dict:
        target_ids = self._random_targets(tf.shape(real)[0])
        with tf.GradientTape() as tape:
            fake, mask = self.generator([real, tf.one_hot(target_ids, self.num_classes)], training=True)
            fake_source, fake_logits = self._judge(fake)
            reconstructed, _ = self.generator([fake, tf.one_hot(labels, self.num_classes)], training=True)
            adversarial = -tf.reduce_mean(fake_source)
            classification = self._classification_loss(target_ids, fake_logits)
            reconstruction = tf.reduce_mean(tf.abs(real - reconstructed))
            # GANimation's attention penalty: without it the mask saturates at "copy the input".
            loss = (adversarial + self.options.lambda_cls * classification + self.options.lambda_rec * reconstruction
                    + self.options.lambda_mask * tf.reduce_mean(mask))
            expression = tf.constant(0.0)
            if self.options.lambda_expr > 0:  # decided when the step is traced: no cost when off
                viewed = cutout(diff_augment(fake, self.seed_generator), self.seed_generator) if self.options.teacher_augment else fake
                expression = self._classification_loss(target_ids, self.expression_critic(viewed, training=False))
                loss += self.options.lambda_expr * expression
            loss = self.g_optimizer.scale_loss(per_replica_loss(loss))
        grads = tape.gradient(loss, self.generator.trainable_weights)
        self.g_optimizer.apply(grads, self.generator.trainable_weights)
        return self.tracked(g_adv=adversarial, g_cls=classification, g_rec=reconstruction, g_expr=expression)

    def train_expression_critic(self, faces: np.ndarray, labels: np.ndarray, seed: int) -> None:
        """Fit the own critic once, on real training faces (a tenth held out to stop early), then freeze it."""
        critic = self.own_critic
        order = np.random.default_rng(seed).permutation(len(faces))
        held_out, used = order[: max(1, len(faces) // 10)], order[max(1, len(faces) // 10):]
        critic.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        critic.optimizer.build(critic.trainable_variables)  # as GANModel.compile does: one trace of fit's step, not two
        critic.fit(to_signed_unit(faces[used]), labels[used], validation_data=(to_signed_unit(faces[held_out]), labels[held_out]),
                   epochs=40, batch_size=64, verbose=0,
                   callbacks=[keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)])
        critic.trainable = False

    def train_step(self, data: tuple) -> dict:
        images, labels = data
        image_chunks, label_chunks = tf.split(images, self.options.n_critic), tf.split(labels, self.options.n_critic)
        for real, real_labels in zip(image_chunks, label_chunks):
            self._discriminator_step(real, real_labels)
        return self._generator_step(image_chunks[-1], label_chunks[-1])


@register_expression("stargan")
class StarGANExpression(GANPlugin, ExpressionGenerator):
    """Light StarGAN (WGAN-GP, PatchGAN + emotion head, cycle loss, attention mask) imposing emotions."""

    Options = StarGANOptions
    mixed_precision = True
    gan: StarGAN | None = None

    def __init__(self, options: StarGANOptions | None = None, *, image_size: int = 48, channels: int = 1) -> None:
        if image_size % 4:
            raise FersynError(f"stargan needs an image size divisible by 4 (got {image_size})")
        super().__init__(options, image_size=image_size, channels=channels)

    @property
    def emotions(self) -> list[str]:
        return list(self.fitted_gan().emotions)

    def fit(self, faces: np.ndarray, labels: np.ndarray, emotions: Sequence[str], *, steps: int | None = None, seed: int = 0) -> None:
        o = self.options
        if self.gan is None:
            keras.utils.set_random_seed(seed)
            self.gan = StarGAN(self.image_size, self.channels, o, emotions, seed)
            if o.lambda_expr > 0 and self.gan.own_critic is not None:  # a judge teacher comes trained
                self.gan.train_expression_critic(faces, np.asarray(labels), seed)
            self.gan.compile(d_optimizer=keras.optimizers.Adam(o.learning_rate, beta_1=0.5, beta_2=0.999),
                             g_optimizer=keras.optimizers.Adam(o.learning_rate, beta_1=0.5, beta_2=0.999))
        elif list(emotions) != list(self.gan.emotions):
            raise FersynError(f"this stargan was trained on {', '.join(self.emotions)}; cannot continue on {', '.join(emotions)}")
        already = self.trained_steps
        batch = min(o.batch_size, len(faces) // o.n_critic) * o.n_critic
        stream = batches((faces, np.asarray(labels, np.int32)), batch, seed + already)
        fixed = faces[:8]  # rows of the watched grid: these faces, then each given every emotion
        fit_for_steps(self.gan, stream, o.steps if steps is None else steps, "stargan", already, self.training_log,
                      grid=lambda: np.stack([fixed, *(self.apply(fixed, [e] * len(fixed), seed=0) for e in self.emotions)], 1))

    def apply(self, faces: np.ndarray, emotions: Sequence[str], *, seed: int) -> np.ndarray:
        unknown = sorted(set(emotions) - set(self.emotions))
        if unknown:
            raise FersynError(f"stargan was trained on {', '.join(self.emotions)}, not {', '.join(unknown)}")
        index = {emotion: i for i, emotion in enumerate(self.emotions)}
        targets = np.eye(len(self.emotions), dtype=np.float32)[[index[e] for e in emotions]]
        edited, _ = predict(self.gan.generator, [to_signed_unit(faces), targets])
        return from_signed_unit(edited)
