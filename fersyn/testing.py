"""The contract test kit: one call per plugin kind that trains a plugin briefly on `toy` faces and
checks the rules of fersyn/plugins/contracts.py. fersyn runs it on its own built-ins; plugin authors run it
in their tests:

    from fersyn.testing import check_identity_generator
    def test_my_gan():
        check_identity_generator(MyGAN)          # or a registered name: "my-gan"

A broken rule raises ContractError, whose message names the plugin and the rule. Checked: options
(declared with types and defaults, readable from text); output shape at the requested image size
(32×32 here, not the default 48, so that a plugin must honour `image_size`) and dtype uint8; varied
output; determinism under a seed (same seed, same output; for identities, another seed, other faces);
emotions honoured (expression: each target changes the faces, an unknown one is refused; classifier:
one probability per emotion, summing to 1); steps counted (a generator that reports `trained_steps`
must add exactly the steps it was asked to train); save → load → same output, options and image
size; and an error, not a silent result, on bad arguments.

And that a plugin works, not only that it has the right shape:
- identity: fit is deterministic under its seed (two fresh instances fitted on the same faces with
  the same seed sample the same faces: seeds fix everything), and fit learns from the data (fitted
  on other faces, the toy faces' negatives, with the same seed, it samples other faces);
- expression: the output depends on the input face (different faces given the same target emotion
  come out different), and keeps its identity (each edited face is nearest its own source among
  16 toy identities at low resolution, as fersyn.judges.quality.identity_preservation measures it);
- classifier: it learns (trained up to a few hundred steps on toy faces of 64 identities, it names
  the emotions of 16 other identities well above chance);
- judge (`check_judge`): probabilities and features for every face, a differentiable scorer, the same
  judge under one seed, and, unless pretrained, it beats chance on those 16 unseen identities.
A plugin that does not learn from the faces by design (one that loads a pretrained model in `fit`, a
classifier too slow to learn toy in the budget) passes `learns=False` to skip that one check.
The kit logs one line per stage to the "fersyn" logger (INFO), so a long check shows progress. A
plugin that opts in to mixed precision (`mixed_precision = True`) is checked under this machine's
mixed policy, as fersyn runs it by default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from fersyn.errors import FersynError
from fersyn.plugins.contracts import (
    Classifier,
    ContractError,
    ExpressionGenerator,
    Generator,
    IdentityGenerator,
    Judge,
    Plugin,
    checked_edits,
    checked_model,
    checked_samples,
    plugin_call,
)
from fersyn.plugins.options import build_options, option_specs
from fersyn.runtime.precision import DEFAULT_PRECISION, policy_for, precision_scope, resolve_precision

if TYPE_CHECKING:
    from fersyn.classifiers.protocol import KeptModels
    from fersyn.plugins.registry import Registry

_IMAGE_SIZE = 32
_EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
_IDENTITIES = 16  # toy identities the generators are fitted on (16 × 6 emotions = 96 faces)

# Expression generators: each edited face must be nearest its own source (zero-mean, unit-norm thumbnails,
# 16×16 at 32×32: fersyn.judges.quality.identity_preservation) among the 16 sources for at least this share of the
# 6 × 16 edits. Chance is 1/16 ≈ 0.06; a generator that draws one fixed face per emotion scores at most 1/16
# (each of its six faces is nearest one source), and one that hands back another face scores 0. The built-in
# stargan, trained only the kit's few steps, scores 1.00 (its attention mask keeps it near its input), and
# fitted 1,000 steps on CK+48 0.84-1.00 among 100 sources (benchmarks/results/reproduction.json). 0.5 is 8
# times chance: no edit blind to its input reaches it by luck.
_MIN_IDENTITY_RETRIEVAL = 0.5

# Classifiers: trained on the toy faces of 64 identities (384 faces) for up to _LEARNING_STEPS steps,
# validated every _LEARNING_ROUND steps on 96 faces of 16 other identities, stopping once its accuracy
# there reaches _MIN_ACCURACY. Chance is 1/6; a classifier that cannot see the image predicts one
# class for all and scores exactly 1/6. 1/3, twice chance, is 4.5 standard deviations above it on 96
# faces. Measured at 32×32 over training seeds 0-4, in float32: small-cnn reaches 1/3 after 48-64 steps
# (0.82-0.86 by 320), paper-cnn (Adam at 1e-4, the slow one) after 160-320 (0.40-0.68 by 320), and the
# example plugin mobilenet-v3-small (seed 0) after 240. The budget is 1.6 times paper-cnn's slowest; a
# classifier that stays at chance costs all of it.
_LEARNING_IDENTITIES, _HELD_OUT_IDENTITIES = 64, 16
_LEARNING_STEPS, _LEARNING_ROUND = 512, 16
_MIN_ACCURACY = 1 / 3

log = logging.getLogger("fersyn")


def check_identity_generator(plugin: str | type[IdentityGenerator], *, steps: int = 3, learns: bool = True,
                             **options: Any) -> None:
    """Train `plugin` (a class or a registered name) for `steps` steps on toy faces and check the contract.
    `learns=False`: a plugin that ignores the faces by design (a pretrained model loaded in `fit`) is
    not required to sample other faces when fitted on other faces."""
    with _instance("identity", plugin, options) as generator:
        faces, _ = _toy_faces()
        stages = 3 if learns else 2

        def fitted(g: IdentityGenerator, data: np.ndarray) -> IdentityGenerator:
            _check_fit(g, lambda g, n: g.fit(data, steps=n, seed=0), steps)
            return g

        def sample(g: IdentityGenerator, seed: int) -> np.ndarray:
            return checked_samples(g, 6, seed)

        _progress("check_identity_generator", generator, 1, stages, f"fitting {steps} + 2 steps on {len(faces)} toy faces")
        fitted(generator, faces)
        _check_outputs(generator, sample, "sample()")
        _refuses(generator, "sample(-1)", lambda: generator.sample(-1, seed=0))
        first = sample(generator, 1)
        _progress("check_identity_generator", generator, 2, stages, "fitting a new instance on the same faces with the same seed")
        _require(np.array_equal(sample(fitted(_fresh(generator, options), faces), 1), first), generator,
                 "fit must be deterministic under its seed: two new instances fitted on the same faces with seed 0 "
                 "sampled other faces (seeds fix everything)")
        if learns:
            _progress("check_identity_generator", generator, 3, stages, "fitting a new instance on other faces (their negatives)")
            _require(not np.array_equal(sample(fitted(_fresh(generator, options), 255 - faces), 1), first), generator,
                     "fit must depend on the data: two fits on different faces (the toy faces and their negatives, "
                     "seed 0) gave the same samples")


def check_expression_generator(plugin: str | type[ExpressionGenerator], *, steps: int = 3, **options: Any) -> None:
    """Train `plugin` for `steps` steps on toy faces and check the contract (see the module doc)."""
    from fersyn.judges.quality import identity_preservation

    with _instance("expression", plugin, options) as generator:
        faces, labels = _toy_faces()
        _progress("check_expression_generator", generator, 1, 2, f"fitting {steps} + 2 steps on {len(faces)} toy faces")
        _check_fit(generator, lambda g, n: g.fit(faces, labels, _EMOTIONS, steps=n, seed=0), steps)
        sources = faces[: len(_EMOTIONS)]

        def apply(g: ExpressionGenerator, seed: int, targets: tuple[str, ...] = _EMOTIONS,
                  inputs: np.ndarray = sources) -> np.ndarray:
            return checked_edits(g, inputs, targets, seed)

        _check_outputs(generator, apply, "apply()", seeds_must_differ=False)
        happy, sad = apply(generator, 1, ("happiness",) * len(sources)), apply(generator, 1, ("sadness",) * len(sources))
        _require(not np.array_equal(happy, sad), generator, "the target emotion must change the output "
                 "(apply(faces, ['happiness', …]) and apply(faces, ['sadness', …]) gave the same faces)")
        _refuses(generator, "apply() with an emotion it was not fitted on",
                 lambda: generator.apply(sources[:1], ["contempt"], seed=0))
        _refuses(generator, "apply() with fewer emotions than faces", lambda: generator.apply(sources, ["anger"], seed=0))

        _progress("check_expression_generator", generator, 2, 2,
                  f"imposing each emotion on {_IDENTITIES} faces of different identities")
        people = faces[np.arange(_IDENTITIES) * len(_EMOTIONS) + np.arange(_IDENTITIES) % len(_EMOTIONS)]  # varied emotions
        edits = np.stack([apply(generator, 1, (emotion,) * len(people), people) for emotion in _EMOTIONS])
        for emotion, edited in zip(_EMOTIONS, edits):
            _require(any(not np.array_equal(face, edited[0]) for face in edited[1:]), generator,
                     f"the output must depend on the input face: {len(people)} different faces given '{emotion}' "
                     "all came out the same")
        retrieval = identity_preservation(people, edits)["identity_retrieval"]
        log.info("check_expression_generator %s: identity retrieval %.2f (at least %.2f required; chance %.2f)",
                 generator.name, retrieval, _MIN_IDENTITY_RETRIEVAL, 1 / len(people))
        _require(retrieval >= _MIN_IDENTITY_RETRIEVAL, generator,
                 f"apply() must keep the identity of the face: only {retrieval:.2f} of the edits of {len(people)} faces "
                 f"(6 emotions each) were nearest their own source at low resolution (at least {_MIN_IDENTITY_RETRIEVAL:.2f} "
                 f"required; chance {1 / len(people):.2f})")


def check_classifier(plugin: str | type[Classifier], *, steps: int = 4, learns: bool = True, **options: Any) -> None:
    """Build `plugin`, train it `steps` steps with fersyn's protocol on toy faces, check the contract;
    then train it longer (up to a few hundred steps) and check that it learns. `learns=False` skips
    that: for a network that cannot learn toy faces within the budget."""
    from fersyn.classifiers.protocol import Budget, KeptModels, train_classifier
    from fersyn.sweep.mix import TrainingStream

    with _instance("classifier", plugin, options) as classifier:
        faces, labels = _toy_faces()
        checked_model(classifier, len(_EMOTIONS))
        stages = 3 if learns else 2
        kept = KeptModels()  # as a sweep trains its cells: new instances train the first one's compiled model

        def trained(c: Classifier, seed: int) -> np.ndarray:
            stream = TrainingStream(faces, labels, c.batch_size, seed=seed)
            budget = Budget("steps", steps=steps, eval_every=steps)
            with plugin_call(c, "training"):
                train_classifier(c, stream, faces[:12], labels[:12], len(_EMOTIONS), budget=budget, seed=seed,
                                 policy=_policy(), kept=kept)
            return predict(c)

        def predict(c: Classifier) -> np.ndarray:
            with plugin_call(c, "predict_proba()"):
                return np.asarray(c.predict_proba(faces[:12]))

        _progress("check_classifier", classifier, 1, stages, f"training {steps} steps")
        first = trained(classifier, 0)
        _require(first.shape == (12, len(_EMOTIONS)), classifier,
                 f"predict_proba(12 faces) must return 12×{len(_EMOTIONS)} probabilities, not {first.shape}")
        _require(np.all((first >= 0) & (first <= 1)) and np.allclose(first.sum(1), 1, atol=1e-3), classifier,
                 "predict_proba() must return probabilities: each in [0, 1], each row summing to 1")
        _check_round_trip(classifier, predict, first)  # before the next instance trains the same compiled model
        _progress("check_classifier", classifier, 2, stages, f"training a new instance {steps} steps with the same seed")
        _require(np.allclose(trained(_fresh(classifier, options), 0), first, atol=1e-4), classifier,
                 "training under the same seed must give the same model (predictions differed)")
        if learns:
            _progress("check_classifier", classifier, 3, stages,
                      f"training a new instance up to {_LEARNING_STEPS} steps until it beats chance on unseen identities")
            accuracy, taken = _learned_accuracy(_fresh(classifier, options), kept)
            log.info("check_classifier %s: accuracy %.2f on unseen identities after %d steps (at least %.2f required; "
                     "chance %.2f)", classifier.name, accuracy, taken, _MIN_ACCURACY, 1 / len(_EMOTIONS))
            _require(accuracy >= _MIN_ACCURACY, classifier,
                     f"brief training must beat chance: after {taken} steps on toy faces of {_LEARNING_IDENTITIES} identities, "
                     f"its best accuracy on the faces of {_HELD_OUT_IDENTITIES} other identities was {accuracy:.2f} (at least "
                     f"{_MIN_ACCURACY:.2f} required; chance {1 / len(_EMOTIONS):.2f}): it must see the image and learn from it")


def _learned_accuracy(classifier: Classifier, kept: KeptModels) -> tuple[float, int]:
    """Train `classifier` on toy faces with fersyn's protocol, validating every _LEARNING_ROUND steps on
    faces of other identities; stop once accuracy there reaches _MIN_ACCURACY or after _LEARNING_STEPS.
    Returns the best accuracy seen and the steps taken."""
    import keras

    from fersyn.classifiers.protocol import Budget, train_classifier
    from fersyn.sweep.mix import TrainingStream

    faces, labels = _toy_faces(_LEARNING_IDENTITIES + _HELD_OUT_IDENTITIES)
    split = _LEARNING_IDENTITIES * len(_EMOTIONS)
    unseen, unseen_labels = faces[split:], labels[split:]

    class UntilLearned(keras.callbacks.Callback):
        best, rounds = 0.0, 0

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.best = max(self.best, float(logs["val_accuracy"]))  # fit validates on the unseen identities
            self.rounds = epoch + 1
            if self.best >= _MIN_ACCURACY:
                self.model.stop_training = True

    progress = UntilLearned()
    stream = TrainingStream(faces[:split], labels[:split], classifier.batch_size, seed=0)
    with plugin_call(classifier, "training"):
        train_classifier(classifier, stream, unseen, unseen_labels, len(_EMOTIONS),
                         budget=Budget("steps", steps=_LEARNING_STEPS, eval_every=_LEARNING_ROUND), seed=0,
                         callbacks=[progress], policy=_policy(), kept=kept)
    return progress.best, progress.rounds * _LEARNING_ROUND


def check_judge(plugin: str | type[Judge], *, learns: bool = True, **options: Any) -> None:
    """Fit `plugin` on toy faces (a pretrained judge only loads its weights) and check the contract:
    canonical `emotions`; probabilities (one per emotion, rows summing to 1) and finite features for
    every face; a differentiable scorer; the same seed, the same judge; save → load → same scores. A
    judge that is not pretrained must also learn: on toy faces of unseen identities it beats chance
    (`learns=False` skips that)."""
    import tensorflow as tf

    from fersyn.data.emotions import ALL_EMOTIONS

    with _instance("judge", plugin, options) as judge:
        faces, labels = _toy_faces(_LEARNING_IDENTITIES + _HELD_OUT_IDENTITIES)
        split = _LEARNING_IDENTITIES * len(_EMOTIONS)
        unseen = faces[split:]

        def fitted(j: Judge) -> np.ndarray:
            with plugin_call(j, "fit()"):
                j.fit(faces[:split], labels[:split], _EMOTIONS, validation=(unseen[:24], labels[split:][:24]), seed=0)
            with plugin_call(j, "predict_proba()"):
                return np.asarray(j.predict_proba(unseen))

        _progress("check_judge", judge, 1, 3, "fitting on toy faces" if not judge.pretrained else "loading its weights")
        first = fitted(judge)
        emotions = tuple(judge.emotions)
        _require(emotions and set(emotions) <= set(ALL_EMOTIONS), judge,
                 f"emotions must be canonical emotion names (fersyn.data.emotions), not {emotions}")
        _require(first.shape == (len(unseen), len(emotions)), judge,
                 f"predict_proba({len(unseen)} faces) must return {len(unseen)}×{len(emotions)} probabilities, not {first.shape}")
        _require(np.all((first >= 0) & (first <= 1)) and np.allclose(first.sum(1), 1, atol=1e-3), judge,
                 "predict_proba() must return probabilities: each in [0, 1], each row summing to 1")
        with plugin_call(judge, "features()"):
            features = np.asarray(judge.features(unseen))
        _require(features.ndim == 2 and len(features) == len(unseen) and np.isfinite(features).all(), judge,
                 f"features({len(unseen)} faces) must return {len(unseen)} finite feature vectors, not {features.shape}")
        with plugin_call(judge, "scorer()"):
            scorer = judge.scorer()

            @tf.function  # as a teacher runs inside a train step (eager convolution gradients can crash oneDNN here)
            def gradient_of_first_emotion(faces_in: tf.Tensor) -> tf.Tensor:
                with tf.GradientTape() as tape:
                    tape.watch(faces_in)
                    first_emotion = tf.reduce_sum(scorer(faces_in)[0][:, 0])
                return tape.gradient(first_emotion, faces_in)

            gradient = gradient_of_first_emotion(tf.constant(unseen[:4].astype(np.float32) / 255))
        _require(gradient is not None and bool(tf.reduce_all(tf.math.is_finite(gradient))), judge,
                 "scorer() must be differentiable with respect to the faces (a generator may train against it)")
        _progress("check_judge", judge, 2, 3, "fitting a new instance with the same seed")
        _require(np.allclose(fitted(_fresh(judge, options)), first, atol=1e-4), judge,
                 "fit must be deterministic under its seed: a new instance scored the faces otherwise")
        _check_round_trip(judge, lambda j: np.asarray(j.predict_proba(unseen)), first)
        if learns and not judge.pretrained:
            known = np.array([emotions.index(e) for e in _EMOTIONS])
            accuracy = float(np.mean(first[:, known].argmax(1) == labels[split:]))
            _progress("check_judge", judge, 3, 3, f"accuracy {accuracy:.2f} on toy faces of unseen identities")
            _require(accuracy >= _MIN_ACCURACY, judge,
                     f"a judge fitted on toy faces must beat chance on faces of {_HELD_OUT_IDENTITIES} other identities: "
                     f"accuracy {accuracy:.2f} (at least {_MIN_ACCURACY:.2f} required; chance {1 / len(_EMOTIONS):.2f})")


@contextlib.contextmanager
def isolated_registry() -> Iterator[Registry]:
    """A registry of the block's own: the installed plugins (loaded first), and whatever the block registers, which
    is gone after it. For tests, notebooks and plugin authors who register plugins they do not want to keep."""
    from fersyn.plugins.registry import current_registry, load_plugins, using_registry

    load_plugins()
    with using_registry(current_registry().copy()) as registry:
        yield registry


def check_plugin(kind: str, name: str, **kwargs: Any) -> None:
    """Run the check of `kind` on the registered plugin `name`."""
    checks: dict[str, Callable[..., None]] = {"identity": check_identity_generator, "expression": check_expression_generator,
                                              "classifier": check_classifier, "judge": check_judge}
    if kind not in checks:
        raise FersynError(f"unknown plugin kind '{kind}'; kinds: {', '.join(checks)}")
    checks[kind](name, **kwargs)


@contextlib.contextmanager
def _instance(kind: str, plugin: str | type[Plugin], options: dict[str, Any]) -> Iterator[Any]:
    """A new instance of `plugin` at the kit's image size. A class not registered itself is registered
    under its class name for the check only (so that its checkpoints carry a name), then removed."""
    from fersyn.plugins.registry import create_plugin, get_plugin, load_plugins, register, unregister

    if isinstance(plugin, str):
        load_plugins()
        cls, temporary = get_plugin(kind, plugin).cls, False
    else:
        cls, temporary = plugin, not vars(plugin).get("name")  # a name inherited from a parent is not its own
        if temporary:
            register(kind, plugin.__name__)(plugin)
    try:
        label = f"{kind} plugin '{cls.name}'"
        for spec in option_specs(cls.Options, label):  # each default must read back from text, as the CLI gives it
            text = "none" if spec.default is None else str(spec.default)
            if getattr(build_options(cls.Options, {spec.name: text}, label), spec.name) != spec.default:
                raise ContractError.broke(cls, f"option {spec.name}'s default {spec.default!r} does not read back from text")
        with precision_scope(policy_for(cls, _policy())):
            yield create_plugin(kind, cls.name, image_size=_IMAGE_SIZE, **options)
    finally:
        if temporary:
            unregister(kind, plugin.__name__)
            del plugin.name


def _policy() -> str:
    """The dtype policy fersyn's default precision means here (opted-in plugins are checked under it)."""
    return resolve_precision(DEFAULT_PRECISION)


