"""Bad data and config inputs not covered elsewhere: grayscale, RGBA, palette and CMYK files
in an image folder, a folder whose every class is empty, a resolution with no architecture, a
non-positive `--steps`. The cases covered by tests/data, tests/training and tests/models are
listed in catalog.py for the table."""

import os
import sys

import numpy as np
import PIL.Image
import pytest

from tests.reliability import catalog, common, recorder  # noqa: F401  (registers the rows)
from tests.training import helpers
from tfbiggan.data import pipeline
from tfbiggan.training import trainer as trainer_lib

MODES = recorder.case(
    "Data", "Image folder holding grayscale (L), RGBA, palette (P), CMYK-JPEG and grayscale "
    "JPEG files", "handled: every image becomes RGB [R, R, 3] in [-1, 1] with its class id")
ALL_EMPTY = recorder.case(
    "Data", "Image folder whose class folders are all empty", "ValueError naming the folder "
    "and the accepted extensions", message="no images; accepted extensions")
RESOLUTION = recorder.case(
    "Config", "`model.overrides.resolution` with no architecture (48, 0)",
    "ValueError listing the accepted resolutions",
    message="accepted resolutions: [32, 64, 128, 256, 512]")
STEPS_FLAG = recorder.case(
    "Config", "`--steps=0` on the command line", "usage error, exit code 1, nothing written",
    message="--steps must be a positive integer, got 0")


def _save(path, mode, size=20, seed=0):
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGBA": 4}.get(mode, 3)
    pixels = rng.integers(0, 255, (size, size, channels), dtype=np.uint8)
    image = PIL.Image.fromarray(pixels[..., 0] if channels == 1 else pixels,
                                "L" if channels == 1 else "RGBA" if channels == 4 else "RGB")
    if mode in ("P", "CMYK"):
        image = image.convert(mode)
    image.save(path)


@MODES
def test_grey_alpha_palette_and_cmyk_files_become_rgb(tmp_path):
    files = {"a/grey.png": "L", "a/alpha.png": "RGBA", "b/palette.png": "P",
             "b/cmyk.jpg": "CMYK", "b/grey.jpg": "L"}
    for index, (name, mode) in enumerate(files.items()):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        _save(tmp_path / name, mode, seed=index)
    dataset = pipeline.make_dataset({"source": "folder", "path": str(tmp_path),
                                     "num_classes": 2, "shuffle_buffer": 0}, 16, 5, seed=0)
    images, labels = next(iter(dataset))
    assert images.shape == (5, 16, 16, 3) and images.dtype == "float32"
    values = images.numpy()
    assert np.isfinite(values).all() and -1.0 <= values.min() < values.max() <= 1.0
    assert sorted(labels.numpy().tolist()) == [0, 0, 1, 1, 1]
    # Grey images stay grey: their three channels are equal.
    grey = [i for i, v in enumerate(values) if np.array_equal(v[..., 0], v[..., 1])]
    assert len(grey) >= 2


@ALL_EMPTY
def test_folder_with_only_empty_classes(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with pytest.raises(ValueError) as error:
        pipeline.make_dataset({"source": "folder", "path": str(tmp_path), "num_classes": 2},
                              16, 4)
    assert ALL_EMPTY.message in str(error.value) and str(tmp_path) in str(error.value)


@RESOLUTION
@pytest.mark.parametrize("resolution", [48, 0])
def test_resolution_without_architecture(resolution):
    config = helpers.tiny_config()
    config.model.overrides.resolution = resolution
    with pytest.raises(ValueError) as error:
        trainer_lib.Trainer(config, "/nonexistent-unused")
    assert f"resolution {resolution}" in str(error.value)
    assert RESOLUTION.message in str(error.value)


@STEPS_FLAG
@pytest.mark.slow
def test_steps_flag_zero(tmp_path):
    workdir = tmp_path / "run"
    code, _, stderr, _ = common.run_train(str(workdir), "--steps=0", timeout=120)
    assert code == 1 and STEPS_FLAG.message in stderr, stderr[-2000:]
    assert not os.path.exists(workdir)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
