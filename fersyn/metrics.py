"""Quality of a synthetic set, judged against real faces by a reference classifier.

The reference is a `small-cnn` trained on the real training split only (never on test faces, never
on synthetic ones); its real test accuracy is reported beside every number it produces, since a
fidelity can be no more trustworthy than the classifier that measures it.

- expression fidelity: the reference's accuracy on the emotions the synthetic faces were meant to show;
- FD-fer: Fréchet distance between real test and synthetic faces in the reference's penultimate
  features (the idea of FID, but not the Inception FID: its weights cannot be downloaded here);
- diversity: mean pairwise feature distance among synthetic faces, and among real test faces;
- identity preservation of an expression generator: how often an edited face is closer to its own
  source than to any other source (at low resolution, where identity dominates and expression
  details fade), and the mean absolute pixel change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fersyn.contracts import Classifier
from fersyn.data import FaceSet, Split
from fersyn.errors import FersynError
from fersyn.pixels import to_unit_interval

_MAX_FEATURE_SAMPLES = 2000
REFERENCE_CLASSIFIER = "small-cnn"
_IDENTITY_SOURCES = 100
_IDENTITY_RESOLUTION = 12


@dataclass
class Reference:
    """A classifier trained on the real training split, and how well it does on real test faces."""

    classifier: Classifier
    emotions: tuple[str, ...]
    real_test_accuracy: float
    _penultimate: Any = None

    def predict(self, images: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(images).argmax(1)

    def features(self, images: np.ndarray) -> np.ndarray:
        """The classifier's penultimate-layer activations."""
        import keras

        if self._penultimate is None:
            model = self.classifier.model
            self._penultimate = keras.Model(model.inputs, model.layers[-2].output)
        return self._penultimate.predict(to_unit_interval(images), batch_size=256, verbose=0)


