"""GAN losses and gradient penalties, computed per example in float32.

Every loss returns one value per example, shape [B], and never reduces over the batch. A
distributed trainer sums these vectors and divides by the GLOBAL batch size, e.g.
`tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)`, so that the sum of
the replicas' gradients is the gradient of the mean loss over the whole batch. Logits may come
as [B] or [B, 1] and in any float dtype (bfloat16 under mixed precision); the math is float32.

Losses by name (`get_gan_loss`):

| name | D real part | D fake part | G |
|---|---|---|---|
| hinge (default) | relu(1 − r) | relu(1 + f) | −f |
| non_saturating | softplus(−r) (target `real_label`) | softplus(f) | softplus(−f) |
| wasserstein | −r | f | −f |
| least_squares | ½(r − `real_label`)² | ½f² | ½(f − 1)² |
| wgan_gp | −r + `drift`·r² | f | −f |

The WGAN-GP gradient penalty is `gradient_penalty` (λ applied by the caller); R1 is
`r1_penalty` (γ/2 applied by the caller). Feature matching and the semi-supervised K+1 losses
come from Salimans et al. 2016, "Improved Techniques for Training GANs" (arXiv 1606.03498).
"""

import collections
import math
import numbers

import tensorflow as tf

__all__ = [
    "GANLoss", "get_gan_loss", "list_gan_losses",
    "hinge_d_loss", "hinge_g_loss",
    "non_saturating_d_loss", "non_saturating_g_loss",
    "wasserstein_d_loss", "wasserstein_g_loss",
    "least_squares_d_loss", "least_squares_g_loss",
    "wgan_gp_d_loss",
    "gradient_penalty", "r1_penalty", "feature_matching_loss",
    "semi_supervised_class_loss", "semi_supervised_d_loss", "semi_supervised_g_loss",
]


def _per_example(logits, name="logits"):
    """Casts logits to float32 and flattens [B, 1] to [B]; any other rank is an error."""
    logits = tf.cast(logits, tf.float32)
    rank = logits.shape.rank
    if rank == 2 and logits.shape[-1] == 1:
        return tf.squeeze(logits, axis=-1)
    if rank != 1:
        raise ValueError(f"`{name}` must have shape [B] or [B, 1]; received shape "
                         f"{logits.shape}.")
    return logits


def _check_label(real_label):
    if (isinstance(real_label, bool) or not isinstance(real_label, numbers.Real)
            or not 0.0 < real_label <= 1.0):
        raise ValueError(f"`real_label` must be a number in (0, 1] (1 = no smoothing, 0.9 is "
                         f"one-sided label smoothing); received {real_label!r}.")
    return float(real_label)


# ---------------------------------------------------------------------------------------------
# Adversarial losses on logits.


def hinge_d_loss(real_logits, fake_logits):
    """Hinge D loss (Lim & Ye 2017; SAGAN, BigGAN): (relu(1 − r), relu(1 + f)), each [B]."""
    real = _per_example(real_logits, "real_logits")
    fake = _per_example(fake_logits, "fake_logits")
    return tf.nn.relu(1.0 - real), tf.nn.relu(1.0 + fake)


def hinge_g_loss(fake_logits):
    """Hinge G loss: −D(G(z)), shape [B]."""
    return -_per_example(fake_logits, "fake_logits")


def non_saturating_d_loss(real_logits, fake_logits, real_label=1.0):
    """Sigmoid cross-entropy D loss (Goodfellow et al. 2014), each part [B].

    The real part is the cross-entropy against target `real_label` (0.9 gives Salimans et al.'s
    one-sided label smoothing); the fake target stays 0: softplus(f).
    """
    real_label = _check_label(real_label)
    real = _per_example(real_logits, "real_logits")
    fake = _per_example(fake_logits, "fake_logits")
    # −[t·log σ(r) + (1 − t)·log(1 − σ(r))] = softplus(r) − t·r.
    return tf.nn.softplus(real) - real_label * real, tf.nn.softplus(fake)


def non_saturating_g_loss(fake_logits):
    """Non-saturating G loss −log σ(f) = softplus(−f), shape [B]."""
    return tf.nn.softplus(-_per_example(fake_logits, "fake_logits"))


def wasserstein_d_loss(real_logits, fake_logits):
    """Wasserstein critic loss (Arjovsky et al. 2017): (−r, f), each [B]."""
    return -_per_example(real_logits, "real_logits"), _per_example(fake_logits, "fake_logits")


def wasserstein_g_loss(fake_logits):
    """Wasserstein G loss −f, shape [B]."""
    return -_per_example(fake_logits, "fake_logits")


