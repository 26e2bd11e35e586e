"""BigGAN at 128×128 on ImageNet with the paper's recipe (Brock et al. 2019).

python -m tfbiggan.train --config=configs/imagenet128.py --workdir=gs://BUCKET/biggan128 \
  --strategy=tpu --tpu=NAME --config.data.pipeline.data_dir=gs://BUCKET/tensorflow_datasets

Hinge loss, ch 96, z 120 (6 chunks of 20), shared embedding 128, attention at 64, batch 2048
(256 × 8 accumulation steps; on a pod set batch_size=2048, accumulation_steps=1), 2 D steps,
Adam lr 5e-5 (G) / 2e-4 (D), β (0, 0.999), ε 1e-6, orthogonal regularisation β 1e-4, EMA
0.9999 from 20k, cross-replica BN, BN and SN ε 1e-4. The imagenet2012 archives must be in
data.pipeline.manual_dir (TFDS prepares them on first use).
"""

from tfbiggan.training.defaults import imagenet_config


def get_config():
    return imagenet_config("biggan_128")
