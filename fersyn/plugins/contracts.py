"""The plugin contract: the four things fersyn lets you swap, and every hook each must provide.

Write a subclass of one base class below, register it, and every fersyn command can use it:

    @register_identity("my-gan")            # fersyn.plugins.registry; or an entry point (see docs/plugins.md)
    class MyGAN(IdentityGenerator):
        '''One line shown by `fersyn plugins`.'''
        Options = MyOptions                  # optional: a dataclass of options (below)
        def fit(self, faces, *, steps=None, seed=0): ...
        def sample(self, n, *, seed): ...
        def save_state(self, directory): ...
        def load_state(self, directory): ...

What every plugin has and provides
- Attributes set by fersyn before any call: `options` (an instance of `Options`), `image_size`,
  `channels`, `image_shape` = (size, size, channels), `name` (its registered name), `kind`.
- `Options`: a dataclass, one field per option with a type (int, float, bool, str, or that | None),
  a default and one line of help: `steps: int = option(3000, "training steps")`. Users set them
  with `--identity-opt KEY=VALUE` (`--expression-opt`, `--classifier-opt`); fersyn checks them,
  records them in every output and passes them in. `option(…, apply_time=True)` marks an option
  that only changes sample/apply, not the fit: a cached or checkpointed fit is reused with it.
- `save_state(directory)` / `load_state(directory)`: write / read back what a fitted plugin has
  learnt. fersyn's `save` writes the manifest (kind, name, image shape, options, code version)
  beside it, and `load` builds the new instance from the manifest before calling `load_state`.
- Before it is fitted or loaded, a call that needs a fit raises `self.not_fitted("sample()")`.

Generators (identity and expression)
- `fit(…, steps=None, seed=0)`: `steps` is `--train-steps` (None: the plugin's own budget, by
  convention `options.steps`). To make long fits resumable, report `trained_steps` (steps done so
  far): fersyn then calls `fit` in pieces of at most 500 steps, saving a checkpoint after each under
  `--checkpoints`, and a later run resumes from it; each call must continue from where the model is.
  Without `trained_steps`, `fit` is called once with the whole budget.
- Identity: `sample(n, *, seed)` → n new faces of `image_shape`.
- Expression: `fit(faces, labels, emotions, …)` (labels index into `emotions`), and
  `apply(faces, emotions, *, seed)` → each face showing the emotion at the same position in
  `emotions` (one canonical name per face), same shape; an emotion it was not fitted on is an error.
- `self.training_log` (fersyn.runtime.training_log): during `fit`, `scalars(step, {"loss": …})` records
  numbers, and when `wants_faces(step)`, `faces(step, name, grid)` a uint8 rows×columns×H×W×C grid
  of faces; written to TensorBoard under `--tensorboard DIR`, and nothing otherwise.
- Before a long fit, fersyn checks one sample/apply after the first step (with `trained_steps`;
  without it, of a fresh instance fitted 1 step on a few faces): a contract break costs one step,
  not the whole fit.

Classifiers
- `build_model(input_shape, num_classes)` → an uncompiled Keras model taking float32 images scaled to
  [0, 1] (`fersyn.data.pixels.to_unit_interval`; a keras.applications network must not rescale again:
  pass `include_preprocessing=False` or equivalent) and returning class probabilities (softmax).
- fersyn trains every classifier with one protocol (Adam at the class attribute `learning_rate`,
  batches of `batch_size`, cross-entropy, best weights on the real validation loss) and predicts
  with `predict_proba` (uint8 in, N×classes probabilities out): override neither.

Judges (the referees of a synthetic set: fidelity, FD, diversity, confidence filtering, a teacher)
- `emotions`: the canonical emotions its probabilities are over, in order (known after `fit`).
- `fit(faces, labels, emotions, *, validation, seed=0)`: train on real training faces (`validation`
  = (faces, labels) of real validation faces). A judge with the class attribute `pretrained = True`
  owes nothing to the data: its `fit` only loads its weights, and it may score any dataset.
- `scorer()` → a Keras model: float32 faces in [0, 1] of `image_shape` in, (probabilities over
  `emotions`, features) out. It must be differentiable: an expression generator may train against
  it (a "teacher"). fersyn's `scores`, `predict_proba` and `features` call it: override none. A generator
  option named `teacher` names the judge it trains against; that judge's verdict on it is flagged.
- `has_seen(faces)`: whether it learnt from any of the faces a generator was fitted or pretrained on
  (a FaceSet; asked once for each).
  Default: True unless `pretrained` (fersyn fits other judges on the split's training faces). A judge
  reads a set *independently* only if it has not seen those faces and was neither the generator's
  teacher nor the set's filter; every set reports the fidelity of each such judge (fersyn.judges.quality).

Conventions everywhere: images are numpy uint8 arrays N×H×W×C (C = 1, grayscale; 0–255), emotions
canonical names (fersyn.data.emotions); randomness comes only from the `seed` arguments, so the same
seed gives the same output. Errors inside a plugin reach the user as one line naming the plugin and
the call. Caches (fitted generators, finished benchmark cells) are keyed on each plugin's code
version (`code_version`): edit a plugin and the next run retrains it.

`fersyn.testing` checks all of this on a plugin in one call (`check_identity_generator(MyGAN)`).

Several devices or machines (`--strategy mirrored|multiworker`): fersyn calls `fit` (and a
classifier's `build_model`, compile and training) inside the strategy's scope, so a plugin that
builds plain Keras models and trains them with `model.fit` runs distributed unchanged; the batch its
dataset yields is the global batch, split across replicas. A custom `train_step` needs two helpers of
fersyn.runtime.distribute, no-ops on one device: `per_replica_loss(loss)` on each loss it differentiates,
and `replica_share(draw, n)` for its random draws. `tf.distribute.get_strategy()` gives the strategy.

Mixed precision (`--precision mixed`, the default; fersyn.runtime.precision): a plugin that sets the class
attribute `mixed_precision = True` has its models built under Keras' `mixed_bfloat16` (or
`mixed_float16`) policy where the machine computes natively in 16 bits: layers compute in 16 bits
on float32 variables (paper-cnn trains 1.9× faster). Other plugins train in float32. Opt in once
`benchmarks/models_speed.py` shows a gain for your model, and make it mixed-safe: give the
layers whose outputs feed a loss or leave the model `dtype="float32"` (a classifier's softmax, a
GAN's output image and discriminator logits: fersyn refuses a mixed-safe classifier whose output is
not float32), and in a custom `train_step` pass each loss you differentiate through
`optimizer.scale_loss(loss)` inside the tape (loss scaling under float16; unchanged otherwise).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import sys
import traceback
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Sequence

import numpy as np

from fersyn.data.pixels import to_unit_interval
from fersyn.errors import FersynError
from fersyn.plugins.options import build_options, option  # noqa: F401 - `option` is part of the contract
from fersyn.runtime.inference import predict
from fersyn.runtime.training_log import TrainingLog

if TYPE_CHECKING:  # keras is imported lazily: only code that builds a model pays for TensorFlow
    import keras

    from fersyn.data import FaceSet


MANIFEST = "fersyn-plugin.json"


class NotFittedError(FersynError):
    """A plugin was asked for output before it was fitted or loaded."""


class ContractError(FersynError):
    """A plugin broke a rule of this contract; the message names the plugin and the rule."""

    @classmethod
    def broke(cls, plugin: "Plugin | type[Plugin]", rule: str) -> "ContractError":
        return cls(f"{plugin.kind} plugin '{plugin.name}' broke the contract: {rule}")


def check_faces(images: Any, shape: tuple[int, ...], plugin: "Plugin", call: str) -> np.ndarray:
    """`images` if they are what the contract promises from `call` (uint8 of `shape`), else ContractError."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.shape != tuple(shape):
        got = f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}".strip()
        raise ContractError.broke(plugin, f"{call} must return uint8 {tuple(shape)}, not {got}")
    return images


