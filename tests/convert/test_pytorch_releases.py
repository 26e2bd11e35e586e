"""BigGAN-PyTorch checkpoints and pytorch-pretrained-BigGAN directories, rewritten from the
reference fixtures as PyTorch files, converted by path."""

import json
import logging
import os
import pickle
import sys
import zipfile

import numpy as np
import pytest

from tests import conftest
from tests.convert import torch_writer as tw
from tfbiggan import convert

pytestmark = pytest.mark.fixtures


def _nhwc(array):
    return array.transpose(0, 2, 3, 1)


def _bgp(name):
    data = np.load(conftest.fixture_path("biggan_pytorch", name + ".npz"))
    with open(conftest.fixture_path("biggan_pytorch", name + ".json"), encoding="utf-8") as f:
        config = json.load(f)
    return {key: data[key] for key in data.files}, config


def _part(data, prefix):
    return {key[len(prefix):]: value for key, value in data.items() if key.startswith(prefix)}


def _training_settings(config):
    """The BigGAN-PyTorch command-line settings a run with this fixture's model would save."""
    return {"resolution": config["resolution"], "G_ch": config["ch"], "D_ch": config["ch"],
            "dim_z": config["dim_z"], "shared_dim": config["shared_dim"],
            "n_classes": config["n_classes"], "G_attn": config["attention"],
            "D_attn": config["attention"], "hier": config["hier"], "G_shared": True,
            "BN_eps": config["bn_eps"], "SN_eps": config["sn_eps"], "dataset": "I128_hdf5",
            "ema": True, "use_ema": True}


def _write_state_dict_pth(path, settings):
    value = {"itr": 1000, "epoch": 3, "save_num": 0, "best_IS": np.float64(12.5),
             "best_FID": np.float64(30.25), "config": settings}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("state_dict/data.pkl", pickle.dumps(value, protocol=2))


def _weights_dir(tmp_path, name):
    """G_ema.pth (zip archive) and D.pth (legacy format) of the fixture's post-training-pass
    state, plus state_dict.pth with the settings."""
    data, config = _bgp(name)
    directory = tmp_path / name
    directory.mkdir()
    tw.write_zip(str(directory / "G_ema.pth"), _part(data, "G_after/"), prefix="G_ema")
    tw.write_legacy(str(directory / "D.pth"), _part(data, "D_after/"))
    _write_state_dict_pth(str(directory / "state_dict.pth"), _training_settings(config))
    return str(directory), data, config


@pytest.mark.parametrize("name", ["bgp_res32_ch8", "bgp_res128_ch8"])
def test_biggan_pytorch_checkpoint_reproduces_the_reference(tmp_path, name):
    directory, data, config = _weights_dir(tmp_path, name)
    assert convert.detect_format(directory) == convert.BIGGAN_PYTORCH
    converted = convert.load(directory, bank_batches=0)
    generator, discriminator = converted.generator, converted.discriminator
    assert sum(int(np.prod(w.shape)) for w in generator.trainable_weights) == config["G_params"]
    assert sum(int(np.prod(w.shape)) for w in discriminator.trainable_weights) == \
        config["D_params"]
    assert converted.settings["generator"]["bn_eps"] == config["bn_eps"]
    out = generator(data["z"], data["y"], training=False).numpy()
    np.testing.assert_allclose(out, _nhwc(data["G_eval_out_nchw"]), atol=1e-4, rtol=0)
    logits = discriminator(_nhwc(data["x_nchw"]), data["y"], training=False).numpy()
    np.testing.assert_allclose(logits, data["D_eval_out"][:, 0], rtol=1e-4, atol=1e-4)
    assert "generator: G_ema.pth" in converted.notes and converted.unused == []


def test_settings_missing_are_inferred_and_contradictions_named(tmp_path, caplog):
    directory, data, config = _weights_dir(tmp_path, "bgp_res32_ch8")
    os.remove(os.path.join(directory, "state_dict.pth"))
    with caplog.at_level(logging.WARNING):
        converted = convert.load(directory, bank_batches=0)
    assert "bn_eps is not in the weights or settings; using 1e-05" in caplog.text
    inferred = converted.settings["generator"]
    assert (inferred["resolution"], inferred["ch"], inferred["dim_z"], inferred["shared_dim"],
            inferred["attention"], inferred["hier"]) == (32, 8, 128, 16, (16,), True)
    out = converted.generator(data["z"], data["y"]).numpy()
    np.testing.assert_allclose(out, _nhwc(data["G_eval_out_nchw"]), atol=1e-4, rtol=0)
    settings = dict(_training_settings(config), G_ch=16)
    with pytest.raises(ValueError, match=r"the settings give ch=16 but the generator weights "
                                         r"have ch=8"):
        convert.load(directory, config=settings, bank_batches=0)


