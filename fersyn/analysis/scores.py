"""The scores of one trained classifier on its test faces: accuracy, macro-F1, recall per emotion, confusion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np
def classification_scores(true: np.ndarray, predicted: np.ndarray, emotions: Sequence[str]) -> dict:
    """Accuracy, macro-F1, recall per emotion and the confusion matrix of integer labels (indices
    into `emotions`); confusion[i][j] counts faces of emotion i predicted as emotion j."""
    import numpy as np

    true, predicted = np.asarray(true, dtype=int), np.asarray(predicted, dtype=int)
    classes = len(emotions)
    if true.size == 0 or true.shape != predicted.shape or min(true.min(), predicted.min()) < 0 \
            or max(true.max(), predicted.max()) >= classes:
        raise ValueError(f"need equally long, non-empty label arrays with values in 0..{classes - 1}")
    confusion = np.bincount(true * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    hits, true_counts, predicted_counts = np.diag(confusion), confusion.sum(1), confusion.sum(0)
    with np.errstate(invalid="ignore"):
        recall = hits / true_counts  # NaN for an emotion absent from the test faces
    seen = true_counts + predicted_counts > 0  # an emotion neither shown nor predicted has no F1
    f1 = 2 * hits[seen] / (true_counts + predicted_counts)[seen]
    return {
        "accuracy": float(hits.sum() / true.size),
        "macro_f1": float(f1.mean()),
        "recall": {emotion: float(value) for emotion, value in zip(emotions, recall)},
        "confusion": confusion.tolist(),
    }
