"""`fields`: a non-adversarial expression generator — per-emotion displacement and appearance fields.

Fitted in seconds on the training faces. For each emotion it registers the average training face onto
that emotion's mean face: a smooth displacement field (how brows, lids and mouth move) and a small
appearance field (what the move leaves unexplained: teeth, wrinkles, shadows). `apply` first takes
away the expression the face already shows — the fields of each emotion, weighted by how likely a
logistic regression on the training faces (at low resolution) finds it — then warps the face by its
target's displacement and adds its appearance. No discriminator takes part and nothing is trained to
please a classifier, so there is no judge to please by shortcut: what a judge reads in these faces is
the training faces' average motion. A fast baseline that any expression GAN should beat.

Why mean faces rather than pairs of faces of one subject: `fit` receives faces and labels, not
subjects (the plugin contract), and aligned crops such as CK+'s average identity away within an
emotion while keeping where its features move. The average face weighs every emotion equally, so the
fields say how each emotion departs from the same neutral-ish centre.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from fersyn.data.pixels import from_unit_interval, to_unit_interval
from fersyn.errors import FersynError
from fersyn.plugins.contracts import ExpressionGenerator, option
from fersyn.plugins.registry import register_expression

FIELDS = "fields.npz"


@dataclasses.dataclass
class FieldOptions:
    steps: int = option(400, "registration steps per fit (Adam on all emotions at once; ≈ 2 s)")
    grid: int = option(4, "pixels per control point of the displacement field (larger: smoother motion)")
    smoothness: float = option(1e-4, "weight of the penalty on differences between neighbouring control points")
    appearance_weight: float = option(0.3, "weight of the penalty on the appearance field (larger: motion explains more)")
    learning_rate: float = option(0.02, "Adam learning rate of the registration")
    # 1.5 exaggerates the average change, as a caricature does. On CK+ (one split, real test faces as sources,
    # read by fer-mini-xception) the target was read in 37 % of edits at 1.0, 52 % at 1.5 and 58 % at 2.0 (29, 39
    # and 51 % without neutralising), while identity retrieval fell from 0.57 to 0.45 and 0.35.
    strength: float = option(1.5, "scale of both fields in apply (1: the training faces' average change)",
                             apply_time=True)
    neutralise: bool = option(True, "take away the expression a face already shows before imposing the target",
                              apply_time=True)
    jitter: float = option(0.25, "each edit scales its fields by a random factor in 1 ± jitter (diversity)",
                           apply_time=True)


@register_expression("fields")
class ExpressionFields(ExpressionGenerator):
    """Non-adversarial: per-emotion displacement and appearance fields between mean faces, applied to any face."""

    Options = FieldOptions

    def __init__(self, options: FieldOptions | None = None, *, image_size: int = 48, channels: int = 1) -> None:
        super().__init__(options, image_size=image_size, channels=channels)
        self.emotions: list[str] = []
        self.displacement: np.ndarray | None = None  # emotions × H × W × 2, in pixels (rows, columns)
        self.appearance: np.ndarray | None = None  # emotions × H × W × C, in 0..1 units
        self.weights: np.ndarray | None = None  # emotions × (low-resolution pixels + 1): which expression a face shows

    def fit(self, faces: np.ndarray, labels: np.ndarray, emotions: Sequence[str], *, steps: int | None = None,
            seed: int = 0) -> None:
        """Register the average face onto each emotion's mean face (deterministic: `seed` is not needed)."""
        labels = np.asarray(labels)
        missing = [emotion for i, emotion in enumerate(emotions) if not np.any(labels == i)]
        if missing:
            raise FersynError(f"fields needs training faces of every emotion it is fitted on; none of {', '.join(missing)}")
        from sklearn.linear_model import LogisticRegression

        if steps is not None:  # a budget given to fit (`--train-steps`) wins: the options then record what ran
            self.options = dataclasses.replace(self.options, steps=steps)
        images = to_unit_interval(faces)
        means = np.stack([images[labels == i].mean(0) for i in range(len(emotions))])
        self.displacement, self.appearance = _register(means.mean(0), means, self.options, self.options.steps,
                                                       self.training_log)
        # Strongly regularised (C 0.1): on a few hundred faces it should say which expression, not whose face.
        model = LogisticRegression(C=0.1, max_iter=2000).fit(_low_resolution(images), labels)
        weights = np.concatenate([model.coef_, model.intercept_[:, None]], axis=1)
        # Two emotions: scikit-learn keeps one row (the second's logit against the first's 0).
        self.weights = np.vstack([np.zeros_like(weights), weights]) if len(weights) == 1 else weights
        self.emotions = list(emotions)

    def apply(self, faces: np.ndarray, emotions: Sequence[str], *, seed: int) -> np.ndarray:
        if self.displacement is None:
            raise self.not_fitted("apply()")
        unknown = sorted(set(emotions) - set(self.emotions))
        if unknown:
            raise FersynError(f"fields was fitted on {', '.join(self.emotions)}, not {', '.join(unknown)}")
        if len(emotions) != len(faces):
            raise FersynError(f"fields needs one emotion per face: {len(emotions)} emotions for {len(faces)} faces")
        index = np.array([self.emotions.index(emotion) for emotion in emotions], dtype=int)
        rng = np.random.default_rng(seed)
        scale = self.options.strength * rng.uniform(1 - self.options.jitter, 1 + self.options.jitter, len(faces))
        scale = scale.astype(np.float32)[:, None, None, None]
        images = to_unit_interval(faces)
        if self.options.neutralise:  # the expected fields of the expression it shows, taken away
            mixture = self.expression_mixture(images)
            images = (np.asarray(_warp(images, -np.einsum("ne,ehwk->nhwk", mixture, self.displacement)))
                      - np.einsum("ne,ehwk->nhwk", mixture, self.appearance))
        moved = _warp(images, self.displacement[index] * scale)
        return from_unit_interval(np.asarray(moved) + self.appearance[index] * scale)

    def expression_mixture(self, images: np.ndarray) -> np.ndarray:
        """How likely each face (float 0..1) shows each fitted emotion: the fitted logistic regression's softmax."""
        logits = _low_resolution(images) @ self.weights[:, :-1].T + self.weights[:, -1]
        logits = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (logits / logits.sum(axis=1, keepdims=True)).astype(np.float32)

    def save_state(self, directory: Path) -> None:
        if self.displacement is None:
            raise self.not_fitted("save()")
        np.savez_compressed(directory / FIELDS, displacement=self.displacement, appearance=self.appearance,
                            weights=self.weights, emotions=np.array(self.emotions))

    def load_state(self, directory: Path) -> None:
        with np.load(directory / FIELDS) as stored:
            self.displacement, self.appearance, self.weights = stored["displacement"], stored["appearance"], stored["weights"]
            self.emotions = [str(emotion) for emotion in stored["emotions"]]


