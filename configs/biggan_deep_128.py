"""BigGAN-deep at 128×128 on ImageNet (Brock et al. 2019, App. B and C).

python -m tfbiggan.train --config=configs/biggan_deep_128.py --workdir=gs://BUCKET/deep128 \
  --strategy=tpu --tpu=NAME --config.data.pipeline.data_dir=gs://BUCKET/tensorflow_datasets

ch 128, z 128 (not split; [z, embedding] conditions every block), bottleneck blocks, attention
at 64, the TF-Hub 128-channel output convolution; otherwise the BigGAN 128 recipe (lr 5e-5 /
2e-4, 2 D steps, batch 2048).
"""

from tfbiggan.training.defaults import imagenet_config


def get_config():
    return imagenet_config("biggan_deep_128_hub")
