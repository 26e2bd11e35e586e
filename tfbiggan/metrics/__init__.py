"""Evaluation metrics: IS, FID, KID, precision/recall, density/coverage, within-class variety,
intra-FID, SWD, MS-SSIM.

All metric functions take NumPy arrays or tensors and return Python floats; feature networks
(the TF-GAN Inception v3 module, or the digits classifier for the bundled digits) map images
in [-1, 1] to (features, logits).
"""

from tfbiggan.metrics.class_fid import intra_fid
from tfbiggan.metrics.classifier import class_consistency
from tfbiggan.metrics.classifier import FeatureClassifier
from tfbiggan.metrics.classifier import load_classifier
from tfbiggan.metrics.digits import DigitsClassifier
from tfbiggan.metrics.digits import load_digits_classifier
from tfbiggan.metrics.fashion_mnist import load_fashion_mnist_classifier
from tfbiggan.metrics.feature_statistics import compute_statistics
from tfbiggan.metrics.feature_statistics import load_statistics
from tfbiggan.metrics.feature_statistics import RunningStatistics
from tfbiggan.metrics.feature_statistics import save_statistics
from tfbiggan.metrics.frechet import fid_from_activations
from tfbiggan.metrics.frechet import fid_from_statistics_and_activations
from tfbiggan.metrics.frechet import frechet_distance
from tfbiggan.metrics.inception import extract_features
from tfbiggan.metrics.inception import INCEPTION_HANDLE
from tfbiggan.metrics.inception import load_inception
from tfbiggan.metrics.kernel_distance import kid_from_activations
from tfbiggan.metrics.kl_score import inception_score_from_logits
from tfbiggan.metrics.manifold import density_coverage
from tfbiggan.metrics.manifold import precision_recall
from tfbiggan.metrics.multiscale_ssim import ms_ssim
from tfbiggan.metrics.swd import sliced_wasserstein
from tfbiggan.metrics.variety import class_variety

# Short names of the public API (SPEC §1).
fid = fid_from_activations
kid = kid_from_activations
inception_score = inception_score_from_logits