def checked_samples(generator: "IdentityGenerator", n: int, seed: int) -> np.ndarray:
    """`generator.sample(n, seed=seed)`, refused with ContractError unless it keeps the contract."""
    with plugin_call(generator, "sample()"):
        return check_faces(generator.sample(n, seed=seed), (n, *generator.image_shape), generator, f"sample({n})")


def checked_edits(generator: "ExpressionGenerator", faces: np.ndarray, emotions: Sequence[str], seed: int) -> np.ndarray:
    """`generator.apply(faces, emotions, seed=seed)`, refused with ContractError unless it keeps the contract."""
    with plugin_call(generator, "apply()"):
        return check_faces(generator.apply(faces, list(emotions), seed=seed), faces.shape, generator, "apply(faces, emotions)")


@contextlib.contextmanager
def plugin_call(plugin: "Plugin | type[Plugin]", call: str) -> Iterator[None]:
    """Run a call into plugin code: an error in it becomes one line naming the plugin, the call, the
    error and where it was raised."""
    try:
        yield
    except FersynError:
        raise
    except Exception as error:
        last = traceback.extract_tb(error.__traceback__)[-1]
        message = " ".join(str(error).split())[:300]
        raise ContractError(f"{plugin.kind} plugin '{plugin.name}' failed in {call}: {type(error).__name__}: {message} "
                            f"({Path(last.filename).name}:{last.lineno})") from error


