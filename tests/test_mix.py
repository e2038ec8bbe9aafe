"""fersyn.mix: the augmentation control's copies are made once and reordered every epoch like the
copies' indices, so keeping them changed nothing in a cell's stream."""

import numpy as np
import tensorflow as tf

from fersyn.data import load_dataset
from fersyn.mix import TrainingStream, augment_face, balanced_rows


def test_augmented_copies_are_the_same_faces_in_the_order_their_indices_are_shuffled():
    faces = load_dataset("toy", image_size=24)
    real, labels = faces.images[:40], faces.labels[:40]
    augmented = balanced_rows(labels, 12, np.random.default_rng(0))
    stream = TrainingStream(real, labels, 8, seed=5, augmented=augmented)
    tf.random.set_seed(1)  # as keras.utils.set_random_seed before a cell's training
    copies = list(stream._augmented_dataset().repeat(3).as_numpy_iterator())
    tf.random.set_seed(1)
    order = list(tf.data.Dataset.range(12).shuffle(12, seed=5, reshuffle_each_iteration=True).repeat(3).as_numpy_iterator())

    assert len(copies) == 36 and order[:12] != order[12:24]  # a new order every epoch
    for (image, label), copy in zip(copies, order):
        assert label == augmented.labels[copy]
        assert np.array_equal(image, augment_face(tf.constant(real[augmented.rows[copy]]), tf.constant([5, copy])).numpy())
