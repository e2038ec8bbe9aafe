"""fersyn.inference.predict gives Model.predict's numbers, for one input or several, in batches."""

import keras
import numpy as np
import pytest

from fersyn.inference import predict


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
