"""A Keras model run on numpy arrays in batches: `Model.predict`'s and `Model.evaluate`'s numbers without
their cost per call."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

# One traced call per model, forgotten with the model (the call holds it weakly: a strong reference
# from the value would keep the key alive). `Model.predict` builds a data pipeline and its callbacks on
# every call: 62 ms for 30 faces through small-cnn, against 4 ms for the traced call (measured here),
# and generating a set or a sweep calls it hundreds of times. `Model.evaluate` likewise, and a sweep
# cell validates up to 25 times.
_TRACED: "weakref.WeakKeyDictionary[keras.Model, Any]" = weakref.WeakKeyDictionary()
_TRACED_TESTS: "weakref.WeakKeyDictionary[keras.Model, Any]" = weakref.WeakKeyDictionary()


def predict(model: "keras.Model", inputs: Any, batch_size: int = 256) -> Any:
    """`model.predict(inputs, batch_size=batch_size)`: the same graph on the same batches, so the same
    numbers. `inputs` is an array or a list of arrays of equal length (at least one row); returns an
    array, or a list for a model with several outputs."""
    import tensorflow as tf

    call = _TRACED.get(model)
    if call is None:
        held = weakref.ref(model)
        call = _TRACED[model] = tf.function(lambda batch: held()(batch, training=False), reduce_retracing=True)
    count = len(tf.nest.flatten(inputs)[0])
    if count == 0:
        raise ValueError("predict() needs at least one input")  # as Model.predict: batch norm cannot take an empty batch
    pieces = [call(tf.nest.map_structure(lambda a: a[start:start + batch_size], inputs))
              for start in range(0, count, batch_size)]
    return tf.nest.map_structure(lambda *parts: np.concatenate([np.asarray(p) for p in parts]), *pieces)


def loss_and_accuracy(model: "keras.Model", inputs: np.ndarray, labels: np.ndarray, batch_size: int = 32) -> tuple[float, float]:
    """The loss and accuracy `model.evaluate(inputs, labels, batch_size=batch_size)` returns for a model compiled
    with a loss on class indices and metrics=["accuracy"] (32: fit's batch for validation arrays): the same
    test step on the same batches, averaged as Keras' mean metrics average them (float32 sums weighted by
    batch size), so the same numbers."""
    import tensorflow as tf

    step = _TRACED_TESTS.get(model)
    if step is None:
        held = weakref.ref(model)
        step = _TRACED_TESTS[model] = tf.function(lambda x, y: _test_step(held(), x, y), reduce_retracing=True,
                                                  jit_compile=bool(model.jit_compile))
    count = len(labels)
    if count == 0:
        raise ValueError("loss_and_accuracy() needs at least one input")
    total = correct = np.float32(0)
    for start in range(0, count, batch_size):
        loss, right = step(inputs[start:start + batch_size], labels[start:start + batch_size])
        total += np.float32(loss) * np.float32(min(batch_size, count - start))  # numpy float32: Keras' float32 sums
        correct += np.float32(right)
    return float(total / np.float32(count)), float(correct / np.float32(count))


def _test_step(model: "keras.Model", x: Any, y: Any) -> tuple[Any, Any]:
    """Keras' test step without its metric variables: the batch's loss and its number of right answers."""
    import tensorflow as tf

    predicted = model(x, training=False)
    loss = model.compute_loss(x=x, y=y, y_pred=predicted, training=False)
    # compute_loss divides by the replicas in sync (the gradient step's convention); evaluate multiplies back.
    loss = loss * tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, loss.dtype)
    right = tf.equal(tf.argmax(predicted, axis=-1), tf.cast(y, tf.int64))
    return loss, tf.reduce_sum(tf.cast(right, tf.float32))
