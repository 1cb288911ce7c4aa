"""Training-step time of SlowFast and I3D with the project's layers, against Keras's own computation.

    python bench/conv_speed.py [--steps 3] [--models slowfast,i3d]

`nets.layers.FrameStackConv3D` computes a 3D convolution as 2D convolutions, and
`nets.layers.FusedBatchNormalization` trains batch norm with TensorFlow's fused kernel. Each model
is built three times with the same weights and timed on the same batch:
- Keras: every FrameStackConv3D computing as `keras.layers.Conv3D` does, Keras's batch norm;
- stacked: every kernel as stacked frames (the project's computation before the (kt, 1, 1) kernels
  became time x pixels images), Keras's batch norm;
- as built: the project's layers as they are.
Prints the median seconds of a training step (after one warm-up step) and the speed-ups, from the same run.
"""

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from data_pipeline import step_seconds  # noqa: E402

import network  # noqa: E402
from nets.layers import FrameStackConv3D, FusedBatchNormalization  # noqa: E402

# (input, batch) per model: the demo's SlowFast input; I3D smaller, to keep the bench to a minute or two.
INPUTS = {"slowfast": ((16, 112, 112, 1), 16), "i3d": ((16, 64, 64, 3), 2)}
NUM_CLASSES = 9


def measure(name, shape, batch_size, steps, weights=None):
    """Median seconds of a training step, and the model's weights (for the other measurement)."""
    options = {"weights": None} if name in network.PRETRAINED else {}
    model = network.build_model(name, input_shape=shape, num_classes=NUM_CLASSES, **options)
    if weights is not None:
        model.set_weights(weights)
    model.compile(keras.optimizers.Adam(1e-3, amsgrad=True), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    clips = rng.uniform(-1, 1, (batch_size, *shape)).astype("float32")
    labels = np.arange(batch_size) % NUM_CLASSES
    return step_seconds(model, clips, labels, steps), model.get_weights()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps per measurement (default: 3)")
    parser.add_argument("--models", default="slowfast,i3d", help="comma-separated (default: slowfast,i3d)")
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        shape, batch_size = INPUTS[name]
        built, weights = measure(name, shape, batch_size, args.steps)
        with computed_as(keras.layers.Conv3D.convolution_op, keras.layers.BatchNormalization.call):
            plain, _ = measure(name, shape, batch_size, args.steps, weights)
        with computed_as(FrameStackConv3D.stacked_op, keras.layers.BatchNormalization.call):
            stacked, _ = measure(name, shape, batch_size, args.steps, weights)
        rows.append((name, shape, batch_size, plain, stacked, built))
        print(f"{name}: Keras {plain:.3f} s, stacked {stacked:.3f} s, as built {built:.3f} s a step", flush=True)
    print("\n| model | input, batch | Keras s/step | stacked s/step | as built s/step | speed-up over Keras, over stacked |")
    print("|---|---|---|---|---|---|")
    for name, shape, batch_size, plain, stacked, built in rows:
        size = "x".join(map(str, shape))
        ratios = f"{plain / built:.1f} x, {stacked / built:.1f} x"
        print(f"| `{name}` | {size}, {batch_size} | {plain:.3f} | {stacked:.3f} | {built:.3f} | {ratios} |")


@contextlib.contextmanager
def computed_as(convolution_op, batch_norm_call):
    """The project's layers computing another way while models are built and timed within."""
    saved = FrameStackConv3D.convolution_op, FusedBatchNormalization.call
    FrameStackConv3D.convolution_op, FusedBatchNormalization.call = convolution_op, batch_norm_call
    try:
        yield
    finally:
        FrameStackConv3D.convolution_op, FusedBatchNormalization.call = saved


if __name__ == "__main__":
    main()
