"""Synthetic DeepMind BigGAN TF1 Hub modules, written with `tf.compat.v1` in the published layout
(shared/reference/pretrained_layouts.md), for the converter tests.

A module is a directory with `tfhub_module.pb` (ModuleDef{format: FORMAT_V3}), `saved_model.pb`
holding one graph with the empty tag set and a "default" signature (z, y, truncation →
default), and `variables/`. The graph computes the generator from its variables with plain TF1
ops written here (not tfbiggan's layers):

* BigGAN-deep: variables `…/ema_0.9999`, spectral-norm vectors `u0`; the 51-row batch-norm
  statistics are graph tensors: per batch norm j (bank order), `tf.stack` of the mean rows
  (a Const "stack_{5j}" and the Pack "stack_{5j+1}"), of the variance rows (5j+2, 5j+3) and
  of the interpolation weights (5j+4), which is how `module_apply_default/stack_{10i+1, …}`
  arises; the truncation interpolates linearly between the rows.
* BigGAN: variables `…/ema_b999900`, `u0` (u) and `u1` (v), `CrossReplicaBN*/accumulated_*`
  sums with an `accumulation_counter`; inference normalises with sums / counter.

With `forward=False` the graph holds the variables and statistics but outputs zeros: for
tests of malformed modules whose shapes no forward pass could use.
"""

import os

import numpy as np
import tensorflow as tf

tf1 = tf.compat.v1
MODULE_DEF_V3 = b"\x08\x01"  # tensorflow_hub ModuleDef{format: FORMAT_V3}, serialized.
DEEP_EMA, BIGGAN_EMA = "ema_0.9999", "ema_b999900"
EPS = 1e-4


def _block(index):
    return "Generator/GBlock" + (f"_{index}" if index else "")


def _num(name, index):
    return name + (f"_{index}" if index else "")


# Weights in the module layout -----------------------------------------------------------------

def deep_from_fixture(data, prefix="weights/"):
    """(variables, bank) of the pytorch-pretrained-BigGAN fixture in the module's layout.

    The port's weights are transposed back (linear [out, in] → [in, out], conv [out, in, kh,
    kw] → [kh, kw, in, out]), u becomes u0 [1, out] and v is dropped (the modules store u
    only); the bank is [(mean [51, C], variance)] in bank order.
    """
    w = {k[len(prefix):]: data[k] for k in data if k.startswith(prefix)}
    variables = {f"linear/w/{DEEP_EMA}": w["embeddings.weight"].T}
    bank = []

    def sn(scope, key, conv, bias=True):
        weight = w[f"{key}.weight_orig"]
        variables[f"{scope}/w/{DEEP_EMA}"] = weight.transpose(2, 3, 1, 0) if conv else weight.T
        variables[f"{scope}/u0"] = w[f"{key}.weight_u"][None, :]
        if bias:
            variables[f"{scope}/b/{DEEP_EMA}"] = w[f"{key}.bias"]

    sn("Generator/GenZ/G_linear", "generator.gen_z", conv=False)
    block, position = 0, 0
    while f"generator.layers.{position}.bn_0.running_means" in w or \
            f"generator.layers.{position}.gamma" in w:
        key = f"generator.layers.{position}"
        if f"{key}.gamma" in w:
            for name in ("theta", "phi", "g", "o_conv"):
                sn(f"Generator/attention/{name}", f"{key}.snconv1x1_{name}", True, bias=False)
            variables[f"Generator/attention/gamma/{DEEP_EMA}"] = w[f"{key}.gamma"].reshape(())
        else:
            for k in range(4):
                sn(f"{_block(block)}/conv{k}", f"{key}.conv_{k}", True)
                for part in ("scale", "offset"):
                    sn(f"{_block(block)}/{_num('BatchNorm', k)}/{part}", f"{key}.bn_{k}.{part}",
                       False, bias=False)
                bank.append((w[f"{key}.bn_{k}.running_means"], w[f"{key}.bn_{k}.running_vars"]))
            block += 1
        position += 1
    variables[f"Generator/BatchNorm/scale/{DEEP_EMA}"] = w["generator.bn.weight"]
    variables[f"Generator/BatchNorm/offset/{DEEP_EMA}"] = w["generator.bn.bias"]
    bank.append((w["generator.bn.running_means"], w["generator.bn.running_vars"]))
    sn("Generator/conv_to_rgb", "generator.conv_to_rgb", True)
    return variables, bank


BIGGAN_128 = [(16, 16), (16, 8), (8, 4), (4, 2), (2, 1)]  # (in, out) × ch per block


