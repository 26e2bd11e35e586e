"""Tests of the spectrally normalised layers against NumPy references and analytic cases."""

import inspect
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tests import layer_harness
from tfbiggan.layers.spectral_norm import (SpectralNormConv, SpectralNormDense,
                                           SpectralNormEmbedding, power_iteration)
from tfbiggan.regularizers import OrthogonalRegularizer

BASE_CONFIG_KEYS = {"name", "trainable", "dtype"}


# --- NumPy references (float64), shared with the other layer tests -------------------------

def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def np_power_iteration(matrix, u, epsilon=1e-4, num_iterations=1):
    """(sigma, new_u, v) for `matrix` [rest, out] and `u` [out], as in the spec."""
    matrix = np.asarray(matrix, np.float64)
    u = np.asarray(u, np.float64)
    for _ in range(num_iterations):
        v = matrix @ u
        v = v / max(np.linalg.norm(v), epsilon)
        u = v @ matrix
        u = u / max(np.linalg.norm(u), epsilon)
    return float(v @ matrix @ u), u, v


def np_normalized_kernel(kernel, u, epsilon=1e-4, num_iterations=1):
    """kernel / σ with σ from one (or more) power iterations from `u`; kernel [..., out]."""
    kernel = np.asarray(kernel, np.float64)
    sigma, _, _ = np_power_iteration(kernel.reshape(-1, kernel.shape[-1]), u, epsilon,
                                     num_iterations)
    return kernel / sigma


def np_sn_kernel_of(layer):
    """The normalised kernel an inference call of an SN conv/dense layer uses (NumPy)."""
    return np_normalized_kernel(layer.kernel.numpy(), layer.u.numpy(), layer.epsilon,
                                layer.num_power_iterations)


def np_conv(x, kernel, strides=(1, 1), padding="same"):
    """NHWC cross-correlation with a [kh, kw, in, out] kernel, TensorFlow padding rules."""
    x = np.asarray(x, np.float64)
    kh, kw = kernel.shape[:2]
    sh, sw = strides
    _, h, w, _ = x.shape
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph = max((oh - 1) * sh + kh - h, 0)
        pw = max((ow - 1) * sw + kw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[-1]), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            out += np.einsum("nhwc,co->nhwo", patch, kernel[i, j])
    return out


def np_ortho_penalty(kernel, beta):
    w = np.asarray(kernel, np.float64).reshape(-1, kernel.shape[-1])
    gram = w.T @ w
    return beta * np.sum((gram * (1.0 - np.eye(gram.shape[0]))) ** 2)


def constructor_keys(cls):
    return {name for name in inspect.signature(cls.__init__).parameters
            if name not in ("self", "kwargs")}


# --- Harness, models, config ----------------------------------------------------------------

@pytest.mark.parametrize("factory,inputs", [
    (lambda: SpectralNormConv(4, 3, strides=2), randn(2, 6, 6, 3)),
    (lambda: SpectralNormDense(3), randn(4, 5)),
    (lambda: SpectralNormEmbedding(5, 3), np.array([0, 4, 2, 2], np.int32)),
    (lambda: SpectralNormEmbedding(5, 3), np.eye(5, dtype=np.float32)[[1, 3]]),
], ids=["conv", "dense", "embedding_ids", "embedding_onehot"])
def test_layer_harness(factory, inputs):
    layer_harness.check_layer(factory, inputs)


@pytest.mark.parametrize("cls,args", [
    (SpectralNormConv, (4, 3)), (SpectralNormDense, (3,)), (SpectralNormEmbedding, (5, 3))])
def test_get_config_keys_are_constructor_arguments(cls, args):
    assert set(cls(*args).get_config()) == constructor_keys(cls) | BASE_CONFIG_KEYS


def test_conv_in_sequential_matches_numpy_and_fit_updates_u():
    layer = SpectralNormConv(4, 3, use_bias=True)
    model = keras.Sequential([keras.Input((5, 6, 2)), layer])
    layer.bias.assign(randn(4, seed=1))
    x = randn(3, 5, 6, 2, seed=2)
    expected = np_conv(x, np_sn_kernel_of(layer)) + layer.bias.numpy()
    np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    # fit() calls the layer in training mode: u moves to the power-iteration update.
    kernel = layer.kernel.numpy()
    _, new_u, _ = np_power_iteration(kernel.reshape(-1, 4), layer.u.numpy())
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    model.train_on_batch(x, np.zeros((3, 5, 6, 4), np.float32))
    np.testing.assert_allclose(layer.u.numpy(), new_u, rtol=1e-5, atol=1e-6)


