"""The plain-text table of a sweep's summary: every arm's accuracy and gain with its interval and corrected p,
the bound and verdict per curve, heterogeneity, efficiencies and comparisons, and the notes a reader needs."""

from __future__ import annotations

import textwrap

from fersyn.analysis.arms import CURVES, POSITIVE_CONTROL, SYNTHETIC_ONLY_ARM
from fersyn.analysis.rules import ALPHA, REAL_ONLY_ARM
from fersyn.sweep.spec import REAL_PLUS_SYNTHETIC

_TABLE_WIDTH = 100


def format_table(summary: dict) -> str:
    """Per classifier: each arm's accuracy, each curve's gains, bound and verdict, efficiencies against the
    positive control, the GAN minus augmentation, and cells whose budget may have been binding."""
    folds = f"{summary['folds']} folds × " if summary["folds"] > 1 else ""
    blocks = [textwrap.fill(
        f"Accuracy on real test faces, % (budget: {summary['budget']}; mean over {folds}seeds; unadjusted 95 % bootstrap "
        f"CI over the {summary['test_faces']} test faces' {summary['grouped_by']}s and the models; margin "
        f"{100 * summary['margin']:g} pt)",
        _TABLE_WIDTH, subsequent_indent="  ")]
    if summary.get("synthetic_quality"):
        blocks.append(textwrap.fill(_quality_line(summary["synthetic_quality"]), _TABLE_WIDTH, subsequent_indent="  "))
    for name, result in summary["classifiers"].items():
        blocks.append(_classifier_block(name, result))
    if summary["failed_cells"]:
        blocks.append(f"{len(summary['failed_cells'])} failed cell(s) not counted; see summary.json")
    if summary["provenance"].get("precision_note"):
        blocks.append(textwrap.fill("note: " + summary["provenance"]["precision_note"], _TABLE_WIDTH, subsequent_indent="  "))
    return "\n\n".join(blocks) + "\n"


def _quality_line(quality: dict) -> str:
    """Who read the synthetic sets independently, and how often they read the intended emotion."""
    sets = f"{quality['sets']} synthetic set(s)"
    if quality["not_recorded"] == quality["sets"]:
        return f"{sets}: independent fidelity not recorded (made before fersyn measured it: generate them again)"
    readings = "; ".join(f"{100 * r['mean']:.0f} % by {name}" + (f" (sets {100 * r['min']:.0f}–{100 * r['max']:.0f} %)"
                                                                  if r["sets"] > 1 else "")
                         for name, r in quality["independent"].items())
    line = (f"{sets}: independent fidelity {readings}" if readings else
            f"WARNING: no independent judge read the {sets}: their fidelity is measured only by judges that took part "
            "in making them or saw their generators' training or pretraining faces")
    if quality["left_out"]:
        line += "; not independent: " + ", ".join(f"{name} ({why})" for name, why in quality["left_out"].items())
    if quality["unavailable"]:
        line += "; unavailable here: " + ", ".join(quality["unavailable"])
    if quality["not_recorded"]:
        line += f"; {quality['not_recorded']} set(s) made before fersyn measured it"
    return line


