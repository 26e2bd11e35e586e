"""Tests of the Progressive GAN generator and discriminator."""

import os
import sys
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tfbiggan.models.progan import ProGANDiscriminator, ProGANGenerator

RES, LATENT, BASE, MAX = 16, 8, 64, 16  # channels per stage: 16, 16, 8


def _randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _generator(**kwargs):
    g = ProGANGenerator(RES, LATENT, fmap_base=BASE, fmap_max=MAX, **kwargs)
    g.build([(None, LATENT), (None,)] if kwargs.get("num_classes") else (None, LATENT))
    return g


def _discriminator(**kwargs):
    d = ProGANDiscriminator(RES, fmap_base=BASE, fmap_max=MAX, mbstd_group_size=2, **kwargs)
    d.build([(None, RES, RES, 3), (None,)] if kwargs.get("num_classes") else (None, RES, RES, 3))
    return d


def _np_upsample(x, f):
    return np.repeat(np.repeat(x, f, axis=1), f, axis=2)


def _np_pixel_norm(x):
    return x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-8)


def _np_lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def _np_conv(x, layer):
    kernel = np.asarray(layer.kernel, np.float64) * layer.scale
    k = kernel.shape[0]
    p = k // 2
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    n, h, w, _ = x.shape
    out = np.zeros((n, h, w, kernel.shape[-1]))
    for i in range(k):
        for j in range(k):
            out += np.einsum("nhwc,co->nhwo", padded[:, i:i + h, j:j + w], kernel[i, j])
    return out + np.asarray(layer.bias)


def _param_count(*shapes):
    return sum(int(np.prod(s)) for s in shapes)


def test_parameter_counts_match_the_architecture_arithmetic():
    c0, c1, c2 = 16, 16, 8
    conv = lambda i, o, k=3: _param_count((k, k, i, o), (o,))  # noqa: E731
    g_expected = (_param_count((LATENT, 16 * c0), (16 * c0,)) + conv(c0, c0)
                  + conv(c0, c1) + conv(c1, c1) + conv(c1, c2) + conv(c2, c2)
                  + conv(c0, 3, 1) + conv(c1, 3, 1) + conv(c2, 3, 1))
    assert _generator().count_params() - 2 == g_expected  # minus the stage and alpha scalars
    g_cond = _generator(num_classes=5, embedding_dim=4)
    assert sum(int(np.prod(w.shape)) for w in g_cond.trainable_weights) == (
        g_expected + 5 * 4 + 4 * 16 * c0)
    d_expected = (conv(3, c0, 1) + conv(3, c1, 1) + conv(3, c2, 1)
                  + conv(c2, c2) + conv(c2, c1) + conv(c1, c1) + conv(c1, c0)
                  + conv(c0 + 1, c0) + _param_count((16 * c0, c0), (c0,))
                  + _param_count((c0, 1), (1,)))
    assert sum(int(np.prod(w.shape)) for w in _discriminator().trainable_weights) == d_expected
    assert sum(int(np.prod(w.shape)) for w in _discriminator(
        num_classes=3).trainable_weights) == d_expected + 3 * c0


