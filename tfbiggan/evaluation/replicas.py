"""Batch functions split over the replicas of a tf.distribute strategy, outputs gathered in
order, so that evaluation under the training strategy gives the figures of one device."""

import numpy as np
import tensorflow as tf


class SplitOverReplicas:
    """Runs a per-example batch function with each batch split over a strategy's replicas.

    `fn(*tensors)` maps batch-first tensors to a tensor or a tuple of batch-first tensors (a
    generator forward pass, a feature network). Each call splits its NumPy batch into one
    contiguous slice per replica (the last slices are padded by repeating the final example),
    runs `fn` on every replica with `strategy.run` inside one compiled function, and gathers the
    outputs back in the original order, as NumPy arrays. Under MultiWorkerMirroredStrategy every
    worker must make the same calls with the same batches (the gather is a collective).

    Args:
      fn: the batch function; it runs in replica context (variables created under the
        strategy's scope are read from the local replica).
      strategy: a tf.distribute strategy.

    Example:
      >>> split = SplitOverReplicas(classifier, trainer.strategy)
      >>> features, logits = split(images)          # NumPy, as classifier(images) would give
    """

    def __init__(self, fn, strategy):
        self.fn = fn
        self.strategy = strategy
        self.num_replicas = int(strategy.num_replicas_in_sync)
        self._step = tf.function(self._distributed_step, reduce_retracing=True)

    def _distributed_step(self, per_replica_args):
        outputs = self.strategy.run(self.fn, args=per_replica_args)
        return tf.nest.map_structure(lambda t: self.strategy.gather(t, axis=0), outputs)

    def __call__(self, *arrays):
        arrays = [np.asarray(a) for a in arrays]
        count = len(arrays[0])
        if count < 1 or any(len(a) != count for a in arrays):
            raise ValueError(f"the batch arrays must share one non-zero batch size, got "
                             f"{[len(a) for a in arrays]}.")
        per_replica = -(-count // self.num_replicas)
        padding = per_replica * self.num_replicas - count
        if padding:
            arrays = [np.concatenate([a, np.repeat(a[-1:], padding, axis=0)]) for a in arrays]

        def replica_slice(context):
            start = context.replica_id_in_sync_group * per_replica
            return tuple(tf.constant(a[start:start + per_replica]) for a in arrays)

        values = self.strategy.experimental_distribute_values_from_function(replica_slice)
        outputs = self._step(values)
        return tf.nest.map_structure(lambda t: np.asarray(t)[:count], outputs)


def is_multi_replica(strategy):
    return strategy is not None and int(strategy.num_replicas_in_sync) > 1


def split_over_replicas(fn, strategy):
    """`fn` unchanged without a strategy or with one replica (or when it is already split for
    `strategy`), else `SplitOverReplicas(fn, strategy)`."""
    if not is_multi_replica(strategy):
        return fn
    if isinstance(fn, SplitOverReplicas) and fn.strategy is strategy:
        return fn
    return SplitOverReplicas(fn, strategy)
