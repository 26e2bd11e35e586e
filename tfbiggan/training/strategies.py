"""Choosing a tf.distribute strategy from a flag value."""

import json
import os
import socket

import tensorflow as tf
from absl import logging

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def make_strategy(name="default", tpu=None):
    """Returns the strategy called `name`.

    Args:
      name: "default" (no distribution), "one_device" (the first GPU, else the CPU),
        "mirrored" (all local GPUs, or all logical CPUs when there is no GPU),
        "multi_worker" (MultiWorkerMirroredStrategy from TF_CONFIG), or "tpu".
      tpu: TPU name or grpc address for "tpu" (else $TPU_NAME).
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; accepted: {list(STRATEGIES)}.")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs TF_CONFIG describing the cluster "
                             "(see tf.distribute.MultiWorkerMirroredStrategy).")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as error:
            raise ValueError(f"TF_CONFIG is not valid JSON: {error}.") from error
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy(tpu)


def _tpu_strategy(tpu):
    tpu = tpu or os.environ.get("TPU_NAME")
    if not tpu:
        raise ValueError("--strategy=tpu needs a TPU: pass --tpu=NAME (or a grpc://HOST:PORT "
                         "address, or 'local' on a TPU VM), or set TPU_NAME.")
    if tpu == "local" and not os.path.exists("/dev/accel0") and not os.path.exists(
            "/dev/vfio"):
        raise ValueError("--tpu=local but this machine has no TPU devices (/dev/accel*).")
    _check_reachable(tpu)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError, RuntimeError) as error:
        raise ValueError(f"Cannot reach the TPU {tpu!r}: {error}") from error
    logging.info("TPU devices: %s", tf.config.list_logical_devices("TPU"))
    return tf.distribute.TPUStrategy(resolver)


def _check_reachable(tpu, timeout=10.0):
    """Fails at once when nothing listens at a grpc://HOST:PORT TPU address (connecting to the
    cluster would otherwise wait for it indefinitely)."""
    if not tpu.startswith("grpc://"):
        return
    host, _, port = tpu[len("grpc://"):].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as error:
        raise ValueError(f"Cannot reach the TPU {tpu!r}: nothing answers at {host}:{port} "
                         f"({error}).") from error


def is_chief(strategy):
    """True for the worker that writes checkpoints, summaries and samples."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0
                                                         and "chief" not in
                                                         resolver.cluster_spec().jobs)
