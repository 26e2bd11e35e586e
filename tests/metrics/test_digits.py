"""The digits classifier: held-out accuracy, on-disk cache, class consistency."""

import os
import sys

import numpy as np
import pytest

from tfbiggan import metrics
from tfbiggan.metrics import digits

RESOLUTION = 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("digits_cache")
    classifier = metrics.load_digits_classifier(RESOLUTION, cache_dir=str(cache_dir))
    return classifier, cache_dir


def test_split_is_fixed_and_disjoint():
    x_train, y_train, x_test, y_test = digits.digits_split(16)
    again = digits.digits_split(16)
    np.testing.assert_array_equal(again[3], y_test)
    assert len(y_train) + len(y_test) == 1797 and len(y_test) == 359
    train_rows = {row.tobytes() for row in x_train}
    assert sum(row.tobytes() in train_rows for row in x_test) < 5  # The data has a few duplicates.


@pytest.mark.slow
def test_held_out_accuracy(trained):
    classifier, _ = trained
    _, _, x_test, y_test = digits.digits_split(RESOLUTION)
    features, logits = classifier(x_test)
    assert features.shape == (len(y_test), 128)
    accuracy = np.mean(np.argmax(logits.numpy(), axis=1) == y_test)
    assert accuracy >= 0.98
    # RGB digits (grey repeated) give the same outputs as grey ones.
    rgb = np.repeat(x_test[:8], 3, axis=-1)
    np.testing.assert_allclose(classifier(rgb)[1].numpy(), logits.numpy()[:8], atol=1e-5)


@pytest.mark.slow
def test_cache_is_reused(trained, monkeypatch):
    classifier, cache_dir = trained
    path = digits.classifier_path(RESOLUTION, str(cache_dir))
    assert os.path.isfile(path) and path.endswith(".keras")
    # The model and its accuracy record, no temporary files left.
    assert sorted(os.listdir(cache_dir)) == sorted(
        [os.path.basename(path), os.path.basename(path)[:-len(".keras")] + ".json"])
    modified = os.path.getmtime(path)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier should have been loaded")

    monkeypatch.setattr(digits, "train_digits_model", no_training)
    reloaded = metrics.load_digits_classifier(RESOLUTION, cache_dir=str(cache_dir))
    assert os.path.getmtime(path) == modified
    images = digits.digits_split(RESOLUTION)[2][:16]
    np.testing.assert_allclose(reloaded(images)[1].numpy(), classifier(images)[1].numpy(),
                               atol=1e-5)


@pytest.mark.slow
def test_class_consistency(trained):
    classifier, _ = trained
    _, _, x_test, y_test = digits.digits_split(RESOLUTION)
    predictions = np.argmax(classifier(x_test)[1].numpy(), axis=1)
    wrong = (y_test + 1) % 10
    assert metrics.class_consistency(classifier, x_test, y_test, batch_size=50) == \
        pytest.approx(np.mean(predictions == y_test))
    assert metrics.class_consistency(classifier, x_test, np.eye(10)[wrong]) == \
        pytest.approx(np.mean(predictions == wrong))


def test_input_validation(tmp_path):
    with pytest.raises(ValueError, match="resolution"):
        metrics.load_digits_classifier(4, cache_dir=str(tmp_path))
    classifier = digits.DigitsClassifier(digits.build_digits_model(16))
    with pytest.raises(ValueError, match="16, 16, 1 or 3"):
        classifier(np.zeros((2, 32, 32, 1), np.float32))
    with pytest.raises(ValueError, match="labels"):
        metrics.class_consistency(classifier, np.zeros((4, 16, 16, 1), np.float32), [1, 2])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