def test_generator_stage_zero_matches_numpy():
    g = _generator()
    z = _randn(2, LATENT)
    x = _np_pixel_norm(z.astype(np.float64))
    h = x @ (np.asarray(g.dense.kernel, np.float64) * np.sqrt(0.125 / LATENT))
    h = _np_pixel_norm(_np_lrelu(h.reshape(2, 4, 4, 16)))
    h = _np_pixel_norm(_np_lrelu(_np_conv(h, g.base_conv)))
    expected = _np_upsample(_np_conv(h, g.to_rgb[0]), RES // 4)
    out = g(z)
    assert out.dtype == tf.float32 and out.shape == (2, RES, RES, 3)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stage", [1, 2])
def test_generator_fade_in_is_continuous(stage):
    g = _generator()
    z = _randn(3, LATENT, seed=stage)
    g.set_stage(stage - 1, alpha=1.0)
    previous = np.asarray(g(z))
    g.set_stage(stage, alpha=0.0)
    start = np.asarray(g(z))
    g.set_stage(stage, alpha=1.0)
    end = np.asarray(g(z))
    g.set_stage(stage, alpha=0.25)
    middle = np.asarray(g(z))
    # α = 0: exactly the previous stage's image, nearest-upsampled to the target resolution.
    np.testing.assert_allclose(start, previous, rtol=1e-5, atol=1e-5)
    f = 2 ** (g.num_stages - stage)
    np.testing.assert_array_equal(previous, _np_upsample(previous[:, ::f, ::f], f))
    np.testing.assert_allclose(middle, 0.75 * start + 0.25 * end, rtol=1e-4, atol=1e-5)
    assert np.abs(end - start).max() > 1e-3
    # α = 1: the new stage alone; the previous toRGB no longer matters.
    g.to_rgb[stage - 1].kernel.assign(g.to_rgb[stage - 1].kernel * 3.0 + 1.0)
    g.set_stage(stage, alpha=1.0)
    np.testing.assert_array_equal(np.asarray(g(z)), end)
    g.set_stage(stage, alpha=0.25)
    assert np.abs(np.asarray(g(z)) - middle).max() > 1e-3


@pytest.mark.parametrize("stage", [1, 2])
def test_discriminator_fade_in_is_continuous(stage):
    d = _discriminator()
    x = _randn(4, RES, RES, 3, seed=stage)
    d.set_stage(stage - 1, alpha=1.0)
    previous = np.asarray(d(x))
    d.set_stage(stage, alpha=0.0)
    np.testing.assert_allclose(np.asarray(d(x)), previous, rtol=1e-4, atol=1e-5)
    d.set_stage(stage, alpha=1.0)
    end = np.asarray(d(x))
    assert np.abs(end - previous).max() > 1e-4
    d.from_rgb[stage - 1].kernel.assign(d.from_rgb[stage - 1].kernel * 3.0 + 1.0)
    np.testing.assert_array_equal(np.asarray(d(x)), end)


def test_discriminator_sees_only_the_current_stage_resolution():
    d = _discriminator()
    d.set_stage(1, alpha=1.0)  # 8×8
    low = _randn(4, 8, 8, 3)
    detail = _randn(4, RES, RES, 3, seed=1)
    detail -= _np_upsample(detail.reshape(4, 8, 2, 8, 2, 3).mean(axis=(2, 4)), 2)
    np.testing.assert_allclose(np.asarray(d(_np_upsample(low, 2) + detail)),
                               np.asarray(d(_np_upsample(low, 2))), rtol=1e-4, atol=1e-5)


def test_conditioning_labels_and_projection():
    g = _generator(num_classes=4)
    z = _randn(2, LATENT)
    labels = np.array([1, 3])
    out = np.asarray(g((z, labels)))
    np.testing.assert_allclose(np.asarray(g((z, np.eye(4, dtype=np.float32)[labels]))), out,
                               rtol=1e-6, atol=1e-6)
    assert np.abs(np.asarray(g((z, np.array([0, 0])))) - out).max() > 1e-3

    d = _discriminator(num_classes=4)
    d.set_stage(2)
    x = _randn(2, RES, RES, 3)
    logits, h = d((x, labels), return_features=True)
    h = np.asarray(h, np.float64)
    unconditional = h @ (np.asarray(d.output_dense.kernel) * d.output_dense.scale)
    projection = np.sum(np.asarray(d.class_embedding)[labels] * h, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(logits),
                               unconditional + np.asarray(d.output_dense.bias)
                               + projection / np.sqrt(16), rtol=1e-4, atol=1e-5)


def test_invalid_arguments_and_inputs_raise():
    with pytest.raises(ValueError, match="resolution.*12"):
        ProGANGenerator(12, 8)
    with pytest.raises(ValueError, match="output_activation"):
        ProGANGenerator(16, 8, output_activation="relu")
    with pytest.raises(ValueError, match="mbstd_group_size"):
        ProGANDiscriminator(16, mbstd_group_size=0)
    g = _generator()
    with pytest.raises(ValueError, match="stage"):
        g.set_stage(3)
    with pytest.raises(ValueError, match="alpha"):
        g.set_stage(1, alpha=2.0)
    with pytest.raises(ValueError, match=r"\[B, 8\]"):
        g(_randn(2, 7))
    with pytest.raises(ValueError, match="labels"):
        _generator(num_classes=3)(_randn(2, LATENT))
    with pytest.raises(ValueError, match="16, 16, 3"):
        _discriminator()(_randn(2, 8, 8, 3))


def test_tanh_output_is_bounded():
    g = _generator(output_activation="tanh")
    g.set_stage(2, alpha=0.5)
    out = np.asarray(g(_randn(2, LATENT) * 50.0))
    assert np.all(np.abs(out) <= 1.0)


def test_keras_save_load_restores_weights_and_growth_state():
    g, d = _generator(num_classes=3), _discriminator(num_classes=3)
    g.set_stage(1, alpha=0.3)
    d.set_stage(2, alpha=0.6)
    z, y, x = _randn(2, LATENT), np.array([0, 2]), _randn(2, RES, RES, 3)
    expected_g, expected_d = np.asarray(g((z, y))), np.asarray(d((x, y)))
    with tempfile.TemporaryDirectory() as tmp:
        g.save(os.path.join(tmp, "g.keras"))
        d.save(os.path.join(tmp, "d.keras"))
        g2 = keras.saving.load_model(os.path.join(tmp, "g.keras"))
        d2 = keras.saving.load_model(os.path.join(tmp, "d.keras"))
    assert type(g2) is ProGANGenerator and g2.get_config() == g.get_config()
    assert int(g2.stage.numpy()) == 1 and float(g2.alpha.numpy()) == pytest.approx(0.3)
    assert d2.current_resolution == 16
    np.testing.assert_allclose(np.asarray(g2((z, y))), expected_g, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(d2((x, y))), expected_d, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_one_xla_function_serves_every_stage():
    g, d = _generator(), _discriminator()
    gen = tf.function(lambda z: g(z), jit_compile=True)
    disc = tf.function(lambda x: d(x), jit_compile=True)
    z, x = _randn(2, LATENT), _randn(2, RES, RES, 3)
    for stage, alpha in [(0, 1.0), (1, 0.5), (2, 0.25)]:
        g.set_stage(stage, alpha)
        d.set_stage(stage, alpha)
        np.testing.assert_allclose(np.asarray(gen(z)), np.asarray(g(z)), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(disc(x)), np.asarray(d(x)), rtol=1e-4, atol=1e-5)
    assert gen.experimental_get_tracing_count() == 1
    assert disc.experimental_get_tracing_count() == 1


def test_one_xla_gradient_function_serves_every_stage():
    # The growth state is assigned inside the compiled function, as the trainer's schedule
    # does, so XLA cannot fold it (or anything behind the stage switch) into constants.
    g, d = _generator(), _discriminator()
    z, x = _randn(2, LATENT), _randn(2, RES, RES, 3)
    variables = g.trainable_weights + d.trainable_weights

    def gradients(stage, alpha):
        for model in (g, d):
            model.stage.assign(stage)
            model.alpha.assign(alpha)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(d(x)) - tf.reduce_sum(d(g(z)))
        return [tf.zeros_like(v) if grad is None else tf.convert_to_tensor(grad)
                for v, grad in zip(variables, tape.gradient(loss, variables))]

    compiled = tf.function(gradients, jit_compile=True)
    for stage, alpha in [(0, 1.0), (1, 0.5), (2, 0.25), (2, 1.0)]:
        expected = gradients(stage, alpha)
        actual = compiled(tf.constant(stage), tf.constant(alpha))
        assert any(float(tf.norm(grad)) > 0 for grad in expected)
        for variable, a, e in zip(variables, actual, expected):
            np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-4, atol=1e-5,
                                       err_msg=f"stage {stage}, α {alpha}: {variable.path}")
    assert compiled.experimental_get_tracing_count() == 1


def test_growing_creates_no_variables_and_gradients_flow_to_the_active_stage():
    g, d = _generator(), _discriminator()
    before = len(g.weights) + len(d.weights)
    g.set_stage(1, alpha=0.5)
    d.set_stage(1, alpha=0.5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(d(g(_randn(2, LATENT))))
    grads = tape.gradient(loss, g.trainable_weights + d.trainable_weights)
    assert len(g.weights) + len(d.weights) == before
    by_path = {w.path: gr for w, gr in zip(g.trainable_weights + d.trainable_weights, grads)}
    for path in ("to_rgb_4x4/kernel", "to_rgb_8x8/kernel", "conv0_8x8/kernel"):
        grad = [v for k, v in by_path.items() if k.startswith("pro_gan_generator") and
                k.endswith(path)][0]
        assert grad is not None and float(tf.norm(grad)) > 0
    unused = [v for k, v in by_path.items() if k.endswith("to_rgb_16x16/kernel")][0]
    assert unused is None or float(tf.norm(unused)) == 0.0


def test_mixed_precision_outputs_float32_and_weights_stay_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        g, d = _generator(num_classes=2), _discriminator(num_classes=2)
        g.set_stage(2, 0.5)
        d.set_stage(2, 0.5)
        y = np.array([0, 1])
        images = g((_randn(2, LATENT), y))
        logits = d((images, y))
    finally:
        keras.config.set_dtype_policy(previous)
    assert images.dtype == tf.float32 and logits.dtype == tf.float32
    assert np.all(np.isfinite(np.asarray(logits)))
    assert all(w.dtype in ("float32", "int32") for w in g.weights + d.weights)


def test_models_run_under_mirrored_strategy():
    strategy = conftest.two_replica_strategy()
    with strategy.scope():
        g, d = _generator(), _discriminator()
        g.set_stage(1, 0.5)
        d.set_stage(1, 0.5)

    @tf.function
    def step(z):
        return strategy.run(lambda z: d(g(z), training=True), args=(z,))

    dataset = tf.data.Dataset.from_tensor_slices(_randn(4, LATENT)).batch(4)
    outputs = strategy.experimental_local_results(
        step(next(iter(strategy.experimental_distribute_dataset(dataset)))))
    assert len(outputs) == 2 and all(o.shape == (2, 1) for o in outputs)
    assert all(np.all(np.isfinite(np.asarray(o))) for o in outputs)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
