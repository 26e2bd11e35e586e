"""Architecture settings of BigGAN-PyTorch state dicts, read from the weights' names and shapes
and checked against the training script's settings when those are known.

The weights fix everything but the two epsilons; those come from the settings (BigGAN-PyTorch
saves its command-line settings as `config` in `state_dict.pth`) or default to the values of
its ImageNet launch scripts (BN 1e-5, SN 1e-6), with a warning.

Example:
  >>> config = generator_config(state, settings)   # for mapping.generator_from_biggan_pytorch
"""

import re

from absl import logging

from tfbiggan.models import architectures

DEFAULT_BN_EPS = 1e-5
DEFAULT_SN_EPS = 1e-6
# BigGAN-PyTorch's command-line names → the mapping's config keys.
_G_SETTINGS = {"resolution": "resolution", "G_ch": "ch", "dim_z": "dim_z",
               "shared_dim": "shared_dim", "n_classes": "n_classes", "G_attn": "attention",
               "hier": "hier", "BN_eps": "bn_eps", "SN_eps": "sn_eps"}
_D_SETTINGS = {"resolution": "resolution", "D_ch": "ch", "n_classes": "n_classes",
               "D_attn": "attention", "SN_eps": "sn_eps"}


def _blocks(state, model):
    indices = sorted({int(m.group(1)) for name in state
                      if (m := re.fullmatch(r"blocks\.(\d+)\.0\.conv1\.weight", name))})
    if not indices or indices != list(range(len(indices))):
        raise ValueError(f"the {model} state dict has no consecutive blocks.<i>.0.conv1.weight "
                         f"entries (found block indices {indices}); is it a BigGAN-PyTorch "
                         f"{model}?")
    return indices


def _architecture(table, num_blocks, what):
    matches = [res for res, arch in table.items() if len(arch.blocks) == num_blocks]
    if not matches:
        counts = {res: len(arch.blocks) for res, arch in sorted(table.items())}
        raise ValueError(f"a {what} with {num_blocks} blocks fits no architecture (blocks per "
                         f"resolution: {counts}).")
    return matches[0], table[matches[0]]


def _shape(state, name):
    if name not in state:
        raise ValueError(f"the state dict has no entry {name!r}.")
    return tuple(state[name].shape)


def _check_block_channels(state, arch, ch, what):
    for index, spec in enumerate(arch.blocks):
        name = f"blocks.{index}.0.conv1.weight"
        out_channels, in_channels = _shape(state, name)[:2]
        expected_in = spec.in_mult * ch if spec.in_mult else in_channels
        expected = (spec.out_mult * ch, expected_in)
        if (out_channels, in_channels) != expected:
            raise ValueError(f"{name} has shape {_shape(state, name)}: the {what} with ch {ch} "
                             f"expects [out, in] = {list(expected)} in block {index}; the "
                             f"weights fit no BigGAN architecture.")


def _attention(state, arch):
    return tuple(sorted({spec.label for index, spec in enumerate(arch.blocks)
                         if f"blocks.{index}.1.theta.weight" in state}))


def _translated(settings, names):
    """Settings in the mapping's key names (BigGAN-PyTorch's names are translated)."""
    settings = dict(settings or {})
    result = {}
    for key, value in settings.items():
        result[names.get(key, key)] = value
    if "attention" in result and isinstance(result["attention"], str):
        result["attention"] = tuple(int(v) for v in result["attention"].split("_")
                                    if v and v != "0")
    return result


def _merge(inferred, settings, what):
    """`inferred` completed by `settings`; a setting that contradicts the weights is an error."""
    merged = dict(inferred)
    for key, value in settings.items():
        if key not in inferred:
            continue
        if key == "attention":
            value = tuple(value or ())
        if inferred[key] is None:
            merged[key] = value
        elif value != inferred[key]:
            raise ValueError(f"the settings give {key}={value!r} but the {what} weights have "
                             f"{key}={inferred[key]!r}.")
    for key, default in (("bn_eps", DEFAULT_BN_EPS), ("sn_eps", DEFAULT_SN_EPS)):
        if key in merged and merged[key] is None:
            logging.warning("%s: %s is not in the weights or settings; using %g (BigGAN-PyTorch's "
                            "ImageNet scripts).", what, key, default)
            merged[key] = default
    return merged


