"""The default experiment config; files in configs/ start from it and change what differs."""

import inspect

import ml_collections
from ml_collections import config_dict

from tfbiggan import models
from tfbiggan.data import pipeline
from tfbiggan.models.progan_training import ProGANTrainingDiscriminator, ProGANTrainingGenerator
from tfbiggan.training import evaluation_hook, progressive

_MODEL_CLASSES = (models.BigGANGenerator, models.BigGANDiscriminator,
                  models.BigGANDeepGenerator, models.BigGANDeepDiscriminator,
                  ProGANTrainingGenerator, ProGANTrainingDiscriminator)


_OVERRIDE_TYPES = {"attention": tuple, "hierarchical": bool, "shared_embedding": bool,
                   "synchronized_bn": bool, "bn_epsilon": float, "bn_momentum": float,
                   "sn_epsilon": float, "kernel_initializer": object,
                   "output_activation": str, "mbstd_grouping": str}


LOSS_OPTIONS = ("drift", "real_label")
"""The options of the losses in tfbiggan.losses (see `losses.get_gan_loss`)."""


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
    # A fresh run starts G and the EMA G (and, if asked, D) from this workdir, e.g. a converted
    # pretrained BigGAN (tfbiggan/training/init_from.py; "" = orthogonal initialisation).
    c.model.init_from = ""
    c.model.init_discriminator = False
    c.model.init_class_map = ()             # New class i starts from the workdir's class [i].

    c.data = ml_collections.ConfigDict()
    c.data.pipeline = pipeline.default_config()
    c.data.exact_resume = True              # Resume replays the data order (skips batches).

    t = c.training = ml_collections.ConfigDict()
    t.steps = 250_000                       # Iterations (num_d_steps D updates + 1 G update).
    t.batch_size = 256                      # Global batch per update (over all replicas).
    t.accumulation_steps = 8                # Effective batch = batch_size × this (2048).
    t.num_d_steps = 2
    t.loss = "hinge"
    # Options of the loss (None: its default): real_label (non_saturating, least_squares;
    # 0.9 = one-sided label smoothing), drift (wgan_gp).
    t.loss_options = ml_collections.ConfigDict(
        {name: config_dict.placeholder(float) for name in LOSS_OPTIONS})
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
    # XLA for the iteration. Unset = automatic: on with GPUs; off on CPUs, where TensorFlow's
    # graph kernels measured faster (benchmarks/RESULTS.md). TPUStrategy always compiles.
    t.jit_compile = config_dict.placeholder(bool)
    t.synchronized_bn = "auto"              # "auto" (on with several replicas), "on", "off".
    t.deterministic = False                 # tf.config.experimental.enable_op_determinism.
    # Improved Techniques (Salimans et al. 2016, arXiv 1606.03498). One-sided label smoothing
    # is `loss_options.real_label=0.9` (non_saturating / least_squares); minibatch
    # discrimination is a discriminator option of every preset family, off by default
    # (`model.overrides.minibatch_kernels` > 0, `model.overrides.minibatch_kernel_dim`).
    t.mode = "gan"                          # "gan", or "semi_supervised" (K+1 classifier D).
    t.feature_matching = "off"              # G loss on D's penultimate features h: "off",
                                            # "replace" (‖E h(x) − E h(G(z))‖² only), "add".
    t.historical_averaging_g = 0.0          # Weight of ‖θ_G − mean of past θ_G‖² (0: off).
    t.historical_averaging_d = 0.0          # The same for D's parameters.
    # On a NaN/Inf loss, gradient or weight: "stop" the run, or "skip" the iteration (weights,
    # EMA and optimizer state stay as they were, the step advances; counted as skipped_steps).
    t.nonfinite = "stop"
    # DiffAugment (Zhao et al. 2020, arXiv 2006.10738; tfbiggan/augment.py): a policy, a
    # comma-separated subset of "color", "translation", "cutout", applied to every image D
    # sees (real and generated, in both updates). "" = none.
    t.augment = ""
    # Each update's real images and drawn classes sorted by class, so that a discriminator
    # with contiguous minibatch-stddev groups (ProGAN's, or BigGAN's with
    # `model.overrides.mbstd_group_size` > 0; `model.overrides.mbstd_grouping="contiguous"`)
    # compares samples of one kind and as few classes as the batch allows
    # (tfbiggan/training/step.py).
    t.sort_by_class = False

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every = 1000
    c.checkpoint.keep = 5
    c.checkpoint.every_secs = 0.0           # Also a checkpoint after this many seconds (0: off).
    # Resuming from a damaged latest checkpoint: restore the newest readable one (True) or
    # stop with an error naming it (False).
    c.checkpoint.fallback = True

    c.log = ml_collections.ConfigDict()
    c.log.every = 100
    c.log.sample_every = 1000
    c.log.singular_values_every = 1000

    c.eval = evaluation_hook.default_eval_config()  # Periodic evaluation and best checkpoint.

    # Progressive growing of ProGAN presets (tfbiggan/training/progressive.py).
    c.progressive = progressive.default_config()

    # training.mode = "semi_supervised" (tfbiggan/training/semi_supervised.py).
    c.semi_supervised = ml_collections.ConfigDict()
    c.semi_supervised.labels_per_class = 10     # Labelled training digits per class.
    c.semi_supervised.labeled_batch_size = 16   # Of training.batch_size, how many are labelled.
    c.semi_supervised.class_weight = 1.0        # Weight of the supervised cross-entropy.
    c.semi_supervised.label_seed = 0            # Picks the labelled subset.
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


