"""Quality of a synthetic set, judged against real faces by a judge (`--judge`; fersyn.judges.builtin).

Every number names its judge and is reported beside the judge's own accuracy on the real test
faces (never seen by it, nor by the generators): a fidelity can be no more trustworthy than the
judge that measures it, and a judge that a generator was trained to please (its `teacher`) is
flagged, since the generator may have learnt marks that only that judge reads.

- expression fidelity: how often the judge reads the emotion a synthetic face was meant to show
  (over the emotions it knows; the others are listed as unjudged);
- FD: Fréchet distance between real test and synthetic faces in the judge's features (the idea of
  FID: the Inception network's weights cannot be downloaded here);
- diversity: mean pairwise feature distance among synthetic faces, and among real test faces;
- identity preservation of an expression generator: how often an edited face is closer to its own
  source than to any other source (at low resolution, where identity dominates and expression
  details fade), and the mean absolute pixel change;
- independent fidelity: the fidelity by each judge that took no part in making the set — neither the
  expression generator's teacher nor the set's filter, nor trained on the faces its generators were
  fitted or pretrained on (`Judge.has_seen`). A generator can learn to please a judge that taught, filtered
  or shares its data; it cannot tune itself to one that did none of these. With no such judge, a WARNING
  says so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fersyn.data import FaceSet, Split
from fersyn.errors import FersynError
from fersyn.plugins.contracts import Judge, code_version, plugin_call
from fersyn.runtime.files import atomic_folder, cache_root

_MAX_FEATURE_SAMPLES = 2000
_IDENTITY_SOURCES = 100
_IDENTITY_RESOLUTION = 12


def fitted_judge(name: str, faces: FaceSet, split: Split, *, seed: int = 0) -> Judge:
    """Judge `name`, fitted on the real training faces of `split` (validated on `split.val`); a
    pretrained judge only loads its weights. A judge that learns is fitted once per training split and
    cached (`$FERSYN_CACHE/judges/`, keyed by those faces, its options, code and seed): the study fits two
    pairs of generators per fold, in two settings, and each would otherwise train the same reference judge
    again (≈ 14 s on a quarter of CK+48)."""
    from fersyn.plugins.registry import create_plugin, load_plugins

    load_plugins()
    judge = create_plugin("judge", name, image_size=faces.image_size, channels=faces.images.shape[-1])
    folder = None if judge.pretrained else _judge_cache(judge, faces, split, seed)
    if folder is not None and folder.is_dir():
        return type(judge).load(folder)
    with plugin_call(judge, "fit()"):
        judge.fit(faces.images[split.train], faces.labels[split.train], faces.emotions,
                  validation=(faces.images[split.val], faces.labels[split.val]), seed=seed)
    if folder is not None:
        with atomic_folder(folder) as building, plugin_call(judge, "save()"):
            judge.save(building)
    return judge


def _judge_cache(judge: Judge, faces: FaceSet, split: Split, seed: int) -> Path:
    """Where a judge fitted on `split` of `faces` is cached: the key holds everything its fit reads."""
    digest = hashlib.sha256(json.dumps({
        "judge": judge.name, "options": dataclasses.asdict(judge.options), "code": code_version(type(judge)),
        "image_shape": judge.image_shape, "emotions": list(faces.emotions), "seed": seed}).encode())
    for rows in (split.train, split.val):
        digest.update(np.ascontiguousarray(faces.images[rows]).tobytes())
        digest.update(np.asarray(faces.labels[rows], np.int64).tobytes())
    return cache_root() / "judges" / f"{judge.name}-{digest.hexdigest()[:16]}"


def judged_probabilities(judge: Judge, images: np.ndarray, emotions: Sequence[str]) -> np.ndarray:
    """The judge's probabilities of `images` over `emotions` (columns in that order), renormalised over
    the emotions it knows; a column of an emotion it does not know is NaN."""
    with plugin_call(judge, "predict_proba()"):
        return _over(judge, judge.predict_proba(images), emotions)


def _over(judge: Judge, probabilities: np.ndarray, emotions: Sequence[str]) -> np.ndarray:
    known = [judge.emotions.index(e) if e in judge.emotions else -1 for e in emotions]
    columns = np.stack([probabilities[:, i] if i >= 0 else np.full(len(probabilities), np.nan) for i in known], axis=1)
    return columns / np.nansum(columns, axis=1, keepdims=True).clip(1e-12)


def judge_record(judge: Judge, real_probabilities: np.ndarray, real_labels: np.ndarray, emotions: Sequence[str],
                 *, teacher: str | None = None) -> dict[str, Any]:
    """Who judged: name, code, weights, whether it is the generator's teacher, and its accuracy on the real
    test faces of the emotions it knows (`real_probabilities`: `judged_probabilities` of those faces)."""
    known = np.array([e in judge.emotions for e in emotions])
    judged = known[real_labels]
    predicted = np.nanargmax(real_probabilities[judged], axis=1) if judged.any() else np.zeros(0, int)
    return {
        "judge": judge.name, "judge_code_version": judge.fit_code_version, "judge_weights": judge.provenance(),
        "judge_pretrained": judge.pretrained, "judge_is_teacher": judge.name in teacher_names(teacher),
        "judge_real_test_accuracy": float(np.mean(predicted == real_labels[judged])) if judged.any() else float("nan"),
        "unjudged_emotions": [e for e, k in zip(emotions, known) if not k],
    }


def teacher_names(teacher: str | None) -> list[str]:
    """The teachers a generator's `teacher` option names: one ("own" or a judge), or several joined by '+'."""
    return [name.strip() for name in (teacher or "").split("+") if name.strip()]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets `a` and `b` (rows = samples)."""
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    # Tr sqrt(cov_a^½ cov_b cov_a^½) equals Tr sqrt(cov_a cov_b) and stays symmetric.
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def mean_pairwise_distance(features: np.ndarray, rng: np.random.Generator, pairs: int = 5000) -> float:
    first, second = rng.integers(0, len(features), (2, pairs))
    keep = first != second
    return float(np.linalg.norm(features[first[keep]] - features[second[keep]], axis=1).mean())


def identity_preservation(sources: np.ndarray, edits: np.ndarray) -> dict[str, float]:
    """`edits[e, i]` is source `i` given emotion `e`. How often is an edit nearest to its own source?"""
    sources = sources[:_IDENTITY_SOURCES]
    edits = edits[:, : len(sources)]
    source_codes = _normalised_thumbnails(sources)
    edit_codes = _normalised_thumbnails(edits.reshape(-1, *edits.shape[-3:]))
    distances = ((edit_codes[:, None, :] - source_codes[None, :, :]) ** 2).sum(-1)
    own = np.tile(np.arange(len(sources)), edits.shape[0])
    return {
        "identity_retrieval": float(np.mean(distances.argmin(1) == own)),
        "identity_retrieval_chance": 1.0 / len(sources),
        "mean_pixel_change": float(np.abs(edits.astype(np.float32) - sources[None].astype(np.float32)).mean() / 255.0),
    }


def _normalised_thumbnails(images: np.ndarray) -> np.ndarray:
    """Each image as a zero-mean, unit-norm vector at a low resolution."""
    n, size = len(images), images.shape[1]
    factor = max(1, size // _IDENTITY_RESOLUTION)
    cropped = images[:, : size - size % factor, : size - size % factor, 0].astype(np.float32)
    small = cropped.reshape(n, size // factor, factor, size // factor, factor).mean(axis=(2, 4)).reshape(n, -1)
    small -= small.mean(1, keepdims=True)
    return small / (np.linalg.norm(small, axis=1, keepdims=True) + 1e-6)


def quality_metrics(
    judge: Judge,
    synthetic_images: np.ndarray,
    synthetic_emotions: Sequence[str] | np.ndarray,
    real_test: FaceSet,
    *,
    seed: int = 0,
    teacher: str | None = None,
) -> dict[str, Any]:
    """Fidelity (overall and per emotion), FD and diversity of a synthetic set (or a sample of one) by
    `judge`, with who judged (`judge_record`); `teacher` is the judge the expression generator trained against."""
    rng = np.random.default_rng(seed)
    if len(synthetic_images) > _MAX_FEATURE_SAMPLES:
        keep = rng.choice(len(synthetic_images), _MAX_FEATURE_SAMPLES, replace=False)
        synthetic_images, synthetic_emotions = synthetic_images[keep], np.asarray(synthetic_emotions)[keep]
    emotions = list(real_test.emotions)
    unknown = sorted(set(np.asarray(synthetic_emotions).tolist()) - set(emotions))
    if unknown:
        raise FersynError(f"the synthetic faces show {', '.join(unknown)}, which the real data does not have")
    with plugin_call(judge, "scores()"):  # one pass of the scorer per set: probabilities and features
        (real_probabilities, real_features), (probabilities, synthetic_features) = (
            judge.scores(real_test.images), judge.scores(synthetic_images))
    record = judge_record(judge, _over(judge, real_probabilities, emotions), real_test.labels, emotions, teacher=teacher)
    intended = np.array([emotions.index(e) for e in synthetic_emotions])
    judged = ~np.isin(intended, [emotions.index(e) for e in record["unjudged_emotions"]])
    probabilities = _over(judge, probabilities, emotions)[judged]
    correct = np.nanargmax(probabilities, axis=1) == intended[judged] if judged.any() else np.zeros(0, bool)
    return {
        **record,
        "expression_fidelity": float(correct.mean()) if judged.any() else float("nan"),
        "fidelity_per_emotion": {e: float(correct[intended[judged] == i].mean())
                                 for i, e in enumerate(emotions) if np.any(intended[judged] == i)},
        "fd_fer": frechet_distance(real_features, synthetic_features),
        "diversity_synthetic": mean_pairwise_distance(synthetic_features, rng),
        "diversity_real_test": mean_pairwise_distance(real_features, rng),
        "samples_scored": int(len(synthetic_images)),
    }


def independent_fidelity(images: np.ndarray, emotions: Sequence[str] | np.ndarray, real_test: FaceSet,
                         generators_saw: FaceSet, *, teacher: str | None, filter_judge: str | None,
                         pretrained_on: FaceSet | None = None, fitted: dict[str, Judge] | None = None,
                         seed: int = 0) -> dict[str, Any]:
    """The fidelity of a set (a scoring sample `images` meant to show `emotions`) by every registered judge
    that took no part in making it, and why each other judge was left out. `generators_saw`: the faces the
    generators were fitted on; `pretrained_on`: the external faces they were pretrained on, if any; `fitted`:
    judges already fitted, by name (others are created and, if pretrained, loaded; a judge that is not
    pretrained is never independent: fersyn fits it on those faces)."""
    from fersyn.plugins.registry import create_plugin, list_plugins, load_plugins

    load_plugins()
    readings: dict[str, Any] = {}
    left_out: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for info in list_plugins("judge"):
        name = info.name
        if name in teacher_names(teacher):
            left_out[name] = "the expression generator's teacher"
            continue
        if name == filter_judge:
            left_out[name] = "the set's filter"
            continue
        if not info.cls.pretrained:
            left_out[name] = "trained on the faces the generators were fitted on"
            continue
        judge = (fitted or {}).get(name) or create_plugin("judge", name, image_size=real_test.image_size,
                                                         channels=real_test.images.shape[-1])
        if name not in (fitted or {}):
            try:
                with plugin_call(judge, "fit()"):
                    judge.fit(generators_saw.images, generators_saw.labels, generators_saw.emotions,
                              validation=(real_test.images[:0], real_test.labels[:0]), seed=seed)
            except FersynError as error:  # e.g. weights or data this machine does not have
                unavailable[name] = str(error)
                continue
        with plugin_call(judge, "has_seen()"):
            seen = judge.has_seen(generators_saw)
        if seen:
            left_out[name] = "trained on the faces the generators were fitted on"
            continue
        if pretrained_on is not None:
            with plugin_call(judge, "has_seen()"):
                seen = judge.has_seen(pretrained_on)
            if seen:  # a generator pretrained on a judge's own training faces learnt what that judge reads
                left_out[name] = ("trained on faces the generators were pretrained on "
                                  f"({pretrained_on.source})")
                continue
        metrics = quality_metrics(judge, images, emotions, real_test, seed=seed)
        readings[name] = {"fidelity": metrics["expression_fidelity"], "fidelity_per_emotion": metrics["fidelity_per_emotion"],
                          "real_test_accuracy": metrics["judge_real_test_accuracy"], "weights": metrics["judge_weights"],
                          "unjudged_emotions": metrics["unjudged_emotions"]}
    return {"judges": readings, "left_out": left_out, "unavailable": unavailable}


def format_independent(independent: dict[str, Any]) -> list[str]:
    """The lines naming each independent judge's fidelity, those left out and why, or a WARNING when none is left."""
    readings = independent["judges"]
    if readings:
        lines = ["independent fidelity  " + "; ".join(
            f"{reading['fidelity']:.1%} by {name} ({reading['real_test_accuracy']:.1%} on real test faces)"
            for name, reading in readings.items())]
    else:
        lines = ["WARNING: no independent judge read this set: its fidelity is measured only by judges that took part in "
                 "making it or saw its generators' training or pretraining faces"]
    if independent["left_out"]:
        lines.append("  not independent: " + "; ".join(f"{name} ({why})" for name, why in independent["left_out"].items()))
    if independent["unavailable"]:
        lines.append("  unavailable here: " + "; ".join(f"{name} ({why})" for name, why in independent["unavailable"].items()))
    return lines