def least_squares_d_loss(real_logits, fake_logits, real_label=1.0):
    """LSGAN D loss (Mao et al. 2017, a = 0, b = `real_label`): (½(r − b)², ½f²), each [B]."""
    real_label = _check_label(real_label)
    real = _per_example(real_logits, "real_logits")
    fake = _per_example(fake_logits, "fake_logits")
    return 0.5 * tf.square(real - real_label), 0.5 * tf.square(fake)


def least_squares_g_loss(fake_logits):
    """LSGAN G loss ½(f − 1)², shape [B]."""
    return 0.5 * tf.square(_per_example(fake_logits, "fake_logits") - 1.0)


def wgan_gp_d_loss(real_logits, fake_logits, drift=0.001):
    """WGAN-GP critic loss with Progressive GAN's drift term: (−r + drift·r², f), each [B].

    The gradient penalty is not included: add λ·`gradient_penalty(...)` (λ = 10) separately.
    """
    drift = _check_drift(drift)
    real = _per_example(real_logits, "real_logits")
    fake = _per_example(fake_logits, "fake_logits")
    return -real + drift * tf.square(real), fake


def _check_drift(drift):
    if (isinstance(drift, bool) or not isinstance(drift, numbers.Real)
            or not math.isfinite(drift) or drift < 0):
        raise ValueError(f"`drift` must be a finite number >= 0 (Progressive GAN uses 0.001); "
                         f"received {drift!r}.")
    return float(drift)


# ---------------------------------------------------------------------------------------------
# Registry.

GANLoss = collections.namedtuple("GANLoss", ["name", "d_loss", "g_loss"])
GANLoss.__doc__ = """A named pair of loss functions.

`d_loss(real_logits, fake_logits)` returns (real part [B], fake part [B]); the D loss of an
example pair is their sum. `g_loss(fake_logits)` returns [B]. No reduction over the batch.
"""

# name -> (d_loss, g_loss, accepted options with their defaults)
_LOSSES = {
    "hinge": (hinge_d_loss, hinge_g_loss, {}),
    "non_saturating": (non_saturating_d_loss, non_saturating_g_loss, {"real_label": 1.0}),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss, {}),
    "least_squares": (least_squares_d_loss, least_squares_g_loss, {"real_label": 1.0}),
    "wgan_gp": (wgan_gp_d_loss, wasserstein_g_loss, {"drift": 0.001}),
}
_VALIDATORS = {"real_label": _check_label, "drift": _check_drift}


def list_gan_losses():
    """The accepted names for `get_gan_loss`."""
    return sorted(_LOSSES)


def get_gan_loss(name="hinge", **options):
    """Returns the `GANLoss` called `name`, with its options bound.

    Args:
      name: one of `list_gan_losses()`: "hinge" (BigGAN's, the default), "non_saturating",
        "wasserstein", "least_squares", "wgan_gp". Case and "-" vs "_" do not matter.
      **options: `real_label` (float in (0, 1], default 1.0; 0.9 = one-sided label smoothing)
        for "non_saturating" and "least_squares"; `drift` (float >= 0, default 0.001) for
        "wgan_gp". Any other option is an error.

    Example:
      >>> loss = get_gan_loss("non_saturating", real_label=0.9)
      >>> real_part, fake_part = loss.d_loss(real_logits, fake_logits)
      >>> d_loss = tf.nn.compute_average_loss(real_part + fake_part, global_batch_size=64)
    """
    if not isinstance(name, str):
        raise ValueError(f"`name` must be a string, one of {list_gan_losses()}; "
                         f"received {name!r}.")
    key = name.strip().lower().replace("-", "_")
    if key not in _LOSSES:
        raise ValueError(f"Unknown GAN loss `name` {name!r}; accepted names are "
                         f"{list_gan_losses()}.")
    d_fn, g_fn, defaults = _LOSSES[key]
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"GAN loss {key!r} does not accept option(s) {unknown}; accepted "
                         f"options are {sorted(defaults) or 'none'}.")
    bound = {k: _VALIDATORS[k](options.get(k, v)) for k, v in defaults.items()}

    def d_loss(real_logits, fake_logits):
        return d_fn(real_logits, fake_logits, **bound)

    d_loss.__doc__ = d_fn.__doc__
    return GANLoss(name=key, d_loss=d_loss, g_loss=g_fn)


# ---------------------------------------------------------------------------------------------
# Gradient penalties.


def _input_gradients(d_fn, inputs):
    """Per-example flattened ∂(Σ D)/∂x in float32, shape [B, N]; differentiable in D's weights."""
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        logits = _per_example(d_fn(inputs), "d_fn(images)")
        total = tf.reduce_sum(logits)
    grads = tf.cast(tape.gradient(total, inputs), tf.float32)
    return tf.reshape(grads, [tf.shape(grads)[0], -1])