def test_dense_and_embedding_in_functional_model():
    features = keras.Input((5,))
    ids = keras.Input((), dtype="int32")
    dense = SpectralNormDense(3)
    embed = SpectralNormEmbedding(4, 3)
    h = dense(features)
    out = keras.ops.sum(h * embed(ids), axis=-1)
    model = keras.Model([features, ids], out)
    dense.bias.assign(randn(3, seed=4))
    x = randn(6, 5, seed=5)
    y = np.array([0, 1, 2, 3, 3, 0], np.int32)
    table = np_normalized_kernel(embed.kernel.numpy().T, embed.u.numpy()).T
    expected = np.sum((x @ np_sn_kernel_of(dense) + dense.bias.numpy()) * table[y], axis=-1)
    np.testing.assert_allclose(model([x, y]).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make,pattern", [
    (lambda: SpectralNormConv(0, 3), r"`filters`.*got 0\b"),
    (lambda: SpectralNormConv(4, (3, 0)), r"`kernel_size`.*\(3, 0\)"),
    (lambda: SpectralNormConv(4, 3, strides=-1), r"`strides`.*\(-1, -1\)"),
    (lambda: SpectralNormConv(4, 3, padding="full"), r"`padding`.*'full'"),
    (lambda: SpectralNormConv(4, 3, use_bias="yes"), r"`use_bias`.*'yes'"),
    (lambda: SpectralNormDense(-2), r"`units`.*-2"),
    (lambda: SpectralNormDense(3, epsilon=0.0), r"`epsilon`.*0\.0"),
    (lambda: SpectralNormDense(3, num_power_iterations=0), r"`num_power_iterations`.*got 0"),
    (lambda: SpectralNormEmbedding(0, 3), r"`num_classes`.*got 0"),
    (lambda: SpectralNormEmbedding(5, 2.5), r"`output_dim`.*2\.5"),
])
def test_bad_constructor_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_bad_input_rank_and_width():
    with pytest.raises(ValueError, match=r"SpectralNormConv.*rank 4"):
        SpectralNormConv(4, 3)(randn(2, 5, 3))
    conv = SpectralNormConv(4, 3)
    conv(randn(1, 4, 4, 3))
    with pytest.raises(ValueError, match=r"last dimension 3.*\(1, 4, 4, 2\)"):
        conv(randn(1, 4, 4, 2))
    with pytest.raises(ValueError, match=r"SpectralNormDense.*rank >= 2"):
        SpectralNormDense(3)(randn(5))  # Like Dense, any rank >= 2 (the last axis) is accepted.
    dense = SpectralNormDense(3)
    dense(randn(2, 5))
    with pytest.raises(ValueError, match=r"last dimension 5"):
        dense(randn(2, 6))
    embed = SpectralNormEmbedding(5, 3)
    with pytest.raises(ValueError, match=r"class vectors.*last dimension 5"):
        embed(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"labels.*rank 1"):
        embed(np.zeros((2, 1), np.int32))


# --- Power iteration and σ --------------------------------------------------------------------

