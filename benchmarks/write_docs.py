"""Write the generated parts of README.md and docs/ from the records in benchmarks/results/ and the rules in code.

    python benchmarks/write_docs.py          # rewrite every generated block in place
    python benchmarks/write_docs.py --check  # exit 1, naming the blocks that differ (tests/test_docs_generated.py)

A generated block sits between `<!-- begin NAME -->` and `<!-- end NAME -->`; everything else in a page is written
by hand. So every number a page states comes from a file in the repository, and a page cannot drift from it.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _record(name: str) -> dict:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _signed(fraction: float) -> str:
    return f"{100 * fraction:+.1f}".replace("-", "−")


def _gain(entry: dict) -> str:
    """A gain in points with its interval and, where tested, its Holm-corrected p."""
    low, high = entry["ci95"]
    text = f"{_signed(entry['value'])} [{_signed(low)}, {_signed(high)}]"
    return text + (f" (Holm p {entry['p_holm']:.2g})" if entry.get("p_holm") is not None else "")


def set_up_times(command: str) -> str:
    """README's set-up lines: the time of `command` (main or tests) in a fresh clone, per precision path."""
    runs = _record("readme-commands.json")
    native, float32 = runs[command], runs[f"{command}-no-bf16"]
    return (f"after the install, on a 2-core {native['cpu'].split(',')[0]}: {_minutes(native['seconds'])} with native "
            f"bfloat16 (the fresh-clone run of {native['commit'][:7]}), {_minutes(float32['seconds'])} on its float32 "
            f"path (`FERSYN_ASSUME_NO_BF16=1`, what CPUs without native bfloat16 take; run of {float32['commit'][:7]})")


def study_verdict() -> str:
    """README's paragraph on the study, from reproduction.json."""
    overview = _record("reproduction.json")
    settings, scale = overview["settings"], overview["scale"]
    low, full = settings["low-data"], settings["ck-all"]
    fits = scale.get("generator_fits", 1)
    design = f"{scale['folds']} subject folds × {scale['seeds']} seeds" + (
        f" × {fits} generator fits" if fits > 1 else ", one generator fit per fold")
    def at_five(setting: dict) -> str:
        gain, (low, high) = setting["gain_at_paper_ratio"], setting["gain_at_paper_ratio"]["ci95"]
        return (f"{_signed(gain['value'])} points [{_signed(low)}, {_signed(high)}] (Holm p {gain['p_holm']:.2g}; "
                f"minimum detectable effect {100 * setting['curve_mde']:.1f})")

    def reproduces(setting: dict) -> bool:  # +16 % of real only, shown
        gain = setting["gain_at_paper_ratio"]
        return gain["p_holm"] < 0.05 and gain["value"] >= 0.16 * setting["real_only"]["value"]

    claim = "is reproduced" if reproduces(low) or reproduces(full) else "is not reproduced"
    lanes = ", its two regimes at once" if overview.get("lanes", 1) > 1 else ""
    return (
        f"**The study** (`python benchmarks/reproduce.py`: CK+48, Ekman six, {design}, "
        f"{overview['seconds_total'] / 60:.0f} min on 2 cores{lanes}). The paper's claim, +16 % at 5× more synthetic than real "
        f"faces, {claim} with fersyn's built-in generators: at ratio 5 they change accuracy by {at_five(full)} with "
        f"all training subjects and by {at_five(low)} with a quarter of them. With a quarter, real only reaches "
        f"{100 * low['real_only']['value']:.1f} % and the GAN's best ratio, {low['best_synthetic_ratio']:g}, gains "
        f"{_gain(low['gain'])} points. The verdicts: low data, \"{low['verdict']}\"; all subjects, "
        f"\"{full['verdict']}\". Every setting, its tables and plots: "
        "[benchmarks/results/](benchmarks/results/README.md).")


def rules() -> str:
    from fersyn.analysis.rules import RULES

    return RULES


