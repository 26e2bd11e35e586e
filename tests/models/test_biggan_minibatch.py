"""Minibatch discrimination (Salimans et al. 2016, §3.2) in the BigGAN and BigGAN-deep
discriminators: the logits against a NumPy composition of the model's own layers, the batch
coupling, the parameter count, serialisation, XLA and mixed precision, argument checks, the
command-line override and a run through the trainer."""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from ml_collections import config_flags

from tests.layers.test_improved_layers import _numpy_minibatch_discrimination
from tests.training import helpers
from tfbiggan.models import BigGANDeepDiscriminator, BigGANDiscriminator, architectures
from tfbiggan.models.common import count_trainable
from tfbiggan.training import trainer as trainer_lib

KERNELS, KERNEL_DIM = 3, 2


def _biggan(**kwargs):
    return BigGANDiscriminator(32, ch=4, num_classes=5, attention=(16,), **kwargs)


def _deep(**kwargs):
    return BigGANDeepDiscriminator(128, ch=4, num_classes=5, **kwargs)


def _images(batch, resolution, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (batch, resolution, resolution, 3)).astype(np.float32)


def _spread_closeness(discriminator, images, labels, seed=1):
    """Sets T to a random tensor scaled so that the mean L1 distance between the projected
    rows of `images` is 1: the closeness features are then far from 0 and from the batch
    size (neither vanishing nor saturated), whatever the scale of the features."""
    _, features = discriminator(images, labels, return_features=True)
    features = np.asarray(features, np.float64)
    kernel = discriminator.head.minibatch.kernel
    t = np.random.default_rng(seed).standard_normal(kernel.shape)
    m = np.einsum("na,abc->nbc", features, t)
    mean_distance = np.abs(m[:, None] - m[None, :]).sum(axis=-1).sum() / (
        len(m) * (len(m) - 1) * t.shape[1])
    kernel.assign((t / mean_distance).astype(np.float32))


def _numpy_logits(discriminator, images, labels):
    """Logits composed in NumPy from the model's layers: the residual stack (and the stem of
    BigGAN-deep) gives h; ReLU, sum pooling, minibatch discrimination, the SN linear on
    [h, closeness] and the class projection ⟨embed(y), h⟩ are NumPy."""
    h = images
    if hasattr(discriminator, "stem"):
        h = discriminator.stem(h)
    for block, attention in zip(discriminator.blocks, discriminator.attention_layers):
        h = block(h)
        if attention is not None:
            h = attention(h)
    features = np.maximum(np.asarray(h, np.float64), 0.0).sum(axis=(1, 2))
    head = discriminator.head
    with_closeness = _numpy_minibatch_discrimination(
        features, np.asarray(head.minibatch.kernel), include_self=False)
    kernel = np.asarray(head.linear.normalized_kernel(), np.float64)
    linear = with_closeness @ kernel[:, 0] + float(np.asarray(head.linear.bias)[0])
    table = np.asarray(head.embed.normalized_kernel(), np.float64)
    projection = np.sum(table[labels] * features, axis=-1)
    return linear + projection, features, with_closeness[:, -KERNELS:]


@pytest.mark.parametrize("build, resolution", [(_biggan, 32), (_deep, 128)],
                         ids=["biggan", "biggan_deep"])
def test_logits_match_numpy_composition(build, resolution):
    keras.utils.set_random_seed(0)
    discriminator = build(minibatch_kernels=KERNELS, minibatch_kernel_dim=KERNEL_DIM)
    images, labels = _images(4, resolution), np.array([0, 3, 1, 4])
    _spread_closeness(discriminator, images, labels)
    logits, features = discriminator(images, labels, return_features=True)
    expected, expected_features, closeness = _numpy_logits(discriminator, images, labels)
    # The closeness features are non-trivial: neither ~0 nor saturated at batch − 1 = 3.
    assert 0.05 < closeness.min() and closeness.max() < 2.95
    closeness_term = closeness @ np.asarray(discriminator.head.linear.normalized_kernel(),
                                            np.float64)[-KERNELS:, 0]
    assert np.abs(closeness_term).max() > 1e-2
    np.testing.assert_allclose(np.asarray(features), expected_features, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(logits), expected, rtol=1e-5, atol=1e-5)


