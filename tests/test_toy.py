import numpy as np

from fersyn.data import load_dataset, split_dataset
from fersyn.data.emotions import EKMAN
from fersyn.data.toy import toy_faceset


def test_toy_shape_subjects_and_balance():
    faces = load_dataset("toy")
    assert faces.images.shape == (1440, 48, 48, 1) and faces.images.dtype == np.uint8
    assert len(np.unique(faces.subjects)) == 120
    assert set(faces.counts().values()) == {240}
    assert faces.images.std() > 20  # not blank


def test_toy_is_deterministic_under_a_seed_and_any_size():
    a, b = toy_faceset(identities=5, seed=3), toy_faceset(identities=5, seed=3)
    c = toy_faceset(identities=5, seed=4)
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    assert toy_faceset(identities=2, image_size=64).images.shape == (24, 64, 64, 1)


def _best_stump_accuracy(train_x, train_y, test_x, test_y, bins=8):
    """Test accuracy of the best one-feature classifier (feature binned by train quantiles)."""
    edges = np.quantile(train_x, np.linspace(0, 1, bins + 1)[1:-1], axis=0)
    train_bins = (train_x[None] > edges[:, None]).sum(0)
    test_bins = (test_x[None] > edges[:, None]).sum(0)
    features = np.arange(train_x.shape[1])
    counts = np.zeros((train_x.shape[1], bins, len(EKMAN)))
    for label in range(len(EKMAN)):
        for b in range(bins):
            counts[:, b, label] = (train_bins[train_y == label] == b).sum(0)
    predicted = counts.argmax(2)[features[None, :], test_bins]
    return (predicted == test_y[:, None]).mean(0).max()


def test_no_single_pixel_or_global_brightness_gives_the_class_away():
    faces = load_dataset("toy")
    split = split_dataset(faces, seed=0)
    train, test = np.concatenate([split.train, split.val]), split.test
    pixels = faces.images.reshape(len(faces), -1).astype(np.float32)
    brightness = pixels.mean(1, keepdims=True)
    chance = 1 / len(EKMAN)
    assert _best_stump_accuracy(brightness[train], faces.labels[train], brightness[test], faces.labels[test]) < chance + 0.08
    assert _best_stump_accuracy(pixels[train], faces.labels[train], pixels[test], faces.labels[test]) < 0.45
