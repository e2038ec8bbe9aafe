"""A grid of example faces per emotion, to check by eye that a dataset loaded as intended."""

from __future__ import annotations

import numpy as np

from fersyn.data.faceset import FaceSet


def preview_cells(faces: FaceSet, rows: int = 6, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Cells R×C×H×W×1 (columns = emotions) and row titles.

    Where subjects are known, each row is one subject showing every emotion it has (subjects with
    the most emotions first); otherwise row r holds a random face of each emotion.
    """
    rng = np.random.default_rng(seed)
    blank = np.zeros(faces.images.shape[1:], np.uint8)
    emotion_ids = range(len(faces.emotions))
    if faces.subjects is not None:
        names, owner = np.unique(faces.subjects, return_inverse=True)
        shown = np.zeros((len(names), len(faces.emotions)), bool)
        shown[owner, faces.labels] = True  # which emotions each subject shows
        order = rng.permutation(len(names))
        chosen = order[np.argsort(-shown[order].sum(1), kind="stable")[:rows]]
        cells = [[_first(faces, (owner == s) & (faces.labels == e), blank) for e in emotion_ids] for s in chosen]
        return np.array(cells), [str(names[s]) for s in chosen]
    order = rng.permutation(len(faces))
    by_emotion = [order[faces.labels[order] == e] for e in emotion_ids]
    rows = min(rows, max(len(members) for members in by_emotion))
    cells = [[faces.images[m[r]] if r < len(m) else blank for m in by_emotion] for r in range(rows)]
    return np.array(cells), [""] * rows


def _first(faces: FaceSet, mask: np.ndarray, blank: np.ndarray) -> np.ndarray:
    hits = np.flatnonzero(mask)
    return faces.images[hits[0]] if len(hits) else blank