def gradient_penalty(d_fn, real, fake, epsilon):
    """WGAN-GP penalty (Gulrajani et al. 2017): per-example (‖∇ D(x̂)‖₂ − 1)², shape [B].

    x̂ = ε·real + (1 − ε)·fake with one ε per example, drawn by the caller (e.g.
    `tf.random.stateless_uniform([B], seed)`) so that runs are reproducible. The caller
    multiplies by λ (10 in the paper and in Progressive GAN). Call this inside the tape that
    computes D's gradients; the penalty is differentiable in D's weights.

    Args:
      d_fn: callable images [B, ...] -> logits [B] or [B, 1].
      real: real images [B, ...].
      fake: generated images, same shape as `real`.
      epsilon: interpolation weights in [0, 1], shape [B] (or [B, 1, ..., 1]).
    """
    real = tf.convert_to_tensor(real)
    fake = tf.cast(fake, real.dtype)
    epsilon = tf.cast(tf.reshape(epsilon, [-1] + [1] * (real.shape.rank - 1)), real.dtype)
    interpolated = epsilon * real + (1.0 - epsilon) * fake
    grads = _input_gradients(d_fn, interpolated)
    # The tiny constant keeps the gradient of the norm finite where ∇D vanishes.
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + 1e-12)
    return tf.square(norm - 1.0)


def r1_penalty(d_fn, real):
    """R1 penalty (Mescheder et al. 2018): per-example ‖∇ₓ D(x)‖², x real, shape [B].

    The caller multiplies by γ/2 and adds it to the D loss. Call it inside D's gradient tape.

    Args:
      d_fn: callable images [B, ...] -> logits [B] or [B, 1].
      real: real images [B, ...].
    """
    grads = _input_gradients(d_fn, tf.convert_to_tensor(real))
    return tf.reduce_sum(tf.square(grads), axis=1)


# ---------------------------------------------------------------------------------------------
# Improved Techniques (Salimans et al. 2016).


def feature_matching_loss(real_features, fake_features):
    """Feature matching G loss ‖E f(x) − E f(G(z))‖², a scalar (Salimans et al. 2016, §3.1).

    f is an intermediate D feature, [B, ...]; means are over the batch axis, the squared norm
    over all others. Being a statistic of the batch it cannot be split per example: under a
    distribution strategy each replica matches its local batch, so divide the value by the
    number of replicas before summing the replicas' gradients.
    """
    real = tf.cast(real_features, tf.float32)
    fake = tf.cast(fake_features, tf.float32)
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"`real_features` {real.shape} and `fake_features` {fake.shape} must "
                         f"have the same per-example shape.")
    diff = tf.reduce_mean(real, axis=0) - tf.reduce_mean(fake, axis=0)
    return tf.reduce_sum(tf.square(diff))


def _class_logits(logits, name):
    logits = tf.cast(logits, tf.float32)
    if logits.shape.rank != 2:
        raise ValueError(f"`{name}` must be K class logits of shape [B, K]; received shape "
                         f"{logits.shape}.")
    return logits


def semi_supervised_class_loss(class_logits, labels):
    """Supervised part of the K+1 D loss: cross-entropy of labelled real images, [B].

    D's K class logits l define p(y | x, real) = softmax(l); the loss is logsumexp(l) − l_y.

    Args:
      class_logits: [B, K] logits of labelled real images.
      labels: integer class ids [B] in [0, K).
    """
    logits = _class_logits(class_logits, "class_logits")
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=logits)


def semi_supervised_d_loss(real_class_logits, fake_class_logits):
    """Unsupervised part of the K+1 D loss (Salimans et al. 2016, §5): each part [B].

    With the fake class's logit fixed to 0, D(x) = Z/(Z + 1), Z = Σ_k exp(l_k), i.e.
    D(x) = σ(logsumexp(l)). Returns (−log D(real), −log(1 − D(fake))) =
    (softplus(−lse(l_real)), softplus(lse(l_fake))).
    """
    real = tf.reduce_logsumexp(_class_logits(real_class_logits, "real_class_logits"), axis=-1)
    fake = tf.reduce_logsumexp(_class_logits(fake_class_logits, "fake_class_logits"), axis=-1)
    return tf.nn.softplus(-real), tf.nn.softplus(fake)


def semi_supervised_g_loss(fake_class_logits):
    """K+1 generator loss −log D(G(z)) = softplus(−logsumexp(l)), shape [B].

    Salimans et al. train this G with `feature_matching_loss` instead; both are available.
    """
    fake = _class_logits(fake_class_logits, "fake_class_logits")
    return tf.nn.softplus(-tf.reduce_logsumexp(fake, axis=-1))
