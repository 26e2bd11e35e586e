"""Class-conditional BigGAN on Fashion-MNIST at 32×32, grey (the main job's training run).

python -m tfbiggan.train --config=configs/fashion_mnist.py --workdir=/tmp/tfbiggan_fashion_mnist

The 60,000 training images (Debian's `dataset-fashion-mnist` in
/usr/share/datasets/fashion-mnist, or `--config.data.pipeline.path=DIR` holding the four IDX
files), padded 28 → 32 with black, one channel end to end, mirrored at random; otherwise the
digits recipe (configs/digits.py: hierarchical z, shared embedding, channel width 8) at
batch 16 for 8,000 iterations (about 9 minutes on two cores), under XLA, with a minibatch
standard deviation map before D's last block over groups of four class-sorted images.
`python -m tfbiggan.demo` runs it and then samples, exports and evaluates.
"""

from tfbiggan.training.defaults import fashion_mnist_config


def get_config():
    return fashion_mnist_config()