def train_reference(faces: FaceSet, split: Split, *, seed: int = 0, epochs: int = 25, min_steps: int = 300,
                    policy: str = "float32") -> Reference:
    """A REFERENCE_CLASSIFIER fitted on `split.train` for `epochs` epochs but at least `min_steps` steps (the best
    weights on `split.val` kept) under the dtype `policy`, scored on `split.test`."""
    from fersyn.classifiers.training import Budget, train_classifier
    from fersyn.mix import TrainingStream
    from fersyn.registry import create_plugin, load_plugins

    load_plugins()
    classifier = create_plugin("classifier", REFERENCE_CLASSIFIER, image_size=faces.image_size, channels=faces.images.shape[-1])
    stream = TrainingStream(faces.images[split.train], faces.labels[split.train], classifier.batch_size, seed)
    per_epoch = -(-len(split.train) // classifier.batch_size)
    # Steps, not early stopping: on a small training split (a quarter of CK+) batch norm's validation
    # loss rises for the first epochs, and early stopping kept chance-level weights.
    budget = Budget.of_steps(max(epochs * per_epoch, min_steps), per_epoch)
    train_classifier(classifier, stream, faces.images[split.val], faces.labels[split.val], len(faces.emotions),
                     budget=budget, seed=seed, policy=policy)
    predicted = classifier.predict_proba(faces.images[split.test]).argmax(1)
    return Reference(classifier, faces.emotions, float(np.mean(predicted == faces.labels[split.test])))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets `a` and `b` (rows = samples)."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    # Tr sqrt(cov_a^½ cov_b cov_a^½) equals Tr sqrt(cov_a cov_b) and stays symmetric.
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def mean_pairwise_distance(features: np.ndarray, rng: np.random.Generator, pairs: int = 5000) -> float:
    first, second = rng.integers(0, len(features), (2, pairs))
    keep = first != second
    return float(np.linalg.norm(features[first[keep]] - features[second[keep]], axis=1).mean())


def identity_preservation(sources: np.ndarray, edits: np.ndarray) -> dict[str, float]:
    """`edits[e, i]` is source `i` given emotion `e`. How often is an edit nearest to its own source?"""
    sources = sources[:_IDENTITY_SOURCES]
    edits = edits[:, : len(sources)]
    source_codes = _normalised_thumbnails(sources)
    edit_codes = _normalised_thumbnails(edits.reshape(-1, *edits.shape[-3:]))
    distances = ((edit_codes[:, None, :] - source_codes[None, :, :]) ** 2).sum(-1)
    own = np.tile(np.arange(len(sources)), edits.shape[0])
    return {
        "identity_retrieval": float(np.mean(distances.argmin(1) == own)),
        "identity_retrieval_chance": 1.0 / len(sources),
        "mean_pixel_change": float(np.abs(edits.astype(np.float32) - sources[None].astype(np.float32)).mean() / 255.0),
    }


def _normalised_thumbnails(images: np.ndarray) -> np.ndarray:
    """Each image as a zero-mean, unit-norm vector at a low resolution."""
    n, size = len(images), images.shape[1]
    factor = max(1, size // _IDENTITY_RESOLUTION)
    cropped = images[:, : size - size % factor, : size - size % factor, 0].astype(np.float32)
    small = cropped.reshape(n, size // factor, factor, size // factor, factor).mean(axis=(2, 4)).reshape(n, -1)
    small -= small.mean(1, keepdims=True)
    return small / (np.linalg.norm(small, axis=1, keepdims=True) + 1e-6)


def quality_metrics(
    reference: Reference,
    synthetic_images: np.ndarray,
    synthetic_emotions: list[str] | np.ndarray,
    real_test_images: np.ndarray,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Fidelity (overall and per emotion), FD-fer and diversity of a synthetic set (or a sample of one)."""
    rng = np.random.default_rng(seed)
    if len(synthetic_images) > _MAX_FEATURE_SAMPLES:
        keep = rng.choice(len(synthetic_images), _MAX_FEATURE_SAMPLES, replace=False)
        synthetic_images, synthetic_emotions = synthetic_images[keep], np.asarray(synthetic_emotions)[keep]
    index = {emotion: i for i, emotion in enumerate(reference.emotions)}
    unknown = sorted(set(np.asarray(synthetic_emotions).tolist()) - set(index))
    if unknown:
        raise FersynError(f"the reference classifier knows {', '.join(index)}, not {', '.join(unknown)}")
    intended = np.array([index[e] for e in synthetic_emotions])
    correct = reference.predict(synthetic_images) == intended
    synthetic_features, real_features = reference.features(synthetic_images), reference.features(real_test_images)
    return {
        "expression_fidelity": float(correct.mean()),
        "fidelity_per_emotion": {e: float(correct[intended == i].mean()) for e, i in index.items() if np.any(intended == i)},
        "reference_real_test_accuracy": reference.real_test_accuracy,
        "fd_fer": frechet_distance(real_features, synthetic_features),
        "diversity_synthetic": mean_pairwise_distance(synthetic_features, rng),
        "diversity_real_test": mean_pairwise_distance(real_features, rng),
        "samples_scored": int(len(synthetic_images)),
    }


def format_metrics(metrics: dict[str, Any]) -> str:
    """The quality metrics as the lines `fersyn generate` prints."""
    per_emotion = ", ".join(f"{e} {v:.0%}" for e, v in metrics["fidelity_per_emotion"].items())
    return "\n".join([
        f"expression fidelity   {metrics['expression_fidelity']:.1%}  ({per_emotion})",
        f"  reference classifier: {metrics['reference_real_test_accuracy']:.1%} on real test faces",
        f"FD-fer                {metrics['fd_fer']:.2f}  (real test vs synthetic, reference features)",
        f"diversity             {metrics['diversity_synthetic']:.2f} synthetic vs {metrics['diversity_real_test']:.2f} real test",
        f"identity retrieval    {metrics['identity_retrieval']:.1%}  (chance {metrics['identity_retrieval_chance']:.1%}); "
        f"mean pixel change {metrics['mean_pixel_change']:.1%}",
    ])
