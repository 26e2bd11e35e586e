"""The Inception loader (with a small SavedModel stand-in) and batched feature extraction."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfbiggan import metrics
from tfbiggan.metrics import inception

_FEATURES, _CLASSES = 8, 5


class _StandIn(tf.Module):
    """Images [B, 299, 299, 3] → {"pool_3": [B, 1, 1, F], "logits": [B, K]}, like TF-GAN's."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.w1 = tf.Variable(rng.standard_normal((3, _FEATURES)).astype(np.float32))
        self.w2 = tf.Variable(rng.standard_normal((_FEATURES, _CLASSES)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def __call__(self, images):
        pooled = tf.reduce_mean(tf.abs(images), axis=[1, 2]) @ self.w1
        return {"pool_3": tf.reshape(pooled, [-1, 1, 1, _FEATURES]),
                "logits": pooled @ self.w2}


def _expected(module, images):
    resized = tf.image.resize(tf.repeat(images, 3 // images.shape[-1], axis=-1), (299, 299),
                              method="bilinear").numpy()
    pooled = np.abs(resized).mean(axis=(1, 2)) @ module.w1.numpy()
    return pooled, pooled @ module.w2.numpy()


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    module = _StandIn()
    path = tmp_path_factory.mktemp("inception") / "saved_model"
    tf.saved_model.save(module, str(path))
    return module, str(path)


def test_loads_a_local_saved_model(stand_in):
    module, path = stand_in
    network = metrics.load_inception(path)
    images = np.random.default_rng(1).uniform(-1, 1, (3, 16, 16, 3)).astype(np.float32)
    features, logits = network(images)
    assert features.shape == (3, _FEATURES) and logits.shape == (3, _CLASSES)
    expected_features, expected_logits = _expected(module, images)
    np.testing.assert_allclose(features.numpy(), expected_features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits.numpy(), expected_logits, rtol=1e-5, atol=1e-5)
    grey = images[..., :1]
    np.testing.assert_allclose(network(grey)[0].numpy(), _expected(module, grey)[0],
                               rtol=1e-5, atol=1e-6)


def test_module_with_only_a_default_signature(tmp_path):
    module = _StandIn()
    holder = tf.Module()
    holder.net = module  # Not callable itself: only the signature serves.
    path = str(tmp_path / "signature_only")
    tf.saved_model.save(holder, path, signatures={"default": module.__call__})
    images = np.random.default_rng(4).uniform(-1, 1, (2, 10, 10, 3)).astype(np.float32)
    features, logits = metrics.load_inception("file://" + path)(images)
    expected_features, expected_logits = _expected(module, images)
    np.testing.assert_allclose(features.numpy(), expected_features, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits.numpy(), expected_logits, rtol=1e-5, atol=1e-5)


def test_environment_variable_is_used(stand_in, monkeypatch):
    monkeypatch.setenv(inception.INCEPTION_ENV_VAR, stand_in[1])
    features, _ = metrics.load_inception()(np.zeros((2, 8, 8, 3), np.float32))
    assert features.shape == (2, _FEATURES)


def test_missing_network_errors_say_how_to_provide_it(monkeypatch, tmp_path):
    monkeypatch.delenv(inception.INCEPTION_ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="TFBIGGAN_INCEPTION"):
        metrics.load_inception()
    missing = str(tmp_path / "no_such_dir")
    with pytest.raises(FileNotFoundError, match="no_such_dir") as info:
        metrics.load_inception(missing)
    assert "TFBIGGAN_INCEPTION" in str(info.value) and "--inception" in str(info.value)
    (tmp_path / "not_a_model").mkdir()
    with pytest.raises(OSError, match="could not load"):
        metrics.load_inception(str(tmp_path / "not_a_model"))


def test_extract_features_from_array_and_generator():
    def feature_fn(images):
        flat = np.asarray(images).reshape(len(images), -1)
        return flat[:, :4] * 2.0, flat[:, :3]

    images = np.random.default_rng(2).standard_normal((23, 2, 2, 1)).astype(np.float32)
    features, logits = metrics.extract_features(feature_fn, images, batch_size=5)
    np.testing.assert_allclose(features, images.reshape(23, -1) * 2.0)
    np.testing.assert_allclose(logits, images.reshape(23, -1)[:, :3])

    calls = []

    def generator_fn(batch_size):
        calls.append(batch_size)
        return np.full((batch_size, 2, 2, 1), len(calls), np.float32)

    features, _ = metrics.extract_features(feature_fn, generator_fn, batch_size=4,
                                           num_samples=10)
    assert features.shape == (10, 4) and len(calls) == 3
    np.testing.assert_array_equal(features[:, 0], [2] * 4 + [4] * 4 + [6] * 2)
    with pytest.raises(ValueError, match="num_samples"):
        metrics.extract_features(feature_fn, generator_fn, batch_size=4)
    with pytest.raises(ValueError, match="exceeds"):
        metrics.extract_features(feature_fn, images, num_samples=24)


def test_keras_model_can_stand_in():
    import keras  # pylint: disable=import-outside-toplevel

    inputs = keras.Input((6, 6, 3))
    features = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, [features, keras.layers.Dense(4)(features)])
    images = np.random.default_rng(3).standard_normal((7, 6, 6, 3)).astype(np.float32)
    extracted, logits = metrics.extract_features(model, images, batch_size=3)
    np.testing.assert_allclose(extracted, images.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert logits.shape == (7, 4)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
