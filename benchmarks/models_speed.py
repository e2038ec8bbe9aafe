"""Speed of every built-in model on this machine, in float32 and in mixed precision, side by side.

For each model and precision: training steps/s and images/s, generation (or prediction) images/s,
the achieved GFLOP/s and its ratio to a 2048² matmul of that precision's compute dtype, measured in
the same run. FLOPs are counted from the layers (2·MACs of every convolution and dense layer); a
training image costs ≈ 3× its forward pass (forward, and backward through activations and weights).
The GAN formulas are spelled out in `_gan_flops`. The last lines give mixed's speed-up on training
against the issue's targets (paper-cnn and dcgan ≥ 1.5×, stargan ≥ 1.4×). Writes the figures to
benchmarks/results/models-speed.json (`--out`).

    python benchmarks/models_speed.py [--steps 30] [--models paper-cnn,dcgan]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TARGETS = {"paper-cnn": 1.5, "dcgan": 1.5, "stargan": 1.4}  # speed-up of mixed over float32 training
MODELS = ("paper-cnn", "small-cnn", "dcgan", "stargan")


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


def matmul_gflops(dtype: str, size: int = 2048, repeats: int = 10) -> float:
    import tensorflow as tf

    a, b = (tf.cast(tf.random.normal((size, size)), dtype) for _ in range(2))
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
    expression = 3 * forward_flops(gan.expression_critic) if gan.options.lambda_expr > 0 else 0
    return gan.options.n_critic * critic + batch * (3 * 2 * g + 3 * d + expression)


def measure(name: str, faces, steps: int) -> dict[str, float]:
    """Training steps/s and images/s, generation/prediction images/s and training GFLOP/s of model
    `name`, built under the current dtype policy."""
    import keras

    from fersyn.plugins.contracts import checked_model
    from fersyn.plugins.registry import create_plugin
    from fersyn.sweep.mix import TrainingStream

    images, labels = faces.images, faces.labels
    if name in ("paper-cnn", "small-cnn"):
        # The model and the input stream that `train_classifier` uses, compiled as it compiles them;
        # timed after a warm-up fit, so that tracing is not counted.
        classifier = create_plugin("classifier", name)
        classifier.model = model = checked_model(classifier, len(faces.emotions))
        model.compile(optimizer=keras.optimizers.Adam(classifier.learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        batch = classifier.batch_size
        stream = TrainingStream(images, labels, batch, seed=0).dataset(repeat=True)
        model.fit(stream, epochs=1, steps_per_epoch=3, verbose=0)
        seconds = timed(lambda: model.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0)) / steps
        return {"steps/s": 1 / seconds, "img/s": batch / seconds,
                "use img/s": len(images) / timed(lambda: classifier.predict_proba(images)),
                "GFLOP/s": 3 * forward_flops(model) * batch / seconds / 1e9}
    kind = "identity" if name == "dcgan" else "expression"
    generator = create_plugin(kind, name)
    arguments = (images,) if kind == "identity" else (images, labels, faces.emotions)
    generator.fit(*arguments, steps=3, seed=0)  # builds and traces
    seconds = timed(lambda: generator.fit(*arguments, steps=steps, seed=0)) / steps
    gan = generator.gan
    batch = generator.options.batch_size
    if kind == "identity":
        use = 1024 / timed(lambda: generator.sample(1024, seed=0))
    else:
        use = 1024 / timed(lambda: generator.apply(images[:1024], ["happiness"] * 1024, seed=0))
    return {"steps/s": 1 / seconds, "img/s": batch * getattr(gan.options, "n_critic", 1) / seconds, "use img/s": use,
            "GFLOP/s": _gan_flops(name, gan, batch) / seconds / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="Training steps timed per model.")
    parser.add_argument("--models", default=",".join(MODELS), help="Comma list of models to time.")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "models-speed.json"))
    arguments = parser.parse_args()

    import keras

    from fersyn.data import load_dataset
    from fersyn.plugins.registry import load_plugins
    from fersyn.runtime.precision import precision_scope, resolve_precision

    load_plugins()
    faces = load_dataset("toy")
    policies = list(dict.fromkeys(["float32", resolve_precision("mixed")]))
    peaks = {policy: matmul_gflops(policy.removeprefix("mixed_")) for policy in policies}
    for policy, peak in peaks.items():
        print(f"{policy.removeprefix('mixed_')} matmul (2048²): {peak:.1f} GFLOP/s")
    print(f"\n{'model':<10} {'precision':<15} {'train steps/s':>13} {'train img/s':>11} {'gen/pred img/s':>14} "
          f"{'GFLOP/s':>8} {'× matmul':>8}")
    speed: dict[tuple[str, str], dict[str, float]] = {}
    for name in arguments.models.split(","):
        for policy in policies:
            with precision_scope(policy):
                speed[name, policy] = figures = measure(name, faces, arguments.steps)
            print(f"{name:<10} {policy:<15} {figures['steps/s']:13.2f} {figures['img/s']:11.0f} "
                  f"{figures['use img/s']:14.0f} {figures['GFLOP/s']:8.1f} {figures['GFLOP/s'] / peaks[policy]:8.2f}")
    speedups = {}
    if len(policies) == 2:
        print(f"\nmixed ({policies[1]}) over float32, training steps/s:")
        for name in arguments.models.split(","):
            speedups[name] = ratio = speed[name, policies[1]]["steps/s"] / speed[name, "float32"]["steps/s"]
            target = TARGETS.get(name)
            verdict = "" if target is None else f"  (target ≥ {target}×: {'met' if ratio >= target else 'missed'})"
            print(f"  {name:<10} {ratio:.2f}×{verdict}")
    else:
        print("\nthis machine has no native 16-bit arithmetic: `mixed` trains in float32 here")
    Path(arguments.out).write_text(json.dumps({
        "matmul_gflops": peaks, "steps": arguments.steps, "keras": keras.__version__,
        "models": {f"{name} {policy}": {key: round(value, 3) for key, value in figures.items()}
                   for (name, policy), figures in speed.items()},
        "mixed_speedup": {name: round(ratio, 2) for name, ratio in speedups.items()}}, indent=2) + "\n")
    print(f"\nkeras {keras.__version__}; GAN 'train img/s' counts real images consumed per second; "
          f"batch sizes are each plugin's default")


if __name__ == "__main__":
    main()
