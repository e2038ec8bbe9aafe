"""Speed of every built-in model on this machine, against a float32 matmul measured in the same run.

For each model: training steps/s and images/s, generation (or prediction) images/s, the model's
achieved GFLOP/s and its ratio to the matmul peak. FLOPs are counted from the layers (2·MACs of
every convolution and dense layer); a training image costs ≈ 3× its forward pass (forward, and
backward through activations and weights). The GAN formulas are spelled out in `_gan_flops`.

    python benchmarks/models_speed.py [--steps 30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def forward_flops(model) -> float:
    """FLOPs of one forward pass of one image: 2 × multiply-adds of Conv2D and Dense layers."""
    from keras import layers

    total = 0.0
    for layer in model.layers:
        if hasattr(layer, "layers"):
            total += forward_flops(layer)
        elif isinstance(layer, layers.Conv2D):
            _, height, width, out_channels = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            total += 2 * height * width * kernel_h * kernel_w * layer.input.shape[-1] * out_channels
        elif isinstance(layer, layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return total


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    import tensorflow as tf

    a, b = tf.random.normal((size, size)), tf.random.normal((size, size))
    tf.matmul(a, b).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        tf.matmul(a, b).numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def timed(function, repeats: int = 1) -> float:
    function()  # warm-up: tracing and first allocations are not speed
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def _gan_flops(name: str, gan, batch: int) -> float:
    """Approximate FLOPs of one training step (= one generator iteration)."""
    g, d = forward_flops(gan.generator), forward_flops(gan.discriminator)
    if name == "dcgan":
        # D step: G forward on B, D forward+backward on 2B; G step: G and D forward+backward on B.
        return batch * (g + 3 * d * 2) + batch * (3 * g + 3 * d)
    # stargan, per critic step: G forward, D forward+backward on real and fake, gradient penalty
    # (≈ forward + double backward on B); G step: two G passes (edit, cycle) and D, forward+backward.
    # With λ_expr > 0 the frozen expression critic adds a forward and a backward pass on B.
    critic = batch * (g + 3 * d * 2 + 5 * d)
    expression = 3 * forward_flops(gan.expression_critic) if gan.lambda_expr > 0 else 0
    return gan.n_critic * critic + batch * (3 * 2 * g + 3 * d + expression)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30, help="Training steps timed per model.")
    steps = parser.parse_args().steps

    import keras

    from fersyn.classifiers.training import Budget, train_classifier
    from fersyn.mix import TrainingStream
    from fersyn.data import load_dataset
    from fersyn.registry import create_plugin, load_plugins

    load_plugins()
    faces = load_dataset("toy")
    images, labels = faces.images, faces.labels
    peak = matmul_gflops()
    print(f"float32 matmul (2048²): {peak:.1f} GFLOP/s  — the reference for every ratio below\n")
    print(f"{'model':<10} {'train steps/s':>13} {'train img/s':>11} {'gen/pred img/s':>14} {'GFLOP/s':>8} {'× matmul':>8}")

    for name in ("paper-cnn", "small-cnn"):
        classifier = create_plugin("classifier", name)
        batch = classifier.batch_size
        n = batch * steps
        stream = TrainingStream(images[:n], labels[:n], batch, seed=0)
        record = train_classifier(classifier, stream, images[:batch], labels[:batch], 6, budget=Budget("epochs", epochs=2))
        per_epoch = record.seconds / record.epochs  # the first epoch includes tracing; two epochs halve its weight
        train_images = n / per_epoch
        predict = len(images) / timed(lambda: classifier.predict_proba(images))
        flops = 3 * forward_flops(classifier.model) * train_images / 1e9
        print(f"{name:<10} {train_images / batch:13.2f} {train_images:11.0f} {predict:14.0f} {flops:8.1f} {flops / peak:8.2f}")

    for kind, name in (("identity", "dcgan"), ("expression", "stargan")):
        generator = create_plugin(kind, name)
        arguments = (images,) if kind == "identity" else (images, labels, faces.emotions)
        generator.fit(*arguments, steps=3, seed=0)  # builds and traces
        seconds = timed(lambda: generator.fit(*arguments, steps=steps, seed=0)) / steps
        gan = generator.gan
        batch = generator.options.batch_size
        images_per_step = batch * getattr(gan, "n_critic", 1)
        if kind == "identity":
            generation = 1024 / timed(lambda: generator.sample(1024, seed=0))
        else:
            generation = 1024 / timed(lambda: generator.apply(images[:1024], ["happiness"] * 1024, seed=0))
        flops = _gan_flops(name, gan, batch) / seconds / 1e9
        print(f"{name:<10} {1 / seconds:13.2f} {images_per_step / seconds:11.0f} {generation:14.0f} {flops:8.1f} {flops / peak:8.2f}")
    print(f"\nkeras {keras.__version__}; GAN 'train img/s' counts real images consumed per second")


if __name__ == "__main__":
    main()
