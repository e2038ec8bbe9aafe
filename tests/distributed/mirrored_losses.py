"""Run in a fresh process (the CPU must be split before TensorFlow starts) by tests/test_distribute.py:
on one device and under `mirrored` over two logical CPU devices, from the same seeds, it
- draws with `replica_share` (the replicas' slices together must be the one-device draw),
- takes SGD steps of a tiny model whose train_step uses `per_replica_loss` (same weights after),
- trains a built-in GAN and a classifier for a few steps (the loss trajectories),
and prints the results as one JSON line."""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from fersyn.classifiers.protocol import Budget, train_classifier  # noqa: E402
from fersyn.data import load_dataset, split_dataset  # noqa: E402
from fersyn.plugins.registry import create_plugin, load_plugins  # noqa: E402
from fersyn.runtime.distribute import distributed, make_strategy, per_replica_loss, replica_share  # noqa: E402
from fersyn.sweep.mix import TrainingStream  # noqa: E402

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 8
SIZE = 24


def shared_draw(strategy) -> list:
    with strategy.scope():
        seeds = keras.random.SeedGenerator(3)

    @tf.function
    def draw():
        return replica_share(lambda m: keras.random.normal((m, 2), seed=seeds), 8 // strategy.num_replicas_in_sync)

    return np.concatenate([t.numpy() for t in strategy.experimental_local_results(strategy.run(draw))]).tolist()


class TinyRegression(keras.Model):
    """One dense layer trained by a custom train_step, as a plugin author would write it."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = keras.layers.Dense(1, kernel_initializer="ones")
        self.dense.build((None, 3))
        self.built = True

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = per_replica_loss(tf.reduce_mean(tf.square(self.dense(x)[:, 0] - y)))
        self.optimizer.apply(tape.gradient(loss, self.dense.trainable_weights), self.dense.trainable_weights)
        return {"loss": loss}


def sgd_weights(strategy) -> list:
    x = np.arange(24, dtype=np.float32).reshape(8, 3) / 10
    y = np.linspace(-1, 1, 8).astype(np.float32)
    with strategy.scope():
        model = TinyRegression()
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat(), steps_per_epoch=3, verbose=0)
    return np.concatenate([w.numpy().ravel() for w in model.dense.weights]).tolist()


def gan_losses(strategy) -> list[dict]:
    faces = load_dataset("toy", image_size=SIZE)
    train = faces.images[split_dataset(faces, seed=0).train]
    with distributed(strategy):
        gan = create_plugin("identity", "dcgan", image_size=SIZE, width=8, batch_size=16)
        trajectory = []
        for _ in range(STEPS):  # one step per fit: the trackers then hold that step's losses
            gan.fit(train, steps=1, seed=0)
            trajectory.append({name: float(t.result()) for name, t in gan.gan.trackers.items()})
    return trajectory


def classifier_losses(strategy) -> list[float]:
    faces = load_dataset("toy", image_size=SIZE)
    split = split_dataset(faces, seed=0)
    with distributed(strategy):
        classifier = create_plugin("classifier", "small-cnn", image_size=SIZE, width=8)
        stream = TrainingStream(faces.images[split.train], faces.labels[split.train], 32, seed=0)
        record = train_classifier(classifier, stream, faces.images[split.val], faces.labels[split.val],
                                  len(faces.emotions), budget=Budget("steps", steps=STEPS * 2, eval_every=2), seed=0)
    return record.val_loss


load_plugins()
mirrored = make_strategy("mirrored")
results = {"replicas": mirrored.num_replicas_in_sync}
for name, strategy in (("default", make_strategy("default")), ("mirrored", mirrored)):
    results[name] = {"draw": shared_draw(strategy), "sgd": sgd_weights(strategy), "gan": gan_losses(strategy),
                     "classifier": classifier_losses(strategy)}
print("RESULT " + json.dumps(results))
