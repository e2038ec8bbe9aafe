"""What `fersyn data info` reports about a dataset: counts, subjects, splits, duplicates and leaks."""

from __future__ import annotations

from typing import Any

import numpy as np

from fersyn.data.duplicates import duplicate_groups, image_hashes, shared_images
from fersyn.data.faceset import FaceSet
from fersyn.data.layout import DEFAULT_LAYOUT, Layout, as_flags
from fersyn.data.splits import split_dataset

_MAX_LISTED = 5  # duplicate groups spelled out by name; the rest are counted


def describe_dataset(faces: FaceSet, *, split_seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> dict[str, Any]:
    """A JSON-ready description of `faces` (read under `layout`) and of the split fersyn would make of it under
    `split_seed`."""
    split = split_dataset(faces, seed=split_seed, drop_leaks=False)
    hashes = image_hashes(faces.images)
    groups = duplicate_groups(hashes)
    conflicting = [g for g in groups if len(set(faces.labels[g].tolist())) > 1]
    parts = split.parts()
    leaks = {
        f"{a}-{b}": len(shared_images(hashes, parts[a], parts[b]))
        for a, b in (("train", "val"), ("train", "test"), ("val", "test"))
    }
    subjects_in = {name: set(faces.subjects[idx].tolist()) for name, idx in parts.items()} if faces.subjects is not None else None
    return {
        "source": faces.source,
        **({"layout": layout.describe()} if layout != DEFAULT_LAYOUT else {}),
        "fingerprint": faces.fingerprint,
        "images": len(faces),
        "image_size": [faces.image_size, faces.image_size],
        "emotions": faces.counts(),
        "subjects": None if faces.subjects is None else len(np.unique(faces.subjects)),
        "dropped_emotions": faces.dropped,
        "skipped_files": list(faces.skipped),
        "split": {
            "method": split.method,
            "seed": split_seed,
            "counts": {name: _counts(faces, idx) for name, idx in parts.items()},
            "subjects": None if subjects_in is None else {k: len(v) for k, v in subjects_in.items()},
            "subjects_in_two_splits": None if subjects_in is None else len(
                (subjects_in["train"] & subjects_in["test"]) | (subjects_in["train"] & subjects_in["val"])
                | (subjects_in["val"] & subjects_in["test"])
            ),
        },
        "duplicates": {
            "groups": len(groups),
            "extra_copies": int(sum(len(g) - 1 for g in groups)),
            "groups_with_conflicting_labels": len(conflicting),
            "examples": [[str(n) for n in faces.names[g]] for g in groups[:_MAX_LISTED]],
            "across_splits": leaks,
        },
    }


def _counts(faces: FaceSet, indices: np.ndarray) -> dict[str, int]:
    per_class = np.bincount(faces.labels[indices], minlength=len(faces.emotions))
    return {"total": int(len(indices)), **{e: int(n) for e, n in zip(faces.emotions, per_class)}}


def format_description(info: dict[str, Any]) -> str:
    """The description as the text `fersyn data info` prints."""
    lines = [
        f"source       {info['source']}",
        *([f"layout      {as_flags(info['layout'])}"] if "layout" in info else []),
        f"fingerprint  {info['fingerprint']}",
        f"images       {info['images']}  ({info['image_size'][0]}×{info['image_size'][1]} grayscale)",
        f"subjects     {info['subjects'] if info['subjects'] is not None else 'unknown (no subject ids)'}",
    ]
    if info["dropped_emotions"]:
        dropped = ", ".join(f"{e} {n}" for e, n in info["dropped_emotions"].items())
        lines.append(f"left out     {dropped} (not in the requested emotions; see --emotions)")
    if info["skipped_files"]:
        lines.append(f"skipped      {len(info['skipped_files'])} file(s), unreadable or with no face found:")
        lines += [f"  {entry}" for entry in info["skipped_files"]]
    split = info["split"]
    emotions = list(info["emotions"])
    width = max(len(e) for e in emotions + ["emotion"])
    lines += ["", f"split: {split['method']}, seed {split['seed']}"]
    lines.append(f"  {'emotion':<{width}}  {'all':>6}  {'train':>6}  {'val':>6}  {'test':>6}")
    for emotion in emotions + ["total"]:
        row = [info["emotions"][emotion] if emotion != "total" else info["images"]]
        row += [split["counts"][part][emotion] for part in ("train", "val", "test")]
        lines.append(f"  {emotion:<{width}}  " + "  ".join(f"{n:>6}" for n in row))
    if split["subjects"] is not None:
        s = split["subjects"]
        lines.append(
            f"  subjects: train {s['train']}, val {s['val']}, test {s['test']}; "
            f"in two splits: {split['subjects_in_two_splits']}"
        )
    dup = info["duplicates"]
    lines += ["", f"duplicates: {dup['groups']} group(s) of identical images ({dup['extra_copies']} extra copies), "
              f"{dup['groups_with_conflicting_labels']} with conflicting labels"]
    lines += [f"  e.g. {' = '.join(example)}" for example in dup["examples"]]
    leak_text = ", ".join(f"{pair} {n}" for pair, n in dup["across_splits"].items())
    lines.append(f"identical images across splits: {leak_text}")
    if any(dup["across_splits"].values()):
        lines.append("  (fersyn drops such val/test images before training and evaluating)")
    return "\n".join(lines)
