"""Every variable of every model and block reaches a tf.train.Checkpoint."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from tfbiggan.layers import DeepDBlock, DeepGBlock
from tfbiggan.models import (BigGANDeepDiscriminator, BigGANDeepGenerator,
                             BigGANDiscriminator, BigGANGenerator, ProGANDiscriminator,
                             ProGANGenerator)


def _models():
    progan_g = ProGANGenerator(16, latent_dim=8, fmap_base=32, fmap_max=8)
    progan_g(np.zeros((2, 8), "float32"))
    progan_d = ProGANDiscriminator(16, fmap_base=32, fmap_max=8)
    progan_d(np.zeros((2, 16, 16, 3), "float32"))
    deep_g_block = DeepGBlock(4)
    deep_g_block(np.zeros((1, 4, 4, 8), "float32"), np.zeros((1, 3), "float32"))
    deep_d_block = DeepDBlock(8)
    deep_d_block(np.zeros((1, 4, 4, 4), "float32"))
    return [
        BigGANGenerator(32, ch=4, num_classes=3, attention=(16,), num_truncation_stats=2),
        BigGANDiscriminator(32, ch=4, num_classes=3, attention=(16,)),
        BigGANDeepGenerator(128, ch=4, num_classes=3, num_truncation_stats=2),
        BigGANDeepDiscriminator(128, ch=4, num_classes=3),
        progan_g, progan_d, deep_g_block, deep_d_block,
    ]


@pytest.mark.parametrize("index", range(8))
def test_checkpoint_holds_every_variable(index, tmp_path):
    model = _models()[index]
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    saved = {name for name, _ in tf.train.list_variables(path)
             if name.startswith("model/") and name.endswith(".ATTRIBUTES/VARIABLE_VALUE")}
    assert len(saved) == len(model.weights), (len(saved), len(model.weights))
    # A restore into a fresh copy reproduces every value.
    clone = type(model).from_config(model.get_config())
    if not clone.built:
        clone.build_from_config(model.get_build_config())
    for weight in model.weights:
        weight.assign(np.asarray(np.random.RandomState(0).randn(*weight.shape)).astype(weight.dtype)
                      if weight.dtype.startswith("float") else weight.numpy())
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt2"))
    tf.train.Checkpoint(model=clone).read(path).assert_existing_objects_matched()
    for a, b in zip(model.weights, clone.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
