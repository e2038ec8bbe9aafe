"""Mixed precision: which policy `mixed` means here, and the built-in plugins trained under it."""

import dataclasses
import json
import logging

import numpy as np
import pytest

from fersyn.data import load_dataset
from fersyn.errors import FersynError
from fersyn.generation.fitting import _check_trained_on
from fersyn.plugins.contracts import ContractError, checked_model
from fersyn.plugins.registry import create_plugin, get_plugin, load_plugins
from fersyn.runtime import precision
from fersyn.runtime.precision import policy_for, precision_scope, resolve_precision


@pytest.fixture
def cpu_only(monkeypatch):
    """`mixed_policy` as on a CPU machine whose flags the test sets."""
    import tensorflow as tf

    monkeypatch.delenv(precision.ASSUME_NO_BF16, raising=False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    precision._native_mixed_policy.cache_clear()
    yield lambda flags: monkeypatch.setattr(precision, "_cpu_flags", lambda: set(flags))
    precision._native_mixed_policy.cache_clear()


def test_mixed_means_bfloat16_on_a_cpu_that_has_it_and_float32_elsewhere(cpu_only, monkeypatch, caplog):
    cpu_only({"avx512f", "avx512_bf16"})
    assert resolve_precision("mixed") == "mixed_bfloat16"
    assert precision.fallback_note("mixed", "mixed_bfloat16") is None
    monkeypatch.setenv(precision.ASSUME_NO_BF16, "1")  # the path of a CPU without it, forced
    assert resolve_precision("mixed") == "float32"
    monkeypatch.delenv(precision.ASSUME_NO_BF16)
    precision._native_mixed_policy.cache_clear()
    cpu_only({"avx512f", "avx2"})
    with caplog.at_level(logging.DEBUG, logger="fersyn"):
        assert resolve_precision("mixed") == "float32"
    assert caplog.text == ""  # nothing on stderr, where a refusal must stay one line: the note goes in the record
    assert "ran in float32" in precision.fallback_note("mixed", "float32")
    assert resolve_precision("float32") == "float32" and precision.fallback_note("float32", "float32") is None
    with pytest.raises(FersynError, match="`precision` half: unknown"):
        resolve_precision("half")


def test_the_scope_sets_the_policy_and_restores_it():
    import keras

    before = keras.config.dtype_policy().name
    with precision_scope("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before


@pytest.mark.parametrize("name", ["small-cnn", "paper-cnn"])
def test_built_in_classifiers_compute_in_bfloat16_and_output_float32(name, plugins):
    with precision_scope("mixed_bfloat16"):
        model = checked_model(create_plugin("classifier", name), 6)
    conv = next(layer for layer in model.layers if type(layer).__name__ == "Conv2D")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"  # variables stay float32
    assert model.layers[-1].compute_dtype == "float32"


def test_only_plugins_that_opt_in_are_built_under_a_mixed_policy(plugins):
    from keras import Sequential, layers

    paper_cnn = get_plugin("classifier", "paper-cnn").cls
    assert policy_for(paper_cnn, "mixed_bfloat16") == "mixed_bfloat16"

    class Plain(paper_cnn):  # a plugin written without mixed precision in mind: float32, and it works
        mixed_precision = False

        def build_model(self, shape, n):
            return Sequential([layers.Input(shape), layers.Flatten(), layers.Dense(n, activation="softmax")])

    assert policy_for(Plain, "mixed_bfloat16") == "float32"

    class Careless(Plain):  # says it is mixed-safe, but its softmax computes in bfloat16
        mixed_precision = True

    with precision_scope(policy_for(Careless, "mixed_bfloat16")), pytest.raises(ContractError, match='dtype="float32"'):
        checked_model(Careless(), 6)


@pytest.fixture(scope="module")
def toy():
    load_plugins()
    return load_dataset("toy", image_size=32)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_dcgan_trains_under_a_mixed_policy_and_saves_it(policy, toy, tmp_path):
    with precision_scope(policy):
        generator = create_plugin("identity", "dcgan", image_size=32, batch_size=8, width=8)
        generator.fit(toy.images[:64], steps=3, seed=0)
    gan = generator.gan
    assert gan.generator.layers[1].compute_dtype == policy.removeprefix("mixed_")
    assert all(variable.dtype == "float32" for variable in gan.trainable_variables)
    # float16 needs loss scaling, which the GAN adds itself; bfloat16 has float32's range and needs none.
    scaled = type(gan.g_optimizer).__name__ == "LossScaleOptimizer"
    assert scaled == (policy == "mixed_float16") and generator.trained_steps == 3
    losses = [float(tracker.result()) for tracker in gan.metrics]
    assert np.all(np.isfinite(losses))
    faces = generator.sample(4, seed=1)
    assert faces.dtype == np.uint8 and faces.shape == (4, 32, 32, 1) and faces.std() > 0
    generator.save(tmp_path)
    loaded = get_plugin("identity", "dcgan").cls.load(tmp_path)  # outside the scope: the policy comes with it
    assert loaded.gan.generator.layers[1].compute_dtype == policy.removeprefix("mixed_")
    assert np.array_equal(loaded.sample(4, seed=1), faces)


def test_stargan_trains_under_mixed_bfloat16_on_float32_variables(toy):
    """A few steps only: on a CPU without native bfloat16 this arithmetic is emulated, many times slower
    (its learning is tested under the machine's own precision, tests/test_generators.py)."""
    with precision_scope("mixed_bfloat16"):
        generator = create_plugin("expression", "stargan", batch_size=4, image_size=32, n_critic=1)
        generator.fit(toy.images[:32], toy.labels[:32], toy.emotions, steps=2, seed=0)
    gan = generator.gan
    assert gan.discriminator.layers[1].compute_dtype == "bfloat16"
    assert all(variable.dtype == "float32" for variable in gan.trainable_variables)
    assert np.all(np.isfinite([float(tracker.result()) for tracker in gan.metrics]))  # the gradient penalty included
    edits = generator.apply(toy.images[:3], ["fear"] * 3, seed=0)
    assert edits.dtype == np.uint8 and edits.shape == (3, 32, 32, 1)


def test_a_checkpoint_fitted_under_another_precision_is_refused(tmp_path):
    trained_on = {"data": "d", "train": "t", "emotions": ["anger"], "image_size": 48}
    (tmp_path / "fersyn-trained-on.json").write_text(json.dumps(trained_on))  # before precisions: float32
    _check_trained_on(tmp_path, {**trained_on, "precision": "float32"})
    with pytest.raises(FersynError, match="fitted under the float32 dtype policy, not mixed_bfloat16; pass the `precision`"):
        _check_trained_on(tmp_path, {**trained_on, "precision": "mixed_bfloat16"})


def test_an_unknown_precision_is_refused_before_any_work():
    from fersyn.sweep.spec import Sweep

    with pytest.raises(FersynError, match="`precision` double: unknown"):
        dataclasses.replace(Sweep(), precision="double")
