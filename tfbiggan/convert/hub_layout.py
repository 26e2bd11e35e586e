"""The DeepMind BigGAN modules' variable names: the architecture they imply, the check of every
name and shape against it, and their renaming into the state-dict layouts of `mapping`.

* BigGAN-deep (`biggan-deep-*/1`, EMA suffix `ema_0.9999`) becomes the layout of
  pytorch-pretrained-BigGAN (`mapping.generator_from_biggan_deep_hub`), which is how its
  converter read these modules; the truncation bank comes from the module graph.
* BigGAN (`biggan-*/2`, EMA suffix `ema_b999900`) becomes the layout of BigGAN-PyTorch
  (`mapping.generator_from_biggan_pytorch`): conv0/conv1 → conv1/conv2, HyperBN → bn1/bn2,
  the linear output and conditional-BN columns reordered the PyTorch way (the mapping turns
  them back). The spectral-norm vector v (`u1`) is not needed: v is recomputed from u.

Facts and their sources: shared/reference/pretrained_layouts.md. The architecture (resolution,
width, latent size, classes, attention position) is read from the shapes; the attention's
channel count picks its block, and where two blocks share that count the published position
is taken.
"""

import re

import numpy as np

from tfbiggan.models import architectures

DEEP_EMA = "ema_0.9999"
BIGGAN_EMA = "ema_b999900"
DEEP_MARKER = f"Generator/GenZ/G_linear/w/{DEEP_EMA}"
BIGGAN_MARKER = f"Generator/G_Z/G_linear/w/{BIGGAN_EMA}"
EPSILON = 1e-4  # Batch-norm and spectral-norm epsilon of the published modules.


def family(variables):
    """'biggan_deep' or 'biggan' from the variable names; ValueError for anything else."""
    if DEEP_MARKER in variables:
        return "biggan_deep"
    if BIGGAN_MARKER in variables:
        return "biggan"
    raise ValueError(f"the module holds neither BigGAN-deep ({DEEP_MARKER}) nor BigGAN "
                     f"({BIGGAN_MARKER}) generator variables; found e.g. "
                     f"{sorted(variables)[:8]}.")


def _block_scope(index):
    return "Generator/GBlock" + (f"_{index}" if index else "")


def _numbered(name, index):
    return name + (f"_{index}" if index else "")


def _shape(variables, name):
    if name not in variables:
        raise ValueError(f"the module has no variable {name!r}.")
    return tuple(variables[name].shape)


def _num_blocks(variables, ema):
    pattern = re.compile(r"Generator/GBlock(?:_(\d+))?/conv0/w/" + re.escape(ema))
    indices = sorted(int(m.group(1) or 0) for name in variables if (m := pattern.fullmatch(name)))
    if indices != list(range(len(indices))):
        raise ValueError(f"the module's generator blocks are not numbered 0, 1, …: found "
                         f"{indices}.")
    return len(indices)


def _architecture(table, num_blocks, what):
    for resolution, arch in sorted(table.items()):
        if len(arch.blocks) == num_blocks:
            return resolution, arch
    counts = {res: len(arch.blocks) for res, arch in sorted(table.items())}
    raise ValueError(f"a {what} with {num_blocks} blocks fits no architecture (blocks per "
                     f"resolution: {counts}).")


def _attention_block(variables, arch, ch, ema, default):
    name = f"Generator/attention/theta/w/{ema}"
    if name not in variables:
        return None
    channels = _shape(variables, name)[2]
    candidates = [i for i, spec in enumerate(arch.blocks) if spec.out_mult * ch == channels]
    if not candidates:
        raise ValueError(f"{name} has {channels} input channels; no generator block with ch "
                         f"{ch} outputs that many: the weights fit no architecture.")
    return default if default in candidates else candidates[0]


