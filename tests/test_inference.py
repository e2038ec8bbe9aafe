"""fersyn.runtime.inference gives Model.predict's numbers, for one input or several, in batches, and Model.evaluate's
loss and accuracy."""

import gc
import weakref

import keras
import numpy as np
import pytest

from fersyn.runtime.inference import loss_and_accuracy, predict


def test_predict_gives_model_predicts_numbers_batch_by_batch():
    image, code = keras.Input((8, 8, 1)), keras.Input((3,))
    features = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(image))
    joined = keras.layers.Concatenate()([features, code])
    model = keras.Model([image, code], [keras.layers.Dense(2, activation="softmax")(joined), joined])
    rng = np.random.default_rng(0)
    images, codes = rng.random((300, 8, 8, 1), np.float32), rng.random((300, 3), np.float32)

    expected = model.predict([images, codes], batch_size=128, verbose=0)
    outputs = predict(model, [images, codes], batch_size=128)  # batches of 128, 128 and 44, as predict's
    assert isinstance(outputs, list) and len(outputs) == 2
    assert all(np.array_equal(got, wanted) for got, wanted in zip(outputs, expected))
    single = keras.Model(image, keras.layers.Dense(2)(features))
    assert np.array_equal(predict(single, images[:5]), single.predict(images[:5], verbose=0))
    with pytest.raises(ValueError, match="at least one input"):
        predict(single, images[:0])


def test_loss_and_accuracy_give_model_evaluates_numbers():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Flatten(), keras.layers.Dropout(0.3),
                              keras.layers.Dense(5, activation="softmax", kernel_regularizer="l2")])  # a loss of its own too
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    images, labels = rng.random((84, 8, 8, 1), np.float32), rng.integers(0, 5, 84)

    expected = model.evaluate(images, labels, batch_size=32, verbose=0)  # batches of 32, 32 and 20
    assert loss_and_accuracy(model, images, labels) == tuple(expected)
    assert loss_and_accuracy(model, images[:7], labels[:7], batch_size=4) == tuple(
        model.evaluate(images[:7], labels[:7], batch_size=4, verbose=0))
    with pytest.raises(ValueError, match="at least one input"):
        loss_and_accuracy(model, images[:0], labels[:0])


def test_the_traced_calls_are_forgotten_with_the_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    predict(model, np.ones((2, 3), np.float32))
    loss_and_accuracy(model, np.ones((2, 3), np.float32), np.zeros(2, int))
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
