"""BigGAN at 256×256 on ImageNet with the paper's recipe (see configs/imagenet128.py):
z 140 (7 chunks of 20), generator attention at 128.

python -m tfbiggan.train --config=configs/imagenet256.py --workdir=gs://BUCKET/biggan256 \
  --strategy=tpu --tpu=NAME --config.data.pipeline.data_dir=gs://BUCKET/tensorflow_datasets
"""

from tfbiggan.training.defaults import imagenet_config


def get_config():
    return imagenet_config("biggan_256", resolution_buffer=512)
