"""Starting a fresh run from the weights of another workdir: a converted pretrained BigGAN
(`python -m export.convert_pretrained`) or any tfbiggan run.

Config fields (model section):

    model.init_from = "DIR"            workdir whose EMA generator initialises G and the EMA G
    model.init_discriminator = False   also initialise D from DIR's discriminator (a
                                       BigGAN-PyTorch D.pth, or a tfbiggan run's D)
    model.init_class_map = ()          new class i starts from DIR's class init_class_map[i]

Only a run that starts fresh is initialised; a resumed run restores its own checkpoint. The
config's models must have DIR's architecture apart from the class count
(`model_overrides_from` gives the preset and overrides that rebuild it).

Class count. The class-indexed weights are G's shared class embedding (or, without one, its
per-layer class embeddings) and D's projection embedding (with its spectral-norm vector). With
`init_class_map`, row i of each is DIR's row init_class_map[i] (e.g. the ImageNet classes
nearest to the new ones). Without it and with another class count, every new class starts at
the mean of DIR's class embeddings (so the generator first draws its "average class") and the
spectral-norm vector of D's embedding starts fresh; with the same count the rows are copied.

Example:
  >>> preset, overrides = model_overrides_from("/tmp/deep128")
  >>> initialize_trainer(trainer)      # what the trainer does when the run starts fresh
"""

import numbers

import numpy as np
import tensorflow as tf
from absl import logging

from tfbiggan.layers import normalization
from tfbiggan.models import presets
from tfbiggan.training import workdir as workdir_lib

_FAMILIES = {"BigGANGenerator": "biggan", "BigGANDeepGenerator": "biggan_deep"}
_NOT_OVERRIDES = ("name", "dtype", "resolution", "synchronized_bn")


def check_config(config):
    """Raises ValueError for a bad `model.init_*` field."""
    model = config.model
    path = model.get("init_from", "") or ""
    if not isinstance(path, str):
        raise ValueError(f"config field `model.init_from` must be a workdir path or '', got "
                         f"{path!r}.")
    if not isinstance(model.get("init_discriminator", False), bool):
        raise ValueError(f"config field `model.init_discriminator` must be True or False, got "
                         f"{model.init_discriminator!r}.")
    class_map = tuple(model.get("init_class_map", ()) or ())
    if any(not isinstance(c, numbers.Integral) or isinstance(c, bool) or c < 0
           for c in class_map):
        raise ValueError(f"config field `model.init_class_map` must be non-negative class ids, "
                         f"got {class_map!r}.")
    if (class_map or model.get("init_discriminator", False)) and not path:
        raise ValueError("config fields `model.init_class_map` / `model.init_discriminator` "
                         "need `model.init_from` (the workdir to start from).")


def model_overrides_from(path):
    """(preset name, {override: value}) that rebuild the generator of the workdir `path`.

    The preset is the family's preset at the generator's resolution; the overrides are the
    generator's constructor values that differ from it (they go to every model that accepts
    them, as all `model.overrides` do).

    Example:
      >>> model_overrides_from("/tmp/deep128")
      ('biggan_deep_128', {'ch': 8, 'num_classes': 10, 'output_conv_channels': 8})
    """
    payload = workdir_lib.read_config(path)
    serialized = payload["generator"]
    family = _FAMILIES.get(serialized.get("class_name"))
    if family is None:
        raise ValueError(f"the generator in {path} is a {serialized.get('class_name')}; "
                         f"`model.init_from` accepts {sorted(_FAMILIES)}.")
    config = serialized["config"]
    candidates = sorted(name for name, preset in presets.PRESETS.items()
                        if preset["family"] == family and
                        preset["generator"].get("resolution") == config["resolution"])
    if not candidates:
        raise ValueError(f"no {family} preset at resolution {config['resolution']}.")
    name = candidates[0]
    defaults = _preset_generator_config(name)
    overrides = {}
    for key, value in config.items():
        if key in _NOT_OVERRIDES or key not in defaults:
            continue
        if isinstance(value, list):
            value = tuple(value)
        if value != defaults[key]:
            overrides[key] = value
    return name, overrides


def _preset_generator_config(name):
    """The generator config a preset gives, without building the (possibly huge) model."""
    import inspect  # pylint: disable=import-outside-toplevel
    preset = presets.PRESETS[name]
    cls = presets._FAMILIES[preset["family"]][0]  # pylint: disable=protected-access
    values = {key: parameter.default for key, parameter in
              inspect.signature(cls.__init__).parameters.items()
              if parameter.default is not inspect.Parameter.empty}
    values.update(preset["generator"])
    probe = cls(**dict(values, ch=4, num_classes=1, num_truncation_stats=0))
    resolved = probe.get_config()  # Resolves the defaults (dim_z, attention, …) at ch 4.
    for key in ("dim_z", "attention", "attention_after", "output_conv_channels"):
        if key in resolved and values.get(key) is None:
            values[key] = resolved[key]
    if "attention" in values:
        values["attention"] = tuple(values["attention"] or ())
    if "kernel_initializer" in values:
        values["kernel_initializer"] = resolved["kernel_initializer"]
    return values