def _classifier_block(name: str, result: dict) -> str:
    analysis = result["analysis"]
    if analysis is None:
        return f"{name}: {result['note']}"
    lines = [f"{name} ({len(result['seeds'])} seed(s), {analysis['test_groups']} test groups)"]
    late = result.get("late_peaks", {})
    peaks = lambda arm: "{late}/{cells}".format(**late[arm]) if arm in late else ""  # noqa: E731
    header = ["curve", "ratio", "accuracy", "gain pts", "p (Holm)", "MDE", "late"]
    rows = [header]
    for arm in analysis["arms"]:
        if arm["curve"] in (REAL_ONLY_ARM, SYNTHETIC_ONLY_ARM):
            rows.append([arm["curve"], "0" if arm["ratio"] == 0 else "–", _with_ci(arm["value"], arm["ci95"]), "", "",
                         "", peaks(arm["curve"])])
    for curve, numbers in analysis["curves"].items():
        for entry in numbers["ratios"]:
            if entry["ratio"] == 0:
                continue
            rows.append([curve, f"{entry['ratio']:g}", _with_ci(entry["accuracy"], entry["ci95"]),
                         _with_ci(entry["gain"], entry["gain_ci95"], signed=True), _p_text(entry, "gain_", digits=3),
                         f"{100 * entry['gain_mde']:.1f}", peaks(f"{curve} {entry['ratio']:g}")])
    lines += _aligned(rows)
    lines.append(textwrap.fill(
        "intervals: 95 %, unadjusted; p: Holm-corrected within each curve (the family: its ratios above 0), * below "
        f"{analysis['alpha']:g}, ≤ at the bootstrap's floor (no resample beyond 0), ? borderline (within its Monte Carlo "
        f"error of {analysis['alpha']:g} after {analysis['resamples']} resamples); resampled: "
        + analysis.get("resampled", "test subjects and seeds"), _TABLE_WIDTH, subsequent_indent="  "))
    for curve, numbers in analysis["curves"].items():
        bound = numbers["bound"]
        shown = f"ratio {bound['ratio']:g}" if bound["conclusive"] else "inconclusive"
        lines.append(textwrap.fill(
            f"{curve}: bound {shown} (margin {100 * bound['margin']:g} pt; estimate {bound['estimate']:g}, 95 % CI "
            f"[{bound['estimate_ci95'][0]:g}, {bound['estimate_ci95'][1]:g}]; best ratio {numbers['best']['ratio']:g}, "
            f"{_with_ci(numbers['best']['accuracy'], numbers['best']['ci95'])}) — {numbers['verdict']}",
            _TABLE_WIDTH, subsequent_indent="  ", break_on_hyphens=False))
        spread = _heterogeneity(curve, numbers, fits=result.get("generator_fits", 1))
        if spread:
            lines.append(textwrap.fill(spread, _TABLE_WIDTH, subsequent_indent="  "))
    for curve, entries in analysis["efficiency"].items():
        parts = [f"ratio {e['ratio']:g}: {_ratio_with_ci(e)}{'' if e['control_gain_significant'] else ' (control gain not significant)'}"
                 for e in entries]
        lines.append(textwrap.fill(f"efficiency of {curve} (its gain ÷ the {POSITIVE_CONTROL} positive control's): "
                                   + "; ".join(parts), _TABLE_WIDTH, subsequent_indent="  "))
    for comparison in analysis["comparisons"]:
        first, second = comparison["curves"]
        parts = [f"ratio {e['ratio']:g}: {_with_ci(e['value'], e['ci95'], signed=True)} (p {_p_text(e)})"
                 for e in comparison["ratios"]]
        lines.append(textwrap.fill(f"{first} − {second} (Holm over its {len(parts)} ratios): " + "; ".join(parts),
                                   _TABLE_WIDTH, subsequent_indent="  "))
    real_only = late.get(REAL_ONLY_ARM)
    if real_only and real_only["late"]:
        lines.append(textwrap.fill(f"warning: {real_only['late']} of {real_only['cells']} real-only cells kept weights from "
                                   "the last 10 % of their budget: it may be binding (raise --steps or --epochs); "
                                   "'late' counts such cells per arm", _TABLE_WIDTH, subsequent_indent="  "))
    short = {arm: n for arm, n in result.get("control_repeats", {}).items() if n}
    if short:
        lines.append(textwrap.fill(f"note: the {POSITIVE_CONTROL} faces ran short, so the positive control repeats faces "
                                   "(no longer perfect new data) at " + ", ".join(f"{arm} (up to {n} repeated)"
                                                                                  for arm, n in short.items()),
                                   _TABLE_WIDTH, subsequent_indent="  "))
    if result.get("cross"):
        cross = {a["curve"] + ("" if a["ratio"] in (None, 0) else f" {a['ratio']:g}"): a for a in result["cross"]["arms"]}
        lines.append(textwrap.fill("cross-dataset test: " + "; ".join(f"{k} {_with_ci(a['value'], a['ci95'])}"
                                                                      for k, a in cross.items()),
                                   _TABLE_WIDTH, subsequent_indent="  "))
    if result["incomplete_arms"]:
        lines.append(f"left out (not every seed and fold finished): {', '.join(result['incomplete_arms'])}")
    return "\n".join(lines)


def _p_text(entry: dict, prefix: str = "", *, digits: int = 2) -> str:
    """A corrected p-value as tables print it: '≤' at the bootstrap's floor, '*' significant, '?' borderline."""
    floor = "≤" if entry.get(f"{prefix}p_at_floor") else ""
    mark = " *" if entry[f"{prefix}significant"] else " ?" if entry.get(f"{prefix}borderline") else ""
    return f"{floor}{entry[f'{prefix}p_holm']:.{digits}g}{mark}"


def _heterogeneity(curve: str, numbers: dict, *, fits: int) -> str:
    """The spread of the curve's gain at its best ratio between folds and between fits (or seeds) within folds,
    and a warning where folds differ beyond what their fits do: that is not in the intervals."""
    best = next((e for e in numbers["ratios"] if e["ratio"] == numbers["best"]["ratio"] and e["ratio"] > 0), None)
    spread = (best or {}).get("heterogeneity") or {}
    within = " within folds" if spread.get("between_strata") else ""
    generated = curve == CURVES[REAL_PLUS_SYNTHETIC]  # a control's units are its seeds, whatever the fits
    names = {"between_strata": "between folds",
             "between_units": f"between {'fits' if generated and fits > 1 else 'seeds'}{within}"}
    parts = [f"{names[key]} SD {100 * test['sd']:.1f} points (Q {test['q']:.1f} on {test['df']} df, p {test['p']:.2g})"
             for key, test in spread.items() if test]
    if not parts:
        return ""
    folds = spread.get("between_strata")
    covered = ("fits within folds only" if fits > 1 else "no generator fit (one per fold: run --generator-fits 2)"
               ) if generated else "seeds within folds only"
    warning = ("; warning: the folds differ more than their test faces explain, and the intervals cover " + covered
               if folds and folds["p"] < ALPHA else "")
    return f"{curve} gain at ratio {best['ratio']:g}, heterogeneity: " + "; ".join(parts) + warning


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join([row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]).rstrip()
            for row in rows]


def _with_ci(value: float, ci: list, *, signed: bool = False) -> str:
    number = f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    if ci is None or ci[0] is None:
        return number
    return f"{number} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _ratio_with_ci(entry: dict) -> str:
    if entry["value"] is None:
        return "undefined (no control gain)"
    low, high = entry["ci95"]
    return f"{entry['value']:.2f}" + ("" if low is None else f" [{low:.2f}, {high:.2f}]")
