"""Converting a published BigGAN by path: the format is recognised from the files, read, and
mapped onto tfbiggan models.

Formats (`detect_format`):

* "tf_hub_module": a DeepMind TF1 Hub module directory or its `.tar.gz` (`biggan-*/2`,
  `biggan-deep-*/1`);
* "pytorch_pretrained_biggan": a pytorch-pretrained-BigGAN model directory (`pytorch_model.bin`
  + `config.json`), or one state-dict file with its names;
* "biggan_pytorch": a BigGAN-PyTorch weights directory (`G_ema.pth` and/or `G.pth`, optionally
  `D.pth` and `state_dict.pth`, whose `config` holds the training settings), or one state-dict
  file (`.pth`, `.npz`, `.safetensors`) of a generator or a discriminator.

Truncation: BigGAN-deep sources carry a 51-row bank of batch-norm statistics (from the module
graph, or the `running_means` of the port) that the truncation selects. BigGAN sources (the
BigGAN module, BigGAN-PyTorch) store one set of statistics: it is kept (inference without
`truncation` uses it) and the bank is filled by tfbiggan's standing-statistics procedure
(`standing_stats.collect_truncation_bank`, `bank_batches` batches per row). The DeepMind
BigGAN module's v2 release notes suggest that it recomputes its statistics when the
truncation changes; that procedure is not published, so samples at a given truncation can
differ from the module's.
"""

import dataclasses
import inspect
import json
import os

from absl import logging

from tfbiggan import standing_stats
from tfbiggan.convert import hub_layout, hub_module, infer, mapping, state_files, torch_files
from tfbiggan.models import architectures, presets

TF_HUB = "tf_hub_module"
PRETRAINED_BIGGAN = "pytorch_pretrained_biggan"
BIGGAN_PYTORCH = "biggan_pytorch"
FORMATS = (TF_HUB, PRETRAINED_BIGGAN, BIGGAN_PYTORCH)
_HF_WEIGHTS, _HF_CONFIG = "pytorch_model.bin", "config.json"
_BGP_GENERATORS = ("G_ema.pth", "G.pth")
_BGP_DISCRIMINATOR, _BGP_STATE = "D.pth", "state_dict.pth"


@dataclasses.dataclass
class Converted:
    """A converted source.

    Attributes:
      generator: the tfbiggan generator (BigGANGenerator or BigGANDeepGenerator).
      discriminator: the BigGANDiscriminator (BigGAN-PyTorch's D.pth) or None.
      source_format: one of FORMATS.
      source: the path that was read.
      settings: the architecture settings read or inferred from the source.
      unused: names in the source that the conversion did not use.
      notes: what was done, in words (e.g. where the truncation bank came from).
    """
    generator: object
    discriminator: object
    source_format: str
    source: str
    settings: dict
    unused: list
    notes: list

    def metadata(self):
        """JSON-ready facts about the conversion (for config.json and exported modules)."""
        return {"source": self.source, "source_format": self.source_format,
                "settings": self.settings, "notes": self.notes}


def _names(path):
    return sorted(os.listdir(path))


