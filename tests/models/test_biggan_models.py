"""BigGAN / BigGAN-deep models: presets and golden counts, serialisation, XLA, mixed precision,
bad input, and the weight converter's error handling."""

import os
import sys
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbiggan import convert
from tfbiggan.models import (BigGANDeepDiscriminator, BigGANDeepGenerator,
                             BigGANDiscriminator, BigGANGenerator, from_preset, list_presets,
                             preset_parameter_counts)
from tfbiggan.models import architectures
from tfbiggan.models.common import count_trainable


def _count_by_arithmetic(resolution, ch, dim_z, shared_dim, num_classes, g_attention,
                         d_attention):
    """BigGAN trainable parameters from the architecture table by hand arithmetic."""
    g_arch = architectures.BIGGAN_GENERATOR[resolution]
    chunks = len(g_arch.blocks) + 1
    cond = dim_z // chunks + shared_dim
    total = num_classes * shared_dim
    top = g_arch.blocks[0].in_mult * ch
    total += (dim_z // chunks) * 16 * top + 16 * top
    for spec in g_arch.blocks:
        cin, cout = spec.in_mult * ch, spec.out_mult * ch
        total += 2 * cond * cin + 2 * cond * cout  # conditional-BN projections
        total += 9 * cin * cout + cout + 9 * cout * cout + cout + cin * cout + cout
        if spec.label in g_attention:
            total += int(1.25 * cout * cout) + 1
    last = g_arch.blocks[-1].out_mult * ch
    total += 2 * last + 9 * last * 3 + 3  # output BN and RGB convolution
    d_arch = architectures.BIGGAN_DISCRIMINATOR[resolution]
    d_total, cin = 0, 3
    for spec in d_arch.blocks:
        cout = spec.out_mult * ch
        d_total += 9 * cin * cout + cout + 9 * cout * cout + cout
        if cin != cout or spec.resample:
            d_total += cin * cout + cout
        if spec.label in d_attention:
            d_total += int(1.25 * cout * cout) + 1
        cin = cout
    d_total += cin + 1 + num_classes * cin
    return total, d_total


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in list_presets() if "tiny" not in n])
def test_full_size_presets_have_golden_parameter_counts(name):
    # Zero initialisation skips the orthogonal factorisations; counts do not depend on it.
    generator, discriminator = from_preset(name, kernel_initializer="zeros",
                                           num_truncation_stats=0)
    assert (count_trainable(generator), count_trainable(discriminator)) == \
        preset_parameter_counts(name)


@pytest.mark.parametrize("resolution", [64, 128, 256, 512])
def test_biggan_counts_agree_with_table_arithmetic(resolution):
    ch, classes = 8, 7
    arch = architectures.BIGGAN_GENERATOR[resolution]
    dim_z = 4 * (len(arch.blocks) + 1)
    g_attention = arch.default_attention
    d_attention = architectures.BIGGAN_DISCRIMINATOR[resolution].default_attention
    generator = BigGANGenerator(resolution, ch=ch, dim_z=dim_z, shared_dim=8,
                                num_classes=classes, num_truncation_stats=0)
    discriminator = BigGANDiscriminator(resolution, ch=ch, num_classes=classes)
    expected = _count_by_arithmetic(resolution, ch, dim_z, 8, classes, g_attention,
                                    d_attention)
    assert (count_trainable(generator), count_trainable(discriminator)) == expected
    if resolution == 64:
        golden = preset_parameter_counts("biggan_64")
        assert _count_by_arithmetic(64, 96, 120, 128, 1000, (64,), (32,)) == golden


@pytest.mark.parametrize("name", [n for n in list_presets() if "tiny" in n])
def test_tiny_presets(name):
    generator, discriminator = from_preset(name)
    assert (count_trainable(generator), count_trainable(discriminator)) == \
        preset_parameter_counts(name)
    z = tf.random.normal((2, generator.dim_z), seed=1)
    images = generator(z, tf.constant([0, 1]), training=True)
    assert images.shape == (2, generator.resolution, generator.resolution, 3)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    logits = discriminator(images, tf.constant([0, 1]), training=True)
    assert logits.shape == (2,)


