"""Every name that SPEC §1 and README.md document imports from the module it is documented
under.

The name lists are read from the documents: the code block of SPEC §1 (shared/SPEC.md), the
layer table of README's "Layers" section, the imports and the attributes of imported tfbiggan
modules in README's Python blocks, the `tfbiggan.…` names quoted in its text and every
`python -m` command. Where SPEC §1 describes a capability instead of naming it ("hinge",
"image grids"), `DESCRIBED` says which names implement it; `NOT_IMPLEMENTED` lists what is
documented but has no implementation yet, so that the test fails both when a new description
is not accounted for and when a missing piece is added without being mapped.
"""

import ast
import importlib
import os
import re
import subprocess
import sys

import keras
import pytest

# The documented modules, imported here too so that a Bazel test has them among its deps (the
# checks below resolve names from the documents' strings).
import tfbiggan.convert  # noqa: F401  pylint: disable=unused-import
import tfbiggan.evaluation  # noqa: F401  pylint: disable=unused-import
import tfbiggan.gan  # noqa: F401  pylint: disable=unused-import
import tfbiggan.layers  # noqa: F401  pylint: disable=unused-import
import tfbiggan.losses  # noqa: F401  pylint: disable=unused-import
import tfbiggan.metrics  # noqa: F401  pylint: disable=unused-import
import tfbiggan.models  # noqa: F401  pylint: disable=unused-import
import tfbiggan.regularizers  # noqa: F401  pylint: disable=unused-import
import tfbiggan.sampling  # noqa: F401  pylint: disable=unused-import
import tfbiggan.standing_stats  # noqa: F401  pylint: disable=unused-import
from tests import conftest

README = conftest.REPO_ROOT / "README.md"

# SPEC §1 descriptions -> a check that the named implementation exists and works.
DESCRIBED = {
    # tfbiggan.losses: the losses are names of `get_gan_loss` (with their d/g functions).
    ("tfbiggan.losses", "hinge"): lambda m: (m.get_gan_loss("hinge"), m.hinge_d_loss),
    ("tfbiggan.losses", "non-saturating"): lambda m: (m.get_gan_loss("non_saturating"),
                                                      m.non_saturating_d_loss),
    ("tfbiggan.losses", "wasserstein"): lambda m: (m.get_gan_loss("wasserstein"),
                                                   m.wasserstein_d_loss),
    ("tfbiggan.losses", "least-squares"): lambda m: (m.get_gan_loss("least_squares"),
                                                     m.least_squares_d_loss),
    ("tfbiggan.losses", "WGAN-GP (+ drift)"): lambda m: (
        m.get_gan_loss("wgan_gp", drift=0.001), m.wgan_gp_d_loss, m.gradient_penalty),
    ("tfbiggan.losses", "feature matching"): lambda m: m.feature_matching_loss,
    ("tfbiggan.losses", "one-sided label smoothing (as an option)"): lambda m: m.get_gan_loss(
        "non_saturating", real_label=0.9),
    # tfbiggan.regularizers
    ("tfbiggan.regularizers", "orthogonal (BigGAN's off-diagonal form)"): lambda m: (
        m.OrthogonalRegularizer, m.orthogonal_penalty),
    ("tfbiggan.regularizers", "R1"): lambda m: m.r1_penalty,
    ("tfbiggan.regularizers", "historical averaging"): lambda m: m.HistoricalAveraging,
    # tfbiggan.sampling: there is no single `interpolate`; latents and classes each have one.
    ("tfbiggan.sampling", "interpolate"): lambda m: (m.interpolate_z, m.interpolate_classes),
    ("tfbiggan.sampling", "image grids"): lambda m: (m.image_grid, m.save_grid_png),
    # tfbiggan.convert: HF's pytorch-pretrained-BigGAN names (its BigGAN-deep port).
    ("tfbiggan.convert", "weights from BigGAN-PyTorch state dicts"): lambda m: (
        m.generator_from_biggan_pytorch, m.discriminator_from_biggan_pytorch),
    ("tfbiggan.convert", "HF pytorch-pretrained-BigGAN"): lambda m: (
        m.generator_from_biggan_deep_hub),
}