def calibration() -> str:
    record = _record("calibration.json")
    scenarios, design, summary = record["scenarios"], record["design"], record["summary"]
    rate = lambda scenario, key: f"{100 * scenarios[scenario][key]['rate']:.1f} %"  # noqa: E731
    return (
        f"In {record['sims']:,} simulated sweeps per scenario, drawn from the real per-face outcomes of "
        f"`{record['source']}` in the study's design ({design['folds']} folds × {design['seeds']} seeds, "
        f"{design['generator_fits']} generator fits per fold):\n\n"
        "| scenario | result |\n|---|---|\n"
        f"| no mean gain, generator fits shifting a curve by 5 points (SD) | {rate('null-per-fit-5', 'familywise_false_positive')} "
        "of the curves got a false verdict (familywise, one curve) |\n"
        f"| no mean gain, fits shifting it by 3 points | {rate('null-per-fit-3', 'familywise_false_positive')} |\n"
        f"| the 95 % intervals | held the true gain {rate('null-per-fit-5', 'coverage')} of the time |\n"
        f"| a true gain equal to the printed MDE ({summary['printed_mde_points']:.1f} points) | found "
        f"{100 * summary['power_at_printed_mde']:.1f} % of the time |\n"
        f"| a true peak | read as falling back in {rate('peak', 'read_as_falling_back')} of the sweeps, as flat in "
        f"{100 * summary['peak_read_as_plateau']:.1f} % |\n"
        f"| no mean gain, a shift shared by a fold's fits (its training subjects) of 5 points | "
        f"{rate('null-per-fold-5', 'familywise_false_positive')} false verdicts; the warning about folds that differ "
        f"fired in {rate('null-per-fold-5', 'folds_differ_at_ratio_1')} of them |")


def precision_speed() -> str:
    speed = _record("models-speed.json")
    lines = ["| model | float32 training steps/s | mixed_bfloat16 | speed-up |", "|---|---|---|---|"]
    for name, ratio in speed["mixed_speedup"].items():
        float32, mixed = (speed["models"][f"{name} {policy}"]["steps/s"] for policy in ("float32", "mixed_bfloat16"))
        lines.append(f"| {name} | {float32:.2f} | {mixed:.2f} | {ratio:.2f}× |")
    return "\n".join(lines)


def parity() -> str:
    record = _record("precision-parity.json")
    paper, stargan = record["paper-cnn real-only accuracy"], record["stargan expression fidelity (toy)"]
    small = record["small-cnn real-only accuracy"]
    spread = lambda entry: "within" if entry["within_seed_spread"] else "outside"  # noqa: E731
    return (
        f"paper-cnn's real-only accuracy on CK+48 is {100 * paper['float32_mean']:.1f} ± {100 * paper['float32_sd']:.1f} % "
        f"in float32 and {100 * paper['mixed_mean']:.1f} ± {100 * paper['mixed_sd']:.1f} % mixed (paired difference "
        f"{_signed(paper['mean_difference'])} points, {spread(paper)} float32's seed-to-seed spread); stargan's expression "
        f"fidelity on toy {100 * stargan['float32_mean']:.1f} ± {100 * stargan['float32_sd']:.1f} % and "
        f"{100 * stargan['mixed_mean']:.1f} ± {100 * stargan['mixed_sd']:.1f} % ({_signed(stargan['mean_difference'])}, "
        f"{spread(stargan)}). small-cnn forced into bfloat16 loses {-100 * small['mean_difference']:.1f} points "
        f"({spread(small)} the spread): one reason it stays float32.")


def budget_check() -> str:
    check = _record("budget-check.json")
    fifty, hundred = check["ck48_10fold_50_epochs"], check["ck48_10fold_100_epochs"]
    toy = [check[f"toy_quarter_{steps}_steps"] for steps in (400, 800, 1200)]
    return (
        f"On a CK+48 10-fold sweep (3 seeds), with 50 real epochs, {fifty['late']} of {fifty['cells']} real-only cells "
        f"kept weights from the last 5 rounds; with 100 ({hundred['steps']:,} steps), {hundred['late']} of "
        f"{hundred['cells']} kept weights from the last 10 (median best round "
        f"{statistics.median(hundred['best_rounds']):g} of {hundred['rounds']}), and accuracy moved only from "
        f"{100 * fifty['mean_accuracy']:.1f} to {100 * hundred['mean_accuracy']:.1f} %. On a quarter of `toy`, 100 "
        f"epochs are only {toy[0]['steps']} steps, and {toy[0]['late']} of {toy[0]['cells']} real-only cells peaked in "
        f"the last 10 %; with {toy[1]['steps']} steps {toy[1]['late']} of {toy[1]['cells']}, with "
        f"{toy[2]['steps']:,} {toy[2]['late'] or 'none'} (at {100 * toy[2]['mean_accuracy']:.1f} % against "
        f"{100 * toy[1]['mean_accuracy']:.1f} % with {toy[1]['steps']}): hence the floor of 1,000 steps.")