def detect_format(path):
    """The format of `path` (one of FORMATS); ValueError naming what was found otherwise.

    Example:
      >>> detect_format("biggan-deep-128_1.tar.gz")
      'tf_hub_module'
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"source {path!r} does not exist.")
    if os.path.isdir(path):
        names = _names(path)
        if hub_module.is_module_directory(path):
            return TF_HUB
        if _HF_WEIGHTS in names:
            return PRETRAINED_BIGGAN
        if any(name in names for name in _BGP_GENERATORS + (_BGP_DISCRIMINATOR,)):
            return BIGGAN_PYTORCH
        raise ValueError(f"{path} is a directory that holds no known BigGAN release: it holds "
                         f"{names[:20]}. Accepted: a TF1 Hub module ({hub_module.MODULE_FILE}, "
                         f"{hub_module.SAVED_MODEL_FILE}, variables/), a pytorch-pretrained-"
                         f"BigGAN directory ({_HF_WEIGHTS}, {_HF_CONFIG}) or BigGAN-PyTorch "
                         f"weights ({', '.join(_BGP_GENERATORS)}, {_BGP_DISCRIMINATOR}).")
    if state_files.file_kind(path) is None and hub_module.is_archive(path):
        return TF_HUB
    names = list(state_files.read_state_dict(path))
    return _state_dict_format(names, path)


def _state_dict_format(names, path):
    if "embeddings.weight" in names or any(n.startswith("generator.gen_z.") for n in names):
        return PRETRAINED_BIGGAN
    if any(name.startswith("blocks.0.0.") for name in names):
        return BIGGAN_PYTORCH
    raise ValueError(f"the state dict in {path} has neither pytorch-pretrained-BigGAN names "
                     f"(embeddings.weight, generator.*) nor BigGAN-PyTorch names (blocks.*, "
                     f"linear.*); found e.g. {sorted(names)[:8]}.")


_COMPARED = ("ch", "dim_z", "shared_dim", "num_classes", "attention", "attention_after",
             "output_conv_channels", "hierarchical", "shared_embedding")


def _preset_values(generator, preset):
    """The constructor values a preset gives, with its defaults resolved like the model does."""
    cls = type(generator)
    values = {name: parameter.default for name, parameter in
              inspect.signature(cls.__init__).parameters.items()
              if parameter.default is not inspect.Parameter.empty}
    values.update(preset["generator"])
    table = (architectures.BIGGAN_DEEP_GENERATOR if "attention_after" in values
             else architectures.BIGGAN_GENERATOR)
    arch = table[generator.resolution]
    resolved = {"attention_after": arch.default_attention[0] if arch.default_attention else -1,
                "attention": tuple(arch.default_attention), "dim_z": arch.default_dim_z,
                "output_conv_channels": values.get("out_channels")}
    for key, value in resolved.items():
        if key in values and values[key] is None:
            values[key] = value
    if "attention" in values:
        values["attention"] = tuple(values["attention"])
    return values


def _closest_preset(family, generator):
    """In words: the preset the converted generator matches, or how it differs from the
    nearest one."""
    config = generator.get_config()
    best = None
    for name, preset in sorted(presets.PRESETS.items()):
        if preset["family"] != family or preset["generator"].get("resolution") != \
                generator.resolution:
            continue
        values = _preset_values(generator, preset)
        diff = {k: (config[k], values[k]) for k in _COMPARED
                if k in config and k in values and config[k] != values[k]}
        if best is None or len(diff) < len(best[1]):
            best = (name, diff)
    if best is None:
        return "no tfbiggan preset at this resolution"
    name, diff = best
    if not diff:
        return f"architecture matches the preset {name!r}"
    text = ", ".join(f"{k} {a} (preset {b})" for k, (a, b) in sorted(diff.items()))
    return f"architecture differs from the nearest preset {name!r} in {text}"


def _fill_bank(generator, bank_batches, bank_batch_size, bank_seed, notes):
    if bank_batches:
        standing_stats.collect_truncation_bank(generator, bank_batches, bank_batch_size,
                                               seed=bank_seed)
        notes.append(f"truncation bank: filled by tfbiggan's standing statistics "
                     f"({bank_batches} batches of {bank_batch_size} per row); the stored "
                     f"statistics serve calls without truncation")
    else:
        notes.append("truncation bank: not filled (bank_batches=0); the stored statistics "
                     "serve calls without truncation")


def _load_tf_hub(module_dir, source, bank):
    variables = hub_module.read_variables(module_dir)
    family = hub_layout.family(variables)
    notes = []
    if family == "biggan_deep":
        settings = hub_layout.deep_settings(variables)
        channels = hub_layout.deep_batch_norm_channels(settings)
        names = hub_layout.bank_tensor_names(len(channels))
        bank_arrays = _graph_bank(module_dir, names, channels)
        settings["n_stats"] = int(bank_arrays[0][0].shape[0])
        state, unused = hub_layout.deep_state_dict(variables, settings, bank_arrays)
        generator = mapping.generator_from_biggan_deep_hub(
            state, settings, output_conv_channels=settings["output_conv_channels"])
        notes.append(f"truncation bank: {settings['n_stats']} rows read from the module graph")
    else:
        settings = hub_layout.biggan_settings(variables)
        state, unused, empty = hub_layout.biggan_state_dict(variables, settings)
        if empty:
            logging.warning("The accumulation counters of %s are not positive: their "
                            "statistics are kept as stored.", empty)
        generator = mapping.generator_from_biggan_pytorch(state, settings)
        notes.append("stored statistics: accumulated sums / accumulation_counter")
        _fill_bank(generator, *bank, notes)
    if unused:
        logging.warning("%d variable(s) of the module %s were not used: %s", len(unused),
                        source, unused)
    notes.append(_closest_preset(family, generator))
    return Converted(generator, None, TF_HUB, source, settings, unused, notes)


def _graph_bank(module_dir, names, channels):
    meta_graph = hub_module.default_meta_graph(module_dir)
    nodes = hub_module.node_names(meta_graph)
    prefix = "" if names[0][0] in nodes else hub_module.APPLY_SCOPE
    flat = [prefix + name for pair in names for name in pair]
    missing = [name for name in flat if name not in nodes]
    if missing:
        raise ValueError(f"the module graph lacks the truncation statistics of "
                         f"{len(missing) // 2 or 1} batch norm(s): no tensor {missing[:4]} "
                         f"(a BigGAN-deep module holds (mean, variance) pairs for its "
                         f"{len(channels)} batch norms as stack_{{5j+1}}, stack_{{5j+3}}).")
    values = hub_module.read_graph_tensors(module_dir, meta_graph, flat)
    bank = list(zip(values[0::2], values[1::2]))
    rows = bank[0][0].shape[0] if bank[0][0].ndim == 2 else None
    for (mean, variance), width, (mean_name, var_name) in zip(bank, channels, names):
        for value, name in ((mean, mean_name), (variance, var_name)):
            if value.shape != (rows, width):
                raise ValueError(f"graph tensor {prefix + name} has shape {list(value.shape)}; "
                                 f"its batch norm needs [{rows}, {width}] (rows × channels).")
    if rows is None or rows < 2:
        raise ValueError(f"the module's truncation statistics have {rows} rows; at least 2 "
                         f"are needed.")
    return bank


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _load_pretrained_biggan(path, config, state=None):
    if os.path.isdir(path):
        weights, directory = os.path.join(path, _HF_WEIGHTS), path
    else:
        weights, directory = path, os.path.dirname(path)
    if config is None:
        config = os.path.join(directory, _HF_CONFIG)
    if isinstance(config, (str, os.PathLike)):
        if not os.path.isfile(config):
            raise ValueError(f"pytorch-pretrained-BigGAN weights need their {_HF_CONFIG}; "
                             f"{config} does not exist (pass `config=`).")
        config = _read_json(config)
    state = state_files.read_state_dict(weights) if state is None else state
    unused = []
    generator = mapping.generator_from_biggan_deep_hub(state, config, unused=unused)
    notes = [f"truncation bank: {generator.num_truncation_stats} rows from running_means / "
             f"running_vars", _closest_preset("biggan_deep", generator)]
    return Converted(generator, None, PRETRAINED_BIGGAN, os.fspath(path), dict(config), unused,
                     notes)


def _settings(value):
    """BigGAN-PyTorch training settings from a dict, a JSON file or a state_dict.pth."""
    if value is None or isinstance(value, dict):
        return value
    value = os.fspath(value)
    if state_files.file_kind(value) in ("torch_zip", "torch_legacy"):
        content = torch_files.read(value)
        if not isinstance(content, dict) or not isinstance(content.get("config"), dict):
            raise ValueError(f"{value} holds no `config` dict of training settings.")
        return content["config"]
    return _read_json(value)


def _load_biggan_pytorch(path, settings, bank, state=None):
    """A weights directory (G_ema.pth / G.pth, D.pth, state_dict.pth) or one state-dict file."""
    states = {}
    if os.path.isdir(path):
        names = _names(path)
        found = [name for name in _BGP_GENERATORS if name in names]
        if found:
            states["generator"] = os.path.join(path, found[0])
            if found[0] != "G_ema.pth":
                logging.warning("%s has no G_ema.pth: converting %s (not the EMA weights).",
                                path, found[0])
        if _BGP_DISCRIMINATOR in names:
            states["discriminator"] = os.path.join(path, _BGP_DISCRIMINATOR)
        directory = path
    else:
        key = "generator" if "output_layer.2.weight" in state else "discriminator"
        states[key], directory = (path, state), os.path.dirname(path)
    if settings is None and os.path.isfile(os.path.join(directory, _BGP_STATE)):
        settings = os.path.join(directory, _BGP_STATE)
    settings = _settings(settings)
    if "generator" not in states:
        raise ValueError(f"{path} holds a BigGAN-PyTorch discriminator but no generator "
                         f"({' or '.join(_BGP_GENERATORS)}); tfbiggan.convert."
                         f"discriminator_from_biggan_pytorch converts a D alone.")
    models, used_settings, unused, notes = {}, {}, [], []
    for role, source in states.items():
        file, weights = source if isinstance(source, tuple) else (
            source, state_files.read_state_dict(source))
        infer_config, convert = ((infer.generator_config, mapping.generator_from_biggan_pytorch)
                                 if role == "generator" else
                                 (infer.discriminator_config,
                                  mapping.discriminator_from_biggan_pytorch))
        config = infer_config(weights, settings)
        names = []
        models[role] = convert(weights, config, unused=names)
        unused += [f"{os.path.basename(file)}: {name}" for name in names]
        used_settings[role] = config
        notes.append(f"{role}: {os.path.basename(file)}")
    _fill_bank(models["generator"], *bank, notes)
    notes.append(_closest_preset("biggan", models["generator"]))
    return Converted(models["generator"], models.get("discriminator"), BIGGAN_PYTORCH,
                     os.fspath(path), used_settings, unused, notes)


def load(path, config=None, bank_batches=16, bank_batch_size=64, bank_seed=0):
    """Converts the published BigGAN at `path` into tfbiggan models.

    Args:
      path: a TF1 Hub module directory or `.tar.gz`, a pytorch-pretrained-BigGAN directory, a
        BigGAN-PyTorch weights directory, or one state-dict file (`.pth`/`.bin`, `.npz`,
        `.safetensors`) in either PyTorch layout.
      config: pytorch-pretrained-BigGAN: its config.json (dict or path; default: the one
        beside the weights). BigGAN-PyTorch: the training settings (dict, JSON path or
        `state_dict.pth`; default: `state_dict.pth` beside the weights, else inferred from
        the weights with the ImageNet scripts' epsilons).
      bank_batches: for BigGAN sources (one set of stored statistics), batches per row of the
        truncation bank filled by standing statistics (0: leave the bank empty).
      bank_batch_size, bank_seed: that collection's batch size and seed.

    Returns:
      A `Converted` (generator, optional discriminator, settings, notes).

    Raises:
      ValueError: an unknown format (naming what was found), missing or mis-shaped weights,
        shapes that fit no architecture, damaged or truncated files.
      restricted_pickle.UnsafePickleError: a PyTorch pickle asking for anything a state dict
        does not need.

    Example:
      >>> converted = load("biggan-deep-128_1.tar.gz")
      >>> images = converted.generator(z, y_one_hot, truncation=0.4)
    """
    path = os.fspath(path)
    state = None
    if os.path.isfile(path) and not (state_files.file_kind(path) is None and
                                     hub_module.is_archive(path)):
        state = state_files.read_state_dict(path)  # Read once, for the format and the weights.
        source_format = _state_dict_format(list(state), path)
    else:
        source_format = detect_format(path)
    bank = (bank_batches, bank_batch_size, bank_seed)
    if source_format == TF_HUB:
        with hub_module.module_directory(path) as module_dir:
            converted = _load_tf_hub(module_dir, path, bank)
    elif source_format == PRETRAINED_BIGGAN:
        converted = _load_pretrained_biggan(path, config, state)
    else:
        converted = _load_biggan_pytorch(path, config, bank, state)
    for note in converted.notes:
        logging.info("%s: %s", path, note)
    return converted
