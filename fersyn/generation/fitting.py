"""Fitting a generator plugin, as `generate` does: a smoke check first, so that a contract break
costs one step, not a whole fit (a plugin that counts its steps is fitted its first step, then
used once; any other, a fresh instance is fitted 1 step on a few faces, then used once); then the
fit, resumed from a checkpoint when there is one, in pieces with a checkpoint after each; then
its outputs checked right away, before anything else is trained. A fit whose outputs break the
contract is saved first (its checkpoint, or a rescue folder), so fixing the plugin does not cost the fit."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from fersyn.data.faceset import FaceSet
from fersyn.errors import FersynError
from fersyn.plugins.contracts import ContractError, Generator, code_version, plugin_call
from fersyn.plugins.options import fit_options, option_specs
from fersyn.runtime.distribute import is_chief
from fersyn.runtime.training_log import TrainingLog

log = logging.getLogger("fersyn")

CHECKPOINT_EVERY = 500  # steps between checkpoints while fitting
SMOKE_FACES = 64  # faces the smoke check fits on, at most (as many of each emotion)
TRAINED_ON = "fersyn-trained-on.json"  # beside a checkpoint: the data and split it was fitted on


@dataclass
class GeneratorFit:
    """One generator to fit: how to make a new instance, fit it on faces, and use it once (checked)."""

    make: Callable[[], Generator]
    fit: Callable[[Generator, "int | None", FaceSet], None]
    use: Callable[[Generator], np.ndarray]


def fitted_generator(job: GeneratorFit, train: FaceSet, *, train_steps: int | None, checkpoints: Path | None,
                     rescue: Path, trained_on: dict[str, Any], seed: int,
                     training_log: TrainingLog = TrainingLog(),
                     start_from: tuple[Path, dict[str, Any]] | None = None) -> Generator:
    """`job`'s generator fitted on `train` to `train_steps` steps (default: its own `steps` option),
    loaded from and saved to `checkpoints/<kind>-<name>` when given (see the module doc). `rescue` is
    the checkpoints folder that keeps the fit when no `checkpoints` was given and its outputs break the
    contract. The fit writes into `training_log` (not the smoke check's). `start_from` (a checkpoint
    folder and what it was trained on, e.g. a pretraining): without a checkpoint of its own, the fit
    starts from that one, to `train_steps` steps in all (those it had count)."""
    generator = job.make()
    target_steps = train_steps if train_steps is not None else getattr(generator.options, "steps", None)
    directory = checkpoints / f"{generator.kind}-{generator.name}" if checkpoints else None
    loaded = directory is not None and directory.exists()
    if loaded:
        generator = _loaded(directory, trained_on, generator)
    elif start_from is not None:
        generator = _loaded(*start_from, generator)
    generator.training_log = training_log
    # A plugin that counts its steps is fitted in pieces, resumably; one that does not, in one call.
    resumable = target_steps is not None and type(generator).trained_steps is not Generator.trained_steps
    if resumable and generator.trained_steps < target_steps:
        saving = f", saving a checkpoint every {CHECKPOINT_EVERY} steps in {directory}" if directory else ""
        log.info("%s %s: training to %d steps%s", generator.kind, generator.name, target_steps, saving)
        if generator.trained_steps == 0:  # the smoke check: its first step, then one call, before the long fit
            _fit_piece(job, generator, 1, train, "fit() (its first step)")
        job.use(generator)
        while generator.trained_steps < target_steps:
            before = generator.trained_steps  # pieces end at multiples of CHECKPOINT_EVERY, resumed or not
            _fit_piece(job, generator, min(target_steps - before, CHECKPOINT_EVERY - before % CHECKPOINT_EVERY), train)
            _save_checkpoint(generator, directory, trained_on)
    elif not resumable and not loaded:
        _smoke_check(job, train, seed)
        with plugin_call(generator, "fit()"):
            job.fit(generator, target_steps, train)
        _save_checkpoint(generator, directory, trained_on)
    try:
        job.use(generator)
    except ContractError as error:
        if directory is not None:
            raise
        kept = rescue / f"{generator.kind}-{generator.name}"
        _save_checkpoint(generator, kept, trained_on)
        raise ContractError(f"{error} (the fit is kept in {kept}: fix the plugin, then pass `checkpoints` {rescue} "
                            "to use it without fitting again)") from None
    return generator


def _fit_piece(job: GeneratorFit, generator: Generator, steps: int, train: FaceSet, call: str = "fit()") -> None:
    before = generator.trained_steps
    with plugin_call(generator, call):
        job.fit(generator, steps, train)
    if generator.trained_steps <= before:
        raise ContractError.broke(generator, "fit() did not advance trained_steps")


def _smoke_check(job: GeneratorFit, train: FaceSet, seed: int) -> None:
    """For a generator fitted in one call: a fresh instance fitted 1 step on a few faces, then used once."""
    # A few faces of every emotion the training faces have: an honest generator may refuse to apply an
    # emotion it saw no face of, and a rare one (FER2013's disgust) would often be missed by a random draw.
    rng, per_emotion = np.random.default_rng(seed), max(1, SMOKE_FACES // len(train.emotions))
    few = train.subset(np.sort(np.concatenate([rng.permutation(np.flatnonzero(train.labels == label))[:per_emotion]
                                               for label in range(len(train.emotions))])))
    probe = job.make()
    log.info("%s %s: smoke check (1 step on %d faces, then one call)", probe.kind, probe.name, len(few))
    with plugin_call(probe, "fit() (smoke check: 1 step on a few faces)"):
        job.fit(probe, 1, few)
    job.use(probe)


def _loaded(directory: Path, trained_on: dict[str, Any], requested: Generator) -> Generator:
    """The generator checkpointed in `directory`, with the requested apply-time options; refused when
    fitted on other data or with other fit options."""
    _check_trained_on(directory, trained_on)
    with plugin_call(requested, "load()"):
        loaded = type(requested).load(directory)
    _check_same_options(directory, requested, loaded)
    apply_time = {spec.name for spec in option_specs(type(requested.options)) if spec.apply_time}
    loaded.options = dataclasses.replace(loaded.options, **{k: getattr(requested.options, k) for k in apply_time})
    current = code_version(type(requested))
    if loaded.fit_code_version != current:
        log.warning("%s %s: %s was fitted by other code of the plugin (%s, now %s); using it as it is (delete that "
                    "folder to fit it again with this code)", requested.kind, requested.name, directory,
                    loaded.fit_code_version, current)
    counted = f" ({loaded.trained_steps} steps trained)" if type(loaded).trained_steps is not Generator.trained_steps else ""
    log.info("%s %s: loaded from %s%s", loaded.kind, loaded.name, directory, counted)
    return loaded


def _check_trained_on(directory: Path, trained_on: dict[str, Any]) -> None:
    """Refuse a checkpoint fitted on other data, another split, other emotions or another image size
    (it may have seen faces that are test faces now), or under another precision."""
    record = directory / TRAINED_ON
    saved = {"precision": "float32", **(json.loads(record.read_text()) if record.is_file() else {})}  # older: float32
    differences = [key for key, value in trained_on.items() if saved.get(key) != value]
    if differences == ["precision"]:
        raise FersynError(f"{directory} holds a generator fitted under the {saved['precision']} dtype policy, not "
                          f"{trained_on['precision']}; pass the `precision` it was fitted with, or another `checkpoints` folder")
    if differences:
        detail = (f"{saved.get('image_size')}×{saved.get('image_size')} images, not "
                  f"{trained_on['image_size']}×{trained_on['image_size']}") if "image_size" in differences else ", ".join(differences)
        raise FersynError(
            f"{directory} holds a generator fitted on different data ({detail}); use another `checkpoints` folder"
        )


def _check_same_options(directory: Path, requested: Generator, loaded: Generator) -> None:
    """Refuse a checkpoint fitted with other options than those asked for; the step budget may differ (a
    larger one resumes training), and so may apply-time options."""
    wanted, saved = fit_options(requested.options), fit_options(loaded.options)
    different = [f"{key} {saved.get(key)!r} there, {value!r} asked" for key, value in wanted.items()
                 if key != "steps" and saved.get(key) != value]
    if different:
        raise FersynError(f"{directory} holds an {requested.kind} generator trained with other options "
                          f"({'; '.join(different)}); use another `checkpoints` folder")


def _save_checkpoint(generator: Generator, directory: Path | None, trained_on: dict[str, Any]) -> None:
    """Save into a fresh folder, then swap it in: a crash never leaves a half-written checkpoint."""
    if directory is None or not is_chief():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    fresh = directory.with_name(directory.name + ".saving")
    old = directory.with_name(directory.name + ".old")
    for leftover in (fresh, old):
        shutil.rmtree(leftover, ignore_errors=True)
    fresh.mkdir()
    with plugin_call(generator, "save()"):
        generator.save(fresh)
    (fresh / TRAINED_ON).write_text(json.dumps(trained_on, indent=2))
    if directory.exists():
        directory.rename(old)
    fresh.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
