"""The contract test kit: one call per plugin kind that trains a plugin briefly on `toy` faces and
checks every rule of fersyn/contracts.py. fersyn runs it on its own built-ins; plugin authors run it
in their tests:

    from fersyn.testing import check_identity_generator
    def test_my_gan():
        check_identity_generator(MyGAN)          # or a registered name: "my-gan"

A broken rule raises ContractError, whose message names the plugin and the rule. Checked: output
shape and dtype (uint8), varied output, determinism under a seed (same seed, same output; another
seed, another output), emotions honoured (expression: each target changes the faces, an unknown one
is refused; classifier: one probability per emotion, summing to 1), save → load → same output and
same options, and an error (not a silent result) on bad arguments.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fersyn.contracts import (Classifier, ContractError, ExpressionGenerator, IdentityGenerator, Plugin, check_faces,
                              checked_model, plugin_call)

_IMAGE_SIZE = 48
_EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")


def check_identity_generator(plugin: str | type[IdentityGenerator], *, steps: int = 3, **options: Any) -> None:
    """Train `plugin` (a class or a registered name) for `steps` steps on toy faces and check the contract."""
    generator = _instance("identity", plugin, options)
    faces, _ = _toy_faces()
    with plugin_call(generator, "fit()"):
        generator.fit(faces, steps=steps, seed=0)

    def sample(g: IdentityGenerator, seed: int) -> np.ndarray:
        with plugin_call(g, "sample()"):
            return check_faces(g.sample(6, seed=seed), (6, *generator.image_shape), g, "sample(6)")

    _check_outputs(generator, sample, "sample()")
    _refuses(generator, "sample(-1)", lambda: generator.sample(-1, seed=0))


def check_expression_generator(plugin: str | type[ExpressionGenerator], *, steps: int = 3, **options: Any) -> None:
    """Train `plugin` for `steps` steps on toy faces and check the contract (see the module doc)."""
    generator = _instance("expression", plugin, options)
    faces, labels = _toy_faces()
    with plugin_call(generator, "fit()"):
        generator.fit(faces, labels, _EMOTIONS, steps=steps, seed=0)
    sources = faces[: len(_EMOTIONS)]

    def apply(g: ExpressionGenerator, seed: int, targets: tuple[str, ...] = _EMOTIONS) -> np.ndarray:
        with plugin_call(g, "apply()"):
            return check_faces(g.apply(sources, list(targets), seed=seed), sources.shape, g, "apply(faces, emotions)")

    _check_outputs(generator, apply, "apply()", seeds_must_differ=False)
    happy, sad = apply(generator, 1, ("happiness",) * len(sources)), apply(generator, 1, ("sadness",) * len(sources))
    _require(not np.array_equal(happy, sad), generator, "the target emotion must change the output "
             "(apply(faces, ['happiness', …]) and apply(faces, ['sadness', …]) gave the same faces)")
    _refuses(generator, "apply() with an emotion it was not fitted on", lambda: generator.apply(sources[:1], ["contempt"], seed=0))
    _refuses(generator, "apply() with fewer emotions than faces", lambda: generator.apply(sources, ["anger"], seed=0))


def check_classifier(plugin: str | type[Classifier], *, steps: int = 4, **options: Any) -> None:
    """Build `plugin`, train it `steps` steps with fersyn's protocol on toy faces, check the contract."""
    from fersyn.classifiers.training import Budget, train_classifier
    from fersyn.mix import TrainingStream

    classifier = _instance("classifier", plugin, options)
    faces, labels = _toy_faces()
    checked_model(classifier, len(_EMOTIONS))
    _refuses(classifier, "predict_proba() before training", lambda: classifier.predict_proba(faces[:2]))

    def trained(c: Classifier, seed: int) -> np.ndarray:
        stream = TrainingStream(faces, labels, c.batch_size, seed=seed)
        with plugin_call(c, "training"):
            train_classifier(c, stream, faces[:12], labels[:12], len(_EMOTIONS), budget=Budget("steps", steps=steps, eval_every=steps), seed=seed)
        return predict(c)

    def predict(c: Classifier) -> np.ndarray:
        with plugin_call(c, "predict_proba()"):
            return np.asarray(c.predict_proba(faces[:12]))

    first = trained(classifier, 0)
    _require(first.shape == (12, len(_EMOTIONS)) and np.all((first >= 0) & (first <= 1))
             and np.allclose(first.sum(1), 1, atol=1e-3), classifier,
             f"predict_proba(12 faces) must return 12×{len(_EMOTIONS)} probabilities summing to 1, not {first.shape}")
    again = _instance("classifier", plugin, options)
    _require(np.allclose(trained(again, 0), first, atol=1e-4), classifier,
             "training under the same seed must give the same model (predictions differed)")
    _require_round_trip(classifier, predict, first)


