"""Tests for tfbiggan.losses against NumPy computations and analytic values."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfbiggan import losses

RNG = np.random.default_rng(0)
REAL = RNG.normal(size=[16]).astype(np.float32) * 3.0
FAKE = RNG.normal(size=[16]).astype(np.float32) * 3.0


def _np_softplus(x):
    x = np.asarray(x, np.float64)
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def _np_logsumexp(x):
    x = np.asarray(x, np.float64)
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


# Independent NumPy formulas, written from their textbook definitions (probabilities, not
# logit identities), with real_label t.
def _np_losses(name, r, f, t=1.0, drift=0.001):
    r, f = np.asarray(r, np.float64), np.asarray(f, np.float64)
    if name == "hinge":
        return np.maximum(0, 1 - r), np.maximum(0, 1 + f), -f
    if name == "non_saturating":
        pr, pf = _np_sigmoid(r), _np_sigmoid(f)
        return (-(t * np.log(pr) + (1 - t) * np.log(1 - pr)), -np.log(1 - pf), -np.log(pf))
    if name == "wasserstein":
        return -r, f, -f
    if name == "least_squares":
        return 0.5 * (r - t) ** 2, 0.5 * f ** 2, 0.5 * (f - 1) ** 2
    if name == "wgan_gp":
        return -r + drift * r ** 2, f, -f
    raise AssertionError(name)


@pytest.mark.parametrize("name", losses.list_gan_losses())
@pytest.mark.parametrize("shape", [[16], [16, 1]])
def test_registry_losses_match_numpy(name, shape):
    loss = losses.get_gan_loss(name)
    real_part, fake_part = loss.d_loss(REAL.reshape(shape), FAKE.reshape(shape))
    g = loss.g_loss(FAKE.reshape(shape))
    want_real, want_fake, want_g = _np_losses(name, REAL, FAKE)
    for got, want in [(real_part, want_real), (fake_part, want_fake), (g, want_g)]:
        assert got.shape == (16,) and got.dtype == tf.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["non_saturating", "least_squares"])
def test_one_sided_label_smoothing(name):
    loss = losses.get_gan_loss(name, real_label=0.9)
    real_part, fake_part = loss.d_loss(REAL, FAKE)
    want_real, want_fake, want_g = _np_losses(name, REAL, FAKE, t=0.9)
    np.testing.assert_allclose(real_part.numpy(), want_real, rtol=1e-5, atol=1e-5)
    # The fake target stays 0 and G is unchanged.
    np.testing.assert_allclose(fake_part.numpy(), want_fake, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loss.g_loss(FAKE).numpy(), want_g, rtol=1e-5, atol=1e-5)
    # The smoothed real loss is minimised at σ(r) = 0.9 (NS) or r = 0.9 (LS), not at r → ∞.
    optimum = np.log(9.0) if name == "non_saturating" else 0.9
    grid = np.linspace(optimum - 1, optimum + 1, 201).astype(np.float32)
    values = loss.d_loss(grid, grid)[0].numpy()
    assert abs(grid[np.argmin(values)] - optimum) < 0.011


def test_analytic_points():
    one = np.array([1.0, -1.0], np.float32)
    hinge = losses.get_gan_loss()
    assert hinge.name == "hinge"
    real_part, fake_part = hinge.d_loss(one, one)
    np.testing.assert_allclose(real_part.numpy(), [0.0, 2.0])
    np.testing.assert_allclose(fake_part.numpy(), [2.0, 0.0])
    np.testing.assert_allclose(hinge.g_loss(one).numpy(), [-1.0, 1.0])
    ns = losses.get_gan_loss("non-saturating")
    zero = np.zeros([3], np.float32)
    np.testing.assert_allclose(ns.d_loss(zero, zero)[0].numpy(), np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(ns.g_loss(zero).numpy(), np.log(2.0), rtol=1e-6)
    gp = losses.get_gan_loss("WGAN-GP", drift=0.5)
    np.testing.assert_allclose(gp.d_loss(np.float32([2.0]), np.float32([3.0]))[0].numpy(), [0.0])


def test_extreme_logits_stay_finite():
    big = np.array([-200.0, 200.0], np.float32)
    loss = losses.get_gan_loss("non_saturating", real_label=0.9)
    real_part, fake_part = loss.d_loss(big, big)
    # softplus(r) − 0.9·r, softplus(f): exact linear asymptotes, no overflow.
    np.testing.assert_allclose(real_part.numpy(), [180.0, 20.0], rtol=1e-6)
    np.testing.assert_allclose(fake_part.numpy(), [0.0, 200.0], rtol=1e-6)
    np.testing.assert_allclose(losses.non_saturating_g_loss(big).numpy(), [200.0, 0.0])


def test_bfloat16_logits_give_float32():
    r16, f16 = tf.constant(REAL, tf.bfloat16), tf.constant(FAKE, tf.bfloat16)
    for name in losses.list_gan_losses():
        loss = losses.get_gan_loss(name)
        outputs = [*loss.d_loss(r16, f16), loss.g_loss(f16)]
        want = _np_losses(name, r16.numpy().astype(np.float32), f16.numpy().astype(np.float32))
        for got, expected in zip(outputs, want):
            assert got.dtype == tf.float32
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
    k = tf.constant(RNG.normal(size=[4, 5]), tf.bfloat16)
    assert losses.semi_supervised_d_loss(k, k)[0].dtype == tf.float32
    assert losses.semi_supervised_class_loss(k, [0, 1, 2, 3]).dtype == tf.float32
    assert losses.feature_matching_loss(k, k).dtype == tf.float32


def test_registry_errors():
    with pytest.raises(ValueError, match="accepted names.*hinge.*wgan_gp"):
        losses.get_gan_loss("relativistic")
    with pytest.raises(ValueError, match="real_label"):
        losses.get_gan_loss("hinge", real_label=0.9)
    with pytest.raises(ValueError, match=r"real_label.*\(0, 1\].*1.5"):
        losses.get_gan_loss("least_squares", real_label=1.5)
    with pytest.raises(ValueError, match="drift.*-1"):
        losses.get_gan_loss("wgan_gp", drift=-1)
    with pytest.raises(ValueError, match=r"\[B\] or \[B, 1\]"):
        losses.hinge_g_loss(np.zeros([4, 2], np.float32))


def test_gradient_penalty_linear_critic():
    # D(x) = w·x has ∇D = w everywhere, so the penalty is (‖w‖ − 1)² for every example.
    w = RNG.normal(size=[3, 3, 2]).astype(np.float32)
    d_fn = lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])  # noqa: E731
    real = RNG.normal(size=[4, 3, 3, 2]).astype(np.float32)
    fake = RNG.normal(size=[4, 3, 3, 2]).astype(np.float32)
    eps = RNG.uniform(size=[4]).astype(np.float32)
    got = losses.gradient_penalty(d_fn, real, fake, eps)
    want = (np.linalg.norm(w) - 1.0) ** 2
    np.testing.assert_allclose(got.numpy(), np.full([4], want), rtol=1e-5)


def test_gradient_penalty_quadratic_critic_uses_interpolates():
    # D(x) = ½‖x‖² (output [B, 1]) has ∇D(x̂) = x̂ = ε·real + (1 − ε)·fake.
    d_fn = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]  # noqa: E731
    real = RNG.normal(size=[5, 2, 2, 3]).astype(np.float32)
    fake = RNG.normal(size=[5, 2, 2, 3]).astype(np.float32)
    eps = RNG.uniform(size=[5]).astype(np.float32)
    x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    want = (np.linalg.norm(x_hat.reshape(5, -1), axis=1) - 1.0) ** 2
    got = losses.gradient_penalty(d_fn, real, fake, eps)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    # ε = 1 evaluates at the real images.
    at_real = losses.gradient_penalty(d_fn, real, fake, np.ones([5], np.float32))
    want_real = (np.linalg.norm(real.reshape(5, -1), axis=1) - 1.0) ** 2
    np.testing.assert_allclose(at_real.numpy(), want_real, rtol=1e-5)


def test_gradient_penalty_differentiable_in_critic_weights():
    # D(x) = a·Σx: ‖∇D‖ = |a|·√N, so the penalty is (|a|√N − 1)², d/da = 2(a√N − 1)√N for a > 0.
    a = tf.Variable(0.7)
    d_fn = lambda x: a * tf.reduce_sum(x, axis=[1, 2, 3])  # noqa: E731
    real = tf.ones([2, 2, 2, 1])
    with tf.GradientTape() as tape:
        penalty = tf.reduce_sum(losses.gradient_penalty(d_fn, real, real * 0, [0.3, 0.6]))
    n = 4.0  # elements per example
    np.testing.assert_allclose(tape.gradient(penalty, a).numpy(),
                               2 * 2 * (0.7 * np.sqrt(n) - 1) * np.sqrt(n), rtol=1e-5)


def test_r1_penalty_matches_analytic_gradient():
    # D(x) = Σ c·x² has ∇D = 2c·x, so R1 = Σ 4c²x² per example.
    c = RNG.uniform(0.5, 1.5, size=[4, 4, 3]).astype(np.float32)
    d_fn = lambda x: tf.reduce_sum(c * tf.square(x), axis=[1, 2, 3])  # noqa: E731
    real = RNG.normal(size=[3, 4, 4, 3]).astype(np.float32)
    want = (4.0 * c ** 2 * real ** 2).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(losses.r1_penalty(d_fn, real).numpy(), want, rtol=1e-5)
    w = RNG.normal(size=[4, 4, 3]).astype(np.float32)
    linear = lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]  # noqa: E731
    np.testing.assert_allclose(losses.r1_penalty(linear, real).numpy(),
                               np.full([3], np.sum(w ** 2)), rtol=1e-5)


def test_penalties_compile_with_xla():
    w = tf.constant(RNG.normal(size=[6]).astype(np.float32))
    d_fn = lambda x: tf.linalg.matvec(x, w)  # noqa: E731
    real, fake = tf.ones([2, 6]), tf.zeros([2, 6])

    @tf.function(jit_compile=True)
    def step():
        return (losses.gradient_penalty(d_fn, real, fake, tf.constant([0.2, 0.8])),
                losses.r1_penalty(d_fn, real))

    gp, r1 = step()
    norm = np.linalg.norm(w.numpy())
    np.testing.assert_allclose(gp.numpy(), [(norm - 1) ** 2] * 2, rtol=1e-5)
    np.testing.assert_allclose(r1.numpy(), [norm ** 2] * 2, rtol=1e-5)


def test_feature_matching_loss():
    real = RNG.normal(size=[8, 3, 5]).astype(np.float32)
    fake = RNG.normal(size=[6, 3, 5]).astype(np.float32)
    want = np.sum((real.mean(axis=0) - fake.mean(axis=0)) ** 2)
    np.testing.assert_allclose(losses.feature_matching_loss(real, fake).numpy(), want, rtol=1e-5)
    # Same batch mean, different samples: zero loss.
    shifted = real[::-1].copy()
    assert losses.feature_matching_loss(real, shifted).numpy() == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="same per-example shape"):
        losses.feature_matching_loss(real, fake[:, :2])


def test_semi_supervised_losses_match_numpy():
    k_real = (RNG.normal(size=[6, 10]) * 4).astype(np.float32)
    k_fake = (RNG.normal(size=[6, 10]) * 4).astype(np.float32)
    labels = RNG.integers(0, 10, size=[6])
    # Direct K+1 computation: append the fixed fake logit 0 and take the softmax.
    def probs(logits):
        full = np.concatenate([logits, np.zeros([len(logits), 1])], axis=1).astype(np.float64)
        e = np.exp(full - full.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    p_real, p_fake = probs(k_real), probs(k_fake)
    d_real, d_fake = 1.0 - p_real[:, -1], 1.0 - p_fake[:, -1]
    # p(y | x, y < K+1) = softmax over the K class logits.
    class_p = np.exp(k_real - _np_logsumexp(k_real)[:, None])
    want_class = -np.log(class_p[np.arange(6), labels])
    np.testing.assert_allclose(losses.semi_supervised_class_loss(k_real, labels).numpy(),
                               want_class, rtol=1e-5, atol=1e-5)
    got_real, got_fake = losses.semi_supervised_d_loss(k_real, k_fake)
    np.testing.assert_allclose(got_real.numpy(), -np.log(d_real), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got_fake.numpy(), -np.log(1.0 - d_fake), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses.semi_supervised_g_loss(k_fake).numpy(), -np.log(d_fake),
                               rtol=1e-4, atol=1e-6)
    # D(x) = Z/(Z + 1) = σ(logsumexp(l)).
    np.testing.assert_allclose(d_real, _np_sigmoid(_np_logsumexp(k_real)), rtol=1e-10)


def test_semi_supervised_stable_for_large_logits():
    huge = np.array([[500.0, 499.0], [-500.0, -501.0]], np.float32)
    got_real, got_fake = losses.semi_supervised_d_loss(huge, huge)
    want_lse = _np_logsumexp(huge)
    np.testing.assert_allclose(got_real.numpy(), _np_softplus(-want_lse), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_fake.numpy(), _np_softplus(want_lse), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[B, K\]"):
        losses.semi_supervised_g_loss(np.zeros([4], np.float32))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