def _class_variables(model):
    """ids of the class-indexed variables of a generator or discriminator (rows = classes)."""
    ids = set()
    shared = getattr(model, "shared", None)
    if shared is not None:
        ids.add(id(shared.kernel))
    elif hasattr(model, "blocks") and hasattr(model, "dim_z"):  # Per-layer class embeddings.
        for layer in normalization.batch_norm_layers(model):
            if hasattr(layer, "use_spectral_norm") and not layer.use_spectral_norm:
                ids.update({id(layer.gain.kernel), id(layer.bias.kernel)})
    head = getattr(model, "head", None)
    if head is not None and getattr(head, "embed", None) is not None:
        ids.update({id(head.embed.kernel), id(head.embed.u)})
    return ids


def _relative(model, variable):
    """The variable's path inside the model (without the model's own name, if present)."""
    prefix = f"{model.name}/"
    return variable.path[len(prefix):] if variable.path.startswith(prefix) else variable.path


def copy_weights(source, target, class_map=(), what="generator", where=""):
    """Copies every weight of `source` into `target` (same architecture; the class count may
    differ, see the module docstring)."""
    if len(source.weights) != len(target.weights):
        raise ValueError(f"the {what} in {where} has {len(source.weights)} weights, the "
                         f"config's {len(target.weights)}: the architectures differ (rebuild "
                         f"the config's models with `init_from.model_overrides_from`, as "
                         f"configs/finetune_pretrained.py does).")
    old, new = int(getattr(source, "num_classes", 0)), int(getattr(target, "num_classes", 0))
    class_map = tuple(int(c) for c in class_map or ())
    if class_map and (len(class_map) != new or max(class_map) >= old):
        raise ValueError(f"`model.init_class_map` must hold one class of the {old} in {where} "
                         f"for each of the config's {new} classes, got {class_map}.")
    class_ids = _class_variables(target)
    for theirs, ours in zip(source.weights, target.weights):
        name = _relative(target, ours)
        if _relative(source, theirs) != name:
            raise ValueError(f"the {what} in {where} does not have the config's architecture: "
                             f"weight {name!r} meets {_relative(source, theirs)!r}.")
        value = theirs.numpy()
        if id(ours) in class_ids:
            if class_map:
                value = value[list(class_map)]
            elif old != new:
                if value.ndim < 2:
                    continue  # A spectral-norm vector over the classes: the fresh one.
                value = np.repeat(value.mean(axis=0, keepdims=True), new, axis=0)
        if tuple(value.shape) != tuple(ours.shape):
            raise ValueError(f"the {what} in {where} does not have the config's architecture: "
                             f"{name!r} has shape {tuple(theirs.shape)} there, "
                             f"{tuple(ours.shape)} in the config's model.")
        ours.assign(value)


def initialize_models(path, generator, ema_generator, discriminator=None, class_map=()):
    """Initialises `generator` and `ema_generator` from the EMA generator of the workdir
    `path`, and `discriminator` (if given) from its discriminator."""
    payload = workdir_lib.read_config(path)
    objects = {"ema_generator": workdir_lib.build_model(payload["generator"])}
    if discriminator is not None:
        if not payload.get("discriminator"):
            raise ValueError(f"{path} holds no discriminator; set `model.init_discriminator="
                             f"False` to start D fresh.")
        objects["discriminator"] = workdir_lib.build_model(payload["discriminator"])
    checkpoint = workdir_lib.checkpoint_path(path)
    status = tf.train.Checkpoint(**objects).restore(checkpoint)
    status.assert_existing_objects_matched()
    status.expect_partial()
    for target in (generator, ema_generator):
        copy_weights(objects["ema_generator"], target, class_map, "generator", path)
    if discriminator is not None:
        copy_weights(objects["discriminator"], discriminator, class_map, "discriminator", path)
    logging.info("Initialised the generator%s from %s.",
                 " and discriminator" if discriminator is not None else "", checkpoint)


def initialize_trainer(trainer):
    """What `Trainer.restore_or_initialize` runs for a fresh run with `model.init_from`."""
    model = trainer.config.model
    initialize_models(
        model.init_from, trainer.generator, trainer.ema_generator,
        trainer.discriminator if model.get("init_discriminator", False) else None,
        tuple(model.get("init_class_map", ()) or ()))
