"""The numbers of a benchmark sweep: the scores of one trained classifier (one cell), and statistics
over seeds, up to the bound: the smallest synthetic ratio that does as well as the best one.

Pure functions, so that a report can be recomputed from results.csv without TensorFlow. numpy and
scipy are imported inside the functions: the CLI shows BOUND_RULE in its help, which must stay light.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    import numpy as np

ALPHA = 0.05

BOUND_RULE = (
    "The bound is the smallest synthetic-to-real ratio (0 = real data only) whose mean test accuracy "
    "over seeds is not significantly below that of the best ratio (the highest mean; ties go to the "
    f"smaller ratio). Significantly below means: p < {ALPHA:g} in a one-sided paired t-test over the "
    "seeds both ratios share when they share 3 or more; non-overlapping 95 % confidence intervals "
    "when they share 2; never when they share 1, since one seed allows no test."
)

# Accuracies are ratios of counts: a spread of differences this small is float noise, not variance.
_FLOAT_NOISE = 1e-12


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


def mean_ci(values: Iterable[float]) -> dict:
    """Mean, sample standard deviation and Student-t 95 % confidence interval of `values`;
    std and interval are NaN for fewer than two values."""
    import numpy as np
    from scipy import stats

    values = np.asarray(list(values), dtype=float)
    n = values.size
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return {"n": n, "mean": mean, "std": math.nan, "ci95": [math.nan, math.nan]}
    std = float(values.std(ddof=1))
    half_width = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half_width, mean + half_width]}


def find_bound(accuracy: Mapping[float, Mapping[int, float]], alpha: float = ALPHA) -> dict:
    """The bound of BOUND_RULE from `accuracy[ratio][seed]`, the test accuracy of each cell."""
    ratios = sorted(accuracy)
    if not ratios or not all(accuracy[ratio] for ratio in ratios):
        raise ValueError("need at least one ratio, each with at least one seed")
    means = {ratio: statistics.fmean(accuracy[ratio].values()) for ratio in ratios}
    best = max(ratios, key=lambda ratio: (means[ratio], -ratio))  # ties go to the smaller ratio
    below, p_values, methods = {best: False}, {str(best): None}, []
    for ratio in ratios:
        if ratio != best:
            below[ratio], p_values[str(ratio)], method = _significantly_below(accuracy[ratio], accuracy[best], alpha)
            if method not in methods:  # seeds lost to failed cells can make comparisons differ
                methods.append(method)
    return {
        "bound": next(ratio for ratio in ratios if not below[ratio]),
        "best_ratio": best,
        "best_mean": means[best],
        "falls_after_best": any(below[ratio] for ratio in ratios if ratio > best),
        "method": "; ".join(methods) or "one ratio only: nothing to compare",
        "p_values": {str(ratio): p_values[str(ratio)] for ratio in ratios},
    }


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], alpha: float = ALPHA) -> dict:
    """Mean of a[seed] − b[seed] over the seeds both share, the p-value of a two-sided paired t-test
    (3 or more shared seeds whose differences vary; else None) and whether the difference is
    significant: p < alpha, or, for a difference equal on every seed, whether it is non-zero (None
    under 3 seeds)."""
    import numpy as np
    from scipy import stats

    shared = sorted(set(a) & set(b))
    differences = np.array([a[seed] - b[seed] for seed in shared], dtype=float)
    mean = float(differences.mean()) if shared else math.nan
    p, significant = None, None
    if len(shared) >= 3:
        if np.ptp(differences) <= _FLOAT_NOISE:  # no variance, no t: as in BOUND_RULE, the sign decides
            significant = abs(mean) > _FLOAT_NOISE
        else:
            p = float(stats.ttest_1samp(differences, 0.0).pvalue)
            significant = p < alpha
    return {"seeds": len(shared), "difference": mean, "p_value": p, "significant": significant}


def _significantly_below(
    candidate: Mapping[int, float], best: Mapping[int, float], alpha: float
) -> tuple[bool, float | None, str]:
    """Whether `candidate` is significantly below `best` over their shared seeds, the p-value where
    a test gives one, and the test used in words."""
    import numpy as np
    from scipy import stats

    shared = sorted(set(candidate) & set(best))
    ours, theirs = np.array([candidate[s] for s in shared]), np.array([best[s] for s in shared])
    if len(shared) >= 3:
        differences = ours - theirs
        if np.ptp(differences) <= _FLOAT_NOISE:  # no variance, no t: the sign of the difference decides
            p = 0.0 if differences.mean() < -_FLOAT_NOISE else 1.0
        else:
            p = float(stats.ttest_rel(ours, theirs, alternative="less").pvalue)
        return p < alpha, p, f"one-sided paired t-test over {len(shared)} seeds, alpha {alpha:g}"
    if len(shared) == 2:
        below = mean_ci(ours)["ci95"][1] < mean_ci(theirs)["ci95"][0]
        return below, None, "95 % confidence-interval overlap over 2 seeds (too few for a t-test)"
    seeds = "one seed allows" if shared else "no seed shared with the best ratio allows"
    return False, None, f"no test: {seeds} none, so no ratio counts as significantly below the best"