# Documented, not implemented: (module, description) -> what exists instead.
NOT_IMPLEMENTED = {
    ("tfbiggan.convert", "DeepMind TF-Hub modules (reference/pretrained_layouts.md)"):
        "no converter reads a DeepMind TF-Hub module itself; generator_from_biggan_deep_hub "
        "reads the TF-Hub layout as HF's pytorch-pretrained-BigGAN port names it",
}


def split_entries(text):
    """Top-level entries separated by commas or " and " (not inside parentheses)."""
    entries, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and (char == "," or current.endswith(" and") and char == " "):
            entries.append(current.removesuffix(" and").strip())
            current = ""
        else:
            current += char
    entries.append(current.strip())
    return [entry for entry in entries if entry]


def spec_api(text):
    """({module: [entries]}, [modules of `python -m` commands]) from SPEC §1's code block."""
    section = text.split("## 1.", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    texts, commands, module = {}, [], None
    for line in block.splitlines()[1:]:
        if not line.strip() or line.strip().startswith("#"):
            continue
        if line.startswith("python -m"):
            commands += re.findall(r"python -m ([\w.]+)", line)
            continue
        match = re.match(r"(tfbiggan(?:\.\w+)*)\s+(.*)", line)
        if match:
            module, line = match.groups()
        texts[module] = texts.get(module, "") + " " + line.split("#", 1)[0].strip()
    listed = {module: [entry.removeprefix("presets:").strip() for entry in split_entries(text)]
              for module, text in texts.items()}
    return listed, commands


def readme_layer_table(text):
    """The backquoted names of the first column of the README's layer table."""
    section = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        if line.startswith("| `"):
            names += re.findall(r"`(\w+)`", line.split("|")[1])
    return names


def readme_code_names(text):
    """(module, attribute) pairs the README's Python blocks import or use on an imported
    tfbiggan module; the attribute is None for an `import` of the module itself."""
    pairs = []
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        tree = ast.parse(block)
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "tfbiggan":
                        pairs.append((alias.name, None))
                        aliases[alias.asname or alias.name.split(".")[0]] = (
                            alias.name if alias.asname else "tfbiggan")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tfbiggan"):
                for alias in node.names:
                    pairs.append((node.module, alias.name))
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                chain = []
                while isinstance(node, ast.Attribute):
                    chain.insert(0, node.attr)
                    node = node.value
                if isinstance(node, ast.Name) and node.id in aliases:
                    pairs.append((aliases[node.id], ".".join(chain)))
    return pairs


def resolve(dotted):
    """The object named by `tfbiggan.a.b.C`: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for index, part in enumerate(parts[end:], end):
            if not hasattr(value, part):
                raise AssertionError(f"`{dotted}`: {'.'.join(parts[:index])} has no `{part}`")
            value = getattr(value, part)
        return value
    raise AssertionError(f"`{dotted}`: no importable module")


def assert_runnable(module_name):
    """`python -m module_name` has a file in the checkout with a `__main__` guard (read from
    the source: importing a command would define its flags)."""
    path = conftest.REPO_ROOT.joinpath(*module_name.split("."))
    candidates = [path.with_suffix(".py"), path / "__main__.py"]
    found = [candidate for candidate in candidates if candidate.is_file()]
    assert found, f"`python -m {module_name}`: neither {candidates[0]} nor {candidates[1]}"
    text = found[0].read_text(encoding="utf-8")
    assert found[0].name == "__main__.py" or 'if __name__ == "__main__":' in text, (
        f"`python -m {module_name}`: {found[0]} has no `if __name__ == \"__main__\":`")


def check_spec_entry(module_name, entry):
    """Raises AssertionError unless `entry` of SPEC §1 exists in `module_name`."""
    if (module_name, entry) in DESCRIBED:
        DESCRIBED[module_name, entry](importlib.import_module(module_name))
        return
    call = re.fullmatch(r"(\w+)\((.*)\)", entry)
    name = call.group(1) if call else entry
    assert re.fullmatch(r"[A-Za-z_]\w*", name), (
        f"SPEC §1 describes {entry!r} under {module_name}; add what implements it to DESCRIBED "
        f"(or to NOT_IMPLEMENTED)")
    value = resolve(f"{module_name}.{name}")
    if call and call.group(2):  # e.g. from_preset("biggan_128"): the argument is accepted.
        argument = ast.literal_eval(call.group(2))
        assert argument in importlib.import_module(module_name).list_presets(), entry
    assert callable(value), entry


@pytest.fixture(scope="module")
def spec():
    return spec_api(conftest.shared_path("SPEC.md").read_text(encoding="utf-8"))


def test_every_spec_name_imports_from_its_module(spec):
    listed, _ = spec
    assert {"tfbiggan.layers", "tfbiggan.models", "tfbiggan.losses", "tfbiggan.regularizers",
            "tfbiggan.sampling", "tfbiggan.metrics", "tfbiggan.GAN"} <= set(listed)
    assert "EqualizedConv" in listed["tfbiggan.layers"]
    assert 'from_preset("biggan_128")' in listed["tfbiggan.models"]
    missing, problems = set(), []
    for module_name, entries in listed.items():
        if module_name == "tfbiggan.GAN":  # An object, described in words.
            continue
        for entry in entries:
            if (module_name, entry) in NOT_IMPLEMENTED:
                missing.add((module_name, entry))
                continue
            try:
                check_spec_entry(module_name, entry)
            except (AssertionError, AttributeError, ImportError, ValueError) as error:
                problems.append(f"{module_name}: {entry!r}: {error}")
    assert not problems, "\n".join(problems)
    assert missing == set(NOT_IMPLEMENTED), (
        "NOT_IMPLEMENTED lists entries SPEC §1 no longer has: "
        f"{sorted(set(NOT_IMPLEMENTED) - missing)}")


def test_spec_layers_are_registered_keras_layers(spec):
    listed, _ = spec
    from tfbiggan import layers  # pylint: disable=import-outside-toplevel
    for name in listed["tfbiggan.layers"]:
        cls = getattr(layers, name)
        assert issubclass(cls, keras.layers.Layer), name
        assert keras.saving.get_registered_name(cls) == f"tfbiggan>{cls.__name__}", name


def test_gan_is_a_registered_keras_model_with_compile_and_fit(spec):
    listed, _ = spec
    assert "tfbiggan.GAN" in listed
    import tfbiggan  # pylint: disable=import-outside-toplevel
    assert issubclass(tfbiggan.GAN, keras.Model)
    assert keras.saving.get_registered_name(tfbiggan.GAN) == "tfbiggan>GAN"
    assert tfbiggan.GAN.compile is not keras.Model.compile
    assert tfbiggan.GAN.train_step is not keras.Model.train_step
    assert "GAN" in dir(tfbiggan)


def test_spec_commands_are_runnable_modules(spec):
    _, commands = spec
    assert commands == ["tfbiggan.train", "tfbiggan.sample", "tfbiggan.evaluate",
                        "export.export_hub"]
    for module_name in commands:
        assert_runnable(module_name)
    with pytest.raises(AssertionError, match="neither"):
        assert_runnable("tfbiggan.no_such_command")
    with pytest.raises(AssertionError, match="has no `if __name__"):
        assert_runnable("tfbiggan.gan")


def test_readme_layer_table_names_import_from_tfbiggan_layers():
    names = readme_layer_table(README.read_text(encoding="utf-8"))
    assert {"SpectralNormConv", "StandingBatchNorm", "EqualizedConv", "FadeIn",
            "VirtualBatchNorm"} <= set(names)
    from tfbiggan import layers  # pylint: disable=import-outside-toplevel
    missing = [name for name in names if not hasattr(layers, name)]
    assert not missing, f"README's layer table lists names tfbiggan.layers lacks: {missing}"


def test_readme_code_and_text_names_exist():
    text = README.read_text(encoding="utf-8")
    pairs = readme_code_names(text)
    assert ("tfbiggan.layers", "SelfAttention") in pairs
    assert ("tfbiggan.models", "from_preset") in pairs
    assert ("tfbiggan", "GAN") in pairs
    quoted = set(re.findall(r"`(tfbiggan(?:\.\w+)+)", text))
    assert "tfbiggan.evaluation.SplitOverReplicas" in quoted
    problems = []
    for dotted in sorted({f"{m}.{a}" if a else m for m, a in pairs} | quoted):
        try:
            resolve(dotted)
        except AssertionError as error:
            problems.append(str(error))
    assert not problems, "\n".join(problems)
    commands = {name.rstrip(".") for name in re.findall(r"python -m ([A-Za-z_][\w.]*)", text)}
    assert {"tfbiggan.demo", "tfbiggan.train", "export.export_hub",
            "tfbiggan.export.export_hub", "tests.reliability.render_table"} <= commands
    for module_name in sorted(commands - {"pytest"}):
        assert_runnable(module_name)


def test_name_extraction_reads_entries_descriptions_and_code():
    spec_text = ("## 1. Public API\n\n```\ntfbiggan.layers  A, B,\n                 # Group\n"
                 "                 C\ntfbiggan.models  presets: from_preset(\"x\"), "
                 "list_presets()\ntfbiggan.losses  hinge, WGAN-GP (+ drift, λ)\n"
                 "tfbiggan.convert  weights from X, Y and\n                 Z modules (notes)\n"
                 "python -m tfbiggan.train --x  / python -m tfbiggan.sample\n```\n## 2. Next\n")
    listed, commands = spec_api(spec_text)
    assert listed == {"tfbiggan.layers": ["A", "B", "C"],
                      "tfbiggan.models": ['from_preset("x")', "list_presets()"],
                      "tfbiggan.losses": ["hinge", "WGAN-GP (+ drift, λ)"],
                      "tfbiggan.convert": ["weights from X", "Y", "Z modules (notes)"]}
    assert commands == ["tfbiggan.train", "tfbiggan.sample"]
    with pytest.raises(AssertionError, match="add what implements it to DESCRIBED"):
        check_spec_entry("tfbiggan.losses", "a new loss")
    with pytest.raises(AssertionError, match="has no `NoSuchLayer`"):
        check_spec_entry("tfbiggan.layers", "NoSuchLayer")
    code = ("```python\nimport tfbiggan\nfrom tfbiggan import layers as L\n"
            "x = L.Dense(3)(tfbiggan.models.Net)\nfrom tfbiggan.models import a\n```\n")
    assert sorted(readme_code_names(code), key=str) == sorted([
        ("tfbiggan", None), ("tfbiggan", "layers"), ("tfbiggan.models", "a"),
        ("tfbiggan.layers", "Dense"), ("tfbiggan", "models.Net"), ("tfbiggan", "models")],
        key=str)
    table = "# T\n\n## Layers\n\n| layer | what |\n|---|---|\n| `X`, `Y` | uses `Z` |\n\n## Next\n"
    assert readme_layer_table(table) == ["X", "Y"]


@pytest.mark.slow
def test_import_tfbiggan_does_not_import_tensorflow_until_gan_is_used():
    code = ("import sys, tfbiggan\n"
            "assert 'tensorflow' not in sys.modules, 'import tfbiggan imported TensorFlow'\n"
            "assert tfbiggan.GAN.__module__ == 'tfbiggan.gan'\n"
            "assert 'tensorflow' in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=conftest.REPO_ROOT,
                            capture_output=True, text=True, timeout=300, check=False,
                            env=dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT),
                                     TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