@pytest.mark.parametrize("shape,layer_factory,x_shape,seed", [
    ((6, 4), lambda: SpectralNormDense(4), (1, 6), 7),
    ((3, 3, 4, 8), lambda: SpectralNormConv(8, 3), (1, 4, 4, 4), 7),
    ((2, 3, 5, 3), lambda: SpectralNormConv(3, (2, 3)), (1, 4, 4, 5), 9),
], ids=["dense", "conv3x3", "conv2x3"])
def test_sigma_converges_to_largest_singular_value(shape, layer_factory, x_shape, seed):
    # Seeds give Gaussian kernels whose two largest singular values differ by >10%, so
    # 120 single-iteration calls converge far below the tolerance.
    layer = layer_factory()
    x = np.ones(x_shape, np.float32)
    layer(x)
    kernel = randn(*shape, seed=seed)
    layer.kernel.assign(kernel)
    matrix = kernel.reshape(-1, shape[-1]).astype(np.float64)
    _, singular_values, vt = np.linalg.svd(matrix)
    first = None
    for _ in range(120):
        layer(x, training=True)
        first = float(layer.sigma.numpy()) if first is None else first
    assert first < singular_values[0] * (1 - 1e-3)  # one call is not enough: it converges
    np.testing.assert_allclose(float(layer.sigma.numpy()), singular_values[0], rtol=1e-5)
    # u is the top right singular vector (up to sign) and W/σ has spectral norm 1.
    np.testing.assert_allclose(abs(layer.u.numpy() @ vt[0]), 1.0, atol=1e-5)
    normalized = layer.normalized_kernel().numpy().reshape(matrix.shape)
    np.testing.assert_allclose(np.linalg.svd(normalized, compute_uv=False)[0], 1.0, rtol=1e-5)


def test_all_ones_dense_kernel_has_sigma_two():
    layer = SpectralNormDense(2, use_bias=False, kernel_initializer="ones")
    x = np.array([[1.0, 2.0], [-3.0, 0.5]], np.float32)
    layer.build(x.shape)
    layer.u.assign([0.3, -1.0])
    out = layer(x, training=True).numpy()
    assert float(layer.sigma.numpy()) == pytest.approx(2.0, abs=1e-6)
    np.testing.assert_allclose(layer.u.numpy(), [-np.sqrt(0.5)] * 2, atol=1e-6)  # sign of u·1
    np.testing.assert_allclose(out, np.repeat(x.sum(1, keepdims=True) / 2.0, 2, 1), atol=1e-6)


def test_power_iteration_function_matches_numpy():
    matrix = randn(7, 3, seed=11)
    u = randn(3, seed=12)
    sigma, new_u = power_iteration(tf.constant(matrix), tf.constant(u), 2, 1e-6)
    ref_sigma, ref_u, _ = np_power_iteration(matrix, u, 1e-6, 2)
    assert float(sigma) == pytest.approx(ref_sigma, rel=1e-5)
    np.testing.assert_allclose(new_u.numpy(), ref_u, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel_size,strides,padding,iterations", [
    (3, 1, "same", 1), (3, 2, "same", 1), (3, 2, "valid", 1), (1, 1, "same", 3),
    ((2, 3), (1, 2), "valid", 2)])
def test_conv_output_is_plain_conv_with_normalized_kernel(kernel_size, strides, padding,
                                                          iterations):
    layer = SpectralNormConv(5, kernel_size, strides=strides, padding=padding,
                             num_power_iterations=iterations, epsilon=1e-6)
    x = randn(2, 7, 6, 3, seed=3)
    layer.build(x.shape)
    kernel = randn(*layer.kernel.shape, seed=4)
    layer.kernel.assign(kernel)
    layer.bias.assign(randn(5, seed=5))
    u = layer.u.numpy()
    sigma, new_u, _ = np_power_iteration(kernel.reshape(-1, 5), u, 1e-6, iterations)
    expected = np_conv(x, kernel / sigma, layer.strides, padding) + layer.bias.numpy()
    got = layer(x, training=True).numpy()
    assert got.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.u.numpy(), new_u, rtol=1e-5, atol=1e-6)
    assert float(layer.sigma.numpy()) == pytest.approx(sigma, rel=1e-5)


def test_dense_output_is_matmul_with_normalized_kernel():
    layer = SpectralNormDense(4, num_power_iterations=2)
    x = randn(3, 6, seed=8)
    layer.build(x.shape)
    kernel = randn(6, 4, seed=9)
    layer.kernel.assign(kernel)
    layer.bias.assign(randn(4, seed=10))
    sigma, _, _ = np_power_iteration(kernel, layer.u.numpy(), 1e-4, 2)
    np.testing.assert_allclose(layer(x).numpy(), x @ (kernel / sigma) + layer.bias.numpy(),
                               rtol=1e-5, atol=1e-5)


# --- Keras conventions: Conv2D's and Dense's arguments -----------------------------------------

