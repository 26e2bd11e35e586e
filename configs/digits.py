"""Class-conditional BigGAN on the bundled digits at 32×32 (the demo).

python -m tfbiggan.train --config=configs/digits.py --workdir=/tmp/tfbiggan_digits
"""

from tfbiggan.training.defaults import base_config


def get_config():
    c = base_config()
    c.model.preset = "biggan_tiny_32"
    c.model.overrides.ch = 16
    c.model.overrides.attention = ()
    c.model.overrides.num_truncation_stats = 11
    c.data.pipeline.source = "digits"
    c.data.pipeline.num_classes = 10
    c.data.pipeline.random_flip = False     # Mirrored digits are other glyphs.
    c.data.pipeline.shuffle_buffer = 2048
    c.training.steps = 1500
    c.training.batch_size = 32
    c.training.accumulation_steps = 1
    c.training.num_d_steps = 2
    c.training.g_lr = 2e-4
    c.training.d_lr = 2e-4
    c.training.ema_decay = 0.999
    c.training.ema_start = 500
    c.checkpoint.every = 500
    c.log.every = 50
    c.log.sample_every = 500
    c.log.singular_values_every = 500
    return c
