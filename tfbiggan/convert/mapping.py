"""The weight mapping: BigGAN-PyTorch state dicts and TF-Hub-layout BigGAN-deep weights
(pytorch-pretrained-BigGAN names) into tfbiggan models.

Every source format ends here: `tfbiggan.convert.sources` reads a file into such a state dict
(DeepMind TF-Hub modules are renamed into one of these two layouts first).

`state_dict` maps parameter/buffer names to NumPy arrays; a path to an `.npz` file is read
with `allow_pickle=False` (no pickled code is ever executed). `prefix` selects the entries
whose names start with it (e.g. "G_before/"). Every entry is used at most once: missing,
mis-shaped and non-numeric entries raise a ValueError naming them; unknown entries raise one
too, or with `unused="warn"` (or a list, which receives their names) are listed in a logged
warning.

Layout conversions: conv weights [out, in, kh, kw] → [kh, kw, in, out]; linear weights
[out, in] → [in, out]; BigGAN-PyTorch's first linear output (C, 4, 4) → (4, 4, C); the
conditional-BN projection columns [embedding, z_chunk] → [z_chunk, embedding].
"""

import json
import os

import numpy as np
from absl import logging

from tfbiggan.models.biggan import BigGANDiscriminator, BigGANGenerator
from tfbiggan.models import architectures
from tfbiggan.models.biggan_deep import BigGANDeepGenerator


class _Entries:
    """The state dict being converted: hands out entries and reports what was left over."""

    def __init__(self, state_dict, prefix="", unused="error"):
        if not isinstance(unused, list) and unused not in ("error", "warn"):
            raise ValueError(f"`unused` must be 'error', 'warn' or a list, got {unused!r}.")
        self.unused = unused
        if isinstance(state_dict, (str, os.PathLike)):
            with np.load(state_dict, allow_pickle=False) as data:
                state_dict = {name: data[name] for name in data.files}
        if not isinstance(state_dict, dict):
            raise ValueError(f"`state_dict` must be a dict of arrays or a path to an .npz "
                             f"file, got {type(state_dict).__name__}.")
        self.entries = {name[len(prefix):]: value for name, value in state_dict.items()
                        if name.startswith(prefix)}
        if not self.entries:
            raise ValueError(f"no entries in `state_dict` start with the prefix {prefix!r}.")
        self.used = set()
        self.missing = []

    def take(self, name, shape=None, optional=False):
        """The entry `name` as float32 (None, and recorded as missing unless `optional`, when
        absent)."""
        if name not in self.entries:
            if not optional:
                self.missing.append(name)
            return None
        value = self.entries[name]
        self.used.add(name)
        array = np.asarray(value)
        if array.dtype.kind not in "fiu":
            raise ValueError(f"entry {name!r} must be a numeric array, got dtype {array.dtype}.")
        array = array.astype(np.float32)
        if shape is not None and tuple(array.shape) != tuple(shape):
            raise ValueError(f"entry {name!r} has shape {tuple(array.shape)}, expected "
                             f"{tuple(shape)}.")
        return array

    def finish(self):
        """Raises for missing entries (and unknown ones unless `unused="warn"`); returns the
        sorted names of the entries that were not used."""
        unknown = sorted(set(self.entries) - self.used)
        problems = []
        if self.missing:
            problems.append(f"missing entries: {self.missing}")
        if unknown and self.unused == "error":
            problems.append(f"unknown entries: {unknown}")
        if problems:
            raise ValueError("cannot convert the state dict: " + "; ".join(problems) + ".")
        if unknown:
            logging.warning("%d entries of the state dict were not used: %s", len(unknown),
                            unknown)
            if isinstance(self.unused, list):
                self.unused.extend(unknown)
        return unknown


def _assign(variable, value, name):
    if value is None:
        return
    if tuple(variable.shape) != tuple(value.shape):
        raise ValueError(f"entry {name!r} converts to shape {tuple(value.shape)}, but the "
                         f"model expects {tuple(variable.shape)}.")
    variable.assign(value)


class _Naming:
    """Suffixes of a spectrally normalised weight in one source format."""

    def __init__(self, weight, u, extras):
        self.weight, self.u, self.extras = weight, u, extras


_PYTORCH = _Naming("weight", "u0", ("sv0",))
_HUB = _Naming("weight_orig", "weight_u", ("weight_v",))


