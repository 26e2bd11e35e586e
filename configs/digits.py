"""Class-conditional BigGAN on the bundled digits at 32×32 (the demo's training run).

python -m tfbiggan.train --config=configs/digits.py --workdir=/tmp/tfbiggan_digits

BigGAN's 32×32 design at channel width 8 with hierarchical z and a shared class embedding,
no attention; batch 32, one D step per G step, lr 2e-4 (G) / 4e-4 (D), EMA 0.99 from step
1000, 2000 iterations. `python -m tfbiggan.demo` runs it and then samples,
exports and evaluates.
"""

from tfbiggan.training.defaults import digits_config


def get_config():
    return digits_config()