def digits_config():
    """The bundled-digits demo (configs/digits.py): a class-conditional BigGAN at 32×32.

    BigGAN's 32×32 design at channel width 8 with the paper's hierarchical latent space and
    shared class embedding (z is split into one chunk per generator block, and each block's
    conditional batch norm sees its chunk beside the class embedding; SPEC §2), no
    attention, trained with one D step per G step and a faster D (two time-scale learning
    rates), so that it learns class-conditional digits within minutes on two CPU cores.

    Hierarchical z matters here: with z entering only the first linear layer and a class
    one-hot driving every batch norm, the generator learned to ignore z and drew one image
    per class (benchmarks/RESULTS.md, "Within-class variety": recall 0.11 against the real
    digits' 0.90); with hierarchical z, 0.65. XLA stays automatic (off on CPUs) here: the
    commands and tests that run this config a few steps at a time would pay its compilation
    every start; the Fashion-MNIST config turns it on.
    """
    c = base_config()
    c.model.preset = "biggan_32"
    c.model.overrides.ch = 8
    c.model.overrides.hierarchical = True
    c.model.overrides.shared_embedding = True
    c.model.overrides.num_truncation_stats = 11
    c.data.pipeline.source = "digits"
    c.data.pipeline.num_classes = 10
    c.data.pipeline.random_flip = False     # Mirrored digits are other glyphs.
    c.data.pipeline.shuffle_buffer = 2048
    c.training.steps = 2000
    c.training.batch_size = 32
    c.training.accumulation_steps = 1
    c.training.num_d_steps = 1
    c.training.g_lr = 2e-4
    c.training.d_lr = 4e-4
    c.training.adam_eps = 1e-8
    c.training.ema_decay = 0.99             # A short run: average over ~100 steps.
    c.training.ema_start = 1000
    c.checkpoint.every = 500
    c.log.every = 50
    c.log.sample_every = 500
    c.log.singular_values_every = 500
    return c


def fashion_mnist_config():
    """Class-conditional BigGAN on Fashion-MNIST at 32×32, grey (configs/fashion_mnist.py).

    The 60,000 training images of Debian's `dataset-fashion-mnist` (or any directory of the
    IDX files, or TFDS's copy), padded 28 → 32 with black; 1-channel generator output and
    discriminator input.
    """
    c = digits_config()
    c.data.pipeline.source = "idx"
    c.data.pipeline.name = "fashion_mnist"
    c.data.pipeline.split = "train"
    c.data.pipeline.channels = 1
    c.data.pipeline.fit = "pad"
    c.data.pipeline.random_flip = True      # Clothes mirrored are clothes.
    c.data.pipeline.shuffle_buffer = 10_000
    c.model.overrides.out_channels = 1
    c.model.overrides.in_channels = 1
    # XLA: 250 against 345 ms per iteration in graph mode for this model at batch 32 on the
    # 2-core AVX-512 machine (benchmarks/RESULTS.md); its compilation (under a minute) pays back
    # within the first few hundred of the 8,000 iterations.
    c.training.jit_compile = True
    # Batch 16 for 8,000 iterations: at equal training time (10 minutes) more updates of a
    # smaller batch reach more of the data than 2,000 of 32 (benchmarks/RESULTS.md, "Batch
    # 16": recall 0.40 against 0.36, coverage 0.58 against 0.40, FID 3.36 against 5.80).
    c.training.batch_size = 16
    # A minibatch standard deviation map before D's last block, over contiguous groups of
    # four of each update's class-sorted real or generated images: D sees when a class's
    # samples are alike, which a per-image D cannot (benchmarks/RESULTS.md, "Batch 8 and
    # minibatch standard deviation by class": recall 0.40 → 0.51, coverage 0.58 → 0.68, least varied
    # class 0.41 → 0.62 at 10 minutes of training).
    c.model.overrides.mbstd_group_size = 4
    c.model.overrides.mbstd_grouping = "contiguous"
    c.training.sort_by_class = True
    c.training.steps = 8000
    c.training.ema_start = 4000
    c.checkpoint.every = 2000
    c.log.sample_every = 2000
    c.log.singular_values_every = 2000
    return c
