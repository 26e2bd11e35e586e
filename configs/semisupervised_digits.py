"""Semi-supervised K+1 GAN on the bundled digits with 100 labels (10 per class).

python -m tfbiggan.train --config=configs/semisupervised_digits.py --workdir=/tmp/tfbiggan_semi_digits

Salimans et al. 2016 (arXiv 1606.03498, §5): D classifies into the 10 digits plus "fake" (its
logit fixed at 0), trained on the labelled 100 and the unlabelled rest of the training split;
G is trained with feature matching. The held-out accuracy of D as a classifier is written to
metrics.jsonl at the end; print it with
python -m tfbiggan.training.semi_supervised --workdir=/tmp/tfbiggan_semi_digits
"""

from tfbiggan.training.defaults import base_config


def get_config():
    c = base_config()
    c.model.preset = "progan_semisupervised_digits_32"
    c.data.pipeline.source = "digits"
    c.data.pipeline.num_classes = 10
    c.training.mode = "semi_supervised"
    c.training.feature_matching = "replace"
    c.training.steps = 1500
    c.training.batch_size = 64
    c.training.accumulation_steps = 1
    c.training.num_d_steps = 1
    c.training.ortho_beta = 0.0
    c.training.g_lr = 3e-4
    c.training.d_lr = 3e-4
    c.training.beta1 = 0.5
    c.training.beta2 = 0.999
    c.training.adam_eps = 1e-8
    c.training.ema_decay = 0.999
    c.training.ema_start = 0
    c.semi_supervised.labels_per_class = 10
    c.semi_supervised.labeled_batch_size = 16
    c.checkpoint.every = 500
    c.log.every = 50
    c.log.sample_every = 0                  # The generator is unconditional.
    c.log.singular_values_every = 0
    return c
