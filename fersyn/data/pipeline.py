"""tf.data helpers shared by every input pipeline (the GANs' batches, a benchmark cell's stream).
TensorFlow is imported when one is called, not with this module."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf


def quick_teardown() -> "tf.data.Options":
    """tf.data options without autotuning: with it, deleting an endless iterator at the end of `fit`
    sporadically blocked ~9 s on this CPU, waiting for the autotuner's thread."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options