def code_version(cls: type) -> str:
    """What identifies the code of plugin class `cls`, for caches: the version of the distribution that
    ships it, and a hash of the source files of the class and of its bases outside the standard library
    (so an edited plugin, even an editable install, is retrained rather than read from a cache). Edits to
    other modules a plugin imports are seen only through its distribution's version."""
    digest = hashlib.sha256()
    for base in cls.__mro__:
        source = getattr(sys.modules.get(base.__module__), "__file__", None)
        if source and base.__module__.split(".")[0] not in sys.stdlib_module_names and Path(source).is_file():
            digest.update(Path(source).read_bytes())
    distributions = _distributions().get(cls.__module__.split(".")[0], [])
    version = f"{distributions[0]}=={importlib.metadata.version(distributions[0])} " if distributions else ""
    return f"{version}{digest.hexdigest()[:12]}"


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


@dataclasses.dataclass
class NoOptions:
    """For plugins without options."""


def checked_model(classifier: "Classifier", num_classes: int) -> "keras.Model":
    """`classifier.build_model(...)`, refused with ContractError unless, on two blank faces, it returns
    one probability per class (each row summing to 1: a softmax, not logits)."""
    with plugin_call(classifier, "build_model()"):
        model = classifier.build_model(classifier.image_shape, num_classes)
    shape = tuple(getattr(model, "output_shape", ()) or ())
    if shape != (None, num_classes):
        raise ContractError.broke(classifier, f"build_model(shape, {num_classes}) must return a Keras model with output "
                                              f"(None, {num_classes}), not {shape or type(model).__name__}")
    with plugin_call(classifier, "its model, called on 2 faces"):
        output = model(np.full((2, *classifier.image_shape), 0.5, np.float32), training=False)
    dtype = getattr(getattr(output, "dtype", None), "name", "float32")
    if dtype != "float32":
        raise ContractError.broke(classifier, f"build_model() must return float32 probabilities, not {dtype} (under "
                                              "`precision` mixed, give the last layer dtype=\"float32\")")
    probabilities = np.asarray(output)
    if not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3) or probabilities.min() < 0:
        raise ContractError.broke(classifier, "build_model() must return a model whose outputs are probabilities "
                                              "(a softmax: each row ≥ 0, summing to 1), not logits")
    return model