class _Spec:
    """Expected variable names → shapes; `check` compares a module against them."""

    def __init__(self, ema, with_v):
        self.ema, self.with_v, self.shapes = ema, with_v, {}

    def sn(self, scope, shape, bias=True):
        self.shapes[f"{scope}/w/{self.ema}"] = tuple(shape)
        self.shapes[f"{scope}/u0"] = (1, shape[-1])
        if self.with_v:
            self.shapes[f"{scope}/u1"] = (1, int(np.prod(shape[:-1])))
        if bias:
            self.shapes[f"{scope}/b/{self.ema}"] = (shape[-1],)

    def check(self, variables, what):
        missing = sorted(set(self.shapes) - set(variables))
        if missing:
            hint = ""
            bare = [name for name in missing if name.rsplit("/", 1)[0] in variables]
            if bare:
                hint = (f" (the module has non-EMA copies such as {bare[0].rsplit('/', 1)[0]!r}; "
                        f"the converter reads the EMA values)")
            raise ValueError(f"the module lacks {len(missing)} variable(s) of {what}: "
                             f"{missing[:12]}{' …' if len(missing) > 12 else ''}{hint}.")
        for name, expected in self.shapes.items():
            shape = tuple(variables[name].shape)
            # Vectors ([C] or [1, C]) and scalars are accepted in either layout.
            vector = len(expected) <= 1 or (len(expected) == 2 and expected[0] == 1)
            fits = shape == expected or (vector and int(np.prod(shape)) == int(
                np.prod(expected)) and len(shape) <= 2)
            if not fits:
                raise ValueError(f"variable {name!r} has shape {list(shape)}, but {what} "
                                 f"expects {list(expected)}: the weights fit no architecture.")
        return sorted(set(variables) - set(self.shapes))


def _vector(value):
    return np.asarray(value, np.float32).reshape(-1)


def _conv(value):
    return np.asarray(value).transpose(3, 2, 0, 1)  # [kh, kw, in, out] → [out, in, kh, kw]


# BigGAN-deep ----------------------------------------------------------------------------------

def deep_settings(variables):
    """The architecture of a BigGAN-deep module (pytorch-pretrained-BigGAN config keys)."""
    resolution, arch = _architecture(architectures.BIGGAN_DEEP_GENERATOR,
                                     _num_blocks(variables, DEEP_EMA), "BigGAN-deep generator")
    rgb = _shape(variables, f"Generator/conv_to_rgb/w/{DEEP_EMA}")
    ch = rgb[2]
    num_classes, shared_dim = _shape(variables, f"linear/w/{DEEP_EMA}")
    dim_z = _shape(variables, DEEP_MARKER)[0] - shared_dim
    attention = _attention_block(variables, arch, ch, DEEP_EMA, arch.default_attention[0])
    return {"resolution": resolution, "channel_width": ch, "num_classes": num_classes,
            "z_dim": dim_z, "class_embed_dim": shared_dim, "output_conv_channels": rgb[3],
            "attention_layer_position": -1 if attention is None else attention + 1,
            "eps": EPSILON}


def _deep_spec(settings):
    arch = architectures.BIGGAN_DEEP_GENERATOR[settings["resolution"]]
    ch, cond = settings["channel_width"], settings["z_dim"] + settings["class_embed_dim"]
    spec = _Spec(DEEP_EMA, with_v=False)
    spec.shapes[f"linear/w/{DEEP_EMA}"] = (settings["num_classes"], settings["class_embed_dim"])
    spec.sn("Generator/GenZ/G_linear", (cond, 16 * arch.blocks[0].in_mult * ch))
    for index, block in enumerate(arch.blocks):
        scope, inner = _block_scope(index), block.in_mult * ch // 4
        widths = (block.in_mult * ch, inner, inner, inner)
        for k, width in enumerate(widths):
            for part in ("scale", "offset"):
                spec.sn(f"{scope}/{_numbered('BatchNorm', k)}/{part}", (cond, width), bias=False)
        convs = ((1, widths[0], inner), (3, inner, inner), (3, inner, inner),
                 (1, inner, block.out_mult * ch))
        for k, (size, c_in, c_out) in enumerate(convs):
            spec.sn(f"{scope}/conv{k}", (size, size, c_in, c_out))
    attention = settings["attention_layer_position"] - 1
    if attention >= 0:
        _attention_spec(spec, arch.blocks[attention].out_mult * ch, DEEP_EMA)
    for part in ("scale", "offset"):
        spec.shapes[f"Generator/BatchNorm/{part}/{DEEP_EMA}"] = (arch.blocks[-1].out_mult * ch,)
    spec.sn("Generator/conv_to_rgb", (3, 3, ch, settings["output_conv_channels"]))
    return spec


