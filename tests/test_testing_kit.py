"""The contract test kit: every registered plugin passes it; deliberately broken plugins fail it,
each with a message naming the rule."""

import dataclasses

import numpy as np
import pytest
from helpers import fer_style_csv, require_fer

from fersyn.plugins.contracts import Classifier, ContractError, ExpressionGenerator, IdentityGenerator, option
from fersyn.plugins.registry import list_plugins, load_plugins
from fersyn.testing import check_classifier, check_expression_generator, check_identity_generator, check_plugin

load_plugins()


@pytest.mark.slow
@pytest.mark.parametrize("kind, name", [(info.kind, info.name) for info in list_plugins()])
def test_every_registered_plugin_meets_the_contract(kind, name, tmp_path, monkeypatch):
    options = {} if kind == "judge" else {"steps": 3}  # a judge's fit has no steps
    if name == "fer-mini-xception":
        require_fer()
    if name == "fer2013-cnn":  # trained briefly on a FER2013-style CSV of toy faces, cached in this test's folder
        from fersyn.data.toy import toy_faceset

        monkeypatch.setenv("FERSYN_CACHE", str(tmp_path / "cache"))
        faces = toy_faceset(identities=8, repeats=1, image_size=32)
        options = {"data": str(fer_style_csv(tmp_path / "fer.csv", faces, ["Training"] * len(faces))), "steps": 10}
    if name == "reference":  # a third of its budget (at least 300 steps): the kit checks the contract and that it learns
        from fersyn.judges.builtin import ReferenceJudge

        monkeypatch.setattr(ReferenceJudge, "min_steps", 100)
        monkeypatch.setattr(ReferenceJudge, "epochs", 1)
    check_plugin(kind, name, **options)


@dataclasses.dataclass
class GoodOptions:
    contrast: float = option(1.0, "a stand-in option")


class Good(IdentityGenerator):
    """Random faces drawn from the seed, around the training faces' mean level."""

    Options = GoodOptions

    def fit(self, faces, *, steps=None, seed=0):
        self.level = int(faces.mean())

    def sample(self, n, *, seed):
        if n < 0:
            raise ValueError("n must be ≥ 0")
        rng = np.random.default_rng(seed)
        return ((rng.integers(0, 256, (n, *self.image_shape)) + self.level) % 256).astype(np.uint8)

    def save_state(self, directory):
        (directory / "level.txt").write_text(str(self.level))

    def load_state(self, directory):
        self.level = int((directory / "level.txt").read_text())


class WrongDtype(Good):
    def sample(self, n, *, seed):
        return super().sample(n, seed=seed).astype(np.float32)


class Unseeded(Good):
    def sample(self, n, *, seed):
        return super().sample(n, seed=np.random.randint(1 << 30))


class ForgetsOnSave(Good):
    @classmethod
    def load(cls, directory):
        loaded = super().load(directory)
        loaded.sample = lambda n, *, seed: Good.sample(loaded, n, seed=seed + 1)
        return loaded


class Silent(Good):
    def sample(self, n, *, seed):
        return super().sample(max(n, 0), seed=seed)


class Always48(Good):
    def sample(self, n, *, seed):
        return np.random.default_rng(seed).integers(0, 256, (n, 48, 48, 1)).astype(np.uint8)


class LosesOptions(Good):
    @classmethod
    def load(cls, directory):
        return cls()


class MiscountsSteps(Good):
    @property
    def trained_steps(self):
        return 1


class UnseededFit(Good):
    def fit(self, faces, *, steps=None, seed=0):
        self.level = int(faces.mean()) + np.random.randint(1 << 30)


class IgnoresData(Good):
    """Its fit ignores the faces and the seed: sample draws from the seed alone."""

    def fit(self, faces, *, steps=None, seed=0):
        self.level = 0


def test_a_good_plugin_passes_and_leaves_the_registry_as_it_was():
    check_identity_generator(Good, contrast=2.0)
    assert "Good" not in [info.name for info in list_plugins("identity")] and Good.name == ""


@pytest.mark.parametrize("broken, rule", [
    (WrongDtype, "sample(6) must return uint8 (6, 32, 32, 1), not float32"),
    (Unseeded, "sample() must be deterministic: the same seed gave other faces"),
    (ForgetsOnSave, "load(save()) must give the same outputs"),
    (Silent, "sample(-1) must raise an error, not return"),
    (Always48, "sample(6) must return uint8 (6, 32, 32, 1), not uint8 (6, 48, 48, 1)"),
    (LosesOptions, "load(save()) must keep the options: saved {'contrast': 2.0}, loaded {'contrast': 1.0}"),
    (MiscountsSteps, "fit(steps=3) must train 3 more steps: trained_steps is 1, not 3"),
    (UnseededFit, "fit must be deterministic under its seed: two new instances fitted on the same faces with seed 0 "
                  "sampled other faces"),
])
def test_a_broken_plugin_fails_naming_the_rule(broken, rule):
    with pytest.raises(ContractError) as failure:
        check_identity_generator(broken, contrast=2.0)
    assert str(failure.value).startswith(f"identity plugin '{broken.__name__}' broke the contract: {rule}"), failure.value
    assert broken.__name__ not in [info.name for info in list_plugins("identity")]


