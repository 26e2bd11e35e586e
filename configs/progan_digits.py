"""Class-conditional Progressive GAN growing 4×4 → 32×32 on the bundled digits.

python -m tfbiggan.train --config=configs/progan_digits.py --workdir=/tmp/tfbiggan_progan_digits

Recipe of Karras et al. 2018 (arXiv 1710.10196): WGAN-GP (λ 10) with drift ε 0.001, one D
step per G step, Adam lr 1e-3, β (0, 0.99); phases of 6,400 real images (200 iterations at
batch 32) per fade-in and per stabilisation, so the 32×32 stage is fully faded in at step
1,200 and stabilises until step 2,000. The generator EMA starts there (a copy before) with
decay 0.995: the paper's 0.999 averages over about a thousand iterations, longer than this
short run's last stage.

Minibatch standard deviation by class: D sees real and generated images in one batch, and the
paper's strided groups of four then mix two real and two generated images of random classes,
so the statistic measures the spread between classes and never sees a generator that draws
one image per class (which this recipe did: recall 0.06 against the real digits' 0.90,
within-class variety 0.34). Here each block of D's batch comes sorted by class
(`training.sort_by_class`) and the groups are contiguous (`mbstd_grouping="contiguous"`), so a
group holds four images of one kind and mostly one class: recall 0.58, variety 1.12
(benchmarks/RESULTS.md, "ProGAN digits").
"""

from tfbiggan.training.defaults import base_config


def get_config():
    c = base_config()
    c.model.preset = "progan_digits_32"
    c.data.pipeline.source = "digits"
    c.data.pipeline.num_classes = 10
    c.data.pipeline.random_flip = False     # Mirrored digits are other glyphs.
    c.data.pipeline.shuffle_buffer = 2048
    c.model.overrides.mbstd_grouping = "contiguous"
    c.training.sort_by_class = True
    c.progressive.enabled = True
    c.progressive.stabilize_images = 6_400
    c.progressive.fade_images = 6_400
    c.progressive.batch_sizes = ()          # training.batch_size at every resolution.
    c.training.steps = 2000
    c.training.batch_size = 32
    c.training.accumulation_steps = 1
    c.training.num_d_steps = 1
    c.training.loss = "wgan_gp"
    c.training.loss_options.drift = 0.001
    c.training.gp_lambda = 10.0
    c.training.ortho_beta = 0.0
    c.training.g_lr = 1e-3
    c.training.d_lr = 1e-3
    c.training.beta1 = 0.0
    c.training.beta2 = 0.99
    c.training.adam_eps = 1e-8
    c.training.ema_decay = 0.995
    c.training.ema_start = 1200             # End of the 32×32 fade-in.
    c.checkpoint.every = 500
    c.log.every = 50
    c.log.sample_every = 500
    c.log.singular_values_every = 0
    return c