def _sn_layer(entries, layer, key, naming, kind, weight_fn=None, bias=True):
    """Copies one spectrally normalised layer. kind: conv, dense or embedding.

    `weight_fn` converts a dense weight; its optional `permute_outputs` reorders the
    output-side vectors (u and the bias) the same way.
    """
    permute = getattr(weight_fn, "permute_outputs", lambda vector: vector)
    weight = entries.take(f"{key}.{naming.weight}")
    if weight is not None:
        if kind == "conv":
            if weight.ndim != 4:
                raise ValueError(f"entry {key}.{naming.weight!r} must be a 4-D conv weight, "
                                 f"got shape {weight.shape}.")
            weight = weight.transpose(2, 3, 1, 0)
        elif kind == "dense":
            weight = weight_fn(weight) if weight_fn else weight.T
        _assign(layer.kernel, weight, f"{key}.{naming.weight}")
    u = entries.take(f"{key}.{naming.u}")
    if u is not None:
        u = u.reshape(-1)
        _assign(layer.u, permute(u), f"{key}.{naming.u}")
    for extra in naming.extras:  # Redundant with the kernel and u: optional.
        value = entries.take(f"{key}.{extra}", optional=True)
        if extra == "sv0" and value is not None:
            _assign(layer.sigma, value.reshape(()), f"{key}.{extra}")
    if bias and layer.use_bias:
        value = entries.take(f"{key}.bias")
        _assign(layer.bias, None if value is None else permute(value), f"{key}.bias")


def _attention(entries, layer, key, names, naming):
    for ours, theirs in zip(("theta", "phi", "g", "o"), names):
        _sn_layer(entries, getattr(layer, ours), f"{key}.{theirs}", naming, "conv", bias=False)
    gamma = entries.take(f"{key}.gamma")
    if gamma is not None:
        _assign(layer.gamma, gamma.reshape(()), f"{key}.gamma")


def _config_value(config, key, default=None):
    if key not in config and default is None:
        raise ValueError(f"`config` is missing the key {key!r}.")
    return config.get(key, default)


def _load_config(config):
    if isinstance(config, (str, os.PathLike)):
        with open(config, encoding="utf-8") as f:
            return json.load(f)
    if not isinstance(config, dict):
        raise ValueError(f"`config` must be a dict or a path to a JSON file, "
                         f"got {type(config).__name__}.")
    return config


def _attention_resolutions(value):
    if isinstance(value, str):
        return tuple(int(v) for v in value.split("_") if v and v != "0")
    return tuple(value or ())


def _pytorch_generator_kwargs(config):
    return {
        "resolution": int(_config_value(config, "resolution")),
        "ch": int(_config_value(config, "ch")),
        "dim_z": int(_config_value(config, "dim_z")),
        "shared_dim": int(_config_value(config, "shared_dim")),
        "num_classes": int(_config_value(config, "n_classes")),
        "attention": _attention_resolutions(_config_value(config, "attention")),
        "hierarchical": bool(_config_value(config, "hier")),
        "bn_epsilon": float(_config_value(config, "bn_eps")),
        "sn_epsilon": float(_config_value(config, "sn_eps")),
    }


class _LinearToNHWC:
    """BigGAN-PyTorch views the first linear's output as (C, 4, 4); tfbiggan as (4, 4, C)."""

    def __init__(self, channels):
        self.channels = channels

    def _perm(self, n):
        return np.arange(n).reshape(self.channels, 4, 4).transpose(1, 2, 0).reshape(-1)

    def __call__(self, weight):  # [out, in] → [in, out] with outputs reordered
        return weight[self._perm(weight.shape[0])].T

    def permute_outputs(self, vector):
        return vector[self._perm(vector.shape[0])]


def _swap_condition_columns(class_width):
    """[C, class_width + chunk] in BigGAN-PyTorch order → [chunk + class_width, C]."""
    def convert(weight):
        return np.concatenate([weight[:, class_width:], weight[:, :class_width]], axis=1).T
    return convert