def _same_as_keras(ours, theirs, x):
    """Gives `theirs` (a Keras Conv2D / Dense) our normalised kernel and bias; returns both
    outputs of an inference call."""
    ours.build(x.shape)
    theirs.build(x.shape)
    ours.kernel.assign(randn(*ours.kernel.shape, seed=11))
    if ours.use_bias:
        ours.bias.assign(randn(*ours.bias.shape, seed=12))
    theirs.kernel.assign(np_sn_kernel_of(ours).astype(np.float32))
    if ours.use_bias:
        theirs.bias.assign(ours.bias.numpy())
    return ours(x, training=False).numpy(), theirs(x).numpy()


@pytest.mark.parametrize("kwargs", [
    dict(activation="relu"),
    dict(strides=2, padding="valid", activation="tanh"),
    dict(dilation_rate=2, padding="same", use_bias=False),
    dict(dilation_rate=(2, 1), padding="valid", activation="sigmoid"),
    dict(groups=2, activation="relu"),
    dict(strides=(2, 1), groups=4, padding="same"),
], ids=["relu", "strided_valid_tanh", "dilated_no_bias", "dilated_valid", "groups",
        "strided_groups"])
def test_conv_takes_conv2d_arguments_and_matches_conv2d(kwargs):
    keras_kwargs = dict(kwargs)
    keras_kwargs.setdefault("padding", "same")  # Our default; Conv2D's is "valid".
    ours = SpectralNormConv(8, 3, **kwargs)
    theirs = keras.layers.Conv2D(8, 3, **keras_kwargs)
    x = randn(2, 9, 8, 4, seed=13)
    got, expected = _same_as_keras(ours, theirs, x)
    assert got.shape == expected.shape == ours.compute_output_shape(x.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    if "activation" in kwargs and kwargs["activation"] == "relu":
        assert got.min() == 0.0 and got.max() > 0.0


def test_conv_activation_is_applied_after_the_bias():
    # An all-negative bias and ReLU: every output is max(conv + bias, 0).
    layer = SpectralNormConv(2, 1, activation="relu")
    x = np.ones((1, 2, 2, 1), np.float32)
    layer.build(x.shape)
    layer.kernel.assign(np.ones((1, 1, 1, 2), np.float32))  # σ = √2 for a 1×2 matrix of ones
    layer.bias.assign(np.array([-1.0, 0.5], np.float32))
    out = layer(x, training=False).numpy()
    np.testing.assert_allclose(out[..., 0], np.maximum(1 / np.sqrt(2) - 1.0, 0.0), atol=1e-6)
    np.testing.assert_allclose(out[..., 1], 1 / np.sqrt(2) + 0.5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    dict(activation="relu"), dict(use_bias=False, activation="softplus"), dict()],
    ids=["relu", "no_bias_softplus", "plain"])
def test_dense_takes_dense_arguments_and_matches_dense(kwargs):
    ours = SpectralNormDense(5, **kwargs)
    theirs = keras.layers.Dense(5, **kwargs)
    x = randn(3, 4, 6, seed=14)  # Rank 3: applied to the last axis, as Dense does.
    got, expected = _same_as_keras(ours, theirs, x)
    assert got.shape == expected.shape == ours.compute_output_shape(x.shape) == (3, 4, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer", [
    SpectralNormConv(6, (3, 1), strides=1, padding="valid", dilation_rate=(1, 2), groups=3,
                     activation="relu", use_bias=False, bias_initializer="ones",
                     kernel_regularizer="l2", bias_regularizer="l1", activity_regularizer="l2",
                     kernel_constraint="non_neg", bias_constraint="non_neg",
                     num_power_iterations=2, epsilon=1e-6),
    SpectralNormDense(4, activation="tanh", use_bias=True, bias_initializer="ones",
                      kernel_regularizer="l2", bias_regularizer="l1",
                      activity_regularizer="l2", kernel_constraint="non_neg",
                      bias_constraint="non_neg", num_power_iterations=3),
], ids=["conv", "dense"])
def test_keras_arguments_survive_the_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert set(config) == constructor_keys(type(layer)) | BASE_CONFIG_KEYS | {
        "activity_regularizer"}
    assert config["activation"] in ("relu", "tanh")
    assert clone.activation is keras.activations.get(config["activation"])
    rebuilt = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    assert rebuilt.get_config() == config


