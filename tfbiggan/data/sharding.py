"""Per-input-pipeline sharding under `tf.distribute`."""


def num_pipelines(input_context):
    """Number of input pipelines of a `tf.distribute.InputContext` (1 when it is None)."""
    return 1 if input_context is None else input_context.num_input_pipelines


def shard(dataset, input_context, what="dataset", size=None):
    """Keeps this input pipeline's share of `dataset` (every n-th element from its id).

    Args:
      dataset: a `tf.data.Dataset`.
      input_context: a `tf.distribute.InputContext`, or None (no sharding).
      what: description of the data for the error message.
      size: number of elements, when known, to check that every pipeline gets one.

    Returns:
      The sharded dataset.

    Example:
      >>> shard(tf.data.Dataset.range(8), tf.distribute.InputContext(2, 1, 2))
    """
    count = num_pipelines(input_context)
    if count == 1:
        return dataset
    if size is not None and size < count:
        raise ValueError(
            f"{what} has {size} elements, fewer than the {count} input pipelines that share "
            "it; each pipeline needs at least one.")
    return dataset.shard(count, input_context.input_pipeline_id)