def generator_from_biggan_pytorch(state_dict, config, prefix="", unused="error",
                                  **model_kwargs):
    """Builds a BigGANGenerator holding the weights of a BigGAN-PyTorch generator.

    Args:
      state_dict: name → array (or a path to an .npz) of `G.state_dict()`.
      config: dict (or JSON path) with resolution, ch, attention, dim_z, shared_dim,
        n_classes, hier, bn_eps, sn_eps.
      prefix: only entries starting with it are read (and it is stripped).
      unused: what an entry the mapping does not use gives: "error" (the default), "warn" (a
        logged warning) or a list (the warning, and the names appended to the list).
      **model_kwargs: extra BigGANGenerator arguments (e.g. num_truncation_stats).

    Example:
      >>> generator = generator_from_biggan_pytorch("G_ema.npz", "config.json")
    """
    config = _load_config(config)
    entries = _Entries(state_dict, prefix, unused)
    kwargs = _pytorch_generator_kwargs(config)
    # Without a shared embedding BigGAN-PyTorch conditions each BN on its own class embedding.
    kwargs["shared_embedding"] = "shared.weight" in entries.entries
    kwargs.update(model_kwargs)
    generator = BigGANGenerator(**kwargs)
    if generator.shared is not None:
        _assign(generator.shared.kernel, entries.take("shared.weight"), "shared.weight")
    top_channels = generator._top[1]  # pylint: disable=protected-access
    _sn_layer(entries, generator.linear, "linear", _PYTORCH, "dense",
              weight_fn=_LinearToNHWC(top_channels))
    class_width = generator.shared_dim
    for index, (block, attention) in enumerate(zip(generator.blocks,
                                                    generator.attention_layers)):
        key = f"blocks.{index}.0"
        for name in ("conv1", "conv2", "conv_sc"):
            layer = getattr(block, name)
            if layer is not None:
                _sn_layer(entries, layer, f"{key}.{name}", _PYTORCH, "conv")
        for name in ("bn1", "bn2"):
            bn = getattr(block, name)
            for part in ("gain", "bias"):
                name_part = f"{key}.{name}.{part}"
                if not generator.shared_embedding:  # A plain embedding table [K, C].
                    _assign(getattr(bn, part).kernel, entries.take(f"{name_part}.weight"),
                            f"{name_part}.weight")
                    continue
                _sn_layer(entries, getattr(bn, part), name_part, _PYTORCH, "dense",
                          weight_fn=_swap_condition_columns(class_width)
                          if generator.hierarchical else None, bias=False)
            _assign(bn.moving_mean, entries.take(f"{key}.{name}.stored_mean"),
                    f"{key}.{name}.stored_mean")
            _assign(bn.moving_variance, entries.take(f"{key}.{name}.stored_var"),
                    f"{key}.{name}.stored_var")
        if attention is not None:
            _attention(entries, attention, f"blocks.{index}.1", ("theta", "phi", "g", "o"),
                       _PYTORCH)
    out = generator.output_layer
    _assign(out.bn.gamma, entries.take("output_layer.0.gain"), "output_layer.0.gain")
    _assign(out.bn.beta, entries.take("output_layer.0.bias"), "output_layer.0.bias")
    _assign(out.bn.moving_mean, entries.take("output_layer.0.stored_mean"),
            "output_layer.0.stored_mean")
    _assign(out.bn.moving_variance, entries.take("output_layer.0.stored_var"),
            "output_layer.0.stored_var")
    _sn_layer(entries, out.conv, "output_layer.2", _PYTORCH, "conv")
    entries.finish()
    return generator


def discriminator_from_biggan_pytorch(state_dict, config, prefix="", unused="error",
                                      **model_kwargs):
    """Builds a BigGANDiscriminator holding the weights of a BigGAN-PyTorch discriminator.

    Args: as for `generator_from_biggan_pytorch` (config keys resolution, ch, attention,
    n_classes, sn_eps).

    Example:
      >>> discriminator = discriminator_from_biggan_pytorch("D.npz", "config.json")
    """
    config = _load_config(config)
    kwargs = {
        "resolution": int(_config_value(config, "resolution")),
        "ch": int(_config_value(config, "ch")),
        "num_classes": int(_config_value(config, "n_classes")),
        "attention": _attention_resolutions(_config_value(config, "attention")),
        "sn_epsilon": float(_config_value(config, "sn_eps")),
    }
    kwargs.update(model_kwargs)
    discriminator = BigGANDiscriminator(**kwargs)
    entries = _Entries(state_dict, prefix, unused)
    for index, (block, attention) in enumerate(zip(discriminator.blocks,
                                                    discriminator.attention_layers)):
        for name in ("conv1", "conv2", "conv_sc"):
            layer = getattr(block, name)
            if layer is not None:
                _sn_layer(entries, layer, f"blocks.{index}.0.{name}", _PYTORCH, "conv")
        if attention is not None:
            _attention(entries, attention, f"blocks.{index}.1", ("theta", "phi", "g", "o"),
                       _PYTORCH)
    _sn_layer(entries, discriminator.head.linear, "linear", _PYTORCH, "dense")
    _sn_layer(entries, discriminator.head.embed, "embed", _PYTORCH, "embedding", bias=False)
    entries.finish()
    return discriminator


