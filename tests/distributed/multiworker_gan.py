"""One worker of a two-worker run, started by tests/test_distribute.py with its own TF_CONFIG: fit
the built-in dcgan for a few steps under `multiworker`, as `fersyn generate --strategy multiworker`
does, and print the steps trained and a checksum of the generator's weights as one JSON line."""

import json
import sys

from fersyn.runtime.distribute import distributed, is_chief, make_strategy

strategy = make_strategy("multiworker")  # first: collective ops must be set up before any other TensorFlow work

import numpy as np  # noqa: E402

from fersyn.data import load_dataset, split_dataset  # noqa: E402
from fersyn.plugins.registry import create_plugin, load_plugins  # noqa: E402

load_plugins()
faces = load_dataset("toy", image_size=24)
train = faces.images[split_dataset(faces, seed=0).train]
with distributed(strategy):
    gan = create_plugin("identity", "dcgan", image_size=24, width=8, batch_size=16)
    gan.fit(train, steps=int(sys.argv[1]), seed=0)
# The trainable weights, which the all-reduce of the gradients must keep identical on every worker.
weights = np.concatenate([w.numpy().ravel() for w in gan.gan.generator.trainable_weights])
print("RESULT " + json.dumps({"chief": is_chief(strategy), "replicas": strategy.num_replicas_in_sync,
                              "steps": gan.trained_steps, "checksum": float(np.abs(weights).sum())}), flush=True)