def test_kernel_constraint_acts_on_the_raw_kernel_after_an_update():
    layer = SpectralNormDense(3, kernel_constraint="non_neg")
    x = randn(4, 5, seed=15)
    layer.build(x.shape)
    optimizer = keras.optimizers.SGD(1.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) ** 2)
    optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_variables),
                                  layer.trainable_variables))
    assert layer.kernel.numpy().min() >= 0.0


@pytest.mark.parametrize("make, pattern", [
    (lambda: SpectralNormConv(4, 3, strides=2, dilation_rate=2), "cannot be combined"),
    (lambda: SpectralNormConv(5, 3, groups=2), "divisible by `groups`"),
    (lambda: SpectralNormConv(4, 3, data_format="channels_first"), "data_format"),
    (lambda: SpectralNormConv(4, 3, padding="causal"), "padding"),
    (lambda: SpectralNormConv(4, 3, activation="no_such_activation"), "no_such_activation"),
])
def test_bad_conv2d_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_groups_must_divide_the_input_channels():
    with pytest.raises(ValueError, match=r"input channels \(5\) must be divisible by `groups`"):
        SpectralNormConv(4, 3, groups=2)(randn(1, 4, 4, 5))


def test_inference_leaves_u_and_sigma_unchanged_training_updates_them():
    layer = SpectralNormDense(3)
    x = randn(2, 5, seed=1)
    layer.build(x.shape)
    kernel = randn(5, 3, seed=2)
    layer.kernel.assign(kernel)
    layer.sigma.assign(7.0)
    u0 = layer.u.numpy().copy()
    for _ in range(2):
        layer(x, training=False)
    np.testing.assert_array_equal(layer.u.numpy(), u0)
    assert float(layer.sigma.numpy()) == 7.0
    # Also inside a compiled function.
    tf.function(lambda t: layer(t, training=False))(x)
    np.testing.assert_array_equal(layer.u.numpy(), u0)
    sigma, new_u, _ = np_power_iteration(kernel, u0)
    tf.function(lambda t: layer(t, training=True))(x)
    np.testing.assert_allclose(layer.u.numpy(), new_u, rtol=1e-5, atol=1e-6)
    assert float(layer.sigma.numpy()) == pytest.approx(sigma, rel=1e-5)
    assert not np.allclose(layer.u.numpy(), u0)


def _central_difference(fn, kernel, step=1e-6):
    grad = np.zeros_like(kernel)
    for index in np.ndindex(kernel.shape):
        plus, minus = kernel.copy(), kernel.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (fn(plus) - fn(minus)) / (2 * step)
    return grad


def test_dense_gradient_flows_through_sigma_with_vectors_constant():
    layer = SpectralNormDense(3, use_bias=False)
    x, r = randn(4, 5, seed=20), randn(4, 3, seed=21)
    layer.build(x.shape)
    kernel = randn(5, 3, seed=22).astype(np.float64)
    layer.kernel.assign(kernel)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=False) * r)
    grad = tape.gradient(loss, layer.kernel).numpy()
    # Reference: v and u' from the stored u and the current kernel are constants.
    sigma, new_u, v = np_power_iteration(kernel, layer.u.numpy())

    def loss_fn(k):
        return np.sum((x @ k / (v @ k @ new_u)) * r)

    expected = _central_difference(loss_fn, kernel)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)
    # A gradient that ignored σ would be x^T r / σ; the σ term is not negligible here.
    assert np.abs(grad - x.T.astype(np.float64) @ r / sigma).max() > 1e-2


def test_conv_gradient_matches_finite_difference_of_whole_computation_at_convergence():
    # With u at the top singular vector the first-order dependence of σ on v and u' vanishes,
    # so the full NumPy computation (power iteration from the fixed u included) must agree
    # with the autodiff gradient that treats the vectors as constants.
    layer = SpectralNormConv(3, 3, use_bias=False, epsilon=1e-6)
    x, r = randn(2, 4, 4, 2, seed=30), randn(2, 4, 4, 3, seed=31)
    layer.build(x.shape)
    kernel = randn(3, 3, 2, 3, seed=32).astype(np.float64)
    layer.kernel.assign(kernel)
    u_top = np.linalg.svd(kernel.reshape(-1, 3))[2][0]
    layer.u.assign(u_top)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=False) * r)
    grad = tape.gradient(loss, layer.kernel).numpy()

    def loss_fn(k):
        sigma, _, _ = np_power_iteration(k.reshape(-1, 3), u_top, 1e-6)
        return np.sum(np_conv(x, k / sigma) * r)

    np.testing.assert_allclose(grad, _central_difference(loss_fn, kernel), rtol=1e-4,
                               atol=2e-5)