def test_single_files_npz_safetensors_and_a_misshaped_entry(tmp_path):
    _, data, _ = _weights_dir(tmp_path, "bgp_res32_ch8")
    weights = _part(data, "G_after/")
    np.savez(tmp_path / "G_ema.npz", **weights)
    converted = convert.load(str(tmp_path / "G_ema.npz"), bank_batches=0)
    assert converted.source_format == convert.BIGGAN_PYTORCH
    out = converted.generator(data["z"], data["y"]).numpy()
    np.testing.assert_allclose(out, _nhwc(data["G_eval_out_nchw"]), atol=1e-4, rtol=0)
    try:
        from safetensors import numpy as safetensors_numpy  # pylint: disable=import-outside-toplevel
    except ImportError:
        safetensors_numpy = None
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("safetensors is an install requirement (setup.cfg)")
    if safetensors_numpy is not None:
        path = str(tmp_path / "G_ema.safetensors")
        safetensors_numpy.save_file({k: np.ascontiguousarray(v) for k, v in weights.items()},
                                    path)
        again = convert.load(path, bank_batches=0).generator(data["z"], data["y"]).numpy()
        np.testing.assert_allclose(again, out, atol=1e-6, rtol=0)
    weights["blocks.1.0.conv1.weight"] = np.zeros((32, 24, 3, 3), np.float32)
    np.savez(tmp_path / "bad.npz", **weights)
    with pytest.raises(ValueError, match=r"blocks.1.0.conv1.weight has shape \(32, 24, 3, 3\): "
                                         r"the BigGAN 32×32 generator with ch 8 expects \[out, "
                                         r"in\] = \[32, 32\] in block 1; the weights fit no "
                                         r"BigGAN architecture"):
        convert.load(str(tmp_path / "bad.npz"), bank_batches=0)


def test_unused_entries_are_listed_in_a_warning(tmp_path, caplog):
    _, data, _ = _weights_dir(tmp_path, "bgp_res32_ch8")
    weights = dict(_part(data, "G_after/"), **{"extra.counter": np.array([3.0], np.float32)})
    path = tw.write_zip(str(tmp_path / "G.pth"), weights)
    with caplog.at_level(logging.WARNING):
        converted = convert.load(path, bank_batches=0)
    assert converted.unused == ["G.pth: extra.counter"]
    assert "1 entries of the state dict were not used: ['extra.counter']" in caplog.text


def _hf_config(config):
    """pytorch-pretrained-BigGAN's config.json for the fixture's model."""
    return {"output_dim": config["resolution"], "z_dim": config["z_dim"],
            "class_embed_dim": config["class_embed_dim"],
            "channel_width": config["channel_width"], "num_classes": config["num_classes"],
            "layers": config["layers"],
            "attention_layer_position": config["attention_layer_position"],
            "eps": config["eps"], "n_stats": config["n_stats"]}


def test_pytorch_pretrained_biggan_directory_reproduces_the_fixture(tmp_path):
    data = np.load(conftest.fixture_path("biggan_deep_hub", "hf_deep_res128_ch8.npz"))
    data = {key: data[key] for key in data.files}
    with open(conftest.fixture_path("biggan_deep_hub", "hf_deep_res128_ch8.json"),
              encoding="utf-8") as f:
        config = json.load(f)
    directory = tmp_path / "biggan-deep-128"
    directory.mkdir()
    # The released files date from 2019: the legacy torch.save format.
    tw.write_legacy(str(directory / "pytorch_model.bin"), _part(data, "weights/"))
    (directory / "config.json").write_text(json.dumps(_hf_config(config)))
    assert convert.detect_format(str(directory)) == convert.PRETRAINED_BIGGAN
    converted = convert.load(str(directory))
    for truncation in (0.4, 1.0):
        out = converted.generator(data[f"z_t{truncation}"], data["y"],
                                  truncation=truncation).numpy()
        np.testing.assert_allclose(out, _nhwc(data[f"out_nchw_t{truncation}"]), atol=1e-4,
                                   rtol=0)
    assert "architecture matches the preset 'biggan_deep_tiny_128'" in converted.notes
    bad = dict(_hf_config(config), layers=config["layers"][:-1] + [[False, 2, 1]])
    (directory / "config.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"config\['layers'\].*is not the BigGAN-deep "
                                         r"128×128 block list"):
        convert.load(str(directory))
    os.remove(directory / "config.json")
    with pytest.raises(ValueError, match="need their config.json"):
        convert.load(str(directory))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
