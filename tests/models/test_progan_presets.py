"""ProGAN presets: golden parameter counts, the trainer's call convention and the
Improved-Techniques discriminator options."""

import sys

import numpy as np
import pytest

from tfbiggan.models import presets
from tfbiggan.models.progan_training import ProGANTrainingDiscriminator


def _count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("name", [n for n in presets.list_presets() if n.startswith("progan")])
def test_progan_presets_have_golden_parameter_counts(name):
    generator, discriminator = presets.from_preset(name)
    assert (_count(generator), _count(discriminator)) == presets.preset_parameter_counts(name)
    assert generator.dim_z == generator.latent_dim
    assert int(generator.stage.numpy()) == 0


def test_minibatch_discrimination_adds_exactly_its_weights_and_changes_logits():
    _, plain = presets.from_preset("progan_mini_32")
    _, with_mbd = presets.from_preset("progan_mini_32", minibatch_kernels=4,
                                      minibatch_kernel_dim=3)
    # T: c0 × kernels × dim (16·4·3) and a bias-free dense on the 4 closeness features.
    assert _count(with_mbd) - _count(plain) == 16 * 4 * 3 + 4
    images = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    labels = np.arange(4, dtype=np.int32)
    logits, features = with_mbd(images, labels, return_features=True)
    assert logits.shape == (4, 1) and features.shape == (4, 16)
    # With a zero minibatch head the logits are exactly those without it.
    with_mbd.minibatch_dense.kernel.assign(np.zeros_like(with_mbd.minibatch_dense.kernel))
    base = ProGANTrainingDiscriminator.__mro__[1].call(with_mbd, (images, labels))
    np.testing.assert_allclose(with_mbd(images, labels), base, rtol=1e-6)


def test_class_logits_head_needs_an_unconditional_discriminator():
    with pytest.raises(ValueError, match="`class_logits`.*num_classes"):
        ProGANTrainingDiscriminator(32, num_classes=10, class_logits=10, fmap_base=32,
                                    fmap_max=16)
    _, d = presets.from_preset("progan_semisupervised_digits_32")
    assert d(np.zeros((4, 32, 32, 3), np.float32), None).shape == (4, 10)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
