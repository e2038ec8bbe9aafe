import keras
import numpy as np
import pytest

from fersyn.classifiers.protocol import Budget, KeptModels, train_classifier
from fersyn.data import load_dataset, split_dataset
from fersyn.data.pixels import to_unit_interval
from fersyn.errors import FersynError
from fersyn.plugins.contracts import checked_model
from fersyn.plugins.registry import create_plugin, get_plugin
from fersyn.runtime import inference
from fersyn.sweep.mix import TrainingStream

pytestmark = pytest.mark.usefixtures("plugins")


def test_paper_cnn_is_the_papers_network():
    model = create_plugin("classifier", "paper-cnn").build_model((48, 48, 1), 6)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Conv2D", "MaxPooling2D", "Conv2D",
                     "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense"]
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [32, 64, 128, 128]
    assert model.layers[-3].units == 1024 and model.output_shape == (None, 6)
    assert create_plugin("classifier", "paper-cnn", image_size=64).build_model((64, 64, 1), 7).output_shape == (None, 7)


@pytest.mark.slow
def test_small_cnn_learns_toy_emotions_on_held_out_identities(tmp_path):
    faces = load_dataset("toy")
    split = split_dataset(faces, seed=0)
    classifier = create_plugin("classifier", "small-cnn")
    stream = TrainingStream(faces.images[split.train], faces.labels[split.train], classifier.batch_size, seed=0)
    record = train_classifier(
        classifier, stream, faces.images[split.val], faces.labels[split.val], len(faces.emotions),
        budget=Budget("epochs", epochs=12), seed=0,
    )
    predicted = classifier.predict_proba(faces.images[split.test]).argmax(1)
    accuracy = (predicted == faces.labels[split.test]).mean()
    print(f"small-cnn on toy, held-out identities: {accuracy:.3f} after {record.epochs} epochs")
    assert accuracy > 0.5  # chance is 1/6; measured 0.85 at this seed

    classifier.save(tmp_path)
    reloaded = get_plugin("classifier", "small-cnn").cls.load(tmp_path)
    assert np.allclose(reloaded.predict_proba(faces.images[split.test[:20]]),
                       classifier.predict_proba(faces.images[split.test[:20]]), atol=1e-6)
    with pytest.raises(FersynError, match="holds the classifier plugin 'small-cnn', not the classifier plugin 'paper-cnn'"):
        get_plugin("classifier", "paper-cnn").cls.load(tmp_path)


def test_epochs_budget_stops_early_and_keeps_the_best_weights():
    faces = load_dataset("toy")
    split = split_dataset(faces, seed=0)
    train = split.train[:320]
    shuffled = np.random.default_rng(0).permutation(faces.labels[train])  # nothing true to learn: val loss rises
    classifier = create_plugin("classifier", "small-cnn")
    stream = TrainingStream(faces.images[train], shuffled, classifier.batch_size, seed=0)
    val_images, val_labels = faces.images[split.val], faces.labels[split.val]
    record = train_classifier(classifier, stream, val_images, val_labels, len(faces.emotions),
                              budget=Budget("epochs", epochs=30, patience=2), seed=0)
    best = int(np.argmin(record.val_loss))
    assert record.epochs == record.validations == best + 3 < 30  # stopped `patience` epochs after the best
    assert record.best_validation == best + 1 and record.steps == record.epochs * 5
    probabilities = classifier.predict_proba(val_images)
    loss = -np.mean(np.log(probabilities[np.arange(len(val_labels)), val_labels] + 1e-7))
    assert loss == pytest.approx(record.val_loss[best], rel=1e-3)  # the best epoch's weights, not the last


def test_steps_budget_gives_exactly_its_steps_whatever_the_data():
    faces = load_dataset("toy")
    split = split_dataset(faces, seed=0)
    for size in (64, 640):
        classifier = create_plugin("classifier", "small-cnn")
        stream = TrainingStream(faces.images[split.train[:size]], faces.labels[split.train[:size]], 64, seed=0)
        batches = []
        counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
        record = train_classifier(classifier, stream, faces.images[split.val], faces.labels[split.val], 6,
                                  budget=Budget("steps", steps=12, eval_every=4), seed=0, callbacks=[counter])
        assert (record.steps, record.validations, len(batches)) == (12, 3, 12)
        assert record.epochs == pytest.approx(12 * 64 / size)  # passes over the data: more data, fewer passes


