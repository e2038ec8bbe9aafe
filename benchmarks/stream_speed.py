"""Training speed inside the benchmark against plain `model.fit` on in-memory arrays (target ≥ 0.90).

Both train the same classifier at the same batch size on the same faces: the real `toy` training
split plus 4× as many synthetic faces. Plain: every face already resized, scaled and in memory.
Benchmark: the synthetic faces stored at 64×64 in an HDF5 synthetic set, drawn, streamed, resized
and mixed by `fersyn.mix.TrainingStream`. Images/s counts epochs after the first (tracing), and the
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

    from fersyn.data import load_dataset, split_dataset
    from fersyn.data.synthetic import SyntheticWriter
    from fersyn.data.toy import toy_faceset
    from fersyn.mix import SyntheticSource, TrainingStream
    from fersyn.registry import create_plugin, load_plugins

    load_plugins()
    real = load_dataset("toy")
    train = real.subset(split_dataset(real, seed=0).train)
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

        def images_per_second(fit) -> float:
            keras.utils.set_random_seed(0)
            classifier = create_plugin("classifier", arguments.classifier)
            model = classifier.build_model(classifier.image_shape, len(real.emotions))
            model.compile(optimizer=keras.optimizers.Adam(classifier.learning_rate), loss="sparse_categorical_crossentropy")
            ends = []
            timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
            fit(model, classifier.batch_size, timer)
            return len(labels) * (len(ends) - 1) / (ends[-1] - ends[0])

        def plain(model, batch, timer):
            model.fit(images, labels, batch_size=batch, epochs=arguments.epochs, shuffle=True, verbose=0, callbacks=[timer])

        def streamed(model, batch, timer):
            stream = TrainingStream(train.images, train.labels, batch, seed=0, source=source, draw=draw)
            model.fit(stream.dataset(), epochs=arguments.epochs, verbose=0, callbacks=[timer])

        results = {"plain model.fit (arrays)": [], "benchmark stream (HDF5)": []}
        for _ in range(arguments.repeats):
            results["plain model.fit (arrays)"].append(images_per_second(plain))
            results["benchmark stream (HDF5)"].append(images_per_second(streamed))
        source.close()
    for name, values in results.items():
        print(f"{name:<26} {np.median(values):8.0f} images/s   (runs: {', '.join(f'{v:.0f}' for v in values)})")
    ratio = np.median(results["benchmark stream (HDF5)"]) / np.median(results["plain model.fit (arrays)"])
    print(f"\nratio stream / plain: {ratio:.2f}  (target ≥ 0.90)")


if __name__ == "__main__":
    main()
