"""BigGAN at 512×512 on ImageNet with the paper's recipe (see configs/imagenet128.py):
z 160 (8 chunks of 20), attention at 64.

python -m tfbiggan.train --config=configs/imagenet512.py --workdir=gs://BUCKET/biggan512 \
  --strategy=tpu --tpu=NAME --config.data.pipeline.data_dir=gs://BUCKET/tensorflow_datasets
"""

from tfbiggan.training.defaults import imagenet_config


def get_config():
    return imagenet_config("biggan_512", resolution_buffer=256)
