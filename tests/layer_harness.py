"""One harness every tfbiggan layer goes through (modelled on Keras's own layer tests).

`check_layer(factory, inputs, call_kwargs)` builds the layer with `factory()` and checks:
config round trip (get_config returns the constructor arguments and from_config rebuilds an
equal layer), JSON serialisation, a functional model with the layer saved to `.keras` and
reloaded with identical outputs, a run under the `mixed_bfloat16` policy, a call compiled with
XLA (`jit_compile=True`), and a training-mode call under a two-replica MirroredStrategy.
`inputs` is a tensor or a list of tensors passed positionally.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tests import conftest


def _as_list(inputs):
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def _call(layer, inputs, **kwargs):
    return layer(*_as_list(inputs), **kwargs)


def _first(outputs):
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def check_config_round_trip(factory):
    layer = factory()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["module"] is not None
    assert serialized.get("registered_name", "").startswith("tfbiggan>"), serialized
    rebuilt = keras.saving.deserialize_keras_object(serialized)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config


def check_save_load(factory, inputs, call_kwargs):
    inputs = [tf.convert_to_tensor(x) for x in _as_list(inputs)]
    keras_inputs = [keras.Input(shape=x.shape[1:], dtype=x.dtype, batch_size=x.shape[0])
                    for x in inputs]
    layer = factory()
    outputs = layer(*keras_inputs, **call_kwargs)
    model = keras.Model(keras_inputs, outputs)
    expected = _first(model(inputs, training=False))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        reloaded = keras.saving.load_model(path)
    got = _first(reloaded(inputs, training=False))
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6, atol=1e-6)
    return model, reloaded


def check_mixed_precision(factory, inputs, call_kwargs):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = factory()
        out = _first(_call(layer, inputs, training=True, **call_kwargs))
        assert out.dtype == tf.bfloat16, out.dtype
        assert np.all(np.isfinite(np.asarray(tf.cast(out, tf.float32))))
        for weight in layer.weights:
            assert weight.dtype == "float32", (weight.path, weight.dtype)
    finally:
        keras.config.set_dtype_policy(previous)


def check_xla(factory, inputs, call_kwargs):
    layer = factory()
    eager = _first(_call(layer, inputs, training=False, **call_kwargs))
    compiled = tf.function(
        lambda *xs: _first(layer(*xs, training=False, **call_kwargs)), jit_compile=True)
    got = compiled(*_as_list(inputs))
    np.testing.assert_allclose(np.asarray(got), np.asarray(eager), rtol=1e-5, atol=1e-5)
    train = tf.function(
        lambda *xs: _first(layer(*xs, training=True, **call_kwargs)), jit_compile=True)
    assert np.all(np.isfinite(np.asarray(train(*_as_list(inputs)))))


def check_mirrored(factory, inputs, call_kwargs):
    strategy = conftest.two_replica_strategy()
    inputs = _as_list(inputs)
    with strategy.scope():
        layer = factory()
        _call(layer, [x[:1] for x in inputs], training=False, **call_kwargs)
    dataset = tf.data.Dataset.from_tensor_slices(tuple(inputs)).batch(
        inputs[0].shape[0], drop_remainder=True)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(batch):
        return strategy.run(
            lambda *xs: _first(layer(*xs, training=True, **call_kwargs)), args=batch)

    outputs = strategy.experimental_local_results(step(batch))
    assert len(outputs) == 2
    for out in outputs:
        assert np.all(np.isfinite(np.asarray(out)))


def check_layer(factory, inputs, call_kwargs=None):
    """Runs every harness check on the layer made by `factory`."""
    call_kwargs = call_kwargs or {}
    check_config_round_trip(factory)
    check_save_load(factory, inputs, call_kwargs)
    check_mixed_precision(factory, inputs, call_kwargs)
    check_xla(factory, inputs, call_kwargs)
    check_mirrored(factory, inputs, call_kwargs)
