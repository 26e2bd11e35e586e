"""The default experiment config; files in configs/ start from it and change what differs."""

import inspect

import ml_collections
from ml_collections import config_dict

from tfbiggan import models
from tfbiggan.data import pipeline
from tfbiggan.training import evaluation_hook

_MODEL_CLASSES = (models.BigGANGenerator, models.BigGANDiscriminator,
                  models.BigGANDeepGenerator, models.BigGANDeepDiscriminator)


_OVERRIDE_TYPES = {"attention": tuple, "hierarchical": bool, "shared_embedding": bool,
                   "synchronized_bn": bool, "bn_epsilon": float, "bn_momentum": float,
                   "sn_epsilon": float, "kernel_initializer": object}


def model_override_fields():
    """A ConfigDict with a typed, unset placeholder for every model constructor argument.

    Unset means "keep the preset's value"; declaring them all lets any of them be overridden
    on the command line of a locked config (e.g. `--config.model.overrides.dim_z=80`).
    """
    names = set()
    for cls in _MODEL_CLASSES:
        names.update(name for name, parameter in inspect.signature(cls.__init__).parameters.items()
                     if name != "self" and parameter.kind == parameter.POSITIONAL_OR_KEYWORD)
    return ml_collections.ConfigDict(
        {name: config_dict.placeholder(_OVERRIDE_TYPES.get(name, int)) for name in sorted(names)})


def base_config():
    """Every field an experiment config has, with the paper's recipe where one applies."""
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.model = ml_collections.ConfigDict()
    c.model.preset = "biggan_128"           # A name from tfbiggan.models.list_presets().
    # Constructor arguments that differ from the preset (None: the preset's value).
    c.model.overrides = model_override_fields()

    c.data = ml_collections.ConfigDict()
    c.data.pipeline = pipeline.default_config()
    c.data.exact_resume = True              # Resume replays the data order (skips batches).

    t = c.training = ml_collections.ConfigDict()
    t.steps = 250_000                       # Iterations (num_d_steps D updates + 1 G update).
    t.batch_size = 256                      # Global batch per update (over all replicas).
    t.accumulation_steps = 8                # Effective batch = batch_size × this (2048).
    t.num_d_steps = 2
    t.loss = "hinge"
    t.loss_options = ml_collections.ConfigDict()  # e.g. real_label=0.9 (label smoothing).
    t.gp_lambda = 0.0                       # WGAN-GP penalty weight.
    t.r1_gamma = 0.0                        # R1 penalty γ (adds γ/2·‖∇D(x)‖²).
    t.ortho_beta = 1e-4                     # Orthogonal regularisation of G (paper formula).
    t.g_lr = 5e-5
    t.d_lr = 2e-4
    t.beta1 = 0.0
    t.beta2 = 0.999
    t.adam_eps = 1e-6
    t.ema_decay = 0.9999
    t.ema_start = 20_000                    # Before this step the EMA copies G.
    t.mixed_precision = False               # mixed_bfloat16 (float32 statistics).
    t.jit_compile = True                    # XLA for the iteration where the strategy allows.
    t.synchronized_bn = "auto"              # "auto" (on with several replicas), "on", "off".
    t.deterministic = False                 # tf.config.experimental.enable_op_determinism.

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every = 1000
    c.checkpoint.keep = 5

    c.log = ml_collections.ConfigDict()
    c.log.every = 100
    c.log.sample_every = 1000
    c.log.singular_values_every = 1000

    c.eval = evaluation_hook.default_eval_config()  # Periodic evaluation and best checkpoint.
    return c


def imagenet_config(preset, resolution_buffer=1024):
    """The paper's ImageNet recipe for a BigGAN / BigGAN-deep preset (configs/imagenet*.py)."""
    c = base_config()
    c.model.preset = preset
    c.data.pipeline.source = "tfds"
    c.data.pipeline.name = "imagenet2012"
    c.data.pipeline.split = "train"
    c.data.pipeline.manual_dir = "~/tensorflow_datasets/downloads/manual"
    c.data.pipeline.num_classes = 1000
    c.data.pipeline.random_flip = True
    c.data.pipeline.shuffle_buffer = resolution_buffer
    c.data.exact_resume = False  # Skipping millions of examples on resume is too slow.
    c.training.steps = 200_000
    c.training.batch_size = 256
    c.training.accumulation_steps = 8
    c.training.num_d_steps = 2
    c.training.g_lr = 5e-5
    c.training.d_lr = 2e-4
    c.training.ortho_beta = 1e-4
    c.training.ema_decay = 0.9999
    c.training.ema_start = 20_000
    c.checkpoint.every = 2000
    c.log.sample_every = 2000
    c.log.singular_values_every = 2000
    return c
