"""Numerical parity with BigGAN-PyTorch and the TF-Hub-layout BigGAN-deep reference outputs."""

import json
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tfbiggan import convert

pytestmark = pytest.mark.fixtures

PYTORCH_FIXTURES = ["bgp_res32_ch8", "bgp_res128_ch8"]


def _nhwc(array):
    return array.transpose(0, 2, 3, 1)


def _load(name):
    data = np.load(conftest.fixture_path("biggan_pytorch", name + ".npz"))
    with open(conftest.fixture_path("biggan_pytorch", name + ".json"), encoding="utf-8") as f:
        config = json.load(f)
    return {key: data[key] for key in data.files}, config


def _sn_layers_with_keys(generator):
    """(layer, BigGAN-PyTorch key) pairs for every SN conv of the generator's blocks."""
    pairs = [(generator.linear, "linear")]
    for index, block in enumerate(generator.blocks):
        for name in ("conv1", "conv2", "conv_sc"):
            pairs.append((getattr(block, name), f"blocks.{index}.0.{name}"))
    pairs.append((generator.output_layer.conv, "output_layer.2"))
    return pairs


@pytest.mark.parametrize("name", PYTORCH_FIXTURES)
def test_generator_matches_biggan_pytorch(name):
    data, config = _load(name)
    generator = convert.generator_from_biggan_pytorch(data, config, prefix="G_before/")
    assert generator.count_params() > 0
    trainable = sum(int(np.prod(w.shape)) for w in generator.trainable_weights)
    assert trainable == config["G_params"]

    out = generator(data["z"], data["y"], training=True).numpy()
    np.testing.assert_allclose(out, _nhwc(data["G_train_out_nchw"]), atol=1e-4, rtol=0)
    # The training pass updated every u vector and BN running statistic as the reference did.
    for layer, key in _sn_layers_with_keys(generator):
        u = data[f"G_after/{key}.u0"].reshape(-1)
        if key == "linear":
            u = convert._LinearToNHWC(generator._top[1]).permute_outputs(u)  # pylint: disable=protected-access
        np.testing.assert_allclose(layer.u.numpy(), u, atol=1e-5, err_msg=key)
        np.testing.assert_allclose(layer.sigma.numpy(), data[f"G_after/{key}.sv0"][0],
                                   rtol=1e-5, err_msg=key)
    for index, block in enumerate(generator.blocks):
        for bn_name in ("bn1", "bn2"):
            bn = getattr(block, bn_name)
            key = f"G_after/blocks.{index}.0.{bn_name}"
            np.testing.assert_allclose(bn.moving_mean.numpy(), data[key + ".stored_mean"],
                                       atol=1e-5)
            np.testing.assert_allclose(bn.moving_variance.numpy(), data[key + ".stored_var"],
                                       atol=1e-5)

    out = generator(data["z"], data["y"], training=False).numpy()
    np.testing.assert_allclose(out, _nhwc(data["G_eval_out_nchw"]), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", PYTORCH_FIXTURES)
def test_discriminator_matches_biggan_pytorch(name):
    data, config = _load(name)
    discriminator = convert.discriminator_from_biggan_pytorch(data, config, prefix="D_before/")
    trainable = sum(int(np.prod(w.shape)) for w in discriminator.trainable_weights)
    assert trainable == config["D_params"]
    images = _nhwc(data["x_nchw"])
    logits = discriminator(images, data["y"], training=True).numpy()
    np.testing.assert_allclose(logits, data["D_train_out"][:, 0], rtol=1e-4, atol=1e-5)
    for index, block in enumerate(discriminator.blocks):
        for conv_name in ("conv1", "conv2", "conv_sc"):
            layer = getattr(block, conv_name)
            key = f"D_after/blocks.{index}.0.{conv_name}.u0"
            if layer is None:
                assert key not in data
                continue
            np.testing.assert_allclose(layer.u.numpy(), data[key][0], atol=1e-5)
    np.testing.assert_allclose(discriminator.head.embed.u.numpy(), data["D_after/embed.u0"][0],
                               atol=1e-5)
    logits = discriminator(images, data["y"], training=False).numpy()
    np.testing.assert_allclose(logits, data["D_eval_out"][:, 0], rtol=1e-4, atol=1e-5)
    # Inference stored nothing: the u vectors still equal the post-training ones.
    np.testing.assert_allclose(discriminator.head.embed.u.numpy(), data["D_after/embed.u0"][0],
                               atol=1e-5)


def test_discriminator_returns_penultimate_features():
    data, config = _load("bgp_res32_ch8")
    discriminator = convert.discriminator_from_biggan_pytorch(data, config, prefix="D_before/")
    images = _nhwc(data["x_nchw"])
    logits, features = discriminator(images, data["y"], training=False, return_features=True)
    assert features.shape == (4, 4 * config["ch"])
    # logits = linear(features) + <embed(y), features>, recomputed from the returned features.
    head = discriminator.head
    linear = features.numpy() @ head.linear.normalized_kernel().numpy() + head.linear.bias.numpy()
    table = head.embed.normalized_kernel().numpy()
    expected = linear[:, 0] + np.sum(table[data["y"]] * features.numpy(), axis=-1)
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_two_replica_synchronized_forward_matches_reference():
    data, config = _load("bgp_res32_ch8")
    strategy = conftest.two_replica_strategy()
    with strategy.scope():
        generator = convert.generator_from_biggan_pytorch(
            data, config, prefix="G_before/", synchronized_bn=True)
    dataset = tf.data.Dataset.from_tensor_slices((data["z"], data["y"])).batch(
        4, drop_remainder=True)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(z, y):
        return strategy.run(lambda a, b: generator(a, b, training=True), args=(z, y))

    per_replica = strategy.experimental_local_results(step(*batch))
    out = np.concatenate([x.numpy() for x in per_replica], axis=0)
    np.testing.assert_allclose(out, _nhwc(data["G_train_out_nchw"]), atol=1e-4, rtol=0)
    bn = generator.blocks[0].bn1
    np.testing.assert_allclose(bn.moving_mean.numpy(),
                               data["G_after/blocks.0.0.bn1.stored_mean"], atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               data["G_after/blocks.0.0.bn1.stored_var"], atol=1e-5)


@pytest.mark.parametrize("truncation", [0.4, 1.0])
def test_biggan_deep_hub_outputs(truncation):
    data = np.load(conftest.fixture_path("biggan_deep_hub", "hf_deep_res128_ch8.npz"))
    data = {key: data[key] for key in data.files}
    with open(conftest.fixture_path("biggan_deep_hub", "hf_deep_res128_ch8.json"),
              encoding="utf-8") as f:
        config = json.load(f)
    generator = convert.generator_from_biggan_deep_hub(data, config, prefix="weights/")
    trainable = sum(int(np.prod(w.shape)) for w in generator.trainable_weights)
    assert trainable == config["params"]
    out = generator(data[f"z_t{truncation}"], data["y"], training=False,
                    truncation=truncation).numpy()
    np.testing.assert_allclose(out, _nhwc(data[f"out_nchw_t{truncation}"]), atol=1e-4, rtol=0)
    # The truncation really selects statistics: another row gives another image.
    other = generator(data[f"z_t{truncation}"], data["y"], training=False,
                      truncation=0.2).numpy()
    assert np.abs(other - out).max() > 1e-3


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