def test_from_preset_rejects_unknown_names_and_overrides():
    with pytest.raises(ValueError, match="Unknown preset 'biggan_1024'"):
        from_preset("biggan_1024")
    with pytest.raises(ValueError, match="Unknown override 'colour'"):
        from_preset("biggan_tiny_32", colour=3)
    generator, discriminator = from_preset("biggan_tiny_32", num_classes=3)
    assert generator.num_classes == discriminator.num_classes == 3


def _tiny_models():
    return [
        (BigGANGenerator(32, ch=4, num_classes=5, attention=(16,), num_truncation_stats=3),
         BigGANDiscriminator(32, ch=4, num_classes=5, attention=(16,))),
        (BigGANDeepGenerator(128, ch=4, num_classes=5, num_truncation_stats=3,
                             output_conv_channels=4),
         BigGANDeepDiscriminator(128, ch=4, num_classes=5)),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1])
def test_save_load_and_config_round_trip(index):
    generator, discriminator = _tiny_models()[index]
    z = np.random.RandomState(0).randn(2, generator.dim_z).astype("float32")
    y = np.array([1, 3])
    generator(z, y, training=True)  # Moves statistics and u away from their initial values.
    images = generator(z, y).numpy()
    logits = discriminator(images, y).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        for model, args, expected in ((generator, (z, y), images),
                                      (discriminator, (images, y), logits)):
            path = os.path.join(tmp, model.name + ".keras")
            model.save(path)
            reloaded = keras.saving.load_model(path)
            np.testing.assert_allclose(reloaded(*args).numpy(), expected, atol=1e-6)
            clone = type(model).from_config(model.get_config())
            assert clone.get_config() == model.get_config()
            clone.set_weights(model.get_weights())
            np.testing.assert_allclose(clone(*args).numpy(), expected, atol=1e-6)


def test_class_mixtures_interpolate_the_embedding():
    generator = BigGANGenerator(32, ch=4, num_classes=5, num_truncation_stats=0)
    z = np.random.RandomState(1).randn(1, generator.dim_z).astype("float32")
    one_hot = generator(z, np.eye(5, dtype="float32")[[2]]).numpy()
    ids = generator(z, np.array([2])).numpy()
    np.testing.assert_allclose(one_hot, ids, atol=1e-6)
    # The shared embedding is linear in the class vector.
    mixture = np.array([[0.0, 0.5, 0.5, 0.0, 0.0]], "float32")
    embedded = generator.shared(mixture).numpy()
    table = generator.shared.kernel.numpy()
    np.testing.assert_allclose(embedded, 0.5 * (table[1] + table[2])[None], atol=1e-6)


def test_hierarchical_off_wiring():
    generator = BigGANGenerator(32, ch=4, num_classes=5, hierarchical=False,
                                num_truncation_stats=0)
    z = np.random.RandomState(2).randn(3, generator.dim_z).astype("float32")
    y = np.array([0, 1, 4])
    expected_h = generator.linear(z).numpy().reshape(3, 4, 4, -1)
    classes = generator.shared(np.eye(5, dtype="float32")[y])
    h = expected_h
    for block in generator.blocks:
        h = block(h, classes)
    expected = generator.output_layer(h).numpy()
    np.testing.assert_allclose(generator(z, y).numpy(), expected, atol=1e-6)
    assert generator.linear.kernel.shape[0] == generator.dim_z