def _low_resolution(images: np.ndarray) -> np.ndarray:
    """Every few pixels of each face, flattened: about 12 × 12, where expression shows more than identity."""
    step = max(1, images.shape[1] // 12)
    return images[:, ::step, ::step].reshape(len(images), -1)


def _warp(images, displacement):
    """Each image sampled at (row, column) + its displacement, bilinearly; edges repeat outwards.
    Differentiable in the displacement (the registration learns it through this)."""
    import keras
    import tensorflow as tf

    images, displacement = tf.convert_to_tensor(images, tf.float32), tf.convert_to_tensor(displacement, tf.float32)
    n, height, width, channels = images.shape
    rows, columns = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    batch = tf.broadcast_to(tf.range(n, dtype=tf.float32)[:, None, None], (n, height, width))
    coordinates = [batch, rows + displacement[..., 0], columns + displacement[..., 1]]
    return tf.stack([keras.ops.image.map_coordinates(images[..., c], coordinates, order=1, fill_mode="nearest")
                     for c in range(channels)], axis=-1)


def _register(average: np.ndarray, means: np.ndarray, options: FieldOptions, steps: int, log) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (on a coarse grid of control points, resized to full resolution: smooth by
    construction) and appearance fields that carry `average` onto each of `means`, by Adam on the
    squared error plus penalties on rough motion and on appearance."""
    import keras
    import tensorflow as tf

    count, height, width, channels = means.shape
    grid = (max(2, height // options.grid), max(2, width // options.grid))
    control = tf.Variable(tf.zeros((count, *grid, 2)))
    appearance = tf.Variable(tf.zeros((count, height, width, channels)))
    start = tf.constant(np.broadcast_to(average, means.shape))
    target = tf.constant(means)
    optimizer = keras.optimizers.Adam(options.learning_rate)

    def displacement() -> tf.Tensor:
        return tf.image.resize(control, (height, width), method="bilinear")

    @tf.function
    def step() -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            error = tf.reduce_mean(tf.square(_warp(start, displacement()) + appearance - target))
            roughness = (tf.reduce_mean(tf.square(control[:, 1:] - control[:, :-1]))
                         + tf.reduce_mean(tf.square(control[:, :, 1:] - control[:, :, :-1])))
            loss = error + options.smoothness * roughness + options.appearance_weight * tf.reduce_mean(tf.square(appearance))
        optimizer.apply_gradients(zip(tape.gradient(loss, [control, appearance]), [control, appearance]))
        return {"error": error, "roughness": roughness}

    for done in range(1, steps + 1):
        scalars = step()
        if done % 50 == 0 or done == steps:
            log.scalars(done, {name: float(value) for name, value in scalars.items()})
    return displacement().numpy(), appearance.numpy()