class Plugin(ABC):
    """What all three kinds share: options, the image shape they work at, and a name."""

    kind: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    name: ClassVar[str] = ""  # set by registration
    mixed_precision: ClassVar[bool] = False  # True: built under the run's mixed-precision policy (see above)

    def __init__(self, options: Any = None, *, image_size: int = 48, channels: int = 1) -> None:
        self.options = options if options is not None else self.Options()
        self.image_size = image_size
        self.channels = channels
        self._loaded_code_version: str | None = None

    @property
    def fit_code_version(self) -> str | None:
        """The code version of what this plugin holds: a loaded plugin's, the code that fitted it."""
        return self._loaded_code_version or code_version(type(self))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    @classmethod
    def description(cls) -> str:
        """The first line of the class docstring."""
        lines = (cls.__doc__ or "").strip().splitlines()
        return lines[0] if lines else ""

    def save(self, directory: Path) -> None:
        """Write this plugin into the existing folder `directory`: the manifest (kind, name, image
        shape, options), then the plugin's own `save_state`."""
        manifest = {
            "kind": self.kind, "name": self.name, "image_size": self.image_size, "channels": self.channels,
            "options": dataclasses.asdict(self.options), "code_version": self.fit_code_version,
        }
        (Path(directory) / MANIFEST).write_text(json.dumps(manifest, indent=2))
        self.save_state(Path(directory))

    @classmethod
    def load(cls, directory: Path) -> "Plugin":
        """The plugin `save` wrote into `directory`: a new instance with the manifest's options and image
        shape, then its own `load_state`. A checkpoint of another plugin is refused."""
        manifest = cls.read_manifest(directory)
        options = build_options(cls.Options, manifest["options"], f"checkpoint of {cls.kind} plugin '{cls.name}'")
        plugin = cls(options, image_size=manifest["image_size"], channels=manifest["channels"])
        plugin.load_state(Path(directory))
        plugin._loaded_code_version = manifest.get("code_version")
        return plugin

    @abstractmethod
    def save_state(self, directory: Path) -> None:
        """Write what a fitted plugin has learnt (weights, arrays) into `directory`; the manifest is fersyn's."""

    @abstractmethod
    def load_state(self, directory: Path) -> None:
        """Read back, into this new instance (options and image shape already set), what `save_state` wrote."""

    @classmethod
    def read_manifest(cls, directory: Path) -> dict[str, Any]:
        """The manifest `save` wrote; refuses a checkpoint of another plugin."""
        path = Path(directory) / MANIFEST
        if not path.is_file():
            raise FersynError(f"{directory}: not a fersyn checkpoint (no {MANIFEST})")
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise FersynError(f"{path}: unreadable checkpoint manifest ({error})") from None
        if (manifest.get("kind"), manifest.get("name")) != (cls.kind, cls.name):
            raise FersynError(
                f"{directory}: holds the {manifest.get('kind')} plugin '{manifest.get('name')}', "
                f"not the {cls.kind} plugin '{cls.name}'"
            )
        return manifest

    def not_fitted(self, call: str) -> "NotFittedError":
        """The error for `call` on a plugin that has not been fitted or loaded yet (raise it)."""
        return NotFittedError(f"{self.kind} plugin '{self.name}' is not fitted: fit or load it before {call}")


class Generator(Plugin):
    """What both generator kinds share: a training budget counted in steps, so training can resume,
    and a training log to write losses and faces into while fitting."""

    training_log: TrainingLog = TrainingLog()  # set by fersyn before `fit` under --tensorboard

    @property
    def trained_steps(self) -> int:
        """Steps trained so far. fersyn resumes an interrupted fit by calling `fit` again with
        `steps` = what is left of the budget, so `fit` must continue from where the model is."""
        return 0


class IdentityGenerator(Generator):
    """Draws faces of random, new identities (the paper's StyleGAN role)."""

    kind = "identity"

    @abstractmethod
    def fit(self, faces: np.ndarray, *, steps: int | None = None, seed: int = 0) -> None:
        """Train on real training faces (uint8 N×H×W×C) for `steps` more steps (None: the plugin's budget)."""

    @abstractmethod
    def sample(self, n: int, *, seed: int) -> np.ndarray:
        """`n` new faces, uint8 n×H×W×C; the same seed gives the same faces."""