def check_plugin(kind: str, name: str, **kwargs: Any) -> None:
    """Run the check of `kind` on the registered plugin `name`."""
    checks: dict[str, Callable[..., None]] = {"identity": check_identity_generator,
                                              "expression": check_expression_generator, "classifier": check_classifier}
    checks[kind](name, **kwargs)


def _instance(kind: str, plugin: str | type[Plugin], options: dict[str, Any]) -> Any:
    from fersyn.registry import create_plugin, load_plugins, register

    if isinstance(plugin, str):
        load_plugins()
        return create_plugin(kind, plugin, image_size=_IMAGE_SIZE, **options)
    if not plugin.name:  # an unregistered class: give it its class name for the messages
        register(kind, plugin.__name__)(plugin)
    return create_plugin(kind, plugin.name, image_size=_IMAGE_SIZE, **options)


def _toy_faces() -> tuple[np.ndarray, np.ndarray]:
    from fersyn.data.toy import toy_faceset

    faces = toy_faceset(identities=16, repeats=1, image_size=_IMAGE_SIZE)
    return faces.images, faces.labels


def _check_outputs(plugin: Any, produce: Callable[[Any, int], np.ndarray], call: str, *, seeds_must_differ: bool = True) -> None:
    """Varied output, determinism under a seed, and save → load → same output and options."""
    first = produce(plugin, 1)
    _require(first.std() > 0, plugin, f"{call} must return varied faces, not one constant value")
    _require(np.array_equal(produce(plugin, 1), first), plugin, f"{call} must be deterministic: the same seed gave other faces")
    if seeds_must_differ:
        _require(not np.array_equal(produce(plugin, 2), first), plugin, f"{call} must depend on its seed: seeds 1 and 2 gave the same faces")
    _require_round_trip(plugin, lambda loaded: produce(loaded, 1), first)


def _require_round_trip(plugin: Any, produce: Callable[[Any], np.ndarray], expected: np.ndarray) -> None:
    with tempfile.TemporaryDirectory() as folder:
        with plugin_call(plugin, "save()"):
            plugin.save(Path(folder))
        with plugin_call(plugin, "load()"):
            loaded = type(plugin).load(Path(folder))
    _require(dataclasses.asdict(loaded.options) == dataclasses.asdict(plugin.options), plugin,
             f"load(save()) must keep the options: saved {dataclasses.asdict(plugin.options)}, loaded {dataclasses.asdict(loaded.options)}")
    same = np.allclose(produce(loaded), expected, atol=1e-5) if expected.dtype != np.uint8 else np.array_equal(produce(loaded), expected)
    _require(same, plugin, "load(save()) must give the same outputs as the saved plugin")


def _refuses(plugin: Plugin, what: str, call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception:  # any clear error will do; returning something is the fault
        return
    raise ContractError(f"{plugin.kind} plugin '{plugin.name}' broke the contract: {what} must raise an error, not return")


def _require(condition: bool, plugin: Plugin, rule: str) -> None:
    if not condition:
        raise ContractError(f"{plugin.kind} plugin '{plugin.name}' broke the contract: {rule}")
