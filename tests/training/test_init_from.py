"""`model.init_from`: a fresh run starts from a converted pretrained BigGAN (and its D)."""

import importlib.util
import sys

import numpy as np
import pytest

from tests import conftest
from tests.convert import torch_writer
from tfbiggan import convert
from tfbiggan.convert import outputs
from tfbiggan.training import config_checks, init_from, launch, trainer as trainer_lib

pytestmark = pytest.mark.fixtures


@pytest.fixture(scope="module")
def converted_dir(tmp_path_factory):
    """BigGAN-PyTorch's bgp_res32_ch8 G and D, converted into a workdir."""
    data = np.load(conftest.fixture_path("biggan_pytorch", "bgp_res32_ch8.npz"))
    root = tmp_path_factory.mktemp("pretrained")
    weights = root / "weights"
    weights.mkdir()
    for name, prefix in (("G_ema.pth", "G_after/"), ("D.pth", "D_after/")):
        torch_writer.write_zip(str(weights / name), {
            key[len(prefix):]: data[key] for key in data.files if key.startswith(prefix)})
    converted = convert.load(str(weights), bank_batches=0)
    outputs.write_workdir(converted, str(root / "converted"))
    return str(root / "converted"), converted


def _finetune_config(path, num_classes=10, **model):
    spec = importlib.util.spec_from_file_location(
        "finetune_pretrained", conftest.REPO_ROOT / "configs" / "finetune_pretrained.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(path)
    config.data.pipeline.source = "digits"
    config.data.pipeline.num_classes = num_classes
    config.data.pipeline.random_flip = False
    config.data.pipeline.shuffle_buffer = 16
    config.training.update(batch_size=4, accumulation_steps=1, num_d_steps=1, steps=1,
                           jit_compile=False)
    config.log.update(every=1, sample_every=0, singular_values_every=0)
    for key, value in model.items():
        config.model[key] = value
    return config


def _assert_same(model, other):
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_overrides_rebuild_the_converted_generator(converted_dir):
    preset, overrides = init_from.model_overrides_from(converted_dir[0])
    assert preset == "biggan_32"
    assert overrides == {"ch": 8, "attention": (16,), "hierarchical": True,
                         "shared_embedding": True, "shared_dim": 16, "sn_epsilon": 1e-6}


def test_fresh_run_starts_from_the_converted_weights(converted_dir, tmp_path):
    path, converted = converted_dir
    config = _finetune_config(path)
    config_checks.check(config)
    trainer = trainer_lib.Trainer(config, str(tmp_path / "run"))
    assert trainer.restore_or_initialize() == 0
    _assert_same(trainer.generator, converted.generator)
    _assert_same(trainer.ema_generator, converted.generator)
    # D starts fresh unless asked.
    fresh = trainer.discriminator.head.embed.kernel.numpy()
    assert np.abs(fresh - converted.discriminator.head.embed.kernel.numpy()).max() > 1e-3
    # The same images as the converted generator.
    z = np.random.default_rng(0).normal(size=(2, 128)).astype(np.float32)
    np.testing.assert_array_equal(trainer.ema_generator(z, np.array([1, 7])).numpy(),
                                  converted.generator(z, np.array([1, 7])).numpy())


def test_new_classes_from_a_class_map_and_the_released_discriminator(converted_dir, tmp_path):
    path, converted = converted_dir
    config = _finetune_config(path, num_classes=3, init_discriminator=True,
                              init_class_map=(2, 5, 7))
    trainer = trainer_lib.Trainer(config, str(tmp_path / "run"))
    trainer.restore_or_initialize()
    source_g, source_d = converted.generator, converted.discriminator
    np.testing.assert_array_equal(trainer.generator.shared.kernel.numpy(),
                                  source_g.shared.kernel.numpy()[[2, 5, 7]])
    np.testing.assert_array_equal(trainer.discriminator.head.embed.kernel.numpy(),
                                  source_d.head.embed.kernel.numpy()[[2, 5, 7]])
    np.testing.assert_array_equal(trainer.discriminator.head.embed.u.numpy(),
                                  source_d.head.embed.u.numpy()[[2, 5, 7]])
    np.testing.assert_array_equal(trainer.discriminator.blocks[1].conv1.kernel.numpy(),
                                  source_d.blocks[1].conv1.kernel.numpy())


def test_new_classes_without_a_map_start_at_the_mean_embedding(converted_dir, tmp_path):
    path, converted = converted_dir
    trainer = trainer_lib.Trainer(_finetune_config(path, num_classes=4), str(tmp_path / "run"))
    trainer.restore_or_initialize()
    mean = converted.generator.shared.kernel.numpy().mean(axis=0)
    np.testing.assert_allclose(trainer.generator.shared.kernel.numpy(), np.tile(mean, (4, 1)),
                               rtol=1e-6)
    np.testing.assert_array_equal(trainer.generator.linear.kernel.numpy(),
                                  converted.generator.linear.kernel.numpy())


@pytest.mark.slow
def test_bad_init_settings_are_named(converted_dir, tmp_path):
    path, _ = converted_dir
    config = _finetune_config(path)
    config.model.overrides.ch = 4
    with pytest.raises(ValueError, match=r"does not have the config's architecture: 'linear/"
                                         r"kernel' has shape \(32, 512\) there, \(32, 256\) "
                                         r"in the config's model"):
        trainer_lib.Trainer(config, str(tmp_path / "a")).restore_or_initialize()
    config = _finetune_config(path, num_classes=3, init_class_map=(1, 2))
    with pytest.raises(ValueError, match=r"one class of the 10 .* for each of the config's 3 "
                                         r"classes, got \(1, 2\)"):
        trainer_lib.Trainer(config, str(tmp_path / "b")).restore_or_initialize()
    config = _finetune_config(path)
    config.model.init_from = ""
    config.model.init_discriminator = True
    with pytest.raises(ValueError, match=r"need `model.init_from`"):
        config_checks.check(config)


@pytest.mark.slow
def test_fine_tuning_trains_and_a_resume_does_not_reinitialise(converted_dir, tmp_path):
    path, converted = converted_dir
    workdir = str(tmp_path / "run")
    trainer = launch.train(_finetune_config(path), workdir, progress=False)
    assert int(trainer.step.numpy()) == 1
    moved = np.abs(trainer.generator.linear.kernel.numpy() -
                   converted.generator.linear.kernel.numpy()).max()
    assert moved > 0  # One G update changed the pretrained weights.
    resumed = trainer_lib.Trainer(_finetune_config(path), workdir)
    assert resumed.restore_or_initialize() == 1
    _assert_same(resumed.generator, trainer.generator)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