class ExpressionGenerator(Generator):
    """Imposes a chosen emotion on given faces (the paper's StarGAN role)."""

    kind = "expression"

    @abstractmethod
    def fit(
        self,
        faces: np.ndarray,
        labels: np.ndarray,
        emotions: Sequence[str],
        *,
        steps: int | None = None,
        seed: int = 0,
    ) -> None:
        """Train on real faces and their labels (indices into `emotions`) for `steps` more steps."""

    @abstractmethod
    def apply(self, faces: np.ndarray, emotions: Sequence[str], *, seed: int) -> np.ndarray:
        """Each face in `faces` showing the matching emotion in `emotions`; uint8, same shape."""


class Classifier(Plugin):
    """An emotion classifier: a plain Keras model; fersyn trains it with one protocol for all.

    A plugin only builds the network. Training (optimizer, early stopping on real validation
    loss, best weights restored) is fersyn's, so that every classifier is measured the same way.
    """

    kind = "classifier"
    learning_rate: ClassVar[float] = 1e-4
    batch_size: ClassVar[int] = 64

    def __init__(self, options: Any = None, *, image_size: int = 48, channels: int = 1) -> None:
        super().__init__(options, image_size=image_size, channels=channels)
        self.model: keras.Model | None = None

    @abstractmethod
    def build_model(self, input_shape: tuple[int, int, int], num_classes: int) -> "keras.Model":
        """An uncompiled Keras model: float32 images scaled to [0, 1] in, class probabilities out."""

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities N×C for uint8 images."""
        if self.model is None:
            raise self.not_fitted("predict_proba()")
        return predict(self.model, to_unit_interval(images))

    def save_state(self, directory: Path) -> None:
        if self.model is None:
            raise self.not_fitted("save()")
        self.model.save(directory / "model.keras")

    def load_state(self, directory: Path) -> None:
        import keras

        self.model = keras.saving.load_model(directory / "model.keras")


class Judge(Plugin):
    """Scores faces for emotion: the referee of quality metrics and confidence filtering."""

    kind = "judge"
    pretrained: ClassVar[bool] = False  # True: fit only loads weights; the judge owes nothing to the data

    def __init__(self, options: Any = None, *, image_size: int = 48, channels: int = 1) -> None:
        super().__init__(options, image_size=image_size, channels=channels)
        self._scorer: keras.Model | None = None

    @property
    @abstractmethod
    def emotions(self) -> tuple[str, ...]:
        """The canonical emotions its probabilities are over, in their order."""

    @abstractmethod
    def fit(self, faces: np.ndarray, labels: np.ndarray, emotions: Sequence[str], *,
            validation: tuple[np.ndarray, np.ndarray], seed: int = 0) -> None:
        """Train on real training faces (labels index into `emotions`); a pretrained judge loads its weights."""

    @abstractmethod
    def scorer(self) -> "keras.Model":
        """float32 faces in [0, 1] of `image_shape` → (probabilities over `emotions`, features); differentiable."""

    def provenance(self) -> str:
        """Where its weights come from when not from `fit` (a file and its hash), recorded with its verdicts."""
        return ""

    def has_seen(self, faces: "FaceSet") -> bool:
        """Whether it learnt from any of `faces` (those a generator was fitted, or pretrained, on): then its
        reading of that generator's faces is not independent. A judge that is not `pretrained` is fitted by
        fersyn on the split's training faces, so it has."""
        return not self.pretrained

    def scores(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities N×len(emotions), features N×D) of uint8 faces, from one pass of the scorer."""
        if self._scorer is None:
            self._scorer = self.scorer()
        probabilities, features = predict(self._scorer, to_unit_interval(faces))
        return np.asarray(probabilities), np.asarray(features).reshape(len(faces), -1)

    def predict_proba(self, faces: np.ndarray) -> np.ndarray:
        """Probabilities N×len(emotions) for uint8 faces."""
        return self.scores(faces)[0]

    def features(self, faces: np.ndarray) -> np.ndarray:
        """Feature vectors N×D for uint8 faces (the distances of FD and diversity are taken in them)."""
        return self.scores(faces)[1]


KINDS: dict[str, type[Plugin]] = {
    "identity": IdentityGenerator,
    "expression": ExpressionGenerator,
    "classifier": Classifier,
    "judge": Judge,
}
