"""The minibatch standard deviation option of the BigGAN discriminator
(`mbstd_group_size`, `mbstd_grouping`): the logits against the model's own blocks with the
NumPy statistic of the layer's tests before the last block (then the model's head), which
examples a group couples (contiguous against strided), the extra input channel of the last
block (and its learned shortcut), off by default, serialisation and argument checks."""

import os

import keras
import numpy as np
import pytest

from tests.layers.test_progan_layers import _numpy_mbstd
from tfbiggan.models import BigGANDiscriminator


def _discriminator(**kwargs):
    return BigGANDiscriminator(32, ch=4, num_classes=5, in_channels=1, **kwargs)


def _images(batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (batch, 32, 32, 1)).astype(np.float32)


@pytest.mark.parametrize("grouping", ["contiguous", "strided"])
def test_logits_against_the_blocks_with_a_numpy_statistic(grouping):
    keras.utils.set_random_seed(1)
    discriminator = _discriminator(mbstd_group_size=4, mbstd_grouping=grouping)
    images, labels = _images(8), np.array([0, 0, 1, 1, 2, 2, 3, 4])
    discriminator(images, labels, training=True)  # Moves the SN vectors u.
    h = images
    for index, block in enumerate(discriminator.blocks):
        if index == len(discriminator.blocks) - 1:
            h = _numpy_mbstd(np.asarray(h, np.float64), 4, grouping).astype(np.float32)
        h = block(h)
    logits, _ = discriminator.head(h, np.eye(5, dtype=np.float32)[labels])
    np.testing.assert_allclose(np.asarray(discriminator(images, labels)), np.asarray(logits),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("grouping,coupled", [("contiguous", {4, 5, 6, 7}),
                                              ("strided", {1, 3, 5, 7})])
def test_an_example_moves_the_logits_of_its_group_only(grouping, coupled):
    keras.utils.set_random_seed(2)
    discriminator = _discriminator(mbstd_group_size=4, mbstd_grouping=grouping)
    images, labels = _images(8, seed=3), np.arange(8) % 5
    before = np.asarray(discriminator(images, labels))
    changed = images.copy()
    changed[5] = _images(1, seed=9)[0]
    moved = np.abs(np.asarray(discriminator(changed, labels)) - before) > 1e-6
    assert set(np.flatnonzero(moved)) == coupled


def test_the_last_block_reads_one_more_channel_and_the_rest_is_unchanged():
    keras.utils.set_random_seed(0)
    plain = _discriminator()
    keras.utils.set_random_seed(0)
    default = _discriminator(mbstd_group_size=0, mbstd_grouping="contiguous")
    on = _discriminator(mbstd_group_size=4)
    assert plain.mbstd is None and default.mbstd is None
    assert [(w.path, tuple(w.shape)) for w in plain.weights] == \
        [(w.path, tuple(w.shape)) for w in default.weights]
    images, labels = _images(3), np.array([0, 1, 2])
    np.testing.assert_array_equal(np.asarray(plain(images, labels)),
                                  np.asarray(default(images, labels)))
    channels = 4 * 4  # The last block's width (out_mult 4 × ch 4), in and out.
    plain_last = {w.path.split("/", 1)[1]: tuple(w.shape) for w in plain.blocks[-1].weights}
    on_last = {w.path.split("/", 1)[1]: tuple(w.shape) for w in on.blocks[-1].weights}
    # The first 3×3 convolution reads channels + 1; in ≠ out now, so the identity shortcut
    # becomes a learned SN 1×1 convolution (as in every DBlock that changes width).
    assert plain_last["conv1/kernel"] == (3, 3, channels, channels)
    assert on_last["conv1/kernel"] == (3, 3, channels + 1, channels)
    assert on_last["conv_sc/kernel"] == (1, 1, channels + 1, channels)
    assert "conv_sc/kernel" not in plain_last
    assert {k: v for k, v in on_last.items() if not k.startswith(("conv_sc/", "conv1/kernel"))} \
        == {k: v for k, v in plain_last.items() if k != "conv1/kernel"}
    for a, b in zip(plain.blocks[:-1], on.blocks[:-1]):
        assert [tuple(w.shape) for w in a.weights] == [tuple(w.shape) for w in b.weights]


def test_config_round_trip_and_keras_file_give_the_same_logits(tmp_path):
    keras.utils.set_random_seed(4)
    discriminator = _discriminator(mbstd_group_size=2, mbstd_grouping="contiguous")
    images, labels = _images(4, seed=5), np.array([0, 1, 2, 3])
    expected = np.asarray(discriminator(images, labels))
    config = discriminator.get_config()
    assert (config["mbstd_group_size"], config["mbstd_grouping"]) == (2, "contiguous")
    clone = BigGANDiscriminator.from_config(config)
    clone.set_weights(discriminator.get_weights())
    np.testing.assert_allclose(np.asarray(clone(images, labels)), expected, atol=1e-6)
    path = os.path.join(tmp_path, "d.keras")
    discriminator.save(path)
    reloaded = keras.saving.load_model(path)
    assert (reloaded.mbstd_group_size, reloaded.mbstd_grouping) == (2, "contiguous")
    np.testing.assert_allclose(np.asarray(reloaded(images, labels)), expected, atol=1e-6)
    # Configs saved before the option existed restore it switched off.
    del config["mbstd_group_size"], config["mbstd_grouping"]
    assert BigGANDiscriminator.from_config(config).mbstd is None


@pytest.mark.parametrize("kwargs,message", [
    ({"mbstd_group_size": -1}, "mbstd_group_size"),
    ({"mbstd_group_size": 4, "mbstd_grouping": "random"}, "grouping"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _discriminator(**kwargs)


def test_a_batch_the_groups_do_not_divide_is_refused():
    discriminator = _discriminator(mbstd_group_size=4)
    with pytest.raises(ValueError, match="divisible"):
        discriminator(_images(6), np.arange(6) % 5)
