"""The contract test kit: one call per plugin kind that trains a plugin briefly on `toy` faces and
checks the rules of fersyn/contracts.py. fersyn runs it on its own built-ins; plugin authors run it
in their tests:

    from fersyn.testing import check_identity_generator
    def test_my_gan():
        check_identity_generator(MyGAN)          # or a registered name: "my-gan"

A broken rule raises ContractError, whose message names the plugin and the rule. Checked: options
(declared with types and defaults, readable from text); output shape at the requested image size
(40×40 here, not the default 48, so that a plugin must honour `image_size`) and dtype uint8; varied
output; determinism under a seed (same seed, same output; for identities, another seed, other faces);
emotions honoured (expression: each target changes the faces, an unknown one is refused; classifier:
one probability per emotion, summing to 1); steps counted (a generator that reports `trained_steps`
must add exactly the steps it was asked to train); save → load → same output, options and image
size; and an error, not a silent result, on bad arguments.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from fersyn.contracts import (Classifier, ContractError, ExpressionGenerator, Generator, IdentityGenerator, Plugin,
                              check_faces, checked_model, plugin_call)
from fersyn.errors import FersynError
from fersyn.options import build_options, option_specs

_IMAGE_SIZE = 40
_EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")


def check_identity_generator(plugin: str | type[IdentityGenerator], *, steps: int = 3, **options: Any) -> None:
    """Train `plugin` (a class or a registered name) for `steps` steps on toy faces and check the contract."""
    with _instance("identity", plugin, options) as generator:
        faces, _ = _toy_faces()
        _check_fit(generator, lambda g, n: g.fit(faces, steps=n, seed=0), steps)

        def sample(g: IdentityGenerator, seed: int) -> np.ndarray:
            with plugin_call(g, "sample()"):
                return check_faces(g.sample(6, seed=seed), (6, *generator.image_shape), g, "sample(6)")

        _check_outputs(generator, sample, "sample()")
        _refuses(generator, "sample(-1)", lambda: generator.sample(-1, seed=0))


def check_expression_generator(plugin: str | type[ExpressionGenerator], *, steps: int = 3, **options: Any) -> None:
    """Train `plugin` for `steps` steps on toy faces and check the contract (see the module doc)."""
    with _instance("expression", plugin, options) as generator:
        faces, labels = _toy_faces()
        _check_fit(generator, lambda g, n: g.fit(faces, labels, _EMOTIONS, steps=n, seed=0), steps)
        sources = faces[: len(_EMOTIONS)]

        def apply(g: ExpressionGenerator, seed: int, targets: tuple[str, ...] = _EMOTIONS) -> np.ndarray:
            with plugin_call(g, "apply()"):
                return check_faces(g.apply(sources, list(targets), seed=seed), sources.shape, g, "apply(faces, emotions)")

        _check_outputs(generator, apply, "apply()", seeds_must_differ=False)
        happy, sad = apply(generator, 1, ("happiness",) * len(sources)), apply(generator, 1, ("sadness",) * len(sources))
        _require(not np.array_equal(happy, sad), generator, "the target emotion must change the output "
                 "(apply(faces, ['happiness', …]) and apply(faces, ['sadness', …]) gave the same faces)")
        _refuses(generator, "apply() with an emotion it was not fitted on",
                 lambda: generator.apply(sources[:1], ["contempt"], seed=0))
        _refuses(generator, "apply() with fewer emotions than faces", lambda: generator.apply(sources, ["anger"], seed=0))


def check_classifier(plugin: str | type[Classifier], *, steps: int = 4, **options: Any) -> None:
    """Build `plugin`, train it `steps` steps with fersyn's protocol on toy faces, check the contract."""
    from fersyn.classifiers.training import Budget, train_classifier
    from fersyn.mix import TrainingStream

    with _instance("classifier", plugin, options) as classifier:
        faces, labels = _toy_faces()
        checked_model(classifier, len(_EMOTIONS))

        def trained(c: Classifier, seed: int) -> np.ndarray:
            stream = TrainingStream(faces, labels, c.batch_size, seed=seed)
            budget = Budget("steps", steps=steps, eval_every=steps)
            with plugin_call(c, "training"):
                train_classifier(c, stream, faces[:12], labels[:12], len(_EMOTIONS), budget=budget, seed=seed)
            return predict(c)

        def predict(c: Classifier) -> np.ndarray:
            with plugin_call(c, "predict_proba()"):
                return np.asarray(c.predict_proba(faces[:12]))

        first = trained(classifier, 0)
        _require(first.shape == (12, len(_EMOTIONS)), classifier,
                 f"predict_proba(12 faces) must return 12×{len(_EMOTIONS)} probabilities, not {first.shape}")
        _require(np.all((first >= 0) & (first <= 1)) and np.allclose(first.sum(1), 1, atol=1e-3), classifier,
                 "predict_proba() must return probabilities: each in [0, 1], each row summing to 1")
        with _instance("classifier", plugin, options) as again:
            _require(np.allclose(trained(again, 0), first, atol=1e-4), classifier,
                     "training under the same seed must give the same model (predictions differed)")
        _check_round_trip(classifier, predict, first)


def check_plugin(kind: str, name: str, **kwargs: Any) -> None:
    """Run the check of `kind` on the registered plugin `name`."""
    checks: dict[str, Callable[..., None]] = {"identity": check_identity_generator,
                                              "expression": check_expression_generator, "classifier": check_classifier}
    if kind not in checks:
        raise FersynError(f"unknown plugin kind '{kind}'; kinds: {', '.join(checks)}")
    checks[kind](name, **kwargs)


@contextlib.contextmanager
def _instance(kind: str, plugin: str | type[Plugin], options: dict[str, Any]) -> Iterator[Any]:
    """A new instance of `plugin` at the kit's image size. A class not registered itself is registered
    under its class name for the check only (so that its checkpoints carry a name), then removed."""
    from fersyn.registry import create_plugin, get_plugin, load_plugins, register, unregister

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
        yield create_plugin(kind, cls.name, image_size=_IMAGE_SIZE, **options)
    finally:
        if temporary:
            unregister(kind, plugin.__name__)
            del plugin.name


def _toy_faces() -> tuple[np.ndarray, np.ndarray]:
    from fersyn.data.toy import toy_faceset

    faces = toy_faceset(identities=16, repeats=1, image_size=_IMAGE_SIZE)
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
