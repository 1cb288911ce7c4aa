"""What a model costs: parameters, GFLOPs per clip and CPU milliseconds per clip.

    from evaluation import costs
    costs.gflops(model, (16, 112, 112, 1))       # one multiply-add counted as one FLOP, as papers do
    costs.cpu_ms(model, (16, 112, 112, 1))       # median of calls at batch 1 through app.py's compiled predictor

Used by `compare.py` and `bench/models.py`. GFLOPs come from TensorFlow's profiler, run on the
frozen graph of a tf.function of the model at batch 1. It counts a multiply and an add as two, so
its figure is halved; `check_multiply_add_convention` checks this on one Conv3D counted by hand
(4x8x8 outputs x 16 filters x 3x3x3x3 weights = 331,776; the profiler says 663,552). Elementwise
ops (bias, batch normalisation) are halved with the rest; they add little. A while loop's body is
counted once, not per step, so recurrent layers (LSTM, GRU) are profiled unrolled: an LSTM(128)
over 16 steps of 1024 features has 9,437,184 multiply-adds by hand, the profiler finds 0.53 M in
a loop and 9.45 M unrolled.
"""

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from common.timing import median_seconds
from training.runs import compiled_predictor


def profiler_flops(model, shape):
    """TensorFlow's profiler count (a multiply and an add are two) for one call at batch 1."""
    call = tf.function(lambda clip: model(clip, training=False))
    concrete = call.get_concrete_function(tf.TensorSpec((1, *shape), tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options)
    return profile.total_float_ops


def unrolled(model):
    """The model with its recurrent layers unrolled, one op per step: a while loop is counted once."""

    def clone(layer):
        if isinstance(layer, keras.layers.RNN):
            return layer.__class__.from_config({**layer.get_config(), "unroll": True})
        return layer  # shared, not copied

    has_recurrent = any(isinstance(layer, keras.layers.RNN) for layer in model.layers)
    return keras.models.clone_model(model, clone_function=clone) if has_recurrent else model


def check_multiply_add_convention():
    """One Conv3D without bias: the profiler must count 2 FLOPs per hand-counted multiply-add."""
    clip = keras.Input((4, 8, 8, 3))
    model = keras.Model(clip, keras.layers.Conv3D(16, 3, padding="same", use_bias=False)(clip))
    by_hand = 4 * 8 * 8 * 16 * (3 * 3 * 3 * 3)
    ratio = profiler_flops(model, (4, 8, 8, 3)) / by_hand
    print(f"profiler check: Conv3D with {by_hand:,} multiply-adds by hand, profiler counts {ratio:.2f} FLOPs each")
    if ratio != 2:
        raise SystemExit(f"Expected TensorFlow's profiler to count 2 FLOPs per multiply-add, got {ratio}; GFLOPs would be wrong.")


def gflops(model, shape):
    """Billions of multiply-adds for one input of `shape` (without the batch axis)."""
    tf.get_logger().setLevel("ERROR")  # the v1 profiler's deprecation warnings
    return profiler_flops(unrolled(model), shape) / 2 / 1e9


def median_ms(function, calls):
    """Median milliseconds of `calls` calls of `function`, after one to warm up (tracing, allocation)."""
    return 1000 * median_seconds(function, calls)


def cpu_ms(model, shape, calls=5):
    """Milliseconds per input at batch 1 through the app's compiled predictor."""
    clip = np.random.default_rng(0).uniform(-1, 1, (1, *shape)).astype("float32")
    predictor = compiled_predictor(model)
    return median_ms(lambda: predictor(clip), calls)


def trainable_parameters(model):
    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