def generator_from_biggan_deep_hub(state_dict, config, prefix="", unused="error",
                                   **model_kwargs):
    """Builds a BigGANDeepGenerator from TF-Hub-layout BigGAN-deep weights.

    Names and layouts are those of a PyTorch port of the DeepMind modules:
    `embeddings.weight` [128, K], `generator.gen_z.*`, `generator.layers.<i>.{bn_0..bn_3,
    conv_0..conv_3}` (the self-attention block takes its own index in that list),
    `generator.bn.*` and `generator.conv_to_rgb.*`; batch norms hold truncation-indexed
    statistics `running_means` / `running_vars` [rows, C].

    Args:
      state_dict: name → array, or a path to an .npz.
      config: dict or JSON path with resolution (or output_dim, the name in
        pytorch-pretrained-BigGAN's config.json), channel_width, num_classes, z_dim,
        class_embed_dim, attention_layer_position, eps, n_stats.
      prefix: only entries starting with it are read.
      unused: "error" or "warn", as for `generator_from_biggan_pytorch`.
      **model_kwargs: extra BigGANDeepGenerator arguments.

    Example:
      >>> generator = generator_from_biggan_deep_hub(weights, "config.json")
      >>> images = generator(z, y_one_hot, truncation=0.4)
    """
    config = _load_config(config)
    if "resolution" not in config and "output_dim" in config:
        config = dict(config, resolution=config["output_dim"])
    ch = int(_config_value(config, "channel_width"))
    attention_position = int(_config_value(config, "attention_layer_position"))
    eps = float(_config_value(config, "eps"))
    kwargs = {
        "resolution": int(_config_value(config, "resolution")), "ch": ch,
        "dim_z": int(_config_value(config, "z_dim")),
        "shared_dim": int(_config_value(config, "class_embed_dim")),
        "num_classes": int(_config_value(config, "num_classes")),
        "attention_after": attention_position - 1,
        "bn_epsilon": eps, "sn_epsilon": eps, "output_conv_channels": ch,
        "num_truncation_stats": int(_config_value(config, "n_stats")),
    }
    kwargs.update(model_kwargs)
    generator = BigGANDeepGenerator(**kwargs)
    entries = _Entries(state_dict, prefix, unused)
    embedding = entries.take("embeddings.weight")
    _assign(generator.shared.kernel, None if embedding is None else embedding.T,
            "embeddings.weight")
    _sn_layer(entries, generator.linear, "generator.gen_z", _HUB, "dense")
    position = 0
    for block, attention in zip(generator.blocks, generator.attention_layers):
        key = f"generator.layers.{position}"
        for index, (bn, conv) in enumerate(zip(block.bns, block.convs)):
            _sn_layer(entries, conv, f"{key}.conv_{index}", _HUB, "conv")
            _sn_layer(entries, bn.gain, f"{key}.bn_{index}.scale", _HUB, "dense", bias=False)
            _sn_layer(entries, bn.bias, f"{key}.bn_{index}.offset", _HUB, "dense", bias=False)
            _bank(entries, bn, f"{key}.bn_{index}")
        position += 1
        if attention is not None:
            _attention(entries, attention, f"generator.layers.{position}",
                       ("snconv1x1_theta", "snconv1x1_phi", "snconv1x1_g",
                        "snconv1x1_o_conv"), _HUB)
            position += 1
    out = generator.output_layer
    _assign(out.bn.gamma, entries.take("generator.bn.weight"), "generator.bn.weight")
    _assign(out.bn.beta, entries.take("generator.bn.bias"), "generator.bn.bias")
    _bank(entries, out.bn, "generator.bn")
    _sn_layer(entries, out.conv, "generator.conv_to_rgb", _HUB, "conv")
    entries.finish()
    _check_deep_layers(config, generator)
    return generator


def _check_deep_layers(config, generator):
    """pytorch-pretrained-BigGAN's config lists the blocks as [upsample, in, out] (× ch)."""
    if "layers" not in config:
        return
    expected = [[spec.resample, spec.in_mult, spec.out_mult] for spec in architectures.lookup(
        architectures.BIGGAN_DEEP_GENERATOR, generator.resolution, "BigGAN-deep generator"
    ).blocks]
    given = [[bool(up), int(i), int(o)] for up, i, o in config["layers"]]
    if given != expected:
        raise ValueError(f"`config['layers']` {given} is not the BigGAN-deep "
                         f"{generator.resolution}×{generator.resolution} block list "
                         f"{expected} ([upsample, in, out] × ch).")


def _bank(entries, bn, key):
    _assign(bn.bank_mean, entries.take(f"{key}.running_means"), f"{key}.running_means")
    _assign(bn.bank_variance, entries.take(f"{key}.running_vars"), f"{key}.running_vars")
