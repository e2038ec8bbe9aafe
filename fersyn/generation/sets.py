"""`generate`: fit (or load) an identity and an expression generator on a dataset's training split,
then write a labelled synthetic set, a sample grid and quality metrics.

Only the training split ever reaches a generator; the test split is used once, to score the
reference classifier and the synthetic set against real held-out faces.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from fersyn.data import load_dataset
from fersyn.data.layout import DEFAULT_LAYOUT, Layout
from fersyn.data.splits import fold_splits
from fersyn.data.synthetic import SyntheticWriter, balanced_counts
from fersyn.errors import FersynError
from fersyn.generation.fitting import GeneratorFit, fitted_generator
from fersyn.generation.presets import with_preset
from fersyn.generation.pretraining import load_pretraining, pretrained_checkpoint
from fersyn.judges.quality import (
    fitted_judge,
    identity_preservation,
    independent_fidelity,
    judged_probabilities,
    quality_metrics,
)
from fersyn.plugins.contracts import ExpressionGenerator, Generator, IdentityGenerator, checked_edits, checked_samples
from fersyn.plugins.options import build_options
from fersyn.runtime.distribute import describe, distributed, is_chief, make_strategy, output_of_this_worker
from fersyn.runtime.files import atomic_output, check_output_path
from fersyn.runtime.precision import DEFAULT_PRECISION, fallback_note, policy_for, precision_scope, resolve_precision
from fersyn.runtime.provenance import package_versions
from fersyn.runtime.training_log import TensorBoardLog, TrainingLog

log = logging.getLogger("fersyn")

MIN_TRAINING_IMAGES = 64  # below this a GAN has too little to learn from (and a batch may not fill)
_IDENTITY_CHUNK = 256  # identities sampled at a time: bounds memory whatever the count
_METRIC_SAMPLES = 2000
_GRID_IDENTITIES = 8
MAX_DRAWS = 20  # filtering draws at most this many times the identities an unfiltered set needs (or one chunk)


@dataclass
class GenerateResult:
    path: Path
    grid_path: Path
    count: int
    metrics: dict[str, Any]
    provenance: dict[str, Any]
    seconds: float
    written: bool = True  # False on a worker other than the chief of a multi-worker run


def generate(
    data: str | Path,
    out: str | Path,
    *,
    identity: str | None = None,
    expression: str | None = None,
    count: int = 1000,
    emotions: str | Sequence[str] | None = None,
    split_seed: int = 0,
    generator_seed: int | None = None,
    train_steps: int | None = None,
    checkpoints: str | Path | None = None,
    identity_options: dict[str, Any] | None = None,
    expression_options: dict[str, Any] | None = None,
    image_size: int = 48,
    train_fraction: float = 1.0,
    folds: int = 1,
    fold: int = 0,
    strategy: str = "default",
    overwrite: bool = False,
    plugins_dir: str | Path | None = None,
    precision: str = DEFAULT_PRECISION,
    judge: str | None = None,
    filter_confidence: float | None = None,
    tensorboard: str | Path | None = None,
    layout: Layout = DEFAULT_LAYOUT,
    preset: str | None = None,
    pretrain: str | Path | None = None,
    pretrain_steps: int | None = None,
) -> GenerateResult:
    """Write `count` synthetic faces, balanced over `emotions`, to the HDF5 file `out` (see module doc).
    `split_seed` seeds the split, the judge and the scoring; `generator_seed` (default: `split_seed`) the
    generators' training and sampling, so that fits of one recipe on one split can differ. With `folds` K > 1 the
    generators are fitted on the training faces of fold `fold` of the K-fold cross-validation that a
    benchmark with the same `split_seed` and `folds` makes. `precision` (float32 or mixed) is that of
    every model's training (fersyn.runtime.precision). `judge` scores the set (fersyn.judges.quality); with
    `filter_confidence` τ a face is kept only if the judge gives its intended emotion a probability of at
    least τ, and more are drawn until `count` is met (up to MAX_DRAWS times the unfiltered draw). With
    `tensorboard` a folder, each generator's fit writes its losses and face grids there (KIND-NAME/). `layout`
    says how to read `data` (fersyn.data.layout: label map, annotations, subjects, face crops). `preset` names a
    recipe (fersyn.generation.presets) that fills in the generator settings left at None (identity dcgan, expression stargan
    and judge reference when neither gives them). `pretrain` names external faces that each generator counting its
    steps is first fitted on (`pretrain_steps`, default its own budget; cached), then fine-tuned from for
    `train_steps` on the fold (fersyn.generation.pretraining)."""
    from fersyn.plugins.registry import create_plugin, get_plugin, load_plugins

    started = time.perf_counter()
    generator_seed = split_seed if generator_seed is None else generator_seed
    chosen = with_preset(preset, identity=identity, expression=expression, judge=judge, train_steps=train_steps,
                         filter_confidence=filter_confidence, identity_options=identity_options,
                         expression_options=expression_options)
    identity, expression, judge, train_steps = chosen["identity"], chosen["expression"], chosen["judge"], chosen["train_steps"]
    filter_confidence, identity_options, expression_options = (
        chosen["filter_confidence"], chosen["identity_options"], chosen["expression_options"])
    if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
        raise FersynError(f"`count` must be a positive whole number (got {count!r})")
    if filter_confidence is not None and not 0 < filter_confidence < 1:
        raise FersynError(f"`filter_confidence` must lie between 0 and 1 (got {filter_confidence})")
    if train_steps is not None and train_steps <= 0:
        raise FersynError(f"`train_steps` must be a positive whole number (got {train_steps})")
    out = Path(out)
    grid_path = out.with_name(out.stem + "_grid.png")
    for path in (out, grid_path):  # before training, not after
        check_output_path(path, overwrite=overwrite)
    load_plugins(plugins_dir)
    for kind, name, options in (("identity", identity, identity_options), ("expression", expression, expression_options)):
        build_options(get_plugin(kind, name).cls.Options, options or {}, f"{kind} plugin '{name}'")  # fail now, not later
    get_plugin("judge", judge)  # an unknown judge: refused now

    distribution = make_strategy(strategy)  # before any TensorFlow work, as a multi-worker strategy must be
    policy = resolve_precision(precision)
    faces = load_dataset(data, image_size=image_size, emotions=emotions, layout=layout)
    if not 0 <= fold < folds:
        raise FersynError(f"fold {fold} does not exist among {folds} folds")
    split = fold_splits(faces, folds, seed=split_seed, train_fraction=train_fraction)[fold]
    train = faces.subset(split.train)
    if len(train) < MIN_TRAINING_IMAGES:
        raise FersynError(
            f"the training split of {faces.source} has {len(train)} images; training a GAN needs at least "
            f"{MIN_TRAINING_IMAGES} (use a larger dataset)"
        )
    # Every worker of a multi-worker run trains and samples alike; only the chief writes.
    with distributed(distribution), output_of_this_worker(out, distribution) as written:
        channels = faces.images.shape[-1]
        fingerprints = split.fingerprints(faces)
        trained_on = {"data": faces.fingerprint, "train": fingerprints["train"], "emotions": list(faces.emotions),
                      "image_size": image_size}
        if checkpoints is not None:
            _make_folder(Path(checkpoints))
        # A pretrained judge only loads: now, so that missing weights stop the run before any long fit.
        referee = fitted_judge(judge, faces, split, seed=split_seed) if get_plugin("judge", judge).cls.pretrained else None
        probe = train.images[:len(train.emotions)]

        def jobs(seed: int) -> dict[str, GeneratorFit]:
            return {
                "identity": GeneratorFit(
                    lambda: create_plugin("identity", identity, image_size=image_size, channels=channels, **(identity_options or {})),
                    lambda g, steps, part: g.fit(part.images, steps=steps, seed=seed),
                    lambda g: checked_samples(g, 2, seed)),
                "expression": GeneratorFit(
                    lambda: create_plugin("expression", expression, image_size=image_size, channels=channels,
                                          **(expression_options or {})),
                    lambda g, steps, part: g.fit(part.images, part.labels, part.emotions, steps=steps, seed=seed),
                    lambda g: checked_edits(g, probe, train.emotions, seed)),
            }

        names = {"identity": identity, "expression": expression}
        policies = {kind: policy_for(get_plugin(kind, name).cls, policy) for kind, name in names.items()}
        pretraining = None if pretrain is None else load_pretraining(
            pretrain, steps=pretrain_steps, image_size=image_size, emotions=faces.emotions,
            held_out=faces.images[np.concatenate([split.val, split.test])], held_out_label="validation and test faces of this split")
        fitted, pretrained, seconds = {}, [], {}  # seconds: where a set's time went (its metrics record them)
        for kind, job in jobs(generator_seed).items():
            began = time.perf_counter()
            name, steps, start_from = names[kind], train_steps, None
            cls = get_plugin(kind, name).cls
            if pretraining is not None and cls.trained_steps is not Generator.trained_steps:  # it can be fine-tuned
                with precision_scope(policies[kind]):  # seeded 0: one pretraining serves every fold, fit and seed
                    start_from = pretrained_checkpoint(pretraining, jobs(0)[kind], precision=policies[kind], seed=0,
                                                       training_log=TrainingLog())
                own = getattr(job.make().options, "steps", 0)
                steps = (pretraining.steps or own) + (train_steps or own)  # fine-tuning continues the count
                pretrained.append(kind)
            training_log = TrainingLog() if tensorboard is None else TensorBoardLog(Path(tensorboard) / f"{kind}-{name}")
            fold_record = {**trained_on, "precision": policies[kind],
                           **({"pretrained_on": start_from[1]["data"], "pretrain_steps": pretraining.steps} if start_from else {})}
            with precision_scope(policies[kind]):
                fitted[kind] = fitted_generator(
                    job, train, train_steps=steps, checkpoints=None if checkpoints is None else Path(checkpoints),
                    rescue=out.with_name(out.stem + "_generators"), trained_on=fold_record,
                    seed=generator_seed, training_log=training_log, start_from=start_from)
            training_log.close()
            seconds[kind] = time.perf_counter() - began
        identity_generator, expression_generator = fitted["identity"], fitted["expression"]
        began = time.perf_counter()
        if referee is None:
            log.info("fitting the judge %s on the real training split", judge)
            referee = fitted_judge(judge, faces, split, seed=split_seed)
        seconds["judge"] = time.perf_counter() - began
        keep = None
        if filter_confidence is not None:
            def keep(images: np.ndarray, emotion: str) -> np.ndarray:
                chance = judged_probabilities(referee, images, faces.emotions)[:, faces.emotions.index(emotion)]
                return np.isnan(chance) | (chance >= filter_confidence)  # an emotion it cannot judge is kept
        provenance = {
            "data": {"source": faces.source, "fingerprint": faces.fingerprint, "image_size": image_size,
                     "emotions": list(faces.emotions), "split": split.method, "split_seed": split_seed,
                     "train_fraction": train_fraction, "folds": folds, "fold": fold,
                     "split_fingerprints": fingerprints, "leaks_removed": split.leaks_removed,
                     "train_images": len(train), "val_images": int(len(split.val)), "test_images": int(len(split.test)),
                     **({"layout": layout.describe()} if layout.describe() else {})},  # none: as recorded before
            **({"preset": preset} if preset else {}),
            "identity": {"plugin": identity, "options": dataclasses.asdict(identity_generator.options),
                         "trained_steps": identity_generator.trained_steps,
                         "code_version": identity_generator.fit_code_version, "precision": policies["identity"]},
            "expression": {"plugin": expression, "options": dataclasses.asdict(expression_generator.options),
                           "trained_steps": expression_generator.trained_steps,
                           "code_version": expression_generator.fit_code_version,
                           "precision": policies["expression"]},
            "seed": generator_seed,  # of the generators' training and sampling; a stored key (a set's fingerprint reads it)
            "count": count,
            "strategy": describe(strategy, distribution),
            "precision": precision,  # asked for; each generator's own is above
            "precision_note": fallback_note(precision, policy),
            "judge": {"name": judge, "code_version": referee.fit_code_version, "weights": referee.provenance()},
            **({"pretraining": pretraining.record(pretrained)} if pretraining is not None else {}),
            "versions": package_versions(),
        }
        began = time.perf_counter()
        with atomic_output(written, overwrite=overwrite) as temporary:
            writer = SyntheticWriter(temporary, faces.images.shape[1:], faces.emotions)
            try:
                sample = _write_faces(writer, identity_generator, expression_generator, faces.emotions, count,
                                      generator_seed, keep)
                if keep is not None:
                    provenance["filter"] = {"judge": judge, "confidence": filter_confidence, **sample["filter"]}
                teacher = getattr(expression_generator.options, "teacher", None)
                metrics = quality_metrics(referee, sample["images"], sample["emotions"], faces.subset(split.test),
                                          seed=split_seed, teacher=teacher)
                metrics.update(identity_preservation(sample["sources"], sample["edits"]))
                metrics["independent"] = independent_fidelity(
                    sample["images"], sample["emotions"], faces.subset(split.test), train, teacher=teacher,
                    filter_judge=judge if keep is not None else None, fitted={judge: referee}, seed=split_seed)
                if keep is not None:
                    metrics["filter"] = provenance["filter"]
                metrics["seconds"] = {**seconds, "faces and metrics": time.perf_counter() - began}
                writer.set_attributes(provenance=provenance, metrics=metrics)
                writer.set_training_names(train.names)
                # The pretraining faces too: a benchmark's leak check then covers its other test data as well.
                writer.set_training_faces(train.images if pretraining is None else
                                          np.concatenate([train.images, pretraining.faces.images]))
            finally:
                writer.close()
        _save_grid(sample["sources"], sample["edits"], faces.emotions, written.with_name(grid_path.name))
    return GenerateResult(out, grid_path, count, metrics, provenance, time.perf_counter() - started,
                          is_chief(distribution))


def measure_independent_fidelity(path: str | Path, *, data: str | Path | None = None, layout: Layout = DEFAULT_LAYOUT,
                                 samples: int = 1200) -> dict[str, Any]:
    """For a set made before fersyn measured independent fidelity: measure it now on up to `samples` of its faces
    and record it in the set's metrics (`metrics["independent"]`, as `generate` writes it). The generators'
    training faces and the real test faces come from the split its provenance records, of `data` (default: the
    source it records); the teacher and the filter from its provenance."""
    import h5py

    from fersyn.data.synthetic import read_synthetic_attributes

    attributes = read_synthetic_attributes(path)
    provenance, metrics = attributes.get("provenance") or {}, attributes.get("metrics") or {}
    recorded = provenance.get("data")
    if not recorded:
        raise FersynError(f"{path} records no provenance of its data: fersyn cannot tell which faces its generators saw")
    if recorded.get("layout") and layout.describe() != recorded["layout"]:
        raise FersynError(f"{path} was made with the layout {recorded['layout']}: give that layout")
    faces = load_dataset(data or recorded["source"], image_size=recorded["image_size"], emotions=recorded["emotions"],
                         layout=layout)
    if faces.fingerprint != recorded["fingerprint"]:
        raise FersynError(f"{data or recorded['source']} is not the data {path} was made from (fingerprint "
                          f"{faces.fingerprint}, not {recorded['fingerprint']})")
    split = fold_splits(faces, recorded["folds"], seed=recorded["split_seed"], train_fraction=recorded["train_fraction"])[recorded["fold"]]
    if split.fingerprints(faces) != recorded["split_fingerprints"]:
        raise FersynError(f"the split of {path} could not be made again from its provenance (another fersyn version?)")
    with h5py.File(path, "r") as store:
        keep = np.sort(np.random.default_rng(recorded["split_seed"]).permutation(len(store["labels"]))[:samples])
        images, labels = store["images"][keep], store["labels"][keep]
    independent = independent_fidelity(
        images, np.array(attributes["emotions"])[labels], faces.subset(split.test), faces.subset(split.train),
        teacher=provenance.get("expression", {}).get("options", {}).get("teacher"),
        filter_judge=(provenance.get("filter") or {}).get("judge"), seed=recorded["split_seed"])
    with h5py.File(path, "r+") as store:
        store.attrs["metrics"] = json.dumps({**metrics, "independent": independent})
    return independent


def generate_folds(data: str | Path, out: str | Path, *, folds: int, checkpoints: str | Path | None = None,
                   tensorboard: str | Path | None = None, **options: Any) -> list[GenerateResult]:
    """One synthetic set per fold into the folder `out` (fold-0.h5 …, what `fersyn benchmark --synthetic
    OUT --folds K` reads), each from generators fitted on that fold's training faces only; `options` as
    for `generate`. Checkpoints go to CHECKPOINTS/fold-I, training logs to TENSORBOARD/fold-I."""
    from fersyn.sweep.spec import fold_set_path

    if folds < 2:
        raise FersynError(f"`folds` {folds}: give 2 or more for one set per fold, or leave it out for one set")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FersynError(f"`out` {out} is a file; with `folds` give a folder (it gets fold-0.h5 … fold-{folds - 1}.h5)")
    _make_folder(out)
    results = []
    for fold in range(folds):
        log.info("fold %d of %d", fold + 1, folds)
        fold_checkpoints, fold_logs = (None if folder is None else Path(folder) / f"fold-{fold}" for folder in (checkpoints, tensorboard))
        results.append(generate(data, fold_set_path(out, fold), folds=folds, fold=fold, checkpoints=fold_checkpoints,
                                tensorboard=fold_logs, **options))
    return results


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FersynError(f"cannot use {folder} as the checkpoints folder ({error.strerror})") from None


def _write_faces(
    writer: SyntheticWriter,
    identity: IdentityGenerator,
    expression: ExpressionGenerator,
    emotions: Sequence[str],
    count: int,
    seed: int,
    keep: Callable[[np.ndarray, str], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Sample identities chunk by chunk, impose every emotion on each, append those `keep` accepts (all
    without it) until each emotion's quota is met; returns a scoring sample of written faces, the first
    chunk's sources and edits, and with `keep` the acceptance per emotion."""
    identities = math.ceil(count / len(emotions))
    # Balanced by the rule a benchmark draws by: count // E faces each, count % E emotions (seeded) one more.
    quota = dict(zip(emotions, balanced_counts(count, len(emotions), np.random.default_rng(seed)).tolist()))
    written, drawn, accepted = dict.fromkeys(emotions, 0), dict.fromkeys(emotions, 0), dict.fromkeys(emotions, 0)
    per_emotion = max(1, _METRIC_SAMPLES // len(emotions))
    scored: dict[str, list[np.ndarray]] = {emotion: [] for emotion in emotions}
    first_chunk: dict[str, np.ndarray] = {}
    first, most = 0, MAX_DRAWS * max(identities, _IDENTITY_CHUNK)
    while any(written[e] < quota[e] for e in emotions):
        if first >= most:
            raise _unreachable(emotions, quota, written, drawn, accepted)
        # Filtered, the first chunk is what an unfiltered set needs, then full chunks until the quotas are met.
        chunk = min(_IDENTITY_CHUNK, identities - first) if keep is None or first < identities else _IDENTITY_CHUNK
        chunk_seed = int(np.random.SeedSequence([seed, first]).generate_state(1)[0])
        faces = checked_samples(identity, chunk, chunk_seed)
        ids = np.arange(first, first + chunk)
        edits = [checked_edits(expression, faces, [emotion] * chunk, chunk_seed) for emotion in emotions]
        if not first_chunk:
            first_chunk = {"sources": faces, "edits": np.stack(edits)}
        for emotion, edited in zip(emotions, edits):
            room = quota[emotion] - written[emotion]
            if room <= 0:
                continue
            kept = np.ones(chunk, bool) if keep is None else keep(edited, emotion)
            drawn[emotion] += chunk
            accepted[emotion] += int(kept.sum())
            writer.append(edited[kept][:room], emotion, ids[kept][:room])
            scored[emotion].append(edited[kept][:per_emotion - sum(map(len, scored[emotion]))])
            written[emotion] += min(room, int(kept.sum()))
        first += chunk
        if keep is not None and any(written[e] < quota[e] for e in emotions):
            _check_reachable(emotions, quota, written, drawn, accepted, most - first)
        log.info("generated %d / %d faces", len(writer), count)
    images = {e: np.concatenate(scored[e]) for e in emotions}
    sample = {"images": np.concatenate(list(images.values())),
              "emotions": np.repeat(list(emotions), [len(images[e]) for e in emotions]), **first_chunk}
    if keep is not None:
        sample["filter"] = {"acceptance_rate": {e: accepted[e] / max(1, drawn[e]) for e in emotions},
                            "drawn": drawn, "accepted": accepted}
    return sample


def _check_reachable(emotions: Sequence[str], quota: dict, written: dict, drawn: dict, accepted: dict, left: int) -> None:
    """Stop early, in one line, when even an optimistic acceptance rate for an emotion (the rule of three: 3 more
    accepted than seen, about its 95 % upper bound when none was) leaves its quota out of reach of the draws left."""
    for emotion in emotions:
        missing = quota[emotion] - written[emotion]
        optimistic = (accepted[emotion] + 3) / max(1, drawn[emotion])
        if missing > 0 and missing / optimistic > left:
            raise _unreachable([emotion], quota, written, drawn, accepted)


def _unreachable(emotions: Sequence[str], quota: dict, written: dict, drawn: dict, accepted: dict) -> FersynError:
    emotion = next(e for e in emotions if written[e] < quota[e])
    return FersynError(
        f"`filter_confidence` is unreachable: the judge accepted {accepted[emotion]} of {drawn[emotion]} {emotion} faces "
        f"({accepted[emotion] / max(1, drawn[emotion]):.1%}), too few for {quota[emotion]} within {MAX_DRAWS}× the "
        f"unfiltered draws (or {MAX_DRAWS} chunks of {_IDENTITY_CHUNK}); lower `filter_confidence` or `count`, or train the generators longer")


def _save_grid(faces: np.ndarray, edits: np.ndarray, emotions: Sequence[str], path: Path) -> None:
    from fersyn.analysis.grid import save_face_grid

    rows = min(_GRID_IDENTITIES, len(faces))
    cells = np.concatenate([faces[:rows, None], edits[:, :rows].transpose(1, 0, 2, 3, 4)], axis=1)
    save_face_grid(cells, path, ["identity", *emotions], [f"#{i}" for i in range(rows)])
