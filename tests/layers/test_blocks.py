"""Tests of the BigGAN and BigGAN-deep residual blocks against NumPy forward passes."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import conftest  # noqa: F401  (sets up two logical CPU devices)
from tests import layer_harness
from tests.layers.test_normalization import np_cbn
from tests.layers.test_spectral_norm import (BASE_CONFIG_KEYS, constructor_keys, np_conv,
                                             np_sn_kernel_of, randn)
from tfbiggan.layers.blocks import DBlock, GBlock, upsample
from tfbiggan.layers.deep_blocks import DeepDBlock, DeepGBlock


def relu(x):
    return np.maximum(x, 0.0)


def up(x):
    return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)


def pool(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def sn_conv(x, conv):
    return np_conv(x, np_sn_kernel_of(conv)) + conv.bias.numpy()


def np_gblock(x, c, block):
    """Training-mode GBlock (batch statistics); call before the block (uses the stored u)."""
    h = relu(np_cbn(x, c, block.bn1))
    if block.upsample:
        h, x = up(h), up(x)
    h = sn_conv(h, block.conv1)
    h = relu(np_cbn(h, c, block.bn2))
    h = sn_conv(h, block.conv2)
    return h + (sn_conv(x, block.conv_sc) if block.conv_sc is not None else x)


def np_dblock(x, block):
    h = relu(x) if block.preactivation else x
    h = sn_conv(relu(sn_conv(h, block.conv1)), block.conv2)
    if block.downsample:
        h = pool(h)
    shortcut = x
    if block.preactivation:
        if block.conv_sc is not None:
            shortcut = sn_conv(shortcut, block.conv_sc)
        if block.downsample:
            shortcut = pool(shortcut)
    else:
        if block.downsample:
            shortcut = pool(shortcut)
        if block.conv_sc is not None:
            shortcut = sn_conv(shortcut, block.conv_sc)
    return h + shortcut


def np_deep_gblock(x, c, block):
    h = x
    for index, (bn, conv) in enumerate(zip(block.bns, block.convs)):
        h = relu(np_cbn(h, c, bn))
        if index == 1 and block.upsample:
            h = up(h)
        h = sn_conv(h, conv)
    shortcut = x[..., :block.out_channels]
    return h + (up(shortcut) if block.upsample else shortcut)


def np_deep_dblock(x, block):
    h = x
    for index, conv in enumerate(block.convs):
        h = relu(h)
        if index == 3 and block.downsample:
            h = pool(h)
        h = sn_conv(h, conv)
    shortcut = pool(x) if block.downsample else x
    if block.conv_sc is not None:
        shortcut = np.concatenate([shortcut, sn_conv(shortcut, block.conv_sc)], axis=-1)
    return h + shortcut


def _randomize(layer, seed=0):
    """Random kernels and biases, so that no orthogonality or zero bias hides a mistake."""
    rng = np.random.default_rng(seed)
    for weight in layer.trainable_weights:
        scale = 0.3 if len(weight.shape) > 1 else 0.1
        weight.assign(rng.standard_normal(weight.shape).astype(np.float32) * scale)


def _trainable_count(layer):
    return sum(int(np.prod(w.shape)) for w in layer.trainable_weights)


# --- Harness, config, arguments ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("factory,inputs", [
    (lambda: GBlock(4), [randn(2, 4, 4, 6), randn(2, 5)]),
    (lambda: DBlock(4, preactivation=False), randn(2, 8, 8, 3)),
    (lambda: DeepGBlock(4), [randn(2, 4, 4, 8), randn(2, 5)]),
    (lambda: DeepDBlock(8), randn(2, 8, 8, 4)),
], ids=["GBlock", "DBlock", "DeepGBlock", "DeepDBlock"])
def test_harness(factory, inputs):
    layer_harness.check_layer(factory, inputs)


@pytest.mark.parametrize("cls", [GBlock, DBlock, DeepGBlock, DeepDBlock])
def test_get_config_keys_are_constructor_arguments(cls):
    assert set(cls(8).get_config()) == constructor_keys(cls) | BASE_CONFIG_KEYS


@pytest.mark.parametrize("make,pattern", [
    (lambda: GBlock(0), r"`out_channels`.*got 0\b"),
    (lambda: GBlock(4, upsample="no"), r"`upsample`.*'no'"),
    (lambda: GBlock(4, bn_momentum=2.0), r"`bn_momentum`.*2\.0"),
    (lambda: GBlock(4, bn_epsilon=-1e-5), r"`bn_epsilon`.*-1e-05"),
    (lambda: GBlock(4, synchronized=1), r"`synchronized`.*got 1"),
    (lambda: GBlock(4, num_truncation_stats=-1), r"`num_truncation_stats`.*-1"),
    (lambda: GBlock(4, conditional_sn=None), r"`conditional_sn`.*None"),
    (lambda: DBlock(4, downsample=1), r"`downsample`.*got 1"),
    (lambda: DBlock(4, preactivation="x"), r"`preactivation`.*'x'"),
    (lambda: DBlock(4, sn_epsilon=0), r"`sn_epsilon`.*got 0"),
    (lambda: DeepGBlock(-4), r"`out_channels`.*-4"),
    (lambda: DeepGBlock(4, num_power_iterations=0), r"`num_power_iterations`.*got 0"),
    (lambda: DeepDBlock(4, downsample=None), r"`downsample`.*None"),
    (lambda: DeepDBlock(4.0), r"`out_channels`.*4\.0"),
    (lambda: DeepDBlock(2), r"`out_channels` >= 4.*got 2"),
])
def test_bad_constructor_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


@pytest.mark.parametrize("cls", [GBlock, DeepGBlock])
def test_one_truncation_row_is_rejected_by_the_block_constructor(cls):
    with pytest.raises(ValueError, match=r"`num_truncation_stats`.*got 1"):
        cls(4, num_truncation_stats=1)


def test_bad_inputs():
    c = randn(2, 5)
    with pytest.raises(ValueError, match=r"GBlock expects `inputs` of rank 4"):
        GBlock(4)(randn(2, 4, 6), c)
    gblock = GBlock(4)
    gblock(randn(2, 4, 4, 6), c)
    with pytest.raises(ValueError, match=r"`x` with last dimension 6"):
        gblock(randn(2, 4, 4, 7), c)
    with pytest.raises(ValueError, match=r"`condition` with last dimension 5"):
        gblock(randn(2, 4, 4, 6), randn(2, 3))
    with pytest.raises(ValueError, match=r"DBlock expects `inputs` of rank 4"):
        DBlock(4)(randn(2, 16))
    dblock = DBlock(4)
    dblock(randn(1, 4, 4, 3))
    with pytest.raises(ValueError, match=r"last dimension 3"):
        dblock(randn(1, 4, 4, 5))
    with pytest.raises(ValueError, match=r"cannot increase channels.*out_channels=8"):
        DeepGBlock(8)(randn(2, 4, 4, 4), c)
    with pytest.raises(ValueError, match=r"DeepGBlock.*rank 4"):
        DeepGBlock(4)(randn(2, 4, 4), c)
    with pytest.raises(ValueError, match=r"cannot reduce channels.*out_channels=4"):
        DeepDBlock(4)(randn(1, 4, 4, 8))


# --- Shapes and parameter counts --------------------------------------------------------------

@pytest.mark.parametrize("make,inputs,expected", [
    (lambda: GBlock(4), [randn(2, 4, 4, 6), randn(2, 5)], (2, 8, 8, 4)),
    (lambda: GBlock(4, upsample=False), [randn(2, 3, 5, 6), randn(2, 5)], (2, 3, 5, 4)),
    (lambda: DBlock(4), [randn(2, 8, 6, 3)], (2, 4, 3, 4)),
    (lambda: DBlock(4, downsample=False), [randn(2, 8, 6, 3)], (2, 8, 6, 4)),
    (lambda: DeepGBlock(4), [randn(2, 4, 4, 8), randn(2, 5)], (2, 8, 8, 4)),
    (lambda: DeepGBlock(8, upsample=False), [randn(2, 4, 4, 8), randn(2, 5)], (2, 4, 4, 8)),
    (lambda: DeepDBlock(8), [randn(2, 8, 8, 4)], (2, 4, 4, 8)),
    (lambda: DeepDBlock(8, downsample=False), [randn(2, 6, 4, 8)], (2, 6, 4, 8)),
], ids=["GBlock", "GBlock_same_size", "DBlock", "DBlock_same_size", "DeepGBlock",
        "DeepGBlock_same_size", "DeepDBlock", "DeepDBlock_same_size"])
def test_output_shapes(make, inputs, expected):
    block = make()
    out = block(*inputs)
    assert tuple(out.shape) == expected
    assert tuple(block.compute_output_shape(*[x.shape for x in inputs])) == expected


def test_gblock_parameter_count():
    c_in, c_out, d = 6, 4, 5
    block = GBlock(c_out)
    block(randn(2, 4, 4, c_in), randn(2, d))
    expected = (2 * d * c_in + 2 * d * c_out  # conditional BN gain and bias projections
                + 9 * c_in * c_out + c_out + 9 * c_out ** 2 + c_out  # conv1, conv2
                + c_in * c_out + c_out)  # 1x1 shortcut
    assert _trainable_count(block) == expected
    same = GBlock(c_out, upsample=False)
    same(randn(2, 4, 4, c_out), randn(2, d))
    assert same.conv_sc is None
    assert _trainable_count(same) == 4 * d * c_out + 2 * (9 * c_out ** 2 + c_out)


def test_dblock_parameter_counts_and_identity_shortcut():
    c_in, c_out = 3, 4
    block = DBlock(c_out, preactivation=False)
    block(randn(1, 4, 4, c_in))
    assert _trainable_count(block) == (9 * c_in * c_out + c_out + 9 * c_out ** 2 + c_out
                                       + c_in * c_out + c_out)
    identity = DBlock(c_out, downsample=False)
    identity(randn(1, 4, 4, c_out))
    assert identity.conv_sc is None
    assert _trainable_count(identity) == 2 * (9 * c_out ** 2 + c_out)
    # Channels equal but downsampling: the shortcut is still a learned 1x1 conv.
    down = DBlock(c_out)
    down(randn(1, 4, 4, c_out))
    assert down.conv_sc is not None


def test_deep_block_parameter_counts():
    c_in, c_out, d = 8, 4, 5
    gblock = DeepGBlock(c_out)
    gblock(randn(2, 4, 4, c_in), randn(2, d))
    h = c_in // 4
    assert _trainable_count(gblock) == (
        2 * d * (c_in + 3 * h)  # four conditional BNs
        + c_in * h + h + 2 * (9 * h * h + h) + h * c_out + c_out)  # no shortcut parameters
    c_in, c_out = 4, 8
    dblock = DeepDBlock(c_out)
    dblock(randn(1, 4, 4, c_in))
    h = c_out // 4
    assert _trainable_count(dblock) == (
        c_in * h + h + 2 * (9 * h * h + h) + h * c_out + c_out
        + c_in * (c_out - c_in) + (c_out - c_in))  # 1x1 conv for the extra channels
    same = DeepDBlock(c_out, downsample=False)
    same(randn(1, 4, 4, c_out))
    assert same.conv_sc is None


# --- NumPy forward passes ---------------------------------------------------------------------

@pytest.mark.parametrize("compile_mode", ["eager", "graph", "xla"])
def test_upsample_repeats_pixels_and_sums_gradient_blocks(compile_mode):
    x, dy = randn(2, 3, 5, 4, seed=40), randn(2, 6, 10, 4, seed=41)

    def forward_backward(x_t):
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            y = upsample(x_t)
        return y, tape.gradient(y, x_t, output_gradients=tf.constant(dy))

    fn = {"eager": forward_backward, "graph": tf.function(forward_backward),
          "xla": tf.function(forward_backward, jit_compile=True)}[compile_mode]
    y, dx = fn(tf.constant(x))
    np.testing.assert_array_equal(y.numpy(), up(x))
    # d/dx of nearest upsampling: each input pixel receives the sum of its 2×2 output block.
    np.testing.assert_allclose(dx.numpy(), pool(dy) * 4.0, rtol=1e-6, atol=1e-6)


def test_upsample_keeps_bfloat16_and_second_derivative():
    x = tf.constant(randn(1, 2, 2, 3, seed=42))
    assert upsample(tf.cast(x, tf.bfloat16)).dtype == tf.bfloat16
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            loss = tf.reduce_sum(tf.square(upsample(x)))
        grad = inner.gradient(loss, x)  # 2 · 4 · x
        total = tf.reduce_sum(grad * x)  # 8 · Σx², whose gradient is 16 · x
    np.testing.assert_allclose(grad.numpy(), 8.0 * x.numpy(), rtol=1e-6)
    np.testing.assert_allclose(outer.gradient(total, x).numpy(), 16.0 * x.numpy(), rtol=1e-6)


def test_upsample_needs_static_spatial_shape():
    traced = tf.function(upsample, input_signature=[tf.TensorSpec([1, None, 4, 3])])
    with pytest.raises(ValueError, match="static height and width"):
        traced.get_concrete_function()


@pytest.mark.parametrize("make,x_shape", [
    (lambda: DBlock(4, preactivation=False), (2, 6, 4, 3)),  # first block
    (lambda: DBlock(4), (2, 6, 4, 3)),
    (lambda: DBlock(3, downsample=False), (2, 6, 4, 3)),  # identity shortcut
    (lambda: DBlock(5, downsample=False, preactivation=False), (1, 4, 4, 3)),
], ids=["first_block", "preactivation", "identity_shortcut", "first_block_no_pool"])
def test_dblock_matches_numpy(make, x_shape):
    block = make()
    x = randn(*x_shape, seed=1)
    block(x)
    _randomize(block, seed=2)
    expected = np_dblock(x, block)
    np.testing.assert_allclose(block(x, training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("make,x_shape", [
    (lambda: GBlock(4), (3, 4, 2, 6)),
    (lambda: GBlock(6, upsample=False), (3, 4, 2, 6)),  # identity shortcut
], ids=["upsample", "identity_shortcut"])
def test_gblock_matches_numpy_in_training_mode(make, x_shape):
    block = make()
    x, c = randn(*x_shape, seed=3), randn(x_shape[0], 5, seed=4)
    block(x, c)
    _randomize(block, seed=5)
    expected = np_gblock(x, c, block)
    np.testing.assert_allclose(block(x, c, training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)


def test_gblock_inference_statistics_and_truncation_bank():
    block = GBlock(4, num_truncation_stats=3, bn_momentum=0.5)
    x, c = randn(3, 4, 4, 6, seed=6) + 1.0, randn(3, 5, seed=7)
    block(x, c)
    _randomize(block, seed=8)
    block(x * 2.0, c, training=True)  # moves the moving averages away from (0, 1)

    def reference(stats):
        def cbn(h, bn):
            mean, variance = stats(bn)
            return np_cbn(h, c, bn, mean, variance)
        h = sn_conv(up(relu(cbn(x, block.bn1))), block.conv1)
        h = sn_conv(relu(cbn(h, block.bn2)), block.conv2)
        return h + sn_conv(up(x), block.conv_sc)

    moving = reference(lambda bn: (bn.moving_mean.numpy(), bn.moving_variance.numpy()))
    bank = reference(lambda bn: (bn.bank_mean.numpy()[2], bn.bank_variance.numpy()[2]))
    np.testing.assert_allclose(block(x, c).numpy(), moving, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(block(x, c, truncation=1.0).numpy(), bank, rtol=1e-4,
                               atol=1e-4)
    assert np.abs(moving - bank).max() > 1e-2


@pytest.mark.parametrize("make,x_shape", [
    (lambda: DeepGBlock(4), (2, 4, 2, 8)),
    (lambda: DeepGBlock(8, upsample=False), (2, 4, 2, 8)),
], ids=["upsample", "same_size"])
def test_deep_gblock_matches_numpy_in_training_mode(make, x_shape):
    block = make()
    x, c = randn(*x_shape, seed=9), randn(x_shape[0], 5, seed=10)
    block(x, c)
    _randomize(block, seed=11)
    expected = np_deep_gblock(x, c, block)
    np.testing.assert_allclose(block(x, c, training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("make,x_shape", [
    (lambda: DeepDBlock(8), (2, 4, 6, 4)),
    (lambda: DeepDBlock(8, downsample=False), (1, 4, 4, 8)),
], ids=["downsample", "same_size"])
def test_deep_dblock_matches_numpy(make, x_shape):
    block = make()
    x = randn(*x_shape, seed=12)
    block(x)
    _randomize(block, seed=13)
    expected = np_deep_dblock(x, block)
    np.testing.assert_allclose(block(x, training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)


# --- Models -----------------------------------------------------------------------------------

def test_discriminator_blocks_in_sequential():
    first, deep = DBlock(8, preactivation=False), DeepDBlock(8, downsample=False)
    model = keras.Sequential([keras.Input((8, 8, 3)), first, deep])
    _randomize(model, seed=14)
    x = randn(2, 8, 8, 3, seed=15)
    expected = np_deep_dblock(np_dblock(x, first), deep)
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_generator_blocks_in_functional_model():
    x_in, c_in = keras.Input((2, 2, 8)), keras.Input((5,))
    deep, block = DeepGBlock(8, upsample=False), GBlock(4)
    model = keras.Model([x_in, c_in], block(deep(x_in, c_in), c_in))
    _randomize(model, seed=16)
    x, c = randn(3, 2, 2, 8, seed=17), randn(3, 5, seed=18)
    expected = np_gblock(np_deep_gblock(x, c, deep), c, block)
    np.testing.assert_allclose(model([x, c], training=True).numpy(), expected, rtol=1e-4,
                               atol=1e-4)
    assert tuple(model.output.shape) == (None, 4, 4, 4)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
