"""Training speed inside the benchmark against plain `model.fit` on in-memory arrays (target ≥ 0.90).

Both train the same classifier at the same batch size on the same faces, validating on the same real
faces after each epoch: the real `toy` training split plus 4× as many synthetic faces. Plain:
`model.fit` with every face already resized, scaled and in memory. Benchmark: what a sweep cell runs
— the synthetic faces stored at 64×64 in an HDF5 synthetic set, drawn, streamed, resized and mixed
by `fersyn.sweep.mix.TrainingStream`, trained by `train_classifier` with the sweep's progress callback. Images/s counts epochs after the first (tracing), and the
two are run alternately, `--repeats` times each, so that drift in the machine hits both.

    python benchmarks/stream_speed.py [--classifier small-cnn] [--epochs 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--classifier", default="small-cnn")
    parser.add_argument("--ratio", type=float, default=4.0)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    arguments = parser.parse_args()

    import h5py
    import keras
    import tensorflow as tf

    from fersyn.classifiers.protocol import Budget, train_classifier
    from fersyn.data import load_dataset, split_dataset
    from fersyn.data.synthetic import SyntheticSource, SyntheticWriter
    from fersyn.data.toy import toy_faceset
    from fersyn.plugins.registry import create_plugin, load_plugins
    from fersyn.runtime.progress import SweepProgress
    from fersyn.sweep.mix import TrainingStream
    from fersyn.sweep.spec import REAL_PLUS_SYNTHETIC, Cell

    load_plugins()
    real = load_dataset("toy")
    split = split_dataset(real, seed=0)
    train = real.subset(split.train)
    count = int(arguments.ratio * len(train))
    other = toy_faceset(identities=count // 6 + 1, repeats=1, image_size=64, seed=7)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.h5"
        writer = SyntheticWriter(path, other.images.shape[1:], other.emotions)
        for label, emotion in enumerate(other.emotions):
            writer.append(other.images[other.labels == label], emotion, np.flatnonzero(other.labels == label))
        writer.close()
        source = SyntheticSource(path, real.emotions, 48)
        draw = source.draw(count, np.random.default_rng(0))
        # The plain baseline gets the very same faces, resized once, in memory.
        with h5py.File(path) as store:
            drawn = store["images"][:][draw.rows]
        resized = tf.cast(tf.round(tf.clip_by_value(tf.image.resize(drawn, (48, 48), antialias=True), 0, 255)), tf.uint8).numpy()
        images = np.concatenate([train.images, resized]).astype(np.float32) / 255.0
        labels = np.concatenate([train.labels, draw.labels])
        print(f"{arguments.classifier}: {len(train)} real + {count} synthetic faces (stored 64×64, trained at 48×48), "
              f"{arguments.epochs} epochs, first epoch not counted\n")

        val_images, val_labels = real.images[split.val], real.labels[split.val]

        def images_per_second(fit) -> float:
            ends = []
            timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
            fit(create_plugin("classifier", arguments.classifier), timer)
            return len(labels) * (len(ends) - 1) / (ends[-1] - ends[0])

        def plain(classifier, timer):
            keras.utils.set_random_seed(0)
            model = classifier.build_model(classifier.image_shape, len(real.emotions))
            model.compile(optimizer=keras.optimizers.Adam(classifier.learning_rate),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            model.fit(images, labels, batch_size=classifier.batch_size, epochs=arguments.epochs, shuffle=True,
                      validation_data=(val_images.astype(np.float32) / 255.0, val_labels), verbose=0, callbacks=[timer])

        def benchmark_cell(classifier, timer):  # what a sweep cell runs: stream, protocol, progress callback
            stream = TrainingStream(train.images, train.labels, classifier.batch_size, seed=0, source=source, draw=draw)
            cell = Cell(arguments.classifier, REAL_PLUS_SYNTHETIC, arguments.ratio, seed=0, fold=0)
            progress = SweepProgress([arguments.epochs * stream.steps_per_epoch], exact=False).for_cell(1, cell)
            train_classifier(classifier, stream, val_images, val_labels, len(real.emotions),
                             budget=Budget("epochs", epochs=arguments.epochs, patience=arguments.epochs),
                             callbacks=[timer, progress])

        results = {"plain model.fit (arrays)": [], "benchmark stream (HDF5)": []}
        for _ in range(arguments.repeats):
            results["plain model.fit (arrays)"].append(images_per_second(plain))
            results["benchmark stream (HDF5)"].append(images_per_second(benchmark_cell))
        source.close()
    for name, values in results.items():
        print(f"{name:<26} {np.median(values):8.0f} images/s   (runs: {', '.join(f'{v:.0f}' for v in values)})")
    ratio = np.median(results["benchmark stream (HDF5)"]) / np.median(results["plain model.fit (arrays)"])
    print(f"\nratio stream / plain: {ratio:.2f}  (target ≥ 0.90)")


if __name__ == "__main__":
    main()