def _fresh(plugin: Plugin, options: dict[str, Any]) -> Any:
    """Another new instance of `plugin`'s class, with the same options and image size (while `_instance`
    keeps the class registered)."""
    from fersyn.plugins.registry import create_plugin

    return create_plugin(plugin.kind, plugin.name, image_size=_IMAGE_SIZE, **options)


def _progress(check: str, plugin: Plugin, stage: int, stages: int, what: str) -> None:
    log.info("%s %s: %s (%d/%d)", check, plugin.name, what, stage, stages)


def _toy_faces(identities: int = _IDENTITIES) -> tuple[np.ndarray, np.ndarray]:
    """Every identity showing each of the six emotions once, identity by identity."""
    from fersyn.data.toy import toy_faceset

    faces = toy_faceset(identities=identities, repeats=1, image_size=_IMAGE_SIZE)
    return faces.images, faces.labels


def _check_fit(generator: Generator, fit: Callable[[Any, int], None], steps: int) -> None:
    """Fit `steps` steps, then 2 more; a generator that counts its steps must count exactly those."""
    counts = type(generator).trained_steps is not Generator.trained_steps
    for more, total in ((steps, steps), (2, steps + 2)):
        with plugin_call(generator, "fit()"):
            fit(generator, more)
        _require(not counts or generator.trained_steps == total, generator,
                 f"fit(steps={more}) must train {more} more steps: trained_steps is {generator.trained_steps}, not {total} "
                 "(fersyn resumes a budget from it)")


