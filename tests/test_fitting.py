"""Fitting a generator (fersyn.generation.fitting): a smoke check before the long fit, outputs checked right after
it with the fit kept when they break the contract, and apply-time options that reuse a fit."""

import dataclasses

import numpy as np
import pytest
from helpers import assert_one_line_error, run

from fersyn.data import load_dataset, split_dataset
from fersyn.errors import FersynError
from fersyn.generation.fitting import GeneratorFit, fitted_generator
from fersyn.plugins.contracts import ContractError, ExpressionGenerator, checked_edits, option
from fersyn.plugins.registry import create_plugin, register_expression


@dataclasses.dataclass
class ShiftOptions:
    steps: int = option(50, "training steps")
    spacing: float = option(10.0, "offset between successive emotions")
    strength: float = option(1.0, "how far apply() moves a face", apply_time=True)


class Shift(ExpressionGenerator):
    """Adds a per-emotion offset; counts its steps, and records every fit call (for the tests)."""

    Options = ShiftOptions
    calls: list = []
    breaks_after = None  # trained steps after which apply() returns float64 (a contract break)

    def __init__(self, options=None, *, image_size=48, channels=1):
        super().__init__(options, image_size=image_size, channels=channels)
        self.steps_done, self.offsets = 0, None

    @property
    def trained_steps(self):
        return self.steps_done

    def fit(self, faces, labels, emotions, *, steps=None, seed=0):
        type(self).calls.append(steps)
        self.emotions = list(emotions)
        self.offsets = {e: self.options.spacing * i for i, e in enumerate(emotions)}
        self.steps_done += steps

    def apply(self, faces, emotions, *, seed):
        shifted = np.stack([face + self.options.strength * self.offsets[e] for face, e in zip(faces, emotions)])
        broken = self.breaks_after is not None and self.steps_done > self.breaks_after
        return shifted if broken else np.clip(shifted, 0, 255).astype(np.uint8)

    def save_state(self, directory):
        np.savez(directory / "shift.npz", steps=self.steps_done, emotions=self.emotions)

    def load_state(self, directory):
        with np.load(directory / "shift.npz") as stored:
            self.steps_done, self.emotions = int(stored["steps"]), list(stored["emotions"])
        self.offsets = {e: self.options.spacing * i for i, e in enumerate(self.emotions)}


@pytest.fixture
def shift(registry_snapshot):
    register_expression("shift-test")(Shift)
    Shift.calls, Shift.breaks_after = [], None
    yield Shift
    Shift.breaks_after = None


@pytest.fixture(scope="module")
def train():
    faces = load_dataset("toy")
    return faces.subset(split_dataset(faces, seed=0).train)


def job(train, **options):
    return GeneratorFit(lambda: create_plugin("expression", "shift-test", **options),
                        lambda g, steps, part: g.fit(part.images, part.labels, part.emotions, steps=steps),
                        lambda g: checked_edits(g, train.images[:6], train.emotions, 0))


def fit(train, tmp_path, checkpoints=None, **options):
    return fitted_generator(job(train, **options), train, train_steps=1200, checkpoints=checkpoints,
                            rescue=tmp_path / "rescued", trained_on={"data": "toy"}, seed=0)


def test_a_smoke_check_of_one_step_comes_before_the_fit_in_pieces(shift, train, tmp_path):
    generator = fit(train, tmp_path)
    assert shift.calls == [1, 499, 500, 200] and generator.trained_steps == 1200  # checkpoints at 500, 1000, 1200


def test_a_contract_break_is_caught_by_the_smoke_check_before_the_long_fit(shift, train, tmp_path):
    shift.breaks_after = 0
    with pytest.raises(ContractError, match=r"apply\(faces, emotions\) must return uint8"):
        fit(train, tmp_path)
    assert shift.calls == [1]  # the long fit never started


def test_outputs_are_checked_right_after_the_fit_which_is_kept_for_a_rerun(shift, train, tmp_path):
    shift.breaks_after = 1  # passes the smoke check, breaks once fitted
    with pytest.raises(ContractError, match=r"must return uint8 .*the fit is kept in .*rescued.* pass `checkpoints`"):
        fit(train, tmp_path)
    assert (tmp_path / "rescued" / "expression-shift-test").is_dir()
    shift.breaks_after, shift.calls = None, []  # the plugin fixed
    generator = fit(train, tmp_path, checkpoints=tmp_path / "rescued")
    assert shift.calls == [] and generator.trained_steps == 1200  # loaded, not fitted again


def test_an_apply_time_option_reuses_the_checkpoint_with_the_new_value(shift, train, tmp_path):
    fit(train, tmp_path, checkpoints=tmp_path / "ckpt", strength=1.0)
    shift.calls = []
    reused = fit(train, tmp_path, checkpoints=tmp_path / "ckpt", strength=0.5)
    assert shift.calls == [] and reused.options.strength == 0.5
    with pytest.raises(FersynError, match=r"trained with other options \(spacing 10.0 there, 5.0 asked\)"):
        fit(train, tmp_path, checkpoints=tmp_path / "ckpt", spacing=5.0)


def test_generate_stops_on_the_smoke_check_in_one_line(shift, tmp_path, monkeypatch):
    shift.breaks_after = 0
    result = run("-q", "generate", "--data", "toy", "--identity", "real", "--expression", "shift-test", "--count", 12,
                 "--train-steps", 5000, "--out", tmp_path / "set.h5")
    assert_one_line_error(result, "expression plugin 'shift-test' broke the contract: apply(faces, emotions) must "
                                  "return uint8")
    assert shift.calls == [1] and not (tmp_path / "set.h5").exists()


def test_a_checkpoint_of_other_code_is_used_with_a_warning_and_its_own_code_recorded(shift, train, tmp_path, caplog):
    fit(train, tmp_path, checkpoints=tmp_path / "ckpt")
    manifest = tmp_path / "ckpt" / "expression-shift-test" / "fersyn-plugin.json"
    manifest.write_text(manifest.read_text().replace(Shift().fit_code_version, "older-code"))
    shift.calls = []
    with caplog.at_level("WARNING", logger="fersyn"):
        loaded = fit(train, tmp_path, checkpoints=tmp_path / "ckpt")
    assert shift.calls == [] and loaded.fit_code_version == "older-code"
    assert "fitted by other code of the plugin (older-code, now" in caplog.text and "delete that folder" in caplog.text
