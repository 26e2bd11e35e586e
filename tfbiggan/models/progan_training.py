"""The Progressive GAN models with the trainer's call convention, plus the Improved-Techniques
discriminator options.

`ProGANGenerator` / `ProGANDiscriminator` take one structure, `(z, labels)` or
`(images, labels)`. The trainer and the training step call every generator as
`generator(z, y, training=...)` and every discriminator as
`discriminator(images, y, training=..., return_features=...)`, and read `dim_z`,
`num_classes` and `resolution`, as for the BigGAN models. The two classes below give the
ProGAN models that interface; their weights, growth state (`stage`, `alpha`) and numerics are
those of the parents, and both are built on construction (the trainer clones and checkpoints
them before any call).

Discriminator options (both off by default, leaving the parent's parameters unchanged):

- `minibatch_kernels` > 0: minibatch discrimination (Salimans et al. 2016, §3.2) on the
  penultimate features h: o = MinibatchDiscrimination(h) adds `minibatch_kernels` closeness
  features, and the head reads concat(h, o) (realised as the parent's output dense on h plus
  a bias-free dense on o, the same linear map on the concatenation).
- `class_logits` = K > 0: the semi-supervised K+1 head (Salimans et al. 2016, §5): the output
  is K class logits [B, K], the "fake" logit fixed at 0. Logit k = the parent's real/fake
  logit + a per-class dense on the head features, so the shared term carries realness and the
  per-class term the class. Requires `num_classes=0` (no projection conditioning).
"""

import keras
from keras import ops

from tfbiggan.layers.equalized import EqualizedDense
from tfbiggan.layers.minibatch_discrimination import MinibatchDiscrimination
from tfbiggan.models.progan import ProGANDiscriminator, ProGANGenerator


