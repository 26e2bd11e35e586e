"""tfbiggan: BigGAN, BigGAN-deep and Progressive GAN for TensorFlow 2 / Keras 3.

`import tfbiggan` does not import TensorFlow (the commands configure TensorFlow's environment
before its first import); `tfbiggan.GAN` (tfbiggan/gan.py) is imported on first use.
"""

__version__ = "0.1.0"


def __getattr__(name):
    if name == "GAN":
        from tfbiggan.gan import GAN  # pylint: disable=import-outside-toplevel
        return GAN
    raise AttributeError(f"module 'tfbiggan' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {"GAN"})