def format_metrics(metrics: dict[str, Any]) -> str:
    """The quality metrics as the lines `fersyn generate` prints."""
    per_emotion = ", ".join(f"{e} {v:.0%}" for e, v in metrics["fidelity_per_emotion"].items())
    judge = metrics["judge"]
    origin = "pretrained" if metrics["judge_pretrained"] else "trained on the real training split"
    lines = [
        f"expression fidelity   {metrics['expression_fidelity']:.1%}  ({per_emotion}), judged by {judge}",
        f"  judge {judge} ({origin}): {metrics['judge_real_test_accuracy']:.1%} on real test faces"
        + (f"; cannot judge {', '.join(metrics['unjudged_emotions'])}" if metrics["unjudged_emotions"] else ""),
    ]
    if "filter" in metrics:
        kept = metrics["filter"]
        rates = ", ".join(f"{e} {rate:.0%}" for e, rate in kept["acceptance_rate"].items())
        lines.append(f"  filtered by {kept['judge']} (kept where it gave the intended emotion p ≥ {kept['confidence']:g}): "
                     f"acceptance {rates}; that judge's fidelity is not independent of the filter")
    if metrics["judge_is_teacher"]:
        lines.append(f"  WARNING: {judge} is the expression generator's teacher: this fidelity is not independent "
                     "(judge with another)")
    if "independent" in metrics:
        lines += format_independent(metrics["independent"])
    return "\n".join(lines + [
        f"FD-fer                {metrics['fd_fer']:.2f}  (real test vs synthetic, in {judge}'s features)",
        f"diversity             {metrics['diversity_synthetic']:.2f} synthetic vs {metrics['diversity_real_test']:.2f} real test",
        f"identity retrieval    {metrics['identity_retrieval']:.1%}  (chance {metrics['identity_retrieval_chance']:.1%}); "
        f"mean pixel change {metrics['mean_pixel_change']:.1%}",
    ])