# --- Embedding --------------------------------------------------------------------------------

def test_embedding_ids_one_hot_and_mixtures():
    embed = SpectralNormEmbedding(5, 3)
    ids = np.array([0, 3, 4, 3], np.int32)
    by_id = embed(ids).numpy()
    table = embed.kernel.numpy()
    # The table is normalised as a [num_classes, dim] matrix with u on the class axis.
    sigma, _, _ = np_power_iteration(table.T, embed.u.numpy())
    np.testing.assert_allclose(by_id, table[ids] / sigma, rtol=1e-5, atol=1e-6)
    one_hot = np.eye(5, dtype=np.float32)[ids]
    np.testing.assert_allclose(embed(one_hot).numpy(), by_id, rtol=1e-6, atol=1e-6)
    mixture = np.zeros((1, 5), np.float32)
    mixture[0, [1, 4]] = 0.5
    rows = embed(np.array([1, 4], np.int32)).numpy()
    np.testing.assert_allclose(embed(mixture).numpy()[0], rows.mean(0), rtol=1e-5, atol=1e-6)


def test_embedding_sigma_converges():
    embed = SpectralNormEmbedding(6, 4)
    embed.build(None)
    table = randn(6, 4, seed=40)
    embed.kernel.assign(table)
    for _ in range(60):
        embed(np.array([0], np.int32), training=True)
    np.testing.assert_allclose(float(embed.sigma.numpy()),
                               np.linalg.svd(table, compute_uv=False)[0], rtol=1e-5)


# --- Orthogonal regularizer and initializer ---------------------------------------------------

def test_orthogonal_regularizer_adds_penalty_to_layer_losses():
    layer = SpectralNormConv(5, 3, kernel_regularizer=OrthogonalRegularizer(1e-2))
    layer.build((None, 6, 6, 2))
    kernel = randn(3, 3, 2, 5, seed=50)
    layer.kernel.assign(kernel)
    layer(randn(1, 6, 6, 2))
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), np_ortho_penalty(kernel, 1e-2),
                               rtol=1e-5)
    clone = SpectralNormConv.from_config(layer.get_config())
    assert isinstance(clone.kernel_regularizer, OrthogonalRegularizer)
    assert clone.kernel_regularizer.beta == 1e-2


@pytest.mark.parametrize("factory,input_shape,rows", [
    (lambda: SpectralNormConv(8, 3), (None, 5, 5, 4), 36),
    (lambda: SpectralNormConv(6, (1, 2)), (None, 5, 5, 3), 6),
    (lambda: SpectralNormDense(4), (None, 16), 16)])
def test_default_initializer_gives_orthonormal_columns(factory, input_shape, rows):
    layer = factory()
    layer.build(input_shape)
    matrix = layer.kernel.numpy().reshape(rows, -1).astype(np.float64)
    np.testing.assert_allclose(matrix.T @ matrix, np.eye(matrix.shape[1]), atol=1e-5)


# --- Reference data from BigGAN-PyTorch -------------------------------------------------------

