"""Training-step time of SlowFast, I3D and MobileNet+GRU with the project's layers, against Keras's own computation.

    python bench/conv_speed.py [--steps 3] [--models slowfast,i3d,mobilenet_gru]

`nets.layers.FrameStackConv3D` computes a 3D convolution as 2D convolutions,
`nets.layers.FusedBatchNormalization` trains batch norm with TensorFlow's fused kernel, and
`nets.layers.FramesAsBatch` runs a 2D backbone once on every frame of the batch where Keras 3's
TimeDistributed runs it once per frame. Each model is built three times with the same weights and
timed on the same batch:
- Keras: every FrameStackConv3D computing as `keras.layers.Conv3D` does, Keras's batch norm and
  TimeDistributed;
- stacked: every kernel as stacked frames (the project's computation before the (kt, 1, 1) kernels
  became time x pixels images), Keras's batch norm;
- as built: the project's layers as they are.
Prints the median seconds of a training step (after one warm-up step), the seconds of that first
step (tracing the graph: what every `train.py` start pays) and the speed-ups, from the same run.
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from data_pipeline import step_seconds  # noqa: E402

import network  # noqa: E402
from nets.layers import FramesAsBatch, FrameStackConv3D, FusedBatchNormalization  # noqa: E402

# (input, batch) per model: the demo's SlowFast input; I3D smaller, to keep the bench to a minute or two.
INPUTS = {"slowfast": ((16, 112, 112, 1), 16), "i3d": ((16, 64, 64, 3), 2), "mobilenet_gru": ((16, 112, 112, 3), 8)}
NUM_CLASSES = 9


def measure(name, shape, batch_size, steps, weights=None):
    """Median seconds of a training step, seconds of the first, and the model's weights (for the other measurements)."""
    options = {"weights": None} if name in network.PRETRAINED else {}
    model = network.build_model(name, input_shape=shape, num_classes=NUM_CLASSES, **options)
    if weights is not None:
        model.set_weights(weights)
    model.compile(keras.optimizers.Adam(1e-3, amsgrad=True), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    clips = rng.uniform(-1, 1, (batch_size, *shape)).astype("float32")
    labels = np.arange(batch_size) % NUM_CLASSES
    started = time.perf_counter()
    model.train_on_batch(clips, labels)  # the first step traces the graph
    first = time.perf_counter() - started
    return (step_seconds(model, clips, labels, steps), first), model.get_weights()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per measurement (default: 3)")
    parser.add_argument("--models", default=",".join(INPUTS), help=f"comma-separated (default: {','.join(INPUTS)})")
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        shape, batch_size = INPUTS[name]
        built, weights = measure(name, shape, batch_size, args.steps)
        keras_calls = keras.layers.BatchNormalization.call, keras.layers.TimeDistributed.call
        with computed_as(keras.layers.Conv3D.convolution_op, *keras_calls):
            plain, _ = measure(name, shape, batch_size, args.steps, weights)
        with computed_as(FrameStackConv3D.stacked_op, keras.layers.BatchNormalization.call, FramesAsBatch.call):
            stacked, _ = measure(name, shape, batch_size, args.steps, weights)
        rows.append((name, shape, batch_size, plain, stacked, built))
        figures = ", ".join(
            f"{how} {step:.3f} s (first {first:.1f} s)" for how, (step, first) in zip(HOW, (plain, stacked, built))
        )
        print(f"{name} a step: {figures}", flush=True)
    columns = "Keras s/step | stacked s/step | as built s/step | speed-up over Keras, over stacked | first step: Keras, as built"
    print(f"\n| model | input, batch | {columns} |")
    print("|---|---|---|---|---|---|---|")
    for name, shape, batch_size, plain, stacked, built in rows:
        size = "x".join(map(str, shape))
        ratios = f"{plain[0] / built[0]:.1f} x, {stacked[0] / built[0]:.1f} x"
        steps = f"{plain[0]:.3f} | {stacked[0]:.3f} | {built[0]:.3f}"
        print(f"| `{name}` | {size}, {batch_size} | {steps} | {ratios} | {plain[1]:.1f} s, {built[1]:.1f} s |")


HOW = ("Keras", "stacked", "as built")


@contextlib.contextmanager
def computed_as(convolution_op, batch_norm_call, frames_call):
    """The project's layers computing another way while models are built and timed within."""
    saved = FrameStackConv3D.convolution_op, FusedBatchNormalization.call, FramesAsBatch.call
    FrameStackConv3D.convolution_op, FusedBatchNormalization.call, FramesAsBatch.call = (
        convolution_op,
        batch_norm_call,
        frames_call,
    )
    try:
        yield
    finally:
        FrameStackConv3D.convolution_op, FusedBatchNormalization.call, FramesAsBatch.call = saved


if __name__ == "__main__":
    main()
