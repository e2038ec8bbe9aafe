"""fersyn.sweep.mix: the augmentation control's copies are made once per stream and kept, yet the stream is
the one that made them anew every epoch: the same faces, in the same order."""

import numpy as np
import pytest
import tensorflow as tf

from fersyn.data import load_dataset
from fersyn.sweep.mix import TrainingStream, augment_face, balanced_rows


@pytest.fixture
def graph_optimisation_on():
    """Grappler on, as a sweep runs (the tests turn it off): it optimises a graph's arithmetic, which can move a
    pixel of an augmented copy by one grey level."""
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
    yield
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def test_kept_augmented_copies_are_the_copies_made_every_epoch_in_the_same_order(graph_optimisation_on):
    faces = load_dataset("toy", image_size=48)
    real, labels = faces.images[:100], faces.labels[:100]
    # 150 copies: made by a plain tf.function instead (grappler's graph), 1 in 30 differed by one grey level
    augmented = balanced_rows(labels, 150, np.random.default_rng(0))
    stream = TrainingStream(real, labels, 8, seed=5, augmented=augmented)
    tf.random.set_seed(1)  # as keras.utils.set_random_seed before a cell's training
    kept = list(stream._augmented_dataset().repeat(3).as_numpy_iterator())
    tf.random.set_seed(1)
    indices = tf.data.Dataset.from_tensor_slices((np.arange(150), augmented.rows, augmented.labels.astype(np.int64)))
    made = indices.shuffle(150, seed=5, reshuffle_each_iteration=True).map(
        lambda copy, row, y: (augment_face(tf.constant(real)[row], tf.stack([tf.constant(5, tf.int64), copy])), y))
    made = list(made.repeat(3).as_numpy_iterator())

    assert len(kept) == len(made) == 450
    assert not all(np.array_equal(kept[i][0], kept[150 + i][0]) for i in range(150))  # a new order every epoch
    # The copy maker is traced once per process: traced first by another test, under grappler off, its arithmetic
    # may move a pixel by one grey level. Another copy (another shift, flip or brightness) moves far more.
    exact = 0
    for (image, label), (expected, expected_label) in zip(kept, made):
        assert label == expected_label and np.abs(image.astype(int) - expected).max() <= 1
        exact += np.array_equal(image, expected)
    assert exact >= 0.9 * len(kept)
