"""A sweep cell's time against the pure training steps it contains (issue 26: a cell at most 1.3×).

Cell: what `fersyn benchmark` runs per cell, timed around each cell's run: the model built under its
seed, `train_classifier` on the cell's stream with its validation rounds (a steps budget of `--steps`,
validated at most 25 times), the test faces scored, the row written. The sweep is the low-data
setting's real-only and augmentation-control cells (the control's stream mixes real faces with
augmented copies); the first cell, which traced the model, is left out. Pure: the same network
compiled the same way, trained the same number of steps at the same batch size on batches already in
memory, without validation, right after each cell (the machine is shared: its load then hits both
alike); after a warm-up. The ratio is the cells' total time over their pure runs' total.

    python benchmarks/cell_overhead.py [--data ../shared/data/CK+48] [--steps 125] [--seeds 3]

Prints both times and their ratio, and writes benchmarks/results/cell-overhead.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "CK+48"))
    parser.add_argument("--steps", type=int, default=125)
    parser.add_argument("--seeds", type=int, default=3)
    arguments = parser.parse_args()

    import pandas as pd

    from fersyn.runtime.precision import cpu_has_native_bfloat16
    from fersyn.sweep import cells as sweep_module
    from fersyn.sweep.run import run_sweep
    from fersyn.sweep.spec import Sweep

    spec = Sweep(data=arguments.data, train_fraction=0.25, ratios=(0.0, 1.0), seeds=arguments.seeds,
                     steps=arguments.steps, controls=("augment",), controls_only=True)
    pure_steps = PureSteps(arguments.data)
    cells: list[float] = []
    pure: list[float] = []
    run_cell = sweep_module.CellRunner.run

    def timed_cell(runner: Any, *args: Any) -> bool:
        started = time.perf_counter()
        succeeded = run_cell(runner, *args)
        cells.append(time.perf_counter() - started)
        pure.extend(pure_steps.seconds(arguments.steps, repeats=1))
        return succeeded

    sweep_module.CellRunner.run = timed_cell
    try:
        with tempfile.TemporaryDirectory() as folder:
            run_sweep(spec, Path(folder) / "sweep")
            rows = pd.read_csv(Path(folder) / "sweep" / "results.csv")
    finally:
        sweep_module.CellRunner.run = run_cell
    cells, pure = cells[1:], pure[1:]  # the cells after the first, which traced the model
    steps, batch = int(rows["steps"].iloc[0]), int(rows["batch_size"].iloc[0])
    assert (steps, batch) == (arguments.steps, pure_steps.batch), "the cells' steps or batch differ from the pure run's"
    ratios = np.array(cells) / np.array(pure)
    result = {
        "data": Path(arguments.data).name, "steps": steps, "batch_size": batch, "cells_timed": len(cells),
        "cell_seconds": round(float(np.mean(cells)), 2),
        "fit_seconds": round(float(rows.sort_values("finished")["train_seconds"].iloc[1:].mean()), 2),
        "pure_seconds": round(float(np.mean(pure)), 2), "ratio": round(sum(cells) / sum(pure), 2),
        "cell_ratios": [round(float(r), 2) for r in ratios],
        "cpu": f"{'with' if cpu_has_native_bfloat16() else 'without'} native bfloat16",
    }
    print(f"cell {result['cell_seconds']} s (of which fit {result['fit_seconds']} s) against {result['pure_seconds']} s "
          f"of pure steps ({steps} steps of {batch}): {result['ratio']}× (target ≤ 1.3×; cell by cell "
          f"{min(ratios):.2f}-{max(ratios):.2f}×)")
    out = ROOT / "benchmarks" / "results" / "cell-overhead.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


class PureSteps:
    """small-cnn compiled as a cell compiles it, trained on batches already in memory, without validation."""

    def __init__(self, data: str) -> None:
        import keras
        import tensorflow as tf

        from fersyn.data import load_dataset
        from fersyn.data.pixels import to_unit_interval
        from fersyn.plugins.registry import create_plugin, load_plugins

        load_plugins()
        faces = load_dataset(data)
        classifier = create_plugin("classifier", "small-cnn", image_size=faces.image_size)
        self.batch = classifier.batch_size
        images = to_unit_interval(faces.images[: self.batch * 8])
        labels = faces.labels[: self.batch * 8].astype(np.int64)
        self.batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(self.batch, drop_remainder=True).cache().repeat()
        self.model = classifier.build_model(faces.images.shape[1:], len(faces.emotions))
        self.model.compile(optimizer=keras.optimizers.Adam(classifier.learning_rate), loss="sparse_categorical_crossentropy",
                           metrics=["accuracy"])
        self.model.fit(self.batches, steps_per_epoch=8, epochs=1, verbose=0, shuffle=False)  # traces

    def seconds(self, steps: int, repeats: int) -> list[float]:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            self.model.fit(self.batches, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
            times.append(time.perf_counter() - started)
        return times


if __name__ == "__main__":
    main()
