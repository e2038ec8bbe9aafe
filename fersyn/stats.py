"""The numbers of a benchmark sweep: the scores of one trained classifier, and the statistics of the
whole sweep — accuracies, gains, efficiencies and the bound — with uncertainty from the test faces
and the seeds together.

Every arm of a sweep (real only; each ratio of the GAN, of the augmentation control, of the positive
control) was scored on the same real test faces (each face in exactly one fold's test set) with the
same seeds. `analyse` takes, per arm, seed and face, whether the prediction was right, and draws one
joint bootstrap (scipy.stats.bootstrap) that resamples test *subjects* (clusters of near-identical
faces; single faces where no subject is known) and seeds with replacement. Every quantity is computed
on the same resample, so gains are paired on the same faces, seeds and folds. RULES says the rest.

Pure functions, so that a report can be recomputed from the results without TensorFlow. numpy, scipy
and statsmodels are imported inside the functions: the CLI shows RULES in its help, which must stay light.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np

ALPHA = 0.05
POWER = 0.80
MARGIN = 0.01  # the equivalence margin δ of the bound, as a fraction (1 point)
RESAMPLES = 9999
_BATCH = 500  # resamples drawn at once: memory stays bounded for tens of thousands of test faces
REAL_ONLY_ARM = "real only"  # the arm every curve starts from (ratio 0)

RULES = (
    "Uncertainty: 95 % percentile intervals from one bootstrap that resamples test subjects (faces where no "
    "subject is known) and seeds together, over every fold; gains are paired on the same faces, seeds and "
    f"folds. The gain of a ratio is its accuracy minus real-only's; its two-sided p-value comes from the same "
    f"bootstrap and is Holm-corrected for the number of ratios (significant: corrected p < {ALPHA:g}). "
    f"The minimum detectable effect is the gain found with {POWER:.0%} power after that correction: "
    "(z of alpha ÷ (2 × the number of ratios), Holm's strictest step, + z of the power) × the bootstrap standard "
    "error of a gain (median over ratios). "
    "The bound is the smallest ratio whose shortfall from the best ratio (the best chosen again in every resample) "
    "is shown to be below the margin: its one-sided bootstrap p-value for 'shortfall ≥ margin', Holm-corrected, "
    f"is below {ALPHA:g}. When no ratio is shown so, the bound is 'inconclusive'. The bound estimate (smallest ratio "
    "whose mean is within the margin of the best mean) is given with its bootstrap 95 % interval. The verdict says "
    "'helps up to ratio X' (X the bound) when a gain is significant ('up to at least X' when X is the largest "
    "ratio tried), 'hurts at ratio(s) Y' where losses are, "
    "'no gain larger than the margin' when real only is the bound (with the largest loss its intervals still "
    "allow), and 'inconclusive' otherwise, with the largest effect its intervals still allow; each verdict that "
    "finds no gain gives the minimum detectable effect. Efficiency = a curve's gain ÷ "
    "the positive control's gain at the same ratio (real faces of unused training subjects)."
)


@dataclass(frozen=True)
class Arm:
    """One way of training, scored on every test face: `curve` (REAL_ONLY_ARM, or a curve such as the GAN's)
    at `ratio` (None for an arm outside the ratio axis, such as synthetic only)."""

    curve: str
    ratio: float | None


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


def analyse(
    correct: np.ndarray,
    groups: Sequence[Any],
    arms: Sequence[Arm],
    *,
    margin: float = MARGIN,
    alpha: float = ALPHA,
    control: str | None = None,
    compare: Sequence[tuple[str, str]] = (),
    resamples: int = RESAMPLES,
    random_seed: int = 0,
) -> dict:
    """The statistics of a sweep from `correct[arm, seed, face]` (1 where that arm's model of that seed
    got that test face right) and `groups[face]` (its subject). `control` names the positive control's
    curve (efficiencies of the others against it); `compare` lists curve pairs (a, b) whose difference
    a − b is given per shared ratio. Accuracies and gains are fractions; see RULES."""
    import numpy as np
    from scipy import stats

    correct = np.asarray(correct, dtype=float)
    if correct.ndim != 3 or correct.shape[0] != len(arms) or correct.shape[2] != len(groups) or correct.size == 0:
        raise ValueError("correct must be arms × seeds × faces, with one group per face")
    if np.isnan(correct).any():
        raise ValueError("correct has missing values: keep only seeds every arm has")
    if len(set(map(str, groups))) < 2:
        raise ValueError("a bootstrap over test subjects needs at least two of them")
    _, group_of = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n_groups, n_seeds = group_of.max() + 1, correct.shape[1]
    hits = np.stack([np.bincount(group_of, weights=correct[a, s], minlength=n_groups)
                     for a in range(len(arms)) for s in range(n_seeds)]).reshape(len(arms), n_seeds, n_groups)
    faces = np.bincount(group_of, minlength=n_groups).astype(float)
    plan = _Plan(list(arms), margin, control, list(compare))

    def accuracy(group_draw: np.ndarray, seed_draw: np.ndarray) -> np.ndarray:
        """Arms × draws accuracies for draws of groups (draws × groups) and seeds (draws × seeds)."""
        group_weight = _counts(group_draw, n_groups)
        seed_weight = _counts(seed_draw, n_seeds)
        right = np.einsum("asg,bg,bs->ab", hits, group_weight, seed_weight, optimize=True)
        return right / ((group_weight @ faces) * seed_weight.sum(1))

    every_seed = np.arange(n_seeds)

    def statistic(group_draw: np.ndarray, seed_draw: np.ndarray | None = None, axis: int = -1) -> np.ndarray:
        group_draw = np.atleast_2d(group_draw)
        seed_draw = np.broadcast_to(every_seed, (len(group_draw), n_seeds)) if seed_draw is None else np.atleast_2d(seed_draw)
        return plan.values(accuracy(group_draw, seed_draw))

    point = statistic(np.arange(n_groups))[:, 0]
    samples = (np.arange(n_groups),) + ((every_seed,) if n_seeds > 1 else ())  # one seed cannot be resampled
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        # An efficiency over a zero control gain is undefined in some draws: its interval says so (NaN).
        warnings.simplefilter("ignore", (RuntimeWarning, stats.DegenerateDataWarning))
        result = stats.bootstrap(samples, statistic, paired=False, vectorized=True, batch=_BATCH,
                                 n_resamples=resamples, method="percentile", confidence_level=1 - alpha,
                                 rng=np.random.default_rng(random_seed))
    return plan.summary(point, result.bootstrap_distribution, alpha, n_groups, n_seeds, resamples)


def _counts(draw: np.ndarray, size: int) -> np.ndarray:
    """How often each of `size` items occurs in each row of `draw`."""
    import numpy as np

    weights = np.zeros((draw.shape[0], size))
    np.add.at(weights, (np.repeat(np.arange(draw.shape[0]), draw.shape[1]), draw.ravel()), 1)
    return weights


class _Plan:
    """Which quantities `analyse` bootstraps — every arm's accuracy, every gain, shortfall, efficiency and
    comparison — laid out in one vector, and their summary."""

    def __init__(self, arms: list[Arm], margin: float, control: str | None, compare: list[tuple[str, str]]) -> None:
        self.arms, self.margin, self.control, self.compare = arms, margin, control, compare
        try:
            self.baseline = arms.index(Arm(REAL_ONLY_ARM, 0.0))
        except ValueError:
            raise ValueError("the arms must include real only at ratio 0") from None
        self.curves: dict[str, dict[float, int]] = {}
        for index, arm in enumerate(arms):
            if arm.curve != REAL_ONLY_ARM and arm.ratio is not None:
                self.curves.setdefault(arm.curve, {0.0: self.baseline})[arm.ratio] = index
        for name in self.curves:
            self.curves[name] = dict(sorted(self.curves[name].items()))
        missing = [c for pair in compare for c in pair if c not in self.curves] + \
            ([control] if control is not None and control not in self.curves else [])
        if missing:
            raise ValueError(f"no arms of curve(s) {', '.join(missing)}")

    def values(self, accuracy: np.ndarray) -> np.ndarray:
        """The vector of every quantity, from arms × draws accuracies (rows: quantities, columns: draws)."""
        import numpy as np

        with np.errstate(invalid="ignore", divide="ignore"):  # an efficiency over a zero control gain
            return np.concatenate(self._rows(accuracy))

    def _rows(self, accuracy: np.ndarray) -> list[np.ndarray]:
        rows = [accuracy]
        for by_ratio in self.curves.values():
            curve = accuracy[list(by_ratio.values())]
            rows += [curve - accuracy[self.baseline], curve.max(0) - curve]  # gains, shortfalls from the best
        for name in self._efficiency_curves():
            rows.append(self._gains(accuracy, name, self._shared(name, self.control)) /
                        self._gains(accuracy, self.control, self._shared(name, self.control)))
        for first, second in self.compare:
            shared = self._shared(first, second)
            rows.append(self._gains(accuracy, first, shared) - self._gains(accuracy, second, shared))
        return rows

    def _gains(self, accuracy: np.ndarray, curve: str, ratios: list[float]) -> np.ndarray:
        return accuracy[[self.curves[curve][r] for r in ratios]] - accuracy[self.baseline]

    def _shared(self, first: str, second: str) -> list[float]:
        return [r for r in self.curves[first] if r > 0 and r in self.curves[second]]

    def _efficiency_curves(self) -> list[str]:
        return [] if self.control is None else [c for c in self.curves if c != self.control and self._shared(c, self.control)]

    def summary(self, point: np.ndarray, draws: np.ndarray, alpha: float, n_groups: int, n_seeds: int,
                resamples: int) -> dict:
        parts = _Parts(point, draws, alpha)
        arms = [{"curve": arm.curve, "ratio": arm.ratio, **parts.take_interval()} for arm in self.arms]
        curves = {}
        for name, by_ratio in self.curves.items():
            gains, shortfalls = parts.take(len(by_ratio)), parts.take(len(by_ratio))
            curves[name] = _curve_summary(name, list(by_ratio), [arms[i] for i in by_ratio.values()], gains, shortfalls,
                                          self.margin, alpha)
        efficiency = {}
        for name in self._efficiency_curves():
            shared = self._shared(name, self.control)
            block = parts.take(len(shared))
            control_gain = {e["ratio"]: e for e in curves[self.control]["ratios"]}
            efficiency[name] = [{"ratio": r, **block.interval(i),
                                 "control_gain_significant": control_gain[r]["gain_significant"]}
                                for i, r in enumerate(shared)]
        comparisons = []
        for first, second in self.compare:
            shared = self._shared(first, second)
            block = parts.take(len(shared))
            p = [block.two_sided_p(i) for i in range(len(shared))]
            corrected = _holm(p)
            comparisons.append({"curves": [first, second], "ratios": [
                {"ratio": r, **block.interval(i), "p": p[i], "p_holm": corrected[i], "significant": corrected[i] < alpha}
                for i, r in enumerate(shared)]})
        return {
            "rules": RULES, "alpha": alpha, "margin": self.margin, "resamples": resamples,
            "test_groups": int(n_groups), "seeds": int(n_seeds),
            "arms": arms, "curves": curves, "efficiency": efficiency, "comparisons": comparisons,
            "control": self.control,
        }


class _Parts:
    """Reads consecutive blocks of the bootstrapped vector: point estimates, draws, intervals, p-values."""

    def __init__(self, point: np.ndarray, draws: np.ndarray, alpha: float, start: int = 0) -> None:
        self.point, self.draws, self.alpha, self.start = point, draws, alpha, start
        self.next = start

    def take(self, size: int) -> "_Parts":
        block = _Parts(self.point, self.draws, self.alpha, self.next)
        self.next += size
        return block

    def take_interval(self) -> dict:
        return self.take(1).interval(0)

    def interval(self, i: int) -> dict:
        import numpy as np

        values = self.draws[self.start + i]
        values = values[np.isfinite(values)]
        low, high = (np.quantile(values, [self.alpha / 2, 1 - self.alpha / 2]) if len(values) else (np.nan, np.nan))
        return {"value": float(self.point[self.start + i]), "ci95": [float(low), float(high)],
                "se": float(values.std(ddof=1)) if len(values) > 1 else float("nan")}

    def draws_of(self, i: int) -> np.ndarray:
        return self.draws[self.start + i]

    def two_sided_p(self, i: int) -> float:
        """Percentile-bootstrap p-value of 'no difference' (consistent with the interval)."""
        values = self.draws_of(i)
        below, above = (values <= 0).sum(), (values >= 0).sum()
        return float(min(1.0, 2 * (min(below, above) + 1) / (len(values) + 1)))


def _holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values. Written here, not statsmodels' `multipletests` (which the tests check it
    against): that calls gc.collect() on every call, which took up to seconds per call in a process
    holding TensorFlow's many objects, and made a report 40× slower inside the test suite."""
    import numpy as np

    if not p_values:
        return []
    order = np.argsort(p_values)
    scaled = np.asarray(p_values, dtype=float)[order] * np.arange(len(p_values), 0, -1)
    adjusted = np.empty(len(p_values))
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted.tolist()


def _curve_summary(name: str, ratios: list[float], arms: list[dict], gains: _Parts, shortfalls: _Parts,
                   margin: float, alpha: float) -> dict:
    """One curve's gains (Holm over its ratios above 0), shortfalls, bound, minimum detectable effect and verdict."""
    import numpy as np
    from scipy import stats

    above = [i for i, r in enumerate(ratios) if r > 0]
    gain_p = {i: gains.two_sided_p(i) for i in above}
    gain_holm = dict(zip(above, _holm(list(gain_p.values()))))
    equivalence_p = [float(((shortfalls.draws_of(i) >= margin).sum() + 1) / (shortfalls.draws.shape[1] + 1))
                     for i in range(len(ratios))]
    equivalence_holm = _holm(equivalence_p)
    z = stats.norm.ppf(1 - alpha / (2 * max(len(above), 1))) + stats.norm.ppf(POWER)
    gain_intervals = {i: gains.interval(i) for i in above}
    standard_errors = [interval["se"] for interval in gain_intervals.values()]
    mde = float(z * np.median(standard_errors)) if standard_errors else float("nan")
    entries = []
    for i, ratio in enumerate(ratios):
        entry = {"ratio": ratio, "accuracy": arms[i]["value"], "ci95": arms[i]["ci95"]}
        if i in gain_p:
            gain = gain_intervals[i]
            entry.update(gain=gain["value"], gain_ci95=gain["ci95"], gain_se=gain["se"], gain_p=gain_p[i],
                         gain_p_holm=gain_holm[i], gain_significant=gain_holm[i] < alpha,
                         gain_mde=float(z * gain["se"]))
        shortfall = shortfalls.interval(i)
        entry.update(shortfall=shortfall["value"], shortfall_ci95=shortfall["ci95"],
                     equivalence_p_holm=equivalence_holm[i], within_margin=equivalence_holm[i] < alpha)
        entries.append(entry)
    best = int(np.argmax([e["accuracy"] for e in entries]))  # ties: the smaller ratio
    bound = next((e["ratio"] for e in entries if e["within_margin"]), None)
    estimate = _bound_estimate(ratios, shortfalls, margin, alpha)
    result = {
        "ratios": entries,
        "best": {"ratio": ratios[best], "accuracy": entries[best]["accuracy"], "ci95": entries[best]["ci95"]},
        "bound": {"ratio": bound, "conclusive": bound is not None, "margin": margin, **estimate},
        "mde": mde,
    }
    result["verdict"] = verdict(result, name)
    return result


def _bound_estimate(ratios: list[float], shortfalls: _Parts, margin: float, alpha: float) -> dict:
    """The smallest ratio whose mean shortfall is under the margin, and the interval of that choice over the
    bootstrap draws (each draw's own smallest ratio under the margin)."""
    import numpy as np

    point = [shortfalls.point[shortfalls.start + i] for i in range(len(ratios))]
    draws = np.stack([shortfalls.draws_of(i) for i in range(len(ratios))])
    first = np.argmax(draws < margin, axis=0)  # the best itself has shortfall 0: every draw has one
    chosen = np.asarray(ratios)[first]
    low, high = np.quantile(chosen, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    return {"estimate": ratios[next(i for i, s in enumerate(point) if s < margin)],
            "estimate_ci95": [float(low), float(high)]}


def verdict(curve: dict, name: str = "synthetic") -> str:
    """The plain-words verdict of one curve's summary (`name`: what its extra faces are); see RULES. It
    cannot contradict the numbers it is made from: each clause restates a test the summary holds."""
    margin, mde = 100 * curve["bound"]["margin"], 100 * curve["mde"]
    tested = [e for e in curve["ratios"] if "gain" in e]
    helps = [e for e in tested if e["gain_significant"] and e["gain"] > 0]
    hurts = [e for e in tested if e["gain_significant"] and e["gain"] < 0]
    bound = curve["bound"]["ratio"]
    clauses = []
    if helps:
        top = max(helps, key=lambda e: e["gain"])
        shown = f"ratio {top['ratio']:g}: {_points(top['gain'])} points {_interval(top['gain_ci95'])}"
        if bound is None:
            clauses.append(f"{name} data helps ({shown}); where the help stops is inconclusive at a margin of "
                           f"{margin:g} point(s) (minimum detectable effect {mde:.1f} points)")
        elif bound == 0:
            clauses.append(f"{name} data helps, but by less than the margin: real only is within {margin:g} "
                           f"point(s) of the best ratio ({shown})")
        elif bound == max(e["ratio"] for e in curve["ratios"]):  # no larger ratio was tried: no plateau seen
            clauses.append(f"{name} data helps up to at least ratio {bound:g}, the largest tried ({shown}); try "
                           "larger ratios to find where the help stops")
        else:
            clauses.append(f"{name} data helps up to ratio {bound:g} (more adds less than {margin:g} point(s); "
                           f"{shown})")
    if hurts:
        worst = min(hurts, key=lambda e: e["gain"])
        at = ", ".join(f"{e['ratio']:g}" for e in hurts)
        clauses.append(f"{name} data hurts at ratio(s) {at} (ratio {worst['ratio']:g}: {_points(worst['gain'])} points "
                       f"{_interval(worst['gain_ci95'])})")
    if clauses:
        return "; ".join(clauses)
    largest_loss = max((-e["gain_ci95"][0] for e in tested), default=0.0)
    if bound == 0:
        losses = (f"; losses up to {100 * largest_loss:.1f} points are not excluded" if largest_loss > margin / 100
                  else "")
        return (f"no gain larger than {margin:g} point(s): real only is within that margin of the best ratio{losses} "
                f"(minimum detectable effect {mde:.1f} points)")
    allowed = max((abs(x) for e in tested for x in e["gain_ci95"]), default=float("nan"))
    close = (f"; ratio {bound:g} is shown within {margin:g} point(s) of the best, real only is not" if bound is not None
             else f"; no ratio is shown within {margin:g} point(s) of the best")
    return (f"inconclusive: no gain or loss is significant{close}; effects up to {100 * allowed:.1f} points remain "
            f"possible (minimum detectable effect {mde:.1f} points)")


def _points(fraction: float) -> str:
    return f"{100 * fraction:+.1f}"


def _interval(ci: Sequence[float]) -> str:
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
