"""Fine-tunes a converted pretrained BigGAN on a new class-conditional dataset.

python -m export.convert_pretrained --source=biggan-deep-128_1.tar.gz --output=/tmp/deep128
python -m tfbiggan.train --config=configs/finetune_pretrained.py:/tmp/deep128 \
  --workdir=/tmp/finetune --config.data.pipeline.source=folder \
  --config.data.pipeline.path=/data/flowers --config.data.pipeline.num_classes=5

The text after the colon is the converted workdir. The model section rebuilds its generator
(`init_from.model_overrides_from`: the preset of its family and resolution plus what differs);
the generator's class count follows `data.pipeline.num_classes`. G and the EMA G start from the
converted weights, D starts fresh (orthogonal) or, with `--config.model.init_discriminator=True`,
from BigGAN-PyTorch's released D.pth. New classes start from the mean class embedding, or
from chosen source classes with `--config.model.init_class_map=(1,2,3,4,5)` (see
tfbiggan/training/init_from.py). Recipe: hinge loss, lr 1e-4 (D) / 2.5e-5 (G), 2 D steps,
EMA 0.999 from step 0 (it starts at the pretrained weights), batch 64 with 4 accumulation
steps, 20,000 iterations; adjust to the dataset's size.
"""

from tfbiggan.training import defaults, init_from


def get_config(pretrained=None):
    """`pretrained`: the converted workdir (None: a BigGAN-deep 128 layout to fill in)."""
    c = defaults.base_config()
    c.model.preset = "biggan_deep_128_hub"
    if pretrained:
        c.model.preset, overrides = init_from.model_overrides_from(pretrained)
        for key, value in overrides.items():
            if key != "num_classes":
                c.model.overrides[key] = value
        c.model.init_from = pretrained
    c.data.pipeline.source = "folder"
    c.data.pipeline.num_classes = 5
    c.data.pipeline.shuffle_buffer = 1024
    # The generator has the dataset's classes.
    c.model.overrides.num_classes = c.data.pipeline.get_ref("num_classes")
    c.data.exact_resume = False
    t = c.training
    t.steps = 20_000
    t.batch_size = 64
    t.accumulation_steps = 4
    t.num_d_steps = 2
    t.g_lr = 2.5e-5
    t.d_lr = 1e-4
    t.ema_decay = 0.999
    t.ema_start = 0
    c.checkpoint.every = 1000
    c.log.sample_every = 1000
    c.log.singular_values_every = 1000
    return c
