"""BigGAN-PyTorch's CIFAR-10 recipe (launch_cifar_ema.sh) on TFDS cifar10.

python -m tfbiggan.train --config=configs/cifar10.py --workdir=/tmp/tfbiggan_cifar10

ch 64, per-layer class embeddings (no shared embedding, no hierarchical z), no attention,
batch 50, 4 D steps per G step, lr 2e-4 for both, Adam β (0, 0.999) ε 1e-8, N(0, 0.02)
initialisation, SN ε 1e-8, BN ε 1e-5, EMA from iteration 1000, 500 epochs (125k iterations of
4 × 50 real images), no orthogonal regularisation.
"""

from tfbiggan.training.defaults import base_config


def get_config():
    c = base_config()
    c.model.preset = "biggan_32"
    c.model.overrides.kernel_initializer = {"class_name": "RandomNormal",
                                            "config": {"mean": 0.0, "stddev": 0.02}}
    c.data.pipeline.source = "tfds"
    c.data.pipeline.name = "cifar10"
    c.data.pipeline.split = "train"
    c.data.pipeline.num_classes = 10
    c.data.pipeline.random_flip = False
    c.data.pipeline.shuffle_buffer = 10_000
    c.training.steps = 125_000
    c.training.batch_size = 50
    c.training.accumulation_steps = 1
    c.training.num_d_steps = 4
    c.training.g_lr = 2e-4
    c.training.d_lr = 2e-4
    c.training.adam_eps = 1e-8
    c.training.ortho_beta = 0.0
    c.training.ema_start = 1000
    c.checkpoint.every = 2000
    c.log.sample_every = 2000
    c.log.singular_values_every = 2000
    return c