def generator_config(state, settings=None):
    """The `generator_from_biggan_pytorch` config of a BigGAN-PyTorch generator state dict.

    Args:
      state: {name: array} of `G.state_dict()`.
      settings: optional training settings (BigGAN-PyTorch names such as G_ch, G_attn,
        BN_eps, or the mapping's names); values contradicting the weights are an error.

    Example:
      >>> generator_config(weights, {"BN_eps": 1e-5, "SN_eps": 1e-6})["ch"]
      96
    """
    settings = _translated(settings, _G_SETTINGS)
    blocks = _blocks(state, "generator")
    resolution, arch = _architecture(architectures.BIGGAN_GENERATOR, len(blocks),
                                     "BigGAN generator")
    top_out, linear_in = _shape(state, "linear.weight")
    top_mult = 16 * arch.blocks[0].in_mult
    if top_out % top_mult:
        raise ValueError(f"linear.weight has {top_out} outputs, not a multiple of 16 × "
                         f"{arch.blocks[0].in_mult}·ch: it fits no BigGAN architecture.")
    ch = top_out // top_mult
    _check_block_channels(state, arch, ch, f"BigGAN {resolution}×{resolution} generator")
    shared = "shared.weight" in state
    if shared:
        num_classes, shared_dim = _shape(state, "shared.weight")
        cond = _shape(state, "blocks.0.0.bn1.gain.weight")[1]
        chunk = cond - shared_dim
        hierarchical = chunk > 0
        dim_z = chunk * (len(blocks) + 1) if hierarchical else linear_in
        if hierarchical and chunk != linear_in:
            raise ValueError(f"linear.weight reads {linear_in} latents but the batch norms "
                             f"get z chunks of {chunk}: the weights fit no hierarchical "
                             f"BigGAN generator.")
    else:
        num_classes = _shape(state, "blocks.0.0.bn1.gain.weight")[0]
        shared_dim, hierarchical, dim_z = settings.get("shared_dim", 128), False, linear_in
    inferred = {"resolution": resolution, "ch": ch, "dim_z": dim_z, "shared_dim": shared_dim,
                "n_classes": num_classes, "attention": _attention(state, arch),
                "hier": hierarchical, "bn_eps": None, "sn_eps": None}
    if settings.get("shared_dim") == 0:  # BigGAN-PyTorch: 0 means dim_z.
        settings["shared_dim"] = shared_dim
    return _merge(inferred, settings, "generator")


def discriminator_config(state, settings=None):
    """The `discriminator_from_biggan_pytorch` config of a BigGAN-PyTorch D state dict.

    Example:
      >>> discriminator_config(weights)["resolution"]
      128
    """
    settings = _translated(settings, _D_SETTINGS)
    blocks = _blocks(state, "discriminator")
    resolution, arch = _architecture(architectures.BIGGAN_DISCRIMINATOR, len(blocks),
                                     "BigGAN discriminator")
    first_out = _shape(state, "blocks.0.0.conv1.weight")[0]
    if first_out % arch.blocks[0].out_mult:
        raise ValueError(f"blocks.0.0.conv1.weight has {first_out} outputs, not a multiple of "
                         f"{arch.blocks[0].out_mult}: it fits no BigGAN discriminator.")
    ch = first_out // arch.blocks[0].out_mult
    _check_block_channels(state, arch, ch, f"BigGAN {resolution}×{resolution} discriminator")
    num_classes = _shape(state, "embed.weight")[0] if "embed.weight" in state else 0
    inferred = {"resolution": resolution, "ch": ch, "n_classes": num_classes,
                "attention": _attention(state, arch), "sn_eps": None}
    return _merge(inferred, settings, "discriminator")