def _check_outputs(plugin: Any, produce: Callable[[Any, int], np.ndarray], call: str, *, seeds_must_differ: bool = True) -> None:
    """Varied output, determinism under a seed, and save → load → same output, options and size."""
    first = produce(plugin, 1)
    _require(first.std() > 0, plugin, f"{call} must return varied faces, not one constant value")
    _require(np.array_equal(produce(plugin, 1), first), plugin, f"{call} must be deterministic: the same seed gave other faces")
    if seeds_must_differ:
        _require(not np.array_equal(produce(plugin, 2), first), plugin, f"{call} must depend on its seed: seeds 1 and 2 gave the same faces")
    _check_round_trip(plugin, lambda loaded: produce(loaded, 1), first)


def _check_round_trip(plugin: Any, produce: Callable[[Any], np.ndarray], expected: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as folder:
        with plugin_call(plugin, "save()"):
            plugin.save(Path(folder))
        with plugin_call(plugin, "load()"):
            loaded = type(plugin).load(Path(folder))
        _require(dataclasses.asdict(loaded.options) == dataclasses.asdict(plugin.options), plugin,
                 f"load(save()) must keep the options: saved {dataclasses.asdict(plugin.options)}, "
                 f"loaded {dataclasses.asdict(loaded.options)}")
        _require(loaded.image_shape == plugin.image_shape, plugin,
                 f"load(save()) must keep the image shape: saved {plugin.image_shape}, loaded {loaded.image_shape}")
        output = produce(loaded)  # inside the folder's life: a plugin may read its files lazily
    same = np.array_equal(output, expected) if expected.dtype == np.uint8 else np.allclose(output, expected, atol=1e-5)
    _require(same, plugin, "load(save()) must give the same outputs as the saved plugin")


def _refuses(plugin: Plugin, what: str, call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception:  # any clear error will do; returning something is the fault
        return
    raise ContractError.broke(plugin, f"{what} must raise an error, not return")


def _require(condition: bool, plugin: Plugin, rule: str) -> None:
    if not condition:
        raise ContractError.broke(plugin, rule)