def _attention_spec(spec, channels, ema):
    for name, c_in, c_out in (("theta", channels, channels // 8), ("phi", channels,
                                                                     channels // 8),
                              ("g", channels, channels // 2), ("o_conv", channels // 2,
                                                                channels)):
        spec.sn(f"Generator/attention/{name}", (1, 1, c_in, c_out), bias=False)
    spec.shapes[f"Generator/attention/gamma/{ema}"] = ()


def deep_batch_norm_channels(settings):
    """Channels of every batch norm in bank order (block 0 BN0…BN3, block 1 …, final BN)."""
    arch = architectures.BIGGAN_DEEP_GENERATOR[settings["resolution"]]
    ch = settings["channel_width"]
    channels = []
    for block in arch.blocks:
        inner = block.in_mult * ch // 4
        channels += [block.in_mult * ch, inner, inner, inner]
    return channels + [arch.blocks[-1].out_mult * ch]


def bank_tensor_names(num_batch_norms):
    """Graph tensors (mean, variance) of each batch norm, in bank order: the j-th batch norm's
    statistics are `stack_{5j+1}` and `stack_{5j+3}` (pytorch-pretrained-BigGAN reads
    `module_apply_default/stack_{10i+1, 10i+3, 10i+6, 10i+8}`, two batch norms per i)."""
    return [(f"stack_{5 * j + 1}", f"stack_{5 * j + 3}") for j in range(num_batch_norms)]


def deep_state_dict(variables, settings, bank):
    """Checks the variables against the architecture and renames them into the
    pytorch-pretrained-BigGAN layout. `bank` is [(mean [rows, C], variance)] in bank order.

    Returns (state dict, names of module variables not used).
    """
    what = (f"a BigGAN-deep {settings['resolution']}×{settings['resolution']} generator (ch "
            f"{settings['channel_width']}, dim_z {settings['z_dim']}, "
            f"{settings['num_classes']} classes)")
    unused = _deep_spec(settings).check(variables, what)
    v = lambda name: np.asarray(variables[name], np.float32)  # noqa: E731
    state = {"embeddings.weight": v(f"linear/w/{DEEP_EMA}").T}

    def sn(key, scope, kind, bias=True):
        weight = v(f"{scope}/w/{DEEP_EMA}")
        state[f"{key}.weight_orig"] = _conv(weight) if kind == "conv" else weight.T
        state[f"{key}.weight_u"] = _vector(variables[f"{scope}/u0"])
        if bias:
            state[f"{key}.bias"] = _vector(variables[f"{scope}/b/{DEEP_EMA}"])

    sn("generator.gen_z", "Generator/GenZ/G_linear", "dense")
    arch = architectures.BIGGAN_DEEP_GENERATOR[settings["resolution"]]
    attention, position, bank = settings["attention_layer_position"] - 1, 0, list(bank)
    for index in range(len(arch.blocks)):
        scope, key = _block_scope(index), f"generator.layers.{position}"
        for k in range(4):
            sn(f"{key}.conv_{k}", f"{scope}/conv{k}", "conv")
            for part in ("scale", "offset"):
                sn(f"{key}.bn_{k}.{part}", f"{scope}/{_numbered('BatchNorm', k)}/{part}",
                   "dense", bias=False)
            state[f"{key}.bn_{k}.running_means"], state[f"{key}.bn_{k}.running_vars"] = \
                bank.pop(0)
        position += 1
        if index == attention:
            key = f"generator.layers.{position}"
            for name in ("theta", "phi", "g", "o_conv"):
                sn(f"{key}.snconv1x1_{name}", f"Generator/attention/{name}", "conv", bias=False)
            state[f"{key}.gamma"] = v(f"Generator/attention/gamma/{DEEP_EMA}").reshape(())
            position += 1
    state["generator.bn.weight"] = _vector(variables[f"Generator/BatchNorm/scale/{DEEP_EMA}"])
    state["generator.bn.bias"] = _vector(variables[f"Generator/BatchNorm/offset/{DEEP_EMA}"])
    state["generator.bn.running_means"], state["generator.bn.running_vars"] = bank.pop(0)
    sn("generator.conv_to_rgb", "Generator/conv_to_rgb", "conv")
    return state, unused


# BigGAN ---------------------------------------------------------------------------------------

def biggan_settings(variables):
    """The architecture of a BigGAN module (BigGAN-PyTorch config keys of `mapping`)."""
    num_blocks = _num_blocks(variables, BIGGAN_EMA)
    resolution, arch = _architecture(architectures.BIGGAN_GENERATOR, num_blocks,
                                     "BigGAN generator")
    chunk, top = _shape(variables, BIGGAN_MARKER)
    top_mult = 16 * arch.blocks[0].in_mult
    if top % top_mult:
        raise ValueError(f"{BIGGAN_MARKER} has {top} outputs, not a multiple of {top_mult}·ch: "
                         f"the weights fit no BigGAN architecture.")
    ch = top // top_mult
    num_classes, shared_dim = _shape(variables, f"linear/w/{BIGGAN_EMA}")
    default = next(i for i, spec in enumerate(arch.blocks)
                   if spec.label == arch.default_attention[0]) if arch.default_attention else -1
    attention = _attention_block(variables, arch, ch, BIGGAN_EMA, default)
    return {"resolution": resolution, "ch": ch, "dim_z": chunk * (num_blocks + 1),
            "shared_dim": shared_dim, "n_classes": num_classes, "hier": True,
            "attention": () if attention is None else (arch.blocks[attention].label,),
            "bn_eps": EPSILON, "sn_eps": EPSILON}


def _biggan_spec(settings):
    arch = architectures.BIGGAN_GENERATOR[settings["resolution"]]
    ch, chunk = settings["ch"], settings["dim_z"] // (len(arch.blocks) + 1)
    cond = chunk + settings["shared_dim"]
    spec = _Spec(BIGGAN_EMA, with_v=True)
    spec.shapes[f"linear/w/{BIGGAN_EMA}"] = (settings["n_classes"], settings["shared_dim"])
    spec.sn("Generator/G_Z/G_linear", (chunk, 16 * arch.blocks[0].in_mult * ch))
    for index, block in enumerate(arch.blocks):
        scope = _block_scope(index)
        c_in, c_out = block.in_mult * ch, block.out_mult * ch
        spec.sn(f"{scope}/conv0", (3, 3, c_in, c_out))
        spec.sn(f"{scope}/conv1", (3, 3, c_out, c_out))
        spec.sn(f"{scope}/conv_sc", (1, 1, c_in, c_out))
        for k, width in enumerate((c_in, c_out)):
            for part in ("gamma", "beta"):
                spec.sn(f"{scope}/{_numbered('HyperBN', k)}/{part}", (cond, width), bias=False)
            _statistics_spec(spec, f"{scope}/{_numbered('CrossReplicaBN', k)}", width)
    for index, block in enumerate(arch.blocks):
        if block.label in settings["attention"]:
            _attention_spec(spec, block.out_mult * ch, BIGGAN_EMA)
    for part in ("gamma", "beta"):
        spec.shapes[f"Generator/ScaledCrossReplicaBN/{part}/{BIGGAN_EMA}"] = (ch,)
    _statistics_spec(spec, "Generator/ScaledCrossReplicaBNbn", ch)
    spec.sn("Generator/conv_2d", (3, 3, ch, 3))
    return spec


def _statistics_spec(spec, scope, width):
    spec.shapes[f"{scope}/accumulated_mean"] = (width,)
    spec.shapes[f"{scope}/accumulated_var"] = (width,)
    spec.shapes[f"{scope}/accumulation_counter"] = ()


def _statistics(variables, scope):
    """(mean, variance) of a BigGAN module batch norm: the accumulated sums divided by the
    accumulation counter (kept as stored when the counter is not positive)."""
    mean = _vector(variables[f"{scope}/accumulated_mean"])
    variance = _vector(variables[f"{scope}/accumulated_var"])
    count = float(np.asarray(variables[f"{scope}/accumulation_counter"]).reshape(()))
    if count > 0:
        return mean / count, variance / count
    return mean, variance


def biggan_state_dict(variables, settings):
    """Checks the variables against the architecture and renames them into the BigGAN-PyTorch
    layout. Returns (state dict, names of module variables not used, counters ≤ 0)."""
    arch = architectures.BIGGAN_GENERATOR[settings["resolution"]]
    what = (f"a BigGAN {settings['resolution']}×{settings['resolution']} generator (ch "
            f"{settings['ch']}, dim_z {settings['dim_z']}, {settings['n_classes']} classes)")
    spec = _biggan_spec(settings)
    unused = spec.check(variables, what)  # The u1 (v) vectors are checked, then unused.
    v = lambda name: np.asarray(variables[name], np.float32)  # noqa: E731
    ch, chunk = settings["ch"], settings["dim_z"] // (len(arch.blocks) + 1)
    top = 16 * arch.blocks[0].in_mult * ch
    # tfbiggan's linear outputs are NHWC (h, w, c); BigGAN-PyTorch's are (c, h, w).
    nhwc = np.arange(top).reshape(top // 16, 4, 4).transpose(1, 2, 0).reshape(-1)
    state = {"shared.weight": v(f"linear/w/{BIGGAN_EMA}")}
    empty = []

    def sn(key, scope, kind, bias=True, to_pytorch=None):
        weight = v(f"{scope}/w/{BIGGAN_EMA}")
        u = _vector(variables[f"{scope}/u0"])
        b = _vector(variables[f"{scope}/b/{BIGGAN_EMA}"]) if bias else None
        if kind == "conv":
            weight = _conv(weight)
        elif to_pytorch == "nhwc":
            weight, u, b = _from_nhwc(weight.T, nhwc), _from_nhwc(u, nhwc), _from_nhwc(b, nhwc)
        elif to_pytorch == "condition":  # [z_chunk, embedding] rows → [embedding, z_chunk].
            weight = np.concatenate([weight[chunk:], weight[:chunk]], axis=0).T
        state[f"{key}.weight"] = weight
        state[f"{key}.u0"] = u[None, :]
        if bias:
            state[f"{key}.bias"] = b

    sn("linear", "Generator/G_Z/G_linear", "dense", to_pytorch="nhwc")
    for index, block in enumerate(arch.blocks):
        scope, key = _block_scope(index), f"blocks.{index}.0"
        for theirs, ours in (("conv0", "conv1"), ("conv1", "conv2"), ("conv_sc", "conv_sc")):
            sn(f"{key}.{ours}", f"{scope}/{theirs}", "conv")
        for k, ours in enumerate(("bn1", "bn2")):
            for theirs, part in (("gamma", "gain"), ("beta", "bias")):
                sn(f"{key}.{ours}.{part}", f"{scope}/{_numbered('HyperBN', k)}/{theirs}",
                   "dense", bias=False, to_pytorch="condition")
            stats_scope = f"{scope}/{_numbered('CrossReplicaBN', k)}"
            state[f"{key}.{ours}.stored_mean"], state[f"{key}.{ours}.stored_var"] = \
                _statistics(variables, stats_scope)
            empty += _empty_counter(variables, stats_scope)
        if block.label in settings["attention"]:
            for theirs, ours in (("theta", "theta"), ("phi", "phi"), ("g", "g"),
                                 ("o_conv", "o")):
                sn(f"blocks.{index}.1.{ours}", f"Generator/attention/{theirs}", "conv",
                   bias=False)
            state[f"blocks.{index}.1.gamma"] = v(
                f"Generator/attention/gamma/{BIGGAN_EMA}").reshape(())
    state["output_layer.0.gain"] = _vector(
        variables[f"Generator/ScaledCrossReplicaBN/gamma/{BIGGAN_EMA}"])
    state["output_layer.0.bias"] = _vector(
        variables[f"Generator/ScaledCrossReplicaBN/beta/{BIGGAN_EMA}"])
    state["output_layer.0.stored_mean"], state["output_layer.0.stored_var"] = _statistics(
        variables, "Generator/ScaledCrossReplicaBNbn")
    empty += _empty_counter(variables, "Generator/ScaledCrossReplicaBNbn")
    sn("output_layer.2", "Generator/conv_2d", "conv")
    return state, unused, empty


def _from_nhwc(value, nhwc):
    """Undoes tfbiggan's NHWC output order along axis 0 (rows of a [out, in] weight)."""
    if value is None:
        return None
    result = np.empty_like(value)
    result[nhwc] = value
    return result


def _empty_counter(variables, scope):
    count = float(np.asarray(variables[f"{scope}/accumulation_counter"]).reshape(()))
    return [scope] if count <= 0 else []
