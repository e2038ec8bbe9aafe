"""The contract test kit: every registered plugin passes it; deliberately broken plugins fail it,
each with a message naming the rule."""

import dataclasses

import numpy as np
import pytest

from fersyn.contracts import ContractError, IdentityGenerator, option
from fersyn.registry import list_plugins, load_plugins, unregister
from fersyn.testing import check_identity_generator, check_plugin

load_plugins()


@pytest.mark.slow
@pytest.mark.parametrize("kind, name", [(info.kind, info.name) for info in list_plugins()])
def test_every_registered_plugin_meets_the_contract(kind, name):
    check_plugin(kind, name, steps=3)


@dataclasses.dataclass
class GoodOptions:
    contrast: float = option(1.0, "a stand-in option")


class Good(IdentityGenerator):
    """Random faces drawn from the seed."""

    Options = GoodOptions

    def fit(self, faces, *, steps=None, seed=0):
        self.level = int(faces.mean())

    def sample(self, n, *, seed):
        if n < 0:
            raise ValueError("n must be ≥ 0")
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (n, *self.image_shape)).astype(np.uint8)

    def save_state(self, directory):
        pass

    def load_state(self, directory):
        pass


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


def test_a_good_plugin_passes_and_leaves_the_registry_as_it_was():
    check_identity_generator(Good, contrast=2.0)
    assert "Good" not in [info.name for info in list_plugins("identity")] and Good.name == ""


@pytest.mark.parametrize("broken, rule", [
    (WrongDtype, "sample(6) must return uint8 (6, 40, 40, 1), not float32"),
    (Unseeded, "sample() must be deterministic: the same seed gave other faces"),
    (ForgetsOnSave, "load(save()) must give the same outputs"),
    (Silent, "sample(-1) must raise an error, not return"),
    (Always48, "sample(6) must return uint8 (6, 40, 40, 1), not uint8 (6, 48, 48, 1)"),
    (LosesOptions, "load(save()) must keep the options: saved {'contrast': 2.0}, loaded {'contrast': 1.0}"),
    (MiscountsSteps, "fit(steps=3) must train 3 more steps: trained_steps is 1, not 3"),
])
def test_a_broken_plugin_fails_naming_the_rule(broken, rule):
    with pytest.raises(ContractError) as failure:
        check_identity_generator(broken, contrast=2.0)
    assert str(failure.value).startswith(f"identity plugin '{broken.__name__}' broke the contract: {rule}"), failure.value
    assert broken.__name__ not in [info.name for info in list_plugins("identity")]


BROKEN_PLUGINS = '''
import numpy as np
from fersyn.contracts import Classifier, IdentityGenerator
from fersyn.registry import register_classifier, register_identity

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


def test_generate_and_benchmark_stop_on_a_broken_plugin_naming_it_and_the_rule(tmp_path):
    from helpers import assert_one_line_error, run

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(BROKEN_PLUGINS)
    try:
        assert_one_line_error(
            run("--plugins-dir", plugins, "benchmark", "--classifier", "one-output", "--ratio", "0", "--seeds", "1",
                "--out", tmp_path / "b"),
            "classifier plugin 'one-output' broke the contract: build_model(shape, 6) must return a Keras model "
            "with output (None, 6), not (None, 1)")
        assert not (tmp_path / "b" / "results.csv").exists()
        assert_one_line_error(
            run("--plugins-dir", plugins, "generate", "--identity", "raiser", "--train-steps", "1", "--out", tmp_path / "s.h5"),
            "identity plugin 'raiser' failed in fit(): RuntimeError: boom")
        assert not (tmp_path / "s.h5").exists()
    finally:
        unregister("classifier", "one-output")
        unregister("identity", "raiser")
