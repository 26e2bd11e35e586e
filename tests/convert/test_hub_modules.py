"""DeepMind TF1 Hub modules (synthetic, in the published layout) converted by path."""

import json
import logging
import os
import shutil
import sys
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tests.convert import tf1_modules
from tfbiggan import convert
from tfbiggan.convert import hub_layout, hub_module, verify
from tfbiggan.layers import normalization

DEEP_EXTRA = {"global_step": np.array(1000, np.int64),
              "Generator/GBlock/conv0/w": np.zeros((1, 1, 128, 32), np.float32)}


def _fixture():
    data = np.load(conftest.fixture_path("biggan_deep_hub", "hf_deep_res128_ch8.npz"))
    with open(conftest.fixture_path("biggan_deep_hub", "hf_deep_res128_ch8.json"),
              encoding="utf-8") as f:
        config = json.load(f)
    return {key: data[key] for key in data.files}, config


@pytest.fixture(scope="module")
def deep_module(tmp_path_factory):
    """The hf_deep_res128_ch8 fixture rewritten as a BigGAN-deep TF1 Hub module."""
    data, config = _fixture()
    variables, bank = tf1_modules.deep_from_fixture(data)
    path = tf1_modules.write_deep_module(
        tmp_path_factory.mktemp("deep") / "biggan-deep-128", variables, bank,
        [layer[0] for layer in config["layers"]], extra=DEEP_EXTRA)
    return path, data, config


@pytest.fixture(scope="module")
def deep_converted(deep_module):
    return convert.load(deep_module[0])


def _nhwc(array):
    return array.transpose(0, 2, 3, 1)


@pytest.mark.fixtures
def test_deep_module_has_the_published_layout(deep_module):
    path, _, _ = deep_module
    assert sorted(os.listdir(path)) == ["saved_model.pb", "tfhub_module.pb", "variables"]
    meta_graph = hub_module.default_meta_graph(path)
    assert list(meta_graph.meta_info_def.tags) == []
    signature = meta_graph.signature_def["default"]
    assert sorted(signature.inputs) == ["truncation", "y", "z"]
    assert list(signature.outputs) == ["default"]
    names = {name for name, _ in tf.train.list_variables(path + "/variables/variables")}
    assert "Generator/GBlock_9/BatchNorm_3/offset/w/ema_0.9999" in names
    assert "Generator/attention/gamma/ema_0.9999" in names and "linear/w/ema_0.9999" in names
    # pytorch-pretrained-BigGAN's loop over stack_{10i+1, 10i+3, 10i+6, 10i+8}, i = 0, 1, …,
    # stops at the first missing name, after the 41 (mean, variance) pairs.
    nodes = hub_module.node_names(meta_graph)
    found = []
    for i in range(50):
        stop = False
        for n in (10 * i + 1, 10 * i + 3, 10 * i + 6, 10 * i + 8):
            if f"stack_{n}" not in nodes:
                stop = True
                break
            found.append(f"stack_{n}")
        if stop:
            break
    assert len(found) == 82
    values = hub_module.read_graph_tensors(path, meta_graph, found[:2] + found[-2:])
    assert [v.shape for v in values] == [(51, 128), (51, 128), (51, 8), (51, 8)]


@pytest.mark.fixtures
@pytest.mark.parametrize("truncation", [0.4, 1.0])
def test_deep_module_reproduces_the_fixture_outputs(deep_module, deep_converted, truncation):
    _, data, config = deep_module
    generator = deep_converted.generator
    assert deep_converted.source_format == convert.TF_HUB
    trainable = sum(int(np.prod(w.shape)) for w in generator.trainable_weights)
    assert trainable == config["params"]
    assert generator.num_truncation_stats == 51 and generator.attention_after == 7
    out = generator(data[f"z_t{truncation}"], data["y"], truncation=truncation).numpy()
    np.testing.assert_allclose(out, _nhwc(data[f"out_nchw_t{truncation}"]), atol=1e-4, rtol=0)