def biggan_variables(ch=4, num_classes=5, chunk=4, shared=8, blocks=BIGGAN_128, attention=3,
                     seed=0):
    """Random BigGAN variables in the module layout (attention after block `attention`, i.e.
    before block `attention` + 1, as the modules' `sa_id`)."""
    rng = np.random.default_rng(seed)
    variables = {f"linear/w/{BIGGAN_EMA}": rng.normal(0, 1, (num_classes, shared))}
    cond = chunk + shared

    def sn(scope, shape, bias=True, scale=1.0):
        variables[f"{scope}/w/{BIGGAN_EMA}"] = rng.normal(0, scale, shape)
        variables[f"{scope}/u0"] = rng.normal(0, 1, (1, shape[-1]))
        variables[f"{scope}/u1"] = rng.normal(0, 1, (1, int(np.prod(shape[:-1]))))
        if bias:
            variables[f"{scope}/b/{BIGGAN_EMA}"] = rng.normal(0, 0.1, (shape[-1],))

    def statistics(scope, width):
        count = float(rng.integers(2, 9))
        variables[f"{scope}/accumulated_mean"] = count * rng.normal(0, 0.5, (width,))
        variables[f"{scope}/accumulated_var"] = count * rng.uniform(0.5, 2.0, (width,))
        variables[f"{scope}/accumulation_counter"] = np.array(count)

    sn("Generator/G_Z/G_linear", (chunk, 16 * blocks[0][0] * ch))
    for index, (c_in, c_out) in enumerate(blocks):
        c_in, c_out = c_in * ch, c_out * ch
        sn(f"{_block(index)}/conv0", (3, 3, c_in, c_out))
        sn(f"{_block(index)}/conv1", (3, 3, c_out, c_out))
        sn(f"{_block(index)}/conv_sc", (1, 1, c_in, c_out))
        for k, width in enumerate((c_in, c_out)):
            for part in ("gamma", "beta"):
                sn(f"{_block(index)}/{_num('HyperBN', k)}/{part}", (cond, width), bias=False,
                   scale=0.3)
            statistics(f"{_block(index)}/{_num('CrossReplicaBN', k)}", width)
    if attention is not None:
        c = blocks[attention][1] * ch
        for name, shape in (("theta", (1, 1, c, c // 8)), ("phi", (1, 1, c, c // 8)),
                            ("g", (1, 1, c, c // 2)), ("o_conv", (1, 1, c // 2, c))):
            sn(f"Generator/attention/{name}", shape, bias=False)
        variables[f"Generator/attention/gamma/{BIGGAN_EMA}"] = np.array(0.7)
    for part, value in (("gamma", rng.normal(1, 0.1, (ch,))), ("beta", rng.normal(0, 0.1,
                                                                                 (ch,)))):
        variables[f"Generator/ScaledCrossReplicaBN/{part}/{BIGGAN_EMA}"] = value
    statistics("Generator/ScaledCrossReplicaBNbn", ch)
    sn("Generator/conv_2d", (3, 3, ch, 3))
    return {k: np.asarray(v, np.float32) for k, v in variables.items()}


# The TF1 graph ----------------------------------------------------------------------------------

class _Graph:
    """Variables of the module and the ops of the forward pass."""

    def __init__(self, variables, ema):
        self.ema = ema
        self.vars = {name: tf1.Variable(value, name=name) for name, value in variables.items()}

    def w(self, scope):
        return self.vars[f"{scope}/w/{self.ema}"]

    def sn_weight(self, scope):
        w, u = self.w(scope), self.vars[f"{scope}/u0"]
        matrix = tf.reshape(w, [-1, w.shape[-1]])  # [rest, out]
        v = _normalize(tf.matmul(u, matrix, transpose_b=True))
        new_u = _normalize(tf.matmul(v, matrix))
        sigma = tf.reduce_sum(tf.matmul(v, matrix) * new_u)
        return w / sigma

    def linear(self, x, scope, bias=True):
        out = tf.matmul(x, self.sn_weight(scope))
        return out + self.vars[f"{scope}/b/{self.ema}"] if bias else out

    def conv(self, x, scope, bias=True):
        out = tf.nn.conv2d(x, self.sn_weight(scope), 1, "SAME")
        return out + self.vars[f"{scope}/b/{self.ema}"] if bias else out

    def attention(self, x):
        shape = tf.shape(x)
        c = x.shape[-1]
        theta = tf.reshape(self.conv(x, "Generator/attention/theta", False), [shape[0], -1, c // 8])
        pool = lambda t: tf.nn.max_pool2d(t, 2, 2, "VALID")  # noqa: E731
        phi = tf.reshape(pool(self.conv(x, "Generator/attention/phi", False)),
                         [shape[0], -1, c // 8])
        g = tf.reshape(pool(self.conv(x, "Generator/attention/g", False)), [shape[0], -1, c // 2])
        attention = tf.nn.softmax(tf.matmul(theta, phi, transpose_b=True))
        o = tf.reshape(tf.matmul(attention, g), [shape[0], shape[1], shape[2], c // 2])
        return x + self.vars[f"Generator/attention/gamma/{self.ema}"] * self.conv(
            o, "Generator/attention/o_conv", False)


def _normalize(x):
    return x / tf.maximum(tf.norm(x), EPS)


def _batch_norm(x, mean, variance, gain, bias):
    if len(gain.shape) == 2:
        gain, bias = gain[:, None, None, :], bias[:, None, None, :]
    return (x - mean) * tf.math.rsqrt(variance + EPS) * gain + bias


def _upsample(x):
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)


def _bank_tensors(bank, truncation):
    """The statistics of every batch norm j as the graph tensors stack_{5j+1} (means) and
    stack_{5j+3} (variances), each a Pack of the rows, fed by a Const named stack_{5j} /
    stack_{5j+2} as TF's auto-naming of `tf.stack(list of arrays)` gives; stack_{5j+4} packs
    the interpolation weights. Returns the (mean, variance) at `truncation` per batch norm."""
    stats = []
    for j, (mean_rows, var_rows) in enumerate(bank):
        packed = []
        for offset, rows in ((0, mean_rows), (2, var_rows)):
            value = tf.constant(np.asarray(rows, np.float32), name=f"stack_{5 * j + offset}")
            packed.append(tf.stack(tf.unstack(value, name=f"rows_{5 * j + offset}"),
                                   name=f"stack_{5 * j + offset + 1}"))
        means, variances = packed
        rows = len(mean_rows)
        position = tf.clip_by_value(truncation, 0.0, 1.0) * (rows - 1)
        low = tf.clip_by_value(tf.floor(position), 0.0, rows - 2.0)
        frac = position - low
        weights = tf.stack([1.0 - frac, frac], name=f"stack_{5 * j + 4}")
        low = tf.cast(low, tf.int32)
        pick = lambda t: weights[0] * tf.gather(t, low) + weights[1] * tf.gather(  # noqa: E731
            t, low + 1)
        stats.append((pick(means), pick(variances)))
    return stats


def _deep_forward(graph, z, y, stats, blocks, attention_before):
    cond = tf.concat([z, tf.matmul(y, graph.vars[f"linear/w/{DEEP_EMA}"])], axis=1)
    ch16 = graph.w("Generator/GenZ/G_linear").shape[-1] // 16
    h = tf.reshape(graph.linear(cond, "Generator/GenZ/G_linear"), [-1, 4, 4, ch16])
    stats = list(stats)
    for index, up in enumerate(blocks):
        if index == attention_before:
            h = graph.attention(h)
        scope, x0, x = _block(index), h, h
        for k in range(4):
            bn = f"{scope}/{_num('BatchNorm', k)}"
            mean, variance = stats.pop(0)
            x = tf.nn.relu(_batch_norm(x, mean, variance, 1.0 + graph.linear(
                cond, f"{bn}/scale", False), graph.linear(cond, f"{bn}/offset", False)))
            if k == 1 and up:
                x = _upsample(x)
            x = graph.conv(x, f"{scope}/conv{k}")
        out_channels = x.shape[-1]
        if x0.shape[-1] != out_channels:
            x0 = x0[..., :out_channels]
        h = x + (_upsample(x0) if up else x0)
    mean, variance = stats.pop(0)
    h = tf.nn.relu(_batch_norm(h, mean, variance, graph.vars[f"Generator/BatchNorm/scale/"
                                                             f"{DEEP_EMA}"],
                               graph.vars[f"Generator/BatchNorm/offset/{DEEP_EMA}"]))
    return tf.tanh(graph.conv(h, "Generator/conv_to_rgb")[..., :3])


def _stored(graph, scope):
    count = graph.vars[f"{scope}/accumulation_counter"]
    return (graph.vars[f"{scope}/accumulated_mean"] / count,
            graph.vars[f"{scope}/accumulated_var"] / count)


def _biggan_forward(graph, z, y, num_blocks, attention_before):
    chunks = tf.split(z, num_blocks + 1, axis=1)
    embed = tf.matmul(y, graph.vars[f"linear/w/{BIGGAN_EMA}"])
    ch16 = graph.w("Generator/G_Z/G_linear").shape[-1] // 16
    h = tf.reshape(graph.linear(chunks[0], "Generator/G_Z/G_linear"), [-1, 4, 4, ch16])
    for index in range(num_blocks):
        if index == attention_before:
            h = graph.attention(h)
        scope = _block(index)
        cond = tf.concat([chunks[index + 1], embed], axis=1)
        x = h
        for k in range(2):
            hyper = f"{scope}/{_num('HyperBN', k)}"
            mean, variance = _stored(graph, f"{scope}/{_num('CrossReplicaBN', k)}")
            x = tf.nn.relu(_batch_norm(x, mean, variance, 1.0 + graph.linear(
                cond, f"{hyper}/gamma", False), graph.linear(cond, f"{hyper}/beta", False)))
            if k == 0:
                x = _upsample(x)
            x = graph.conv(x, f"{scope}/conv{k}")
        h = x + graph.conv(_upsample(h), f"{scope}/conv_sc")
    mean, variance = _stored(graph, "Generator/ScaledCrossReplicaBNbn")
    h = tf.nn.relu(_batch_norm(h, mean, variance,
                               graph.vars[f"Generator/ScaledCrossReplicaBN/gamma/{BIGGAN_EMA}"],
                               graph.vars[f"Generator/ScaledCrossReplicaBN/beta/{BIGGAN_EMA}"]))
    return tf.tanh(graph.conv(h, "Generator/conv_2d"))


def _save(path, graph_fn, dim_z, num_classes):
    graph = tf.Graph()
    with graph.as_default():
        z = tf1.placeholder(tf.float32, [None, dim_z], name="z")
        y = tf1.placeholder(tf.float32, [None, num_classes], name="y")
        truncation = tf1.placeholder(tf.float32, [], name="truncation")
        output = graph_fn(z, y, truncation)
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            signature = tf1.saved_model.signature_def_utils.predict_signature_def(
                inputs={"z": z, "y": y, "truncation": truncation}, outputs={"default": output})
            builder = tf1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(session, tags=[],
                                                 signature_def_map={"default": signature})
            builder.save()
    with open(os.path.join(path, "tfhub_module.pb"), "wb") as f:
        f.write(MODULE_DEF_V3)
    return str(path)


def write_deep_module(path, variables, bank, blocks, attention_before=8, forward=True,
                      extra=None):
    """Writes a BigGAN-deep module. `blocks`: the upsample flag of each block;
    `attention_before`: the block index the attention precedes (the published 8); `extra`:
    more variables (bookkeeping the converter should list as unused)."""
    dim_z = variables["Generator/GenZ/G_linear/w/" + DEEP_EMA].shape[0] - variables[
        "linear/w/" + DEEP_EMA].shape[1]
    num_classes = variables["linear/w/" + DEEP_EMA].shape[0]

    def build(z, y, truncation):
        stats = _bank_tensors(bank, truncation)  # First: the stacks keep their numbers.
        graph = _Graph({**variables, **(extra or {})}, DEEP_EMA)
        with tf.name_scope("forward"):
            if not forward:
                return tf.zeros([tf.shape(z)[0], 4, 4, 3]) + 0.0 * tf.reduce_sum(y)
            return _deep_forward(graph, z, y, stats, blocks, attention_before)

    return _save(path, build, dim_z, num_classes)


def write_biggan_module(path, variables, num_blocks=5, attention_before=4, forward=True,
                        extra=None):
    """Writes a BigGAN (v2) module; `attention_before` is the modules' `sa_id`."""
    chunk = variables["Generator/G_Z/G_linear/w/" + BIGGAN_EMA].shape[0]
    num_classes = variables["linear/w/" + BIGGAN_EMA].shape[0]

    def build(z, y, truncation):
        del truncation  # The stored statistics serve every truncation in this module.
        graph = _Graph({**variables, **(extra or {})}, BIGGAN_EMA)
        with tf.name_scope("forward"):
            if not forward:
                return tf.zeros([tf.shape(z)[0], 4, 4, 3]) + 0.0 * tf.reduce_sum(y)
            return _biggan_forward(graph, z, y, num_blocks, attention_before)

    return _save(path, build, chunk * (num_blocks + 1), num_classes)


def call_module(path, z, y, truncation):
    """The module's output through `hub.load` (its "default" signature)."""
    import tensorflow_hub as hub  # pylint: disable=import-outside-toplevel
    module = hub.load(str(path))
    return module.signatures["default"](z=tf.constant(z, tf.float32), y=tf.constant(
        y, tf.float32), truncation=tf.constant(truncation, tf.float32))["default"].numpy()
