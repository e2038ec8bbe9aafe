"""What every reader shares: a face made square and gray, subjects read from file names, the FaceSet assembled
from images and labels (emotions outside the wanted set left out and counted), labels and splits read from a
table's rows, and the refusal of a layout setting given where it does not apply."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable

import numpy as np

from fersyn.data.emotions import ALL_EMOTIONS
from fersyn.data.faceset import FaceSet
from fersyn.data.layout import Layout
from fersyn.errors import FersynError

log = logging.getLogger("fersyn")

USAGE = {
    "training": "train", "train": "train",
    "publictest": "val", "val": "val", "validation": "val", "valid": "val",
    "privatetest": "test", "test": "test", "testing": "test",
}


# Where each layout field applies, for the error that refuses it elsewhere.
_APPLIES_TO = {
    "labels": "class folders, annotation CSVs and the labels of CSV or array files",
    "annotations": "a dataset folder",
    "subject_from": "image folders and annotation CSVs",
    "ck_frames": "the original CK+ distribution (cohn-kanade-images/ beside Emotion/)",
    "faces": "image folders and annotation CSVs (`faces` detect)",
}


def refuse_layout(layout: Layout, names: Iterable[str], source: str, kind: str = "this dataset") -> None:
    """A layout field given for a dataset it does not apply to is an error, not silently ignored."""
    given = layout.describe()
    for name in names:
        if name in given:
            raise FersynError(f"{source}: `{name}` applies to {_APPLIES_TO[name]}, not to {kind}; leave it out")


def to_square_gray(image: np.ndarray, size: int) -> np.ndarray:
    """One image (H×W, H×W×1 or H×W×3, uint8) as a size×size uint8 gray image, centre-cropped to square."""
    from PIL import Image

    if image.ndim == 3:
        image = image[..., 0] if image.shape[-1] == 1 else np.asarray(Image.fromarray(image).convert("L"))
    height, width = image.shape
    if height != width:  # crop, not stretch: a squashed face would change its expression cues
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top : top + side, left : left + side]
    if image.shape[0] != size:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
    return image


def subjects_from_names(stems: list[str], source: str) -> np.ndarray | None:
    """Subject ids parsed from file names, when every name follows one known convention."""
    for pattern in SUBJECT_PATTERNS:
        matches = [pattern.match(stem) for stem in stems]
        if stems and all(matches):
            return np.array([m.group(1) for m in matches])
        if sum(map(bool, matches)) > len(stems) // 2:
            odd = next(stem for stem, m in zip(stems, matches) if not m)
            log.warning("%s: some file names (e.g. %s) carry no subject id, so splits cannot keep subjects apart", source, odd)
    return None


def assemble(
    source: str,
    images: list[np.ndarray] | np.ndarray,
    emotion_names: list[str],
    wanted: tuple[str, ...] | None,
    *,
    subjects: np.ndarray | None = None,
    usage: np.ndarray | None = None,
    names: np.ndarray,
    skipped: tuple[str, ...] = (),
) -> FaceSet:
    """Keep the wanted emotions (None: all present), check none is empty, and build the FaceSet."""
    emotion_array = np.array(emotion_names)
    present = set(emotion_array.tolist())
    wanted = wanted or tuple(e for e in ALL_EMOTIONS if e in present)
    keep = np.isin(emotion_array, wanted)
    dropped = {e: int(np.sum(emotion_array == e)) for e in sorted(present - set(wanted))}
    missing = [e for e in wanted if e not in present]
    if missing:
        have = ", ".join(e for e in ALL_EMOTIONS if e in present) or "nothing"
        raise FersynError(
            f"{source} has no images of {', '.join(missing)} (it has {have}); "
            f"choose `emotions` among those it has"
        )
    index = {e: i for i, e in enumerate(wanted)}
    kept = np.flatnonzero(keep)
    stacked = np.stack([images[i] for i in kept])[..., None]
    return FaceSet(
        images=stacked.astype(np.uint8),
        labels=np.array([index[emotion_names[i]] for i in kept]),
        emotions=wanted,
        source=source,
        subjects=None if subjects is None else subjects[kept],
        usage=None if usage is None else usage[kept],
        names=names[kept],
        dropped=dropped,
        skipped=skipped,
    )


def label_at(path: Path, row: int, label: object, layout: Layout) -> str:
    """The canonical emotion of one row's label, with the file and row named in the error."""
    try:
        return layout.emotion(label)
    except FersynError as error:
        shown = f" ({layout.shown_by(path)})" if layout.labels else ""
        raise FersynError(f"{path}: row {row}: {error}{shown}") from None


def usage_at(path: Path, row: int, usage: str) -> str:
    """The split ('train', 'val' or 'test') one row's Usage or split value names, with the file and row in the error."""
    key = usage.strip().lower()
    if key not in USAGE:
        raise FersynError(
            f"{path}: row {row}: unknown Usage '{usage}'; expected Training, PublicTest or PrivateTest "
            f"(or train, val, test)"
        )
    return USAGE[key]


# File-name conventions that carry a subject id (first group).
SUBJECT_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^(S\d+)_\d+_\d+"),  # CK+: S010_004_00000017.png
    re.compile(r"^([A-Z]{2})\.[A-Z]{2}\d*\.\d+"),  # JAFFE: KA.AN1.39.tiff
)
