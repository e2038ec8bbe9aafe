"""The numbers of a benchmark sweep: the scores of one trained classifier, and the statistics of the
whole sweep — accuracies, gains, efficiencies, the bound and where the curve falls back — with
uncertainty from the test faces, the classifiers' seeds and the generator fits together.

Every arm of a sweep (real only; each ratio of the GAN, of the augmentation control, of the positive
control) was scored on the same real test faces (each face in exactly one fold's test set) by models
of the same seeds. `analyse` takes, per arm, model and face, whether the prediction was right, and
draws one hierarchical bootstrap: within each fold (a stratum), test *subjects* (clusters of
near-identical faces; single faces where no subject is known) are resampled with replacement, and so
are the fold's top units of models — its generator fits, each carrying the seeds that used it (or the
seeds themselves with one fit). Units are drawn U − 1 of U: with as few as two fits per fold that
gives an unbiased variance of their mean, where U of U gives half of it. Every quantity is computed on
the same resample, so gains are paired on the same faces, models and folds. RULES says the rest.

Written here rather than with scipy.stats.bootstrap, which draws every sample n of n and cannot draw
the units U − 1 of U within strata. Pure functions, so that a report can be recomputed from the results
without TensorFlow; numpy, scipy and statsmodels are imported inside the functions (the CLI shows
RULES in its help, which must stay light).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from fersyn.analysis.rules import ALPHA, BORDERLINE_Z, MARGIN, MAX_RESAMPLES, POWER, REAL_ONLY_ARM, RESAMPLES, RULES
from fersyn.analysis.verdicts import verdict

if TYPE_CHECKING:
    import numpy as np

_BATCH = 500  # resamples drawn at once: memory stays bounded for tens of thousands of test faces
_PART_DRAWS = 400  # resamples of one fold (or one fit of a fold) for the variance of its gain: its Q

@dataclass(frozen=True)
class Arm:
    """One way of training, scored on every test face: `curve` (REAL_ONLY_ARM, or a curve such as the GAN's)
    at `ratio` (None for an arm outside the ratio axis, such as synthetic only)."""

    curve: str
    ratio: float | None


def analyse(
    correct: np.ndarray,
    groups: Sequence[Any],
    arms: Sequence[Arm],
    *,
    strata: Sequence[Any] | None = None,
    units: Sequence[Any] | None = None,
    margin: float = MARGIN,
    alpha: float = ALPHA,
    control: str | None = None,
    compare: Sequence[tuple[str, str]] = (),
    resamples: int = RESAMPLES,
    max_resamples: int = MAX_RESAMPLES,
    random_seed: int = 0,
) -> dict:
    """The statistics of a sweep from `correct[arm, model, face]` (1 where that arm's model got that test
    face right; a face's models are those of its stratum), `groups[face]` (its subject), `strata[face]`
    (the fold whose models scored it; default: one stratum) and `units[model]` (the generator fit a model
    used; default: every model its own unit). `control` names the positive control's curve (efficiencies of
    the others against it); `compare` lists curve pairs (a, b) whose difference a − b is given per shared
    ratio. Accuracies and gains are fractions; see RULES."""
    import numpy as np

    correct = np.asarray(correct, dtype=float)
    if correct.ndim != 3 or correct.shape[0] != len(arms) or correct.shape[2] != len(groups) or correct.size == 0:
        raise ValueError("correct must be arms × models × faces, with one group per face")
    if np.isnan(correct).any():
        raise ValueError("correct has missing values: keep only seeds every arm has")
    design = _Design(groups, strata, units, correct)
    plan = _Plan(list(arms), margin, control, list(compare))
    rng = np.random.default_rng(random_seed)
    point = plan.values(design.accuracy(*design.whole()))[:, 0]
    draws = design.draws(plan, resamples, rng)
    summary = plan.summary(point, draws, alpha)
    if summary["borderline"] and max_resamples > draws.shape[1]:
        draws = np.concatenate([draws, design.draws(plan, max_resamples - draws.shape[1], rng)], axis=1)
        summary = plan.summary(point, draws, alpha)
    parts = design.parts(rng)
    for name, curve in summary["curves"].items():
        for entry in curve["ratios"][1:]:
            entry["heterogeneity"] = parts.heterogeneity(plan.baseline, plan.curves[name][entry["ratio"]])
    return {**summary, "test_groups": design.n_groups, "models": design.n_models, "design": design.describe()}


class _Design:
    """What the bootstrap resamples together: each face's stratum (fold) and subject, each model's unit (fit)."""

    def __init__(self, groups: Sequence[Any], strata: Sequence[Any] | None, units: Sequence[Any] | None,
                 correct: np.ndarray) -> None:
        import numpy as np

        n_arms, self.n_models, n_faces = correct.shape
        strata = np.zeros(n_faces, dtype=int) if strata is None else np.asarray(strata)
        units = np.arange(self.n_models) if units is None else np.asarray(units)
        if len(strata) != n_faces or len(units) != self.n_models:
            raise ValueError("give one stratum per face and one unit per model")
        if len(set(map(str, groups))) < 2:
            raise ValueError("a bootstrap over test subjects needs at least two of them")
        _, stratum_of_face = np.unique(strata.astype(str), return_inverse=True)
        # A subject is a cluster within its stratum: the same name in two folds is two clusters.
        keys = np.char.add(np.char.add(stratum_of_face.astype(str), "/"), np.asarray(groups, dtype=str))
        _, group_of_face = np.unique(keys, return_inverse=True)
        self.n_groups = int(group_of_face.max() + 1)
        self.stratum_of_group = np.zeros(self.n_groups, dtype=int)
        self.stratum_of_group[group_of_face] = stratum_of_face
        self.n_strata = int(stratum_of_face.max() + 1)
        self.members = [np.flatnonzero(self.stratum_of_group == k) for k in range(self.n_strata)]
        _, self.unit_of_model = np.unique(units.astype(str), return_inverse=True)
        self.n_units = int(self.unit_of_model.max() + 1)
        self.hits = np.stack([np.bincount(group_of_face, weights=correct[a, m], minlength=self.n_groups)
                              for a in range(n_arms) for m in range(self.n_models)]).reshape(n_arms, self.n_models, -1)
        self.faces = np.bincount(group_of_face, minlength=self.n_groups).astype(float)

    def describe(self) -> dict:
        return {"strata": self.n_strata, "units_per_stratum": self.n_units, "units_drawn": max(self.n_units - 1, 1),
                "models": self.n_models}

    def whole(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights of the data as they are: every subject and every model once."""
        import numpy as np

        return np.ones((1, self.n_groups)), np.ones((1, self.n_strata, self.n_models))

    def accuracy(self, subject_weights: np.ndarray, model_weights: np.ndarray) -> np.ndarray:
        """Arms × draws accuracies for weights of subjects (draws × groups) and of models per stratum
        (draws × strata × models)."""
        import numpy as np

        weights = model_weights[:, self.stratum_of_group, :] * subject_weights[:, :, None]  # draws × groups × models
        right = np.einsum("amg,bgm->ab", self.hits, weights, optimize=True)
        return right / np.einsum("g,bgm->b", self.faces, weights, optimize=True)

    def draws(self, plan: "_Plan", count: int, rng: np.random.Generator) -> np.ndarray:
        """`count` resamples of every quantity of `plan` (quantities × draws)."""
        import numpy as np

        blocks = []
        for start in range(0, count, _BATCH):
            size = min(_BATCH, count - start)
            subjects = np.zeros((size, self.n_groups))
            for members in self.members:
                subjects[:, members] = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=size)
            units = rng.multinomial(max(self.n_units - 1, 1), np.full(self.n_units, 1 / self.n_units),
                                    size=(size, self.n_strata))
            blocks.append(plan.values(self.accuracy(subjects, units[:, :, self.unit_of_model])))
        return np.concatenate(blocks, axis=1)

    def parts(self, rng: np.random.Generator, count: int = _PART_DRAWS) -> "_PartsOfDesign":
        """Every arm's accuracy within each stratum (all its models) and within each unit of each stratum, as
        they are and over `count` resamples of that part alone (subjects, and units U − 1 of U), for the
        heterogeneity between strata and between units."""
        import numpy as np

        def part(subjects: np.ndarray, units: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
            """Point (arms) and draws (arms × count) of the subjects `subjects` and the units `units` (None: drawn)."""
            models = np.ones((1, self.n_strata, self.n_models))
            chosen = np.zeros((1, self.n_groups))
            chosen[:, subjects] = 1
            if units is not None:
                models = models * np.isin(self.unit_of_model, units)[None, None, :]
            point = self.accuracy(chosen, models)[:, 0]
            weights = np.zeros((count, self.n_groups))
            weights[:, subjects] = rng.multinomial(len(subjects), np.full(len(subjects), 1 / len(subjects)), size=count)
            if units is None:
                drawn = rng.multinomial(max(self.n_units - 1, 1), np.full(self.n_units, 1 / self.n_units), size=count)
                models = np.repeat(drawn[:, None, self.unit_of_model], self.n_strata, axis=1).astype(float)
            else:
                models = np.broadcast_to(models, (count, self.n_strata, self.n_models))
            return point, self.accuracy(weights, models)

        strata = [part(members, None) for members in self.members]
        units = [[part(members, [unit]) for unit in range(self.n_units)] for members in self.members]
        return _PartsOfDesign(strata, units)


@dataclass
class _PartsOfDesign:
    """Per stratum, and per unit of each stratum: (point accuracies per arm, arms × draws)."""

    strata: list[tuple[np.ndarray, np.ndarray]]
    units: list[list[tuple[np.ndarray, np.ndarray]]]

    def heterogeneity(self, baseline: int, arm: int) -> dict:
        """Cochran's Q and the DerSimonian–Laird SD of the gain of `arm` over `baseline`, between strata (each
        stratum's gain over all its models) and between units within strata (pooled over strata); each gain's
        variance from resamples of its own part. Written here: statsmodels' combine_effects meta-analyses one
        group at a time and gives no Q pooled over groups."""
        def gain(part: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
            point, draws = part
            return float(point[arm] - point[baseline]), max(float((draws[arm] - draws[baseline]).var(ddof=1)), 1e-12)

        return {"between_strata": _cochran([[gain(part) for part in self.strata]]),
                "between_units": _cochran([[gain(part) for part in stratum] for stratum in self.units])}


def _cochran(groups: list[list[tuple[float, float]]]) -> dict | None:
    """Q (summed over groups of (value, variance) pairs, each against its own weighted mean), its degrees of
    freedom and p-value, and the DerSimonian–Laird SD between values; None with fewer than two values a group."""
    import numpy as np
    from scipy import stats

    if min(len(group) for group in groups) < 2:
        return None
    q = df = scale = 0.0
    for group in groups:
        values, variances = np.array(group).T
        weights = 1 / variances
        q += float((weights * (values - (weights * values).sum() / weights.sum()) ** 2).sum())
        df += len(group) - 1
        scale += float(weights.sum() - (weights ** 2).sum() / weights.sum())
    return {"q": q, "df": int(df), "p": float(stats.chi2.sf(q, df)), "sd": float(np.sqrt(max(0.0, (q - df) / scale)))}


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

    def summary(self, point: np.ndarray, draws: np.ndarray, alpha: float) -> dict:
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
            tests = _tests([block.p_value(i, sides=2) for i in range(len(shared))], alpha)
            comparisons.append({"curves": [first, second], "ratios": [
                {"ratio": r, **block.interval(i), **tests[i]} for i, r in enumerate(shared)]})
        borderline = sum(bool(e.get(key)) for curve in curves.values() for e in curve["ratios"]
                         for key in ("gain_borderline", "within_margin_borderline", "fall_borderline"))
        borderline += sum(e["borderline"] for comparison in comparisons for e in comparison["ratios"])
        return {
            "rules": RULES, "alpha": alpha, "margin": self.margin, "resamples": int(draws.shape[1]),
            "borderline": borderline, "arms": arms, "curves": curves, "efficiency": efficiency,
            "comparisons": comparisons, "control": self.control,
        }


@dataclass(frozen=True)
class _PValue:
    """A bootstrap p-value: `count` of `resamples` draws on the far side of the null (of each side, for a
    two-sided p-value: the smaller count)."""

    count: int
    resamples: int
    sides: int

    @property
    def value(self) -> float:
        return min(1.0, self.sides * (self.count + 1) / (self.resamples + 1))

    @property
    def relative_error(self) -> float:
        """Its Monte Carlo standard error ÷ its value (a binomial proportion's)."""
        share = (self.count + 1) / (self.resamples + 1)
        return ((1 - share) / (self.resamples * share)) ** 0.5


def _tests(p_values: list[_PValue], alpha: float) -> list[dict]:
    """Holm-corrected decisions over one family: p, corrected p, whether p sits at its floor (no draw on the
    far side: the true p is at most that), borderline (the corrected p within its Monte Carlo error of alpha;
    the entry's own relative error stands for that of the step that set the corrected value) and significant."""
    corrected = _holm([p.value for p in p_values])
    decisions = []
    for p, holm in zip(p_values, corrected):
        borderline = holm < 1 and abs(holm - alpha) < BORDERLINE_Z * holm * p.relative_error
        decisions.append({"p": p.value, "p_holm": holm, "p_at_floor": p.count == 0, "borderline": borderline,
                          "significant": holm < alpha and not borderline})
    return decisions


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

    def value_of(self, i: int) -> float:
        return float(self.point[self.start + i])

    def draws_of(self, i: int) -> np.ndarray:
        return self.draws[self.start + i]

    def p_value(self, i: int, *, sides: int) -> _PValue:
        """Of 'no difference' (two sides, consistent with the interval) or of 'at most 0' (one side)."""
        values = self.draws_of(i)
        far = (values <= 0).sum() if sides == 1 else min((values <= 0).sum(), (values >= 0).sum())
        return _PValue(int(far), len(values), sides)


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
    """One curve's gains (Holm over its ratios above 0), shortfalls, bound, falls back from the best (Holm over
    the ratios above it), minimum detectable effect and verdict."""
    import numpy as np
    from scipy import stats

    above = [i for i, r in enumerate(ratios) if r > 0]
    gain_tests = dict(zip(above, _tests([gains.p_value(i, sides=2) for i in above], alpha)))
    resamples = shortfalls.draws.shape[1]
    equivalence = _tests([_PValue(int((shortfalls.draws_of(i) >= margin).sum()), resamples, 1) for i in range(len(ratios))],
                         alpha)
    best = int(np.argmax([arm["value"] for arm in arms]))  # ties: the smaller ratio
    later = list(range(best + 1, len(ratios))) if best else []  # falling back from real only is hurting
    falls = _Parts(np.array([gains.value_of(best) - gains.value_of(i) for i in later]),
                   np.array([gains.draws_of(best) - gains.draws_of(i) for i in later]).reshape(len(later), resamples), alpha)
    # One-sided: the draws' share where ratio i is not below the best.
    fall_tests = dict(zip(later, _tests([_PValue(int((falls.draws_of(j) <= 0).sum()), resamples, 1)
                                         for j in range(len(later))], alpha)))
    z = stats.norm.ppf(1 - alpha / (2 * max(len(above), 1))) + stats.norm.ppf(POWER)
    gain_intervals = {i: gains.interval(i) for i in above}
    standard_errors = [interval["se"] for interval in gain_intervals.values()]
    mde = float(z * np.median(standard_errors)) if standard_errors else float("nan")
    entries = []
    for i, ratio in enumerate(ratios):
        entry = {"ratio": ratio, "accuracy": arms[i]["value"], "ci95": arms[i]["ci95"]}
        if i in gain_tests:
            gain, test = gain_intervals[i], gain_tests[i]
            entry.update(gain=gain["value"], gain_ci95=gain["ci95"], gain_se=gain["se"], gain_p=test["p"],
                         gain_p_holm=test["p_holm"], gain_p_at_floor=test["p_at_floor"],
                         gain_borderline=test["borderline"], gain_significant=test["significant"],
                         gain_mde=float(z * gain["se"]))
        shortfall = shortfalls.interval(i)
        entry.update(shortfall=shortfall["value"], shortfall_ci95=shortfall["ci95"],
                     equivalence_p_holm=equivalence[i]["p_holm"], within_margin=equivalence[i]["significant"],
                     within_margin_borderline=equivalence[i]["borderline"])
        if i in fall_tests:
            fall, test = falls.interval(i - best - 1), fall_tests[i]
            entry.update(fall=fall["value"], fall_ci95=fall["ci95"], fall_p_holm=test["p_holm"],
                         fall_p_at_floor=test["p_at_floor"], fall_borderline=test["borderline"],
                         falls_back=test["significant"])
        entries.append(entry)
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

    point = [shortfalls.value_of(i) for i in range(len(ratios))]
    draws = np.stack([shortfalls.draws_of(i) for i in range(len(ratios))])
    first = np.argmax(draws < margin, axis=0)  # the best itself has shortfall 0: every draw has one
    chosen = np.asarray(ratios)[first]
    low, high = np.quantile(chosen, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    return {"estimate": ratios[next(i for i, s in enumerate(point) if s < margin)],
            "estimate_ci95": [float(low), float(high)]}