def _check_non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` must be an integer >= 0, got {value!r}.")


@keras.saving.register_keras_serializable(package="tfbiggan")
class ProGANTrainingGenerator(ProGANGenerator):
    """`ProGANGenerator` called as `generator(z, y, training=False, truncation=None)`.

    Args: those of `ProGANGenerator` (`latent_dim` is also readable as `dim_z`). `y` is
    ignored when `num_classes` is 0; `truncation` is accepted for the sampling tools and
    ignored (a ProGAN has no batch-norm statistics to select; truncate z instead).

    Example:
      >>> g = ProGANTrainingGenerator(resolution=16, latent_dim=8, num_classes=10,
      ...                             fmap_base=64, fmap_max=16)
      >>> g(keras.random.normal((2, 8)), ops.array([1, 2])).shape
      (2, 16, 16, 3)

    Paper: Karras et al. 2018 (arXiv 1710.10196).
    """

    def __init__(self, resolution, latent_dim, num_classes=0, embedding_dim=None,
                 fmap_base=8192, fmap_max=512, output_channels=3, output_activation="linear",
                 **kwargs):
        super().__init__(resolution, latent_dim, num_classes=num_classes,
                         embedding_dim=embedding_dim, fmap_base=fmap_base, fmap_max=fmap_max,
                         output_channels=output_channels,
                         output_activation=output_activation, **kwargs)
        self.build((None, latent_dim))

    @property
    def dim_z(self):
        return self.latent_dim

    @property
    def _default_save_signature(self):
        # Keras gives a built model a one-input serving function for SavedModels, which cannot
        # call (z, y); exported modules define their own signatures (export_hub).
        return None

    def call(self, z, y=None, training=False, truncation=None):
        del truncation
        inputs = (z, y) if self.num_classes else z
        return super().call(inputs, training=training)

    def compute_output_spec(self, z, y=None, training=False, truncation=None):
        shape = (z.shape[0], self.resolution, self.resolution, self.output_channels)
        return keras.KerasTensor(shape, dtype="float32")


@keras.saving.register_keras_serializable(package="tfbiggan")
class ProGANTrainingDiscriminator(ProGANDiscriminator):
    """`ProGANDiscriminator` called as `discriminator(images, y, training, return_features)`.

    Args: those of `ProGANDiscriminator`, and
      minibatch_kernels: number of minibatch-discrimination features (0: off).
      minibatch_kernel_dim: dimension C of each projected row of minibatch discrimination.
      class_logits: K > 0 for the semi-supervised K+1 head (needs num_classes=0); 0: the
        usual single realness logit.

    Returns logits float32 [B, 1] (or [B, K] with `class_logits`), and with
    `return_features=True` also the penultimate features h [B, C₀] (before minibatch
    discrimination), e.g. for feature matching.

    Example:
      >>> d = ProGANTrainingDiscriminator(resolution=16, fmap_base=64, fmap_max=16,
      ...                                 minibatch_kernels=8, minibatch_kernel_dim=4)
      >>> d(keras.random.normal((4, 16, 16, 3)), None).shape
      (4, 1)

    Papers: Karras et al. 2018 (arXiv 1710.10196); Salimans et al. 2016 (arXiv 1606.03498).
    """

    def __init__(self, resolution, num_classes=0, fmap_base=8192, fmap_max=512,
                 input_channels=3, mbstd_group_size=4, mbstd_grouping="strided",
                 minibatch_kernels=0, minibatch_kernel_dim=8, class_logits=0, **kwargs):
        _check_non_negative_int("minibatch_kernels", minibatch_kernels)
        _check_non_negative_int("class_logits", class_logits)
        if isinstance(minibatch_kernel_dim, bool) or not isinstance(
                minibatch_kernel_dim, int) or minibatch_kernel_dim < 1:
            raise ValueError(f"`minibatch_kernel_dim` must be a positive integer, got "
                             f"{minibatch_kernel_dim!r}.")
        if class_logits and num_classes:
            raise ValueError(f"`class_logits` ({class_logits}) is the semi-supervised head and "
                             f"needs `num_classes`=0 (no projection), got num_classes="
                             f"{num_classes}.")
        super().__init__(resolution, num_classes=num_classes, fmap_base=fmap_base,
                         fmap_max=fmap_max, input_channels=input_channels,
                         mbstd_group_size=mbstd_group_size, mbstd_grouping=mbstd_grouping,
                         **kwargs)
        self.minibatch_kernels = minibatch_kernels
        self.minibatch_kernel_dim = minibatch_kernel_dim
        self.class_logits = class_logits
        if minibatch_kernels:
            self.minibatch_discrimination = MinibatchDiscrimination(
                minibatch_kernels, minibatch_kernel_dim, name="minibatch_discrimination")
            self.minibatch_dense = EqualizedDense(1, gain=1.0, use_bias=False,
                                                  name="minibatch_output")
        if class_logits:
            self.class_dense = EqualizedDense(class_logits, gain=1.0, name="class_logits")
        self.build((None, resolution, resolution, self.input_channels))

    def build(self, input_shape):
        super().build(input_shape)
        c0 = self.channels[0]
        if self.minibatch_kernels:
            self.minibatch_discrimination.build((None, c0))
            self.minibatch_dense.build((None, self.minibatch_kernels))
        if self.class_logits:
            self.class_dense.build((None, c0 + self.minibatch_kernels))

    def call(self, images, y=None, training=False, return_features=False):
        if not (self.minibatch_kernels or self.class_logits):
            inputs = (images, y) if self.num_classes else images
            return super().call(inputs, training=training, return_features=return_features)
        base, h = super().call((images, y) if self.num_classes else images,
                               training=training, return_features=True)
        head = h
        if self.minibatch_kernels:
            head = self.minibatch_discrimination(h)  # [h, closeness]
            closeness = head[:, -self.minibatch_kernels:]
            base = base + ops.cast(self.minibatch_dense(closeness), "float32")
        logits = base
        if self.class_logits:
            logits = base + ops.cast(self.class_dense(head), "float32")
        return (logits, h) if return_features else logits

    def compute_output_spec(self, images, y=None, training=False, return_features=False):
        logits = keras.KerasTensor((images.shape[0], max(1, self.class_logits)), "float32")
        if return_features:
            return logits, keras.KerasTensor((images.shape[0], self.channels[0]), "float32")
        return logits

    def get_config(self):
        config = super().get_config()
        config.update({"minibatch_kernels": self.minibatch_kernels,
                       "minibatch_kernel_dim": self.minibatch_kernel_dim,
                       "class_logits": self.class_logits})
        return config