def cell_overhead() -> str:
    record = _record("cell-overhead.json")
    return (f"A {record['steps']}-step small-cnn cell on {record['data']} (batch {record['batch_size']}) takes "
            f"{record['cell_seconds']:.2f} s against {record['pure_seconds']:.2f} s of pure training steps: "
            f"{record['ratio']:.2f}× (median of {record['cells_timed']} cells, a CPU {record['cpu']}; "
            "`python benchmarks/cell_overhead.py`).")


def preset_verdict() -> str:
    from fersyn.generation.presets import PRESETS

    recipes = _record("recipes.json")
    paragraphs = []
    for name, preset in PRESETS.items():
        row = recipes[preset.evidence]
        low, high = row["efficiency_ci95"]
        independent = "; ".join(f"{100 * value:.0f} % by {judge}" for judge, value in row["independent_fidelity"].items())
        paragraphs.append(
            f"`--preset {name}` ({preset.evidence}) {'reaches' if row['target_met'] else 'does not reach'} the "
            f"target: at ratio {row['ratio']:g} it gains "
            f"{_gain({'value': row['gain'], 'ci95': row['gain_ci95'], 'p_holm': row['gain_p_holm']})} "
            f"points over real only, an efficiency of {row['efficiency']:.2f} [{low:.2f}, {high:.2f}] against the "
            f"positive control's {_signed(row['control_gain'])}, "
            f"{_gain({'value': row['minus_augmented'], 'ci95': row['minus_augmented_ci95'], 'p_holm': row['minus_augmented_p_holm']})} "
            f"over augmentation, and an independent fidelity of {independent or 'none (no independent judge)'}.")
    return "\n\n".join(paragraphs)


BLOCKS: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"main-times": lambda: set_up_times("main"), "test-times": lambda: set_up_times("tests"),
                  "study-verdict": study_verdict},
    "docs/statistics.md": {"rules": rules, "calibration": calibration},
    "docs/performance.md": {"precision-speed": precision_speed, "parity": parity, "budget-check": budget_check,
                            "cell-overhead": cell_overhead},
    "docs/generate.md": {"preset-verdict": preset_verdict},
}


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- begin {re.escape(name)} -->)(.*?)(<!-- end {re.escape(name)} -->)", re.S)


def written(page: str, text: str) -> str:
    """`text` (the page `page`) with each of its generated blocks written again; a block missing from it is an error."""
    for name, make in BLOCKS[page].items():
        pattern = _block(name)
        if not pattern.search(text):
            raise SystemExit(f"{page} lost its generated block '{name}' (<!-- begin {name} --> … <!-- end {name} -->)")
        text = pattern.sub(lambda match: f"{match[1]}\n{make()}\n{match[3]}", text)
    return text


def differing() -> list[str]:
    """The pages whose generated blocks differ from what the records give."""
    return [page for page in BLOCKS
            if written(page, (ROOT / page).read_text(encoding="utf-8")) != (ROOT / page).read_text(encoding="utf-8")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say which pages differ (exit 1 if any)")
    args = parser.parse_args()
    if args.check:
        stale = differing()
        print("\n".join(f"{page}: generated blocks differ; run python benchmarks/write_docs.py" for page in stale)
              or "every generated block is up to date")
        sys.exit(1 if stale else 0)
    for page in BLOCKS:
        path = ROOT / page
        path.write_text(written(page, path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {page}")


if __name__ == "__main__":
    main()
