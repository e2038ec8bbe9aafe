"""The synthetic sets a sweep fits itself: each generator fit's recipe (its cache key), and per fold the set made
by generators fitted on that fold's training faces only, reused while its recipe holds."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fersyn.data import FaceSet, Split
from fersyn.generation.recipe import Recipe
from fersyn.judges.quality import format_independent
from fersyn.plugins.contracts import code_version
from fersyn.plugins.options import fit_options
from fersyn.runtime.distribute import is_chief
from fersyn.runtime.files import atomic_output
from fersyn.runtime.precision import policy_for
from fersyn.runtime.provenance import keyed
from fersyn.sweep.spec import Sweep, fit_folder, fold_set_path
from fersyn.sweep.store import cell_key

if TYPE_CHECKING:
    import tensorflow as tf


log = logging.getLogger("fersyn")
GENERATED = "synthetic"  # the folder where a sweep keeps the sets it generated itself, one per fold


GENERATORS = "generators"  # and, per recipe, the fitted generators


def fit_recipe(spec: Sweep, faces: FaceSet, policy: str, fit: int = 0, pretrain: str | None = None) -> dict[str, Any]:
    """What decides the generators of fit `fit` that a sweep fits itself (their cache key, without the fold).
    Its keys are stored (OUT/synthetic/*.recipe.json) and hashed (the cache key, the synthetic fingerprint of
    sweep.json) under the compatibility rule (fersyn.runtime.provenance.keyed); "seed" is the split seed. "code" (each
    generator's code version) is left out of sweep.json's synthetic fingerprint, so an edited plugin refits and
    regenerates in the same folder, and its cells run again (their keys hold it). `pretrain`: the fingerprint of the
    pretraining data."""
    from fersyn.plugins.registry import get_plugin

    plugins = {kind: get_plugin(kind, getattr(spec, kind)).cls for kind in ("identity", "expression")}
    return keyed({
        "data": faces.fingerprint, "emotions": list(faces.emotions), "image_size": spec.image_size,
        "seed": spec.split_seed, "train_fraction": spec.train_fraction, "folds": spec.folds,
        "identity": spec.identity, "expression": spec.expression, "train_steps": spec.train_steps,
        "identity_options": dict(spec.identity_options), "expression_options": dict(spec.expression_options),
        "code": {kind: code_version(cls) for kind, cls in plugins.items()},
        **{f"{kind}_precision": policy_for(cls, policy) for kind, cls in plugins.items()},
        "filter": {"judge": spec.judge, "confidence": spec.filter_confidence} if spec.filter_confidence is not None else None,
        "layout": spec.layout.describe(),  # subjects and predefined splits are not in the data's fingerprint
        "generator_fit": fit,  # each further fit is keyed (and seeded) apart
        "pretrain": {"data": pretrain, "steps": spec.pretrain_steps} if pretrain else None,
    })


def generator_seed(recipe: dict[str, Any]) -> int:
    """The seed of a recipe's generators: the split seed for fit 0 (as before), one drawn from it for each other fit."""
    fit = recipe.get("generator_fit", 0)
    return recipe["seed"] if fit == 0 else int(np.random.SeedSequence([recipe["seed"], fit]).generate_state(1)[0])


def fit_key(recipe: dict[str, Any]) -> str:
    """The cache key of a recipe's fitted generators: the recipe without apply-time options and filter, which
    change the set made with the generators but not the generators."""
    from fersyn.plugins.registry import get_plugin

    fitted = {f"{kind}_options": fit_options(get_plugin(kind, recipe[kind]).cls.Options(**recipe[f"{kind}_options"]))
              for kind in ("identity", "expression")}
    return cell_key({**{k: v for k, v in recipe.items() if k != "filter"}, **fitted})


def generated_set(spec: Sweep, recipe: dict[str, Any], faces: FaceSet, splits: list[Split], fold: int, out: Path,
                  strategy: "tf.distribute.Strategy", plugins_dir: str | Path | None,
                  tensorboard: str | Path | None) -> Path:
    """Fold `fold`'s synthetic set in `out` (`synthetic/fold-I.h5`; fit j ≥ 1 of the recipe: `synthetic/fit-j/fold-I.h5`),
    made by generators fitted on that fold's training faces only (kept in `out/generators/<recipe>/fold-I`), unless one
    of the same recipe, large enough, is there."""
    from fersyn.generation.sets import generate

    fit = recipe.get("generator_fit", 0)
    path = fold_set_path(fit_folder(out / GENERATED, fit), fold)
    recipe_path = path.with_suffix(".recipe.json")
    top_ratio = max(max(spec.ratios), 1.0 if spec.synthetic_only else 0.0)
    count = math.ceil(top_ratio * len(splits[fold].train)) + len(recipe["emotions"])  # + E: room for a random remainder
    try:
        saved = json.loads(recipe_path.read_text())
    except (OSError, ValueError):
        saved = {}  # none, or a kill left it unreadable: generate again
    if path.is_file() and isinstance(saved, dict) and saved.get("recipe") == recipe and saved.get("count", 0) >= count:
        log.info("reusing %s (%d faces)", path, saved["count"])
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    recipe_path.unlink(missing_ok=True)  # the set is about to change: no stale recipe may describe it
    checkpoints = out / GENERATORS / fit_key(recipe) / f"fold-{fold}"
    logs = None if tensorboard is None else Path(tensorboard) / GENERATORS / fit_key(recipe) / f"fold-{fold}"
    log.info("generating %d synthetic faces for fold %d of %d%s with %s + %s (generators kept in %s)", count, fold + 1,
             spec.folds, f", generator fit {fit + 1} of {spec.generator_fits}" if spec.generator_fits > 1 else "",
             recipe["identity"], recipe["expression"], checkpoints)
    made_with = Recipe(**{field.name: getattr(spec, field.name) for field in dataclasses.fields(Recipe)})
    result = generate(made_with, faces, splits[fold], path, regime=spec, fold=fold, count=count,
                      generator_seed=generator_seed(recipe), checkpoints=checkpoints, strategy=strategy, overwrite=True,
                      plugins_dir=plugins_dir, tensorboard=logs)
    if is_chief(strategy):
        with atomic_output(recipe_path) as temporary:
            temporary.write_text(json.dumps({"recipe": recipe, "count": count}, indent=2))
    log.info("expression fidelity of the synthetic set: %.1f%% (judge %s: %.1f%% on real test faces)",
             100 * result.metrics["expression_fidelity"], result.metrics["judge"], 100 * result.metrics["judge_real_test_accuracy"])
    for line in format_independent(result.metrics["independent"]):
        (log.warning if line.startswith("WARNING") else log.info)(line.removeprefix("WARNING: "))
    return path