@pytest.mark.slow
def test_a_kept_model_trains_to_the_same_numbers_as_a_fresh_one_without_tracing_again():
    faces = load_dataset("toy", image_size=32)
    split = split_dataset(faces, seed=0)
    train, val, test = (faces.subset(rows) for rows in (split.train[:256], split.val, split.test))
    kept = KeptModels()

    def trained(seed, pool, name="paper-cnn"):  # paper-cnn: dropout too, whose seeds must be reset as well
        classifier = create_plugin("classifier", name, image_size=32)
        stream = TrainingStream(train.images, train.labels, classifier.batch_size, seed=seed)
        train_classifier(classifier, stream, val.images, val.labels, 6, budget=Budget("steps", steps=6, eval_every=3),
                         seed=seed, kept=pool)
        return classifier.model, classifier.predict_proba(test.images)

    first, _ = trained(0, kept)
    tracing = first.train_function, inference._TRACED_TESTS[first], inference._TRACED[first]
    again, reused = trained(1, kept)
    assert again is first and (again.train_function, inference._TRACED_TESTS[again], inference._TRACED[again]) == tracing
    fresh, expected = trained(1, None)
    assert fresh is not first and np.array_equal(reused, expected)
    kept.limit = 1  # past its limit, the pool forgets the architecture used least recently
    small, _ = trained(1, kept, "small-cnn")  # another architecture: a model of its own
    assert small is not first and trained(2, kept, "small-cnn")[0] is small
    assert trained(2, kept)[0] is not first


def test_validation_rounds_give_the_numbers_of_fits_own_validation():
    faces = load_dataset("toy", image_size=24)
    split = split_dataset(faces, seed=0)
    train, val = faces.subset(split.train[:128]), faces.subset(split.val)
    seen = []
    classifier = create_plugin("classifier", "small-cnn", image_size=24, width=8)
    record = train_classifier(classifier, TrainingStream(train.images, train.labels, 32, seed=3), val.images, val.labels, 6,
                              budget=Budget("steps", steps=8, eval_every=2), seed=3,
                              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs))])

    keras.utils.set_random_seed(3)  # the same model trained by fit with validation_data, as fersyn trained it before
    model = checked_model(create_plugin("classifier", "small-cnn", image_size=24, width=8), 6)
    model.compile(optimizer=keras.optimizers.Adam(classifier.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(TrainingStream(train.images, train.labels, 32, seed=3).dataset(repeat=True), epochs=4,
                        steps_per_epoch=2, validation_data=(to_unit_interval(val.images), val.labels), shuffle=False, verbose=0)
    assert record.val_loss == history.history["val_loss"]  # the same numbers, bit for bit
    assert [logs["val_accuracy"] for logs in seen] == history.history["val_accuracy"]  # as the callbacks saw them


def test_a_steps_budget_is_validated_once_per_real_epoch_but_at_most_25_times():
    assert Budget.of_steps(20, 16) == Budget("steps", steps=20, eval_every=10)  # 2 rounds: about once per epoch
    assert Budget.of_steps(1000, 100) == Budget("steps", steps=1000, eval_every=100)
    assert Budget.of_steps(1000, 4) == Budget("steps", steps=1000, eval_every=40)  # not 250 rounds: 25
    assert Budget.of_steps(1001, 4) == Budget("steps", steps=1025, eval_every=41)  # rounded up to whole rounds


def test_a_classifier_returning_logits_is_refused_before_any_training():
    from fersyn.plugins.contracts import Classifier, ContractError, checked_model

    class Logits(Classifier):
        name = "logits"

        def build_model(self, input_shape, num_classes):
            return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(num_classes)])

    with pytest.raises(ContractError, match="outputs are probabilities .* not logits"):
        checked_model(Logits(), 6)