@pytest.mark.fixtures
def test_deep_module_lists_unused_variables_and_the_preset(deep_module, caplog):
    with caplog.at_level(logging.WARNING):
        converted = convert.load(deep_module[0])
    assert converted.unused == sorted(DEEP_EXTRA)
    assert "2 variable(s) of the module" in caplog.text and "global_step" in caplog.text
    assert "architecture matches the preset 'biggan_deep_tiny_128'" in converted.notes
    assert converted.settings["n_stats"] == 51


@pytest.mark.fixtures
@pytest.mark.slow
def test_deep_module_through_hub_load_matches_the_conversion(deep_module, deep_converted):
    rows = verify.compare(deep_converted.generator, deep_module[0], truncations=(0.4, 1.0))
    assert [row["truncation"] for row in rows] == [0.4, 1.0]
    for row in rows:
        assert row["statistics"] == "bank" and row["max_abs_error"] < 1e-4, row
    # The module's own output is the fixture's (the synthetic module computes the port's math).
    _, data, _ = deep_module
    out = tf1_modules.call_module(deep_module[0], data["z_t0.4"], data["y"], 0.4)
    np.testing.assert_allclose(out, _nhwc(data["out_nchw_t0.4"]), atol=1e-4, rtol=0)


def test_tar_gz_module_is_extracted_and_detected(tmp_path):
    variables = tf1_modules.biggan_variables()
    module = tf1_modules.write_biggan_module(tmp_path / "biggan-128", variables, forward=False)
    archive = tmp_path / "biggan-128_2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in os.listdir(module):  # Files at the archive's root, as Kaggle serves them.
            tar.add(os.path.join(module, name), arcname=name)
    assert convert.detect_format(str(archive)) == convert.TF_HUB
    with hub_module.module_directory(str(archive)) as directory:
        assert hub_module.is_module_directory(directory)
        read = hub_module.read_variables(directory)
        kept = directory
    assert not os.path.exists(kept)  # The extraction is removed afterwards.
    assert sorted(read) == sorted(variables)
    np.testing.assert_array_equal(read["Generator/conv_2d/w/ema_b999900"],
                                  variables["Generator/conv_2d/w/ema_b999900"])
    # A truncated download.
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:archive.stat().st_size // 2])
    with pytest.raises(ValueError, match="damaged or truncated"):
        convert.load(str(truncated))


@pytest.fixture(scope="module")
def biggan_module(tmp_path_factory):
    variables = tf1_modules.biggan_variables()
    path = tf1_modules.write_biggan_module(
        tmp_path_factory.mktemp("biggan") / "biggan-128", variables,
        extra={"global_step": np.array(7, np.int64)})
    return path, variables


@pytest.mark.slow
def test_biggan_module_converts_with_stored_statistics_and_a_filled_bank(biggan_module):
    path, variables = biggan_module
    converted = convert.load(path, bank_batches=1, bank_batch_size=4)
    generator = converted.generator
    assert (generator.resolution, generator.ch, generator.dim_z, generator.num_classes) == (
        128, 4, 24, 5)
    assert generator.attention == (64,) and converted.unused == ["global_step"]
    # Stored statistics: the accumulated sums divided by the counter.
    bn = generator.blocks[2].bn1
    count = variables["Generator/GBlock_2/CrossReplicaBN/accumulation_counter"]
    np.testing.assert_allclose(bn.moving_mean.numpy(), variables[
        "Generator/GBlock_2/CrossReplicaBN/accumulated_mean"] / count, rtol=1e-6)
    # The module's output through hub.load equals the generator with its stored statistics.
    rows = verify.compare(generator, path, truncations=(0.5, 1.0), use_bank=False)
    assert all(row["max_abs_error"] < 1e-4 for row in rows), rows
    # The bank was filled by standing statistics: rows differ and the truncation selects them.
    for layer in normalization.batch_norm_layers(generator):
        bank = layer.bank_variance.numpy()
        assert not np.allclose(bank, 1.0) and np.abs(bank[50] - bank[10]).max() > 1e-6
    z, y = verify.inputs(generator, 0.5)
    low = generator(z, y, truncation=0.2).numpy()
    assert np.abs(low - generator(z, y, truncation=1.0).numpy()).max() > 1e-3
    assert any("standing statistics" in note for note in converted.notes)