def test_logits_couple_the_batch_only_with_minibatch_discrimination():
    images = _images(4, 32, seed=2)
    changed = images.copy()
    changed[3] = _images(1, 32, seed=3)[0]
    labels = np.array([1, 2, 3, 4])
    keras.utils.set_random_seed(0)
    plain = _biggan()
    keras.utils.set_random_seed(0)
    coupled = _biggan(minibatch_kernels=KERNELS, minibatch_kernel_dim=KERNEL_DIM)
    _spread_closeness(coupled, images, labels)
    for model, couples in ((plain, False), (coupled, True)):
        before = np.asarray(model(images, labels))
        after = np.asarray(model(changed, labels))
        assert after[3] != pytest.approx(before[3], abs=1e-3)
        if couples:
            assert np.all(np.abs(after[:3] - before[:3]) > 1e-4), (before, after)
        else:
            np.testing.assert_allclose(after[:3], before[:3], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("build, arch", [
    (_biggan, architectures.BIGGAN_DISCRIMINATOR[32]),
    (_deep, architectures.BIGGAN_DEEP_DISCRIMINATOR[128]),
], ids=["biggan", "biggan_deep"])
def test_parameter_count_grows_by_t_and_the_linear_weights(build, arch):
    plain = build()
    on = build(minibatch_kernels=KERNELS, minibatch_kernel_dim=KERNEL_DIM)
    channels = arch.blocks[-1].out_mult * 4  # C: width of the pooled features (ch 4).
    assert channels == {32: 16, 128: 64}[plain.resolution]
    # T [C, kernels, kernel_dim] and `kernels` more rows of the SN linear kernel.
    expected = channels * KERNELS * KERNEL_DIM + KERNELS
    assert count_trainable(on) - count_trainable(plain) == expected
    plain_paths = {w.path: tuple(w.shape) for w in plain.weights}
    on_paths = {w.path: tuple(w.shape) for w in on.weights}
    new = {p: s for p, s in on_paths.items() if p not in plain_paths}
    assert new == {"minibatch_discrimination/kernel": (channels, KERNELS, KERNEL_DIM)}
    assert on.head.minibatch.kernel.shape == (channels, KERNELS, KERNEL_DIM)
    assert on.head.linear.kernel.shape == (channels + KERNELS, 1)
    assert plain.head.linear.kernel.shape == (channels, 1)
    assert len(on.weights) == len(plain.weights) + 1


def test_off_by_default_leaves_the_model_unchanged():
    keras.utils.set_random_seed(5)
    default = BigGANDiscriminator(32, ch=4, num_classes=5)
    keras.utils.set_random_seed(5)
    explicit = BigGANDiscriminator(32, ch=4, num_classes=5, minibatch_kernels=0,
                                   minibatch_kernel_dim=8)
    assert default.head.minibatch is None and explicit.head.minibatch is None
    assert [(w.path, tuple(w.shape)) for w in default.weights] == \
        [(w.path, tuple(w.shape)) for w in explicit.weights]
    for a, b in zip(default.weights, explicit.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    images, labels = _images(3, 32), np.array([0, 1, 2])
    np.testing.assert_array_equal(np.asarray(default(images, labels)),
                                  np.asarray(explicit(images, labels)))
    # Configs saved before the option existed restore it switched off.
    config = default.get_config()
    del config["minibatch_kernels"], config["minibatch_kernel_dim"]
    assert BigGANDiscriminator.from_config(config).minibatch_kernels == 0


def test_config_round_trip_and_keras_file_give_the_same_logits(tmp_path):
    keras.utils.set_random_seed(0)
    discriminator = _biggan(minibatch_kernels=KERNELS, minibatch_kernel_dim=KERNEL_DIM)
    images, labels = _images(4, 32, seed=4), np.array([0, 1, 2, 3])
    _spread_closeness(discriminator, images, labels)
    discriminator(images, labels, training=True)  # Moves the SN vectors u.
    expected = np.asarray(discriminator(images, labels))
    config = discriminator.get_config()
    assert (config["minibatch_kernels"], config["minibatch_kernel_dim"]) == \
        (KERNELS, KERNEL_DIM)
    clone = BigGANDiscriminator.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(discriminator.get_weights())
    np.testing.assert_allclose(np.asarray(clone(images, labels)), expected, atol=1e-6)
    path = os.path.join(tmp_path, "d.keras")
    discriminator.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.minibatch_kernels == KERNELS
    assert reloaded.minibatch_kernel_dim == KERNEL_DIM
    np.testing.assert_allclose(np.asarray(reloaded(images, labels)), expected, atol=1e-6)


@pytest.mark.slow
def test_xla_and_mixed_precision():
    keras.utils.set_random_seed(0)
    images, labels = _images(4, 32, seed=6), np.array([4, 3, 2, 1])
    discriminator = _biggan(minibatch_kernels=KERNELS, minibatch_kernel_dim=KERNEL_DIM)
    _spread_closeness(discriminator, images, labels)
    eager = np.asarray(discriminator(images, labels))
    compiled = tf.function(lambda a, b: discriminator(a, b), jit_compile=True)(images, labels)
    np.testing.assert_allclose(np.asarray(compiled), eager, rtol=1e-4, atol=1e-4)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = _biggan(minibatch_kernels=KERNELS, minibatch_kernel_dim=KERNEL_DIM)
        logits = mixed(images, labels, training=True)
        assert logits.dtype == "float32" and np.all(np.isfinite(np.asarray(logits)))
        # Minibatch discrimination stays float32, on the float32 pooled features.
        assert mixed.head.minibatch.compute_dtype == "float32"
        assert mixed.head.linear.compute_dtype == "bfloat16"
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("cls", [BigGANDiscriminator, BigGANDeepDiscriminator])
@pytest.mark.parametrize("field, value, accepted", [
    ("minibatch_kernels", -1, "a non-negative integer"),
    ("minibatch_kernels", 2.5, "a non-negative integer"),
    ("minibatch_kernels", True, "a non-negative integer"),
    ("minibatch_kernel_dim", 0, "a positive integer"),
    ("minibatch_kernel_dim", "4", "a positive integer"),
])
def test_bad_arguments_are_named(cls, field, value, accepted):
    with pytest.raises(ValueError, match=rf"`{field}` must be {accepted}, got {value!r}"):
        cls(32 if cls is BigGANDiscriminator else 128, ch=4, num_classes=5, **{field: value})


def test_command_line_override_reaches_the_discriminator():
    # The flags of `python -m tfbiggan.train` (tfbiggan/train.py), parsed in-process.
    argv = ["train", f"--config={helpers.DIGITS_CONFIG}", "--config.model.overrides.ch=4",
            "--config.model.overrides.minibatch_kernels=8"]
    flag_values = flags.FlagValues()
    config_flag = config_flags.DEFINE_config_file("config", None, "Experiment config.",
                                                  flag_values=flag_values, lock_config=True,
                                                  sys_argv=argv)
    flag_values(argv)
    config = config_flag.value
    assert config.model.overrides.minibatch_kernels == 8
    generator, discriminator = trainer_lib.build_models(config.model)
    assert not hasattr(generator, "minibatch_kernels")
    assert (discriminator.minibatch_kernels, discriminator.minibatch_kernel_dim) == (8, 8)
    assert discriminator.head.minibatch.kernel.shape == (16, 8, 8)
    # Unset, the preset's discriminator has no minibatch discrimination.
    assert helpers.digits_config().model.overrides.minibatch_kernels is None


@pytest.mark.slow
def test_tiny_trainer_run_with_minibatch_discrimination(tmp_path):
    config = helpers.tiny_config()
    config.model.overrides.minibatch_kernels = 4
    config.model.overrides.minibatch_kernel_dim = 3
    trainer = trainer_lib.Trainer(config, str(tmp_path))
    kernel = trainer.discriminator.head.minibatch.kernel
    assert kernel.shape == (16, 4, 3)
    before = np.array(kernel.numpy())
    last = trainer.train(progress=False)
    assert int(trainer.step.numpy()) == 2
    assert last and all(np.isfinite(float(v)) for v in last.values()), last
    assert not np.array_equal(before, kernel.numpy())  # T is trained with D.


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
