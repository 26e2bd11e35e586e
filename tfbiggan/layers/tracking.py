"""Checkpoint dependencies for sublayers held in Python lists.

Keras tracks list-held sublayers for `model.weights`, but `tf.train.Checkpoint` only follows
attributes, so without this their variables would silently be left out of checkpoints.
"""


def track_list(owner, prefix, layers):
    """Also stores each (non-None) layer of `layers` as attribute `{prefix}_{index}`."""
    for index, layer in enumerate(layers):
        if layer is not None:
            setattr(owner, f"{prefix}_{index}", layer)