@pytest.mark.slow
def test_xla_and_mixed_precision():
    for generator, discriminator in _tiny_models():
        z = tf.random.normal((2, generator.dim_z), seed=3)
        y = tf.constant([0, 4])
        eager = generator(z, y)
        compiled = tf.function(lambda a, b: generator(a, b), jit_compile=True)(z, y)
        # XLA fuses and reorders float32 operations.
        np.testing.assert_allclose(compiled.numpy(), eager.numpy(), atol=5e-5)
        logits = tf.function(lambda a, b: discriminator(a, b, training=True),
                             jit_compile=True)(eager, y)
        assert logits.shape == (2,)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        for generator, discriminator in _tiny_models():
            images = generator(tf.random.normal((2, generator.dim_z)), tf.constant([0, 1]),
                               training=True)
            assert images.dtype == tf.float32
            logits = discriminator(images, tf.constant([0, 1]), training=True)
            assert logits.dtype == tf.float32
            assert np.all(np.isfinite(logits.numpy()))
            bn = generator.blocks[0].bns[0] if hasattr(generator.blocks[0], "bns") \
                else generator.blocks[0].bn1
            assert bn.moving_mean.dtype == "float32"
    finally:
        keras.config.set_dtype_policy("float32")


def test_bad_inputs_raise_clear_errors():
    generator = BigGANGenerator(32, ch=4, num_classes=5, num_truncation_stats=0)
    discriminator = BigGANDiscriminator(32, ch=4, num_classes=5)
    z = np.zeros((2, generator.dim_z), "float32")
    with pytest.raises(ValueError, match=r"`z` must have shape \[B, 128\]"):
        generator(np.zeros((2, 7), "float32"), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"class ids must be in \[0, 5\), got \[5\]"):
        generator(z, np.array([0, 5]))
    with pytest.raises(ValueError, match=r"float `y` must have shape \[B, 5\]"):
        generator(z, np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="batch size 2 but `y` has 3"):
        generator(z, np.array([0, 1, 2]))
    images = np.zeros((2, 32, 32, 3), "float32")
    with pytest.raises(ValueError, match=r"images must have shape \[B, 32, 32, C\]"):
        discriminator(np.zeros((2, 32, 16, 3), "float32"), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"images must have shape \[B, 32, 32, C\]"):
        discriminator(np.zeros((2, 64, 64, 3), "float32"), np.array([0, 1]))
    with pytest.raises(ValueError, match="must have 3 channels"):
        discriminator(np.zeros((2, 32, 32, 1), "float32"), np.array([0, 1]))
    with pytest.raises(ValueError, match="needs `y`"):
        discriminator(images)
    with pytest.raises(ValueError, match="No BigGAN generator architecture for resolution 48"):
        BigGANGenerator(48)
    with pytest.raises(ValueError, match="`ch` must be a positive integer, got 0"):
        BigGANGenerator(32, ch=0)
    with pytest.raises(ValueError, match="`dim_z` must be divisible by the 4 latent chunks"):
        BigGANGenerator(32, ch=4, dim_z=30)


def _converter_inputs():
    generator = BigGANGenerator(32, ch=4, dim_z=32, shared_dim=8, num_classes=3,
                                attention=(), bn_epsilon=1e-5, sn_epsilon=1e-6)
    config = {"resolution": 32, "ch": 4, "attention": "0", "dim_z": 32, "shared_dim": 8,
              "n_classes": 3, "hier": True, "bn_eps": 1e-5, "sn_eps": 1e-6}
    state = _state_dict_of(generator)
    return generator, config, state


