"""tfbiggan: BigGAN, BigGAN-deep and Progressive GAN for TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
