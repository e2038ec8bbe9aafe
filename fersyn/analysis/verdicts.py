"""A curve's verdict in words ("helps at ratio X; more falls back by Y", "inconclusive", ...) from its statistics
(fersyn.analysis.stats), by the rules of fersyn.analysis.rules."""

from __future__ import annotations

from typing import Sequence


def verdict(curve: dict, name: str = "synthetic") -> str:
    """The plain-words verdict of one curve's summary (`name`: what its extra faces are); see RULES. It
    cannot contradict the numbers it is made from: each clause restates a test the summary holds."""
    margin, mde = 100 * curve["bound"]["margin"], 100 * curve["mde"]
    tested = [e for e in curve["ratios"] if "gain" in e]
    helps = [e for e in tested if e["gain_significant"] and e["gain"] > 0]
    hurts = [e for e in tested if e["gain_significant"] and e["gain"] < 0]
    fallen = [e for e in curve["ratios"] if e.get("falls_back")]
    bound = curve["bound"]["ratio"]
    clauses = []
    if helps:
        top = max(helps, key=lambda e: e["gain"])
        shown = f"ratio {top['ratio']:g}: {_points(top['gain'])} points {_interval(top['gain_ci95'])}"
        beyond = [e for e in curve["ratios"] if bound is not None and e["ratio"] > bound]
        if bound is None:
            clauses.append(f"{name} data helps ({shown}); where the help stops is inconclusive at a margin of "
                           f"{margin:g} point(s) (minimum detectable effect {mde:.1f} points)")
        elif bound == 0:
            clauses.append(f"{name} data helps, but by less than the margin: real only is within {margin:g} "
                           f"point(s) of the best ratio ({shown})")
        elif not beyond:  # no larger ratio was tried: no plateau seen
            clauses.append(f"{name} data helps up to at least ratio {bound:g}, the largest tried ({shown}); try "
                           "larger ratios to find where the help stops")
        elif fallen:
            clauses.append(f"{name} data helps up to ratio {bound:g} ({shown}), then falls back: {_fall(fallen)}")
            fallen = []
        elif all(e["within_margin"] for e in beyond):
            clauses.append(f"{name} data helps up to ratio {bound:g} ({shown}), then stays flat within {margin:g} "
                           f"point(s) up to ratio {beyond[-1]['ratio']:g}")
        else:
            clauses.append(f"{name} data helps up to ratio {bound:g} (more adds less than {margin:g} point(s); "
                           f"{shown}); beyond it, neither flat within the margin nor falling back is shown")
    if fallen:
        clauses.append(f"past the best ratio {curve['best']['ratio']:g} it falls back: {_fall(fallen)}")
    if hurts:
        worst = min(hurts, key=lambda e: e["gain"])
        at = ", ".join(f"{e['ratio']:g}" for e in hurts)
        clauses.append(f"{name} data hurts at ratio(s) {at} (ratio {worst['ratio']:g}: {_points(worst['gain'])} points "
                       f"{_interval(worst['gain_ci95'])})")
    borderline = [e for e in tested if e["gain_borderline"]]
    if borderline:
        clauses.append("borderline at ratio(s) " + ", ".join(f"{e['ratio']:g}" for e in borderline) +
                       " (corrected p within its Monte Carlo error of alpha even after the most resamples)")
    if helps or hurts:
        return "; ".join(clauses)
    largest_loss = max((-e["gain_ci95"][0] for e in tested), default=0.0)
    if bound == 0:
        losses = (f"; losses up to {100 * largest_loss:.1f} points are not excluded" if largest_loss > margin / 100
                  else "")
        main = (f"no gain larger than {margin:g} point(s): real only is within that margin of the best ratio{losses} "
                f"(minimum detectable effect {mde:.1f} points)")
    else:
        allowed = max((abs(x) for e in tested for x in e["gain_ci95"]), default=float("nan"))
        close = (f"; ratio {bound:g} is shown within {margin:g} point(s) of the best, real only is not" if bound is not None
                 else f"; no ratio is shown within {margin:g} point(s) of the best")
        main = (f"inconclusive: no gain or loss is significant{close}; effects up to {100 * allowed:.1f} points remain "
                f"possible (minimum detectable effect {mde:.1f} points)")
    return "; ".join([main, *clauses])


def _fall(fallen: list[dict]) -> str:
    worst = max(fallen, key=lambda e: e["fall"])
    at = ", ".join(f"{e['ratio']:g}" for e in fallen)
    return (f"by {100 * worst['fall']:.1f} points {_interval(worst['fall_ci95'])} at ratio {worst['ratio']:g} "
            f"(shown at ratio(s) {at})")


def _points(fraction: float) -> str:
    return f"{100 * fraction:+.1f}"


def _interval(ci: Sequence[float]) -> str:
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"