def _state_dict_of(generator):
    """A BigGAN-PyTorch-style state dict for `generator` (the inverse of the converter)."""
    state = {"shared.weight": generator.shared.kernel.numpy()}
    perm = convert._LinearToNHWC(generator._top[1])  # pylint: disable=protected-access
    inverse = np.argsort(perm._perm(generator.linear.kernel.shape[1]))  # pylint: disable=protected-access
    state["linear.weight"] = generator.linear.kernel.numpy().T[inverse]
    state["linear.bias"] = generator.linear.bias.numpy()[inverse]
    state["linear.u0"] = generator.linear.u.numpy()[inverse][None]
    state["linear.sv0"] = np.ones(1, "float32")

    def conv(layer, key):
        state[key + ".weight"] = layer.kernel.numpy().transpose(3, 2, 0, 1)
        state[key + ".bias"] = layer.bias.numpy()
        state[key + ".u0"] = layer.u.numpy()[None]
        state[key + ".sv0"] = np.ones(1, "float32")

    shared = generator.shared_dim
    for index, block in enumerate(generator.blocks):
        for name in ("conv1", "conv2", "conv_sc"):
            conv(getattr(block, name), f"blocks.{index}.0.{name}")
        for name in ("bn1", "bn2"):
            bn = getattr(block, name)
            for part in ("gain", "bias"):
                kernel = getattr(bn, part).kernel.numpy().T  # [C, chunk + shared]
                chunk = kernel.shape[1] - shared
                key = f"blocks.{index}.0.{name}.{part}"
                state[key + ".weight"] = np.concatenate([kernel[:, chunk:], kernel[:, :chunk]],
                                                        axis=1)
                state[key + ".u0"] = getattr(bn, part).u.numpy()[None]
                state[key + ".sv0"] = np.ones(1, "float32")
            state[f"blocks.{index}.0.{name}.stored_mean"] = bn.moving_mean.numpy()
            state[f"blocks.{index}.0.{name}.stored_var"] = bn.moving_variance.numpy()
    out = generator.output_layer
    state["output_layer.0.gain"] = out.bn.gamma.numpy()
    state["output_layer.0.bias"] = out.bn.beta.numpy()
    state["output_layer.0.stored_mean"] = out.bn.moving_mean.numpy()
    state["output_layer.0.stored_var"] = out.bn.moving_variance.numpy()
    conv(out.conv, "output_layer.2")
    return state


def test_converter_round_trip_and_npz(tmp_path):
    generator, config, state = _converter_inputs()
    z = np.random.RandomState(4).randn(2, 32).astype("float32")
    expected = generator(z, np.array([0, 2])).numpy()
    path = tmp_path / "g.npz"
    np.savez(path, **state)
    converted = convert.generator_from_biggan_pytorch(str(path), config)
    np.testing.assert_allclose(converted(z, np.array([0, 2])).numpy(), expected, atol=1e-6)


def test_converter_rejects_bad_state_dicts(tmp_path):
    _, config, state = _converter_inputs()
    missing = dict(state)
    del missing["blocks.1.0.conv2.bias"]
    with pytest.raises(ValueError, match=r"missing entries: \['blocks.1.0.conv2.bias'\]"):
        convert.generator_from_biggan_pytorch(missing, config)
    extra = dict(state, **{"blocks.9.0.conv1.weight": np.zeros((1, 1, 1, 1), "float32")})
    with pytest.raises(ValueError, match=r"unknown entries: \['blocks.9.0.conv1.weight'\]"):
        convert.generator_from_biggan_pytorch(extra, config)
    misshaped = dict(state, **{"blocks.0.0.conv1.weight": np.zeros((4, 4, 3, 3), "float32")})
    with pytest.raises(ValueError, match="'blocks.0.0.conv1.weight' converts to shape"):
        convert.generator_from_biggan_pytorch(misshaped, config)
    wrong_type = dict(state, **{"linear.bias": np.array(["a"] * 256)})
    with pytest.raises(ValueError, match="'linear.bias' must be a numeric array"):
        convert.generator_from_biggan_pytorch(wrong_type, config)
    with pytest.raises(ValueError, match="missing the key 'dim_z'"):
        convert.generator_from_biggan_pytorch(state, {k: v for k, v in config.items()
                                                      if k != "dim_z"})
    # Object arrays would need pickle, which is never allowed.
    path = tmp_path / "pickled.npz"
    np.savez(path, **dict(state, **{"linear.bias": np.array([object()], dtype=object)}))
    with pytest.raises(ValueError, match="allow_pickle"):
        convert.generator_from_biggan_pytorch(str(path), config)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
