"""Feature networks for the metrics: the TF-GAN Inception v3 module and batched extraction.

FID, KID, precision/recall and the Inception Score are defined on the pool3 features (2048-d)
and logits (1008 classes) of the Inception v3 network published for TF-GAN evaluation
(TF-Hub handle `INCEPTION_HANDLE`). Any callable images → (features, logits) can stand in.
"""

import os

from absl import logging
import numpy as np
import tensorflow as tf

INCEPTION_HANDLE = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"
INCEPTION_ENV_VAR = "TFBIGGAN_INCEPTION"
INCEPTION_IMAGE_SIZE = 299
_FEATURE_KEYS = ("pool_3", "pool3", "features")
_LOGIT_KEYS = ("logits",)

_HOW_TO_PROVIDE = (
    "Provide the TF-GAN Inception v3 evaluation module as a local SavedModel directory (for "
    f"example a downloaded and extracted copy of {INCEPTION_HANDLE}) or a reachable TF-Hub "
    f"handle, either by argument (the evaluation flag `--inception`) or through the "
    f"environment variable {INCEPTION_ENV_VAR}.")


def preprocess_for_inception(images, size=INCEPTION_IMAGE_SIZE):
    """NHWC images in [-1, 1] (1 or 3 channels) → float32 [B, size, size, 3] in [-1, 1].

    Bilinear resize, as TF-GAN's evaluation preprocessing; grey images are repeated to RGB.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"`images` must have shape [B, H, W, 1 or 3], got {images.shape}.")
    if images.shape[-1] == 1:
        images = tf.repeat(images, 3, axis=-1)
    images = tf.image.resize(images, (size, size), method="bilinear")
    return tf.clip_by_value(images, -1.0, 1.0)


def _split_outputs(outputs):
    """(features [B, F], logits [B, K]) from a dict or a pair of outputs."""
    if isinstance(outputs, dict):
        features = next((outputs[k] for k in _FEATURE_KEYS if k in outputs), None)
        logits = next((outputs[k] for k in _LOGIT_KEYS if k in outputs), None)
        if features is None or logits is None:
            raise ValueError(
                f"the feature network returned keys {sorted(outputs)}; expected one of "
                f"{list(_FEATURE_KEYS)} and one of {list(_LOGIT_KEYS)}.")
    elif isinstance(outputs, (list, tuple)) and len(outputs) == 2:
        features, logits = outputs
    else:
        raise ValueError(
            "the feature network must return a dict with `pool_3` and `logits` or a pair "
            f"(features, logits), got {type(outputs).__name__}.")
    features = tf.convert_to_tensor(features)
    logits = tf.convert_to_tensor(logits)
    batch = tf.shape(features)[0]
    return tf.reshape(features, [batch, -1]), tf.reshape(logits, [batch, -1])


def _as_callable(module):
    """The module itself if callable, else its default signature called with one image input."""
    if callable(module):
        return module
    signatures = getattr(module, "signatures", {})
    for key in ("default", "serving_default"):
        if key in signatures:
            signature = signatures[key]
            input_names = list(signature.structured_input_signature[1])
            if len(input_names) != 1:
                continue
            return lambda images, f=signature, name=input_names[0]: f(**{name: images})
    return None


def load_inception(handle_or_path=None, image_size=INCEPTION_IMAGE_SIZE):
    """Loads the Inception v3 evaluation network as a callable images → (features, logits).

    Args:
      handle_or_path: a local SavedModel directory or a TF-Hub handle (URL); None reads the
        environment variable `TFBIGGAN_INCEPTION`.
      image_size: input side the network expects (299 for Inception v3).

    Returns:
      A function taking NHWC images in [-1, 1] (any size, 1 or 3 channels) and returning
      (pool3 features [B, 2048] float32, logits [B, 1008] float32) as tensors.

    Raises:
      ValueError: when no network is given; FileNotFoundError for a missing local path;
      OSError when a handle cannot be loaded. Each says how to provide the network.

    Example:
      >>> inception = load_inception("/data/tfgan_inception")
      >>> features, logits = inception(images)

    Reference: Szegedy et al. 2016 (arXiv 1512.00567); TF-GAN evaluation module.
    """
    import tensorflow_hub as hub  # pylint: disable=import-outside-toplevel

    if handle_or_path is None:
        handle_or_path = os.environ.get(INCEPTION_ENV_VAR) or None
    if handle_or_path is None:
        raise ValueError("no Inception network was given. " + _HOW_TO_PROVIDE)
    handle_or_path = os.fspath(handle_or_path)
    is_remote = "://" in handle_or_path and not handle_or_path.startswith("file://")
    location = handle_or_path if is_remote else handle_or_path.removeprefix("file://")
    if not is_remote and not os.path.isdir(location):
        raise FileNotFoundError(
            f"the Inception network path {handle_or_path!r} does not exist or is not a "
            "directory. " + _HOW_TO_PROVIDE)
    try:
        module = hub.load(location)
    except Exception as error:  # Network, format and permission errors all end up here.
        raise OSError(
            f"could not load the Inception network from {handle_or_path!r} "
            f"({type(error).__name__}: {error}). " + _HOW_TO_PROVIDE) from error
    network = _as_callable(module)
    if network is None:
        raise OSError(
            f"{handle_or_path!r} is neither callable nor has a `default` signature. "
            + _HOW_TO_PROVIDE)
    logging.info("Loaded the Inception network from %s.", handle_or_path)

    def inception(images):
        return _split_outputs(network(preprocess_for_inception(images, image_size)))

    return inception


def extract_features(feature_fn, images_or_generator_fn, batch_size=100, num_samples=None,
                     log_every=10):
    """Runs `feature_fn` over images in batches and gathers (features, logits).

    Args:
      feature_fn: callable images → (features [B, F], logits [B, K]).
      images_or_generator_fn: an array/tensor of images [N, H, W, C], or a callable
        `fn(batch_size)` returning a fresh batch of images (e.g. generator samples).
      batch_size: images per call.
      num_samples: how many to process; defaults to N for an array, required for a callable.
      log_every: log the progress every this many batches (absl INFO).

    Returns:
      (features float32 [num_samples, F], logits float32 [num_samples, K]) as NumPy arrays.

    Example:
      >>> feats, logits = extract_features(inception, lambda n: sample(n), 100, 10000)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    is_fn = callable(images_or_generator_fn)
    if is_fn:
        if num_samples is None:
            raise ValueError("`num_samples` is required when images come from a function.")
    else:
        images = images_or_generator_fn
        total = int(images.shape[0])
        num_samples = total if num_samples is None else num_samples
        if num_samples > total:
            raise ValueError(
                f"`num_samples` ({num_samples}) exceeds the number of images ({total}).")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"`num_samples` must be a positive integer, got {num_samples!r}.")
    features, logits = [], []
    done, batches = 0, 0
    while done < num_samples:
        count = min(batch_size, num_samples - done)
        if is_fn:
            batch = images_or_generator_fn(batch_size)[:count]
        else:
            batch = images[done:done + count]
        batch_features, batch_logits = feature_fn(batch)
        features.append(np.asarray(batch_features, np.float32))
        logits.append(np.asarray(batch_logits, np.float32))
        done += count
        batches += 1
        if batches % log_every == 0 or done == num_samples:
            logging.info("Extracted features for %d / %d images.", done, num_samples)
    return np.concatenate(features), np.concatenate(logits)