@pytest.mark.fixtures
@pytest.mark.parametrize("network", ["G", "D"])
def test_one_training_call_matches_reference_power_iteration(network):
    data = np.load(conftest.fixture_path("biggan_pytorch", "bgp_res32_ch8.npz"))
    prefix = f"{network}_before/"
    checked, nontrivial = 0, 0
    for key in data.files:
        if not (key.startswith(prefix) and key.endswith(".u0")):
            continue
        base = key[:-len(".u0")]
        after = base.replace("_before/", "_after/")
        weight = data[base + ".weight"]
        u_before = data[key][0]
        if weight.ndim == 4:  # [out, in, kh, kw] -> [kh, kw, in, out]
            layer = SpectralNormConv(weight.shape[0], weight.shape[2:], epsilon=1e-6)
            inputs = np.ones((1, 4, 4, weight.shape[1]), np.float32)
            kernel = weight.transpose(2, 3, 1, 0)
        elif base.endswith("embed"):  # [num_classes, dim], u on the class axis
            layer = SpectralNormEmbedding(*weight.shape, epsilon=1e-6)
            inputs = np.zeros((1,), np.int32)
            kernel = weight
        else:  # linear [out, in] -> [in, out]
            layer = SpectralNormDense(weight.shape[0], epsilon=1e-6)
            inputs = np.ones((1, weight.shape[1]), np.float32)
            kernel = weight.T
        layer.build(inputs.shape)
        layer.kernel.assign(kernel)
        layer.u.assign(u_before)
        layer(inputs, training=True)
        expected_u = data[after + ".u0"][0]
        np.testing.assert_allclose(layer.u.numpy(), expected_u, atol=1e-5, err_msg=base)
        np.testing.assert_allclose(float(layer.sigma.numpy()), data[after + ".sv0"][0],
                                   atol=1e-5, err_msg=base)
        checked += 1
        nontrivial += np.abs(expected_u - u_before / np.linalg.norm(u_before)).max() > 0.1
    assert checked >= 20
    assert nontrivial >= 1  # some u moves beyond a mere rescaling


@pytest.mark.parametrize("make, inputs", [
    (lambda: SpectralNormConv(3, 3), randn(2, 4, 4, 2, seed=30)),
    (lambda: SpectralNormDense(3), randn(2, 5, seed=31)),
    (lambda: SpectralNormEmbedding(4, 3), np.array([0, 3], np.int32)),
], ids=["conv", "dense", "embedding"])
def test_zero_kernel_gives_sigma_zero_and_zero_output_without_nan(make, inputs):
    layer = make()
    layer.build(inputs.shape)
    layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
    u_before = layer.u.numpy().copy()
    bias = getattr(layer, "bias", None)
    with tf.GradientTape() as tape:
        outputs = layer(inputs, training=True)
        loss = tf.reduce_sum(outputs * randn(*outputs.shape, seed=32))
    gradients = tape.gradient(loss, [layer.kernel] + ([bias] if bias is not None else []))
    assert float(layer.sigma.numpy()) == 0.0
    np.testing.assert_array_equal(outputs.numpy(), np.zeros(outputs.shape, np.float32))
    for gradient in gradients:
        assert np.all(np.isfinite(gradient.numpy()))
    # The kernel's gradient is the plain (unnormalised) one: d(out)/dW at W = 0 with σ -> 1.
    assert np.abs(gradients[0].numpy()).max() > 0
    # u is kept (not replaced by the zero vector), so σ is found again once W is non-zero.
    np.testing.assert_array_equal(layer.u.numpy(), u_before)
    kernel = randn(*layer.kernel.shape, seed=33)
    layer.kernel.assign(kernel)
    for _ in range(30):
        layer(inputs, training=True)
    matrix = kernel.reshape(-1, kernel.shape[-1])
    matrix = matrix.T if isinstance(layer, SpectralNormEmbedding) else matrix
    # As if the kernel had never been zero: 30 power iterations from the kept u.
    sigma, _, _ = np_power_iteration(matrix, u_before, layer.epsilon, 30)
    np.testing.assert_allclose(float(layer.sigma.numpy()), sigma, rtol=1e-5)
    assert sigma > 0.9 * np.linalg.svd(matrix, compute_uv=False)[0]


def test_u_orthogonal_to_the_kernel_gives_the_kernel_divided_by_one():
    layer = SpectralNormDense(2, use_bias=False)
    layer.build((1, 2))
    layer.kernel.assign(np.array([[1.0, 0.0], [0.0, 0.0]], np.float32))  # K u = 0 for u = e2.
    layer.u.assign(np.array([0.0, 1.0], np.float32))
    outputs = layer(np.array([[2.0, 3.0]], np.float32), training=False)
    np.testing.assert_array_equal(outputs.numpy(), [[2.0, 0.0]])
    assert np.all(np.isfinite(outputs.numpy()))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