def test_an_identity_generator_whose_fit_ignores_the_data_fails_unless_it_says_so(registry_snapshot):
    with pytest.raises(ContractError, match=r"identity plugin 'IgnoresData' broke the contract: fit must depend on "
                                            r"the data: two fits on different faces .* gave the same samples"):
        check_identity_generator(IgnoresData)
    check_identity_generator(IgnoresData, learns=False)  # a pretrained generator: fit loads it, ignoring the faces


class Editor(ExpressionGenerator):
    """Brightens a face by an amount per emotion (a stand-in: cheap, and keeps the identity)."""

    def fit(self, faces, labels, emotions, *, steps=None, seed=0):
        self.emotions = list(emotions)

    def shift(self, emotions):
        if len(emotions) != self.count or not set(emotions) <= set(self.emotions):
            raise ValueError(f"one known emotion per face, not {emotions}")
        return 8 * np.array([self.emotions.index(e) + 1 for e in emotions])[:, None, None, None]

    def apply(self, faces, emotions, *, seed):
        self.count = len(faces)
        return np.clip(faces.astype(int) + self.shift(emotions), 0, 255).astype(np.uint8)

    def save_state(self, directory):
        (directory / "emotions.txt").write_text(",".join(self.emotions))

    def load_state(self, directory):
        self.emotions = (directory / "emotions.txt").read_text().split(",")


class FixedFaces(Editor):
    """Ignores the input face: draws one fixed face per target emotion."""

    def apply(self, faces, emotions, *, seed):
        self.count = len(faces)
        self.shift(emotions)
        return np.stack([np.random.default_rng(self.emotions.index(e)).integers(0, 256, faces.shape[1:], np.uint8)
                         for e in emotions])


class SwapsFaces(Editor):
    """Edits each face's neighbour instead: the output depends on the input, but the identity is lost."""

    def apply(self, faces, emotions, *, seed):
        return super().apply(np.roll(faces, 1, axis=0), emotions, seed=seed)


def test_an_expression_generator_passes_and_one_that_loses_the_face_fails(registry_snapshot):
    check_expression_generator(Editor)
    with pytest.raises(ContractError, match=r"expression plugin 'FixedFaces' broke the contract: the output must "
                                            r"depend on the input face: 16 different faces given 'anger' all came out the same"):
        check_expression_generator(FixedFaces)
    with pytest.raises(ContractError, match=r"expression plugin 'SwapsFaces' broke the contract: apply\(\) must keep "
                                            r"the identity of the face: only 0.00 of the edits"):
        check_expression_generator(SwapsFaces)


class Blind(Classifier):
    """Cannot see the image: its first layer multiplies it by 0."""

    learning_rate = 1e-2

    def build_model(self, input_shape, num_classes):
        import keras

        return keras.Sequential([keras.Input(input_shape), keras.layers.Rescaling(0.0), keras.layers.Flatten(),
                                 keras.layers.Dense(num_classes, activation="softmax")])


def test_a_classifier_that_cannot_see_the_image_fails(registry_snapshot):
    with pytest.raises(ContractError, match=r"classifier plugin 'Blind' broke the contract: brief training must beat "
                                            r"chance: after 512 steps .* was 0.17 \(at least 0.33 required; chance 0.17\)"):
        check_classifier(Blind, steps=2)


BROKEN_PLUGINS = '''
import numpy as np
from fersyn.plugins.contracts import Classifier, IdentityGenerator
from fersyn.plugins.registry import register_classifier, register_identity

@register_classifier("one-output")
class OneOutput(Classifier):
    """Forgets the number of classes."""
    def build_model(self, input_shape, num_classes):
        import keras
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(1)])

@register_identity("raiser")
class Raiser(IdentityGenerator):
    """Fails to train."""
    def fit(self, faces, *, steps=None, seed=0):
        raise RuntimeError("boom")
    def sample(self, n, *, seed):
        return np.zeros((n, *self.image_shape), np.uint8)
    def save_state(self, directory):
        pass
    def load_state(self, directory):
        pass
'''


@pytest.mark.each_precision_path
def test_generate_and_benchmark_stop_on_a_broken_plugin_naming_it_and_the_rule(tmp_path, registry_snapshot):
    from helpers import assert_one_line_error, run

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(BROKEN_PLUGINS)
    assert_one_line_error(
        run("--plugins-dir", plugins, "benchmark", "--classifier", "one-output", "--ratio", "0", "--seeds", "1",
            "--out", tmp_path / "b"),
        "classifier plugin 'one-output' broke the contract: build_model(shape, 6) must return a Keras model "
        "with output (None, 6), not (None, 1)")
    assert not (tmp_path / "b" / "results.csv").exists()
    assert_one_line_error(
        run("-q", "--plugins-dir", plugins, "generate", "--identity", "raiser", "--train-steps", "1", "--out", tmp_path / "s.h5"),
        "identity plugin 'raiser' failed in fit() (smoke check: 1 step on a few faces): RuntimeError: boom")
    assert not (tmp_path / "s.h5").exists()