def _error_module(tmp_path, edit):
    variables = tf1_modules.biggan_variables()
    edit(variables)
    return tf1_modules.write_biggan_module(tmp_path / "module", variables, forward=False)


def test_module_missing_variables_is_named(tmp_path):
    def drop(variables):
        del variables["Generator/GBlock_3/HyperBN_1/gamma/w/ema_b999900"]
        del variables["Generator/GBlock_3/CrossReplicaBN_1/accumulated_var"]
    path = _error_module(tmp_path, drop)
    with pytest.raises(ValueError, match=r"lacks 2 variable\(s\) of a BigGAN 128×128 generator "
                                         r"\(ch 4, dim_z 24, 5 classes\): \['Generator/GBlock_3/"
                                         r"CrossReplicaBN_1/accumulated_var', 'Generator/"
                                         r"GBlock_3/HyperBN_1/gamma/w/ema_b999900'\]"):
        convert.load(path)


def test_non_ema_copies_only_are_named(tmp_path):
    def strip(variables):
        name = "Generator/conv_2d/w/ema_b999900"
        variables["Generator/conv_2d/w"] = variables.pop(name)
    with pytest.raises(ValueError, match="non-EMA copies such as 'Generator/conv_2d/w'"):
        convert.load(_error_module(tmp_path, strip))


def test_shape_that_fits_no_architecture_is_named(tmp_path):
    def reshape(variables):
        variables["Generator/GBlock_2/conv1/w/ema_b999900"] = np.zeros((3, 3, 16, 12),
                                                                       np.float32)
    with pytest.raises(ValueError, match=r"'Generator/GBlock_2/conv1/w/ema_b999900' has shape "
                                         r"\[3, 3, 16, 12\].*expects \[3, 3, 16, 16\]: the "
                                         r"weights fit no architecture"):
        convert.load(_error_module(tmp_path, reshape))


def test_block_count_that_fits_no_architecture_is_named(tmp_path):
    variables = {"linear/w/ema_0.9999": np.zeros((5, 8), np.float32)}
    for index in range(4):
        scope = "Generator/GBlock" + (f"_{index}" if index else "")
        variables[f"{scope}/conv0/w/ema_0.9999"] = np.zeros((1, 1, 4, 4), np.float32)
    variables["Generator/GenZ/G_linear/w/ema_0.9999"] = np.zeros((16, 64), np.float32)
    assert hub_layout.family(variables) == "biggan_deep"
    with pytest.raises(ValueError, match=r"a BigGAN-deep generator with 4 blocks fits no "
                                         r"architecture \(blocks per resolution: \{128: 10, "
                                         r"256: 12, 512: 14\}\)"):
        hub_layout.deep_settings(variables)


def test_deep_module_without_truncation_statistics_is_named(tmp_path):
    data, config = _fixture()
    variables, bank = tf1_modules.deep_from_fixture(data)
    path = tf1_modules.write_deep_module(tmp_path / "deep", variables, bank[:10],
                                         [layer[0] for layer in config["layers"]],
                                         forward=False)
    with pytest.raises(ValueError, match=r"the module graph lacks the truncation statistics "
                                         r"of 31 batch norm\(s\): no tensor \['stack_51'"):
        convert.load(path)


def test_directory_that_is_no_module_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"holds no known BigGAN release: it holds "
                                         r"\['notes.txt'\]"):
        convert.load(str(tmp_path))
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01")
    (tmp_path / "tfhub_module.pb").write_bytes(b"\x08\x01")
    (tmp_path / "variables").mkdir()
    with pytest.raises(ValueError, match="cannot read the variables of the module"):
        convert.load(str(tmp_path))
    shutil.rmtree(tmp_path / "variables")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
