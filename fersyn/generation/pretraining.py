"""Pretraining generators on external faces, then fine-tuning them on a fold: the paper's setting, whose
GANs learnt faces from large external sets before they met the study's data.

`--pretrain DATA` fits each generator that counts its steps (`trained_steps`) on DATA's training rows
(its Training rows when it has a Usage column, else all of it), in the set's emotions and image size,
once: the fit is cached under the fersyn cache (`$FERSYN_CACHE/pretrained/`), keyed by the external
faces' content, the plugin, its fit options and code, the steps, the precision and the seed, and it
resumes like any checkpoint. Every fold and every generator fit then starts from it and trains its own
steps on that fold's training faces. Nothing is downloaded, and nothing derived from the external data
is written into the repository or a package: the cache is built on first use.

The leak rule holds through pretraining: a pretraining set holding any validation or test face of the
split (by content hash) is refused, and the set records the hashes of the external faces with those of
the fold's, so that a benchmark's own check (fersyn.data.leaks) covers its test faces of other datasets too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fersyn.data import FaceSet, load_dataset
from fersyn.data.duplicates import image_hashes
from fersyn.errors import FersynError
from fersyn.generation.fitting import GeneratorFit, fitted_generator
from fersyn.plugins.options import fit_options
from fersyn.runtime.files import cache_root
from fersyn.runtime.training_log import TrainingLog


@dataclass(frozen=True)
class Pretraining:
    """External faces to pretrain on, and for how long."""

    source: str
    faces: FaceSet  # its training rows, in the set's emotions and image size
    steps: int | None  # per generator; None: each plugin's own budget

    def record(self, pretrained: Sequence[str]) -> dict[str, Any]:
        """What the set's provenance says of it: the data and its content hash, the steps, which generators."""
        return {"data": self.source, "fingerprint": self.faces.fingerprint, "faces": len(self.faces),
                "steps": self.steps, "generators": list(pretrained)}


def load_pretraining(data: str | Path, *, steps: int | None, image_size: int, emotions: Sequence[str],
                     held_out: np.ndarray, held_out_label: str) -> Pretraining:
    """DATA's training rows in `emotions`, refused when any of them is one of `held_out` (by content)."""
    if steps is not None and steps <= 0:
        raise FersynError(f"`pretrain_steps` must be a positive whole number (got {steps})")
    faces = load_dataset(data, image_size=image_size, emotions="present")
    missing = [emotion for emotion in emotions if emotion not in faces.emotions]
    if missing:
        raise FersynError(f"the pretraining data {data} has no faces of {', '.join(missing)}; pretrain on data that "
                          "shows every emotion of the set, or pick `emotions` it has")
    faces = faces.only(tuple(emotions))
    if faces.usage is not None and np.any(faces.usage == "train"):
        faces = faces.subset(np.flatnonzero(faces.usage == "train"))
    held = set(image_hashes(held_out))
    shared = sum(digest in held for digest in image_hashes(faces.images))
    if shared:
        raise FersynError(f"the pretraining data {data} holds {shared} of the {held_out_label} (by content): a generator "
                          "must never see a face it is tested on; remove them from it")
    return Pretraining(str(data), faces, steps)


def pretrained_checkpoint(pretraining: Pretraining, job: GeneratorFit, *, precision: str, seed: int,
                          training_log: TrainingLog) -> tuple[Path, dict[str, Any]]:
    """Fit `job`'s generator on the external faces, or load that fit from the cache: the checkpoint folder
    (`<cache>/pretrained/<key>/<kind>-<name>`) and what it was trained on."""
    from fersyn.plugins.contracts import code_version

    probe = job.make()
    trained_on = {"data": pretraining.faces.fingerprint, "emotions": list(pretraining.faces.emotions),
                  "image_size": pretraining.faces.image_size, "precision": precision}
    recipe = {**trained_on, "plugin": f"{probe.kind}-{probe.name}", "options": fit_options(probe.options),
              "steps": pretraining.steps, "seed": seed, "code": code_version(type(probe))}
    folder = cache_root() / "pretrained" / hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    fitted_generator(job, pretraining.faces, train_steps=pretraining.steps, checkpoints=folder,
                     rescue=folder.with_name(folder.name + "-rescued"), trained_on=trained_on, seed=seed,
                     training_log=training_log)
    return folder / f"{probe.kind}-{probe.name}", trained_on
