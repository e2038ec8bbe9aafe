"""A Keras model run on numpy arrays in batches: `Model.predict`'s numbers without its cost per call."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

# One traced call per model, forgotten with the model. `Model.predict` builds a data pipeline and its
# callbacks on every call: 62 ms for 30 faces through small-cnn, against 4 ms for the traced call
# (measured here), and generating a set or a sweep calls it hundreds of times.
_TRACED: "weakref.WeakKeyDictionary[keras.Model, Any]" = weakref.WeakKeyDictionary()


def predict(model: "keras.Model", inputs: Any, batch_size: int = 256) -> Any:
    """`model.predict(inputs, batch_size=batch_size)`: the same graph on the same batches, so the same
    numbers. `inputs` is an array or a list of arrays of equal length (at least one row); returns an
    array, or a list for a model with several outputs."""
    import tensorflow as tf

    call = _TRACED.get(model)
    if call is None:
        call = _TRACED[model] = tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
    count = len(tf.nest.flatten(inputs)[0])
    if count == 0:
        raise ValueError("predict() needs at least one input")  # as Model.predict: batch norm cannot take an empty batch
    pieces = [call(tf.nest.map_structure(lambda a: a[start:start + batch_size], inputs))
              for start in range(0, count, batch_size)]
    return tf.nest.map_structure(lambda *parts: np.concatenate([np.asarray(p) for p in parts]), *pieces)
