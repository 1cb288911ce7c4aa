"""Training-step time of SlowFast and I3D with FrameStackConv3D, against Conv3D's own computation.

    python bench/conv_speed.py [--steps 3] [--models slowfast,i3d]

`nets.layers.FrameStackConv3D` computes a 3D convolution as one 2D convolution of stacked frames.
Each model is built twice with the same weights: once as the project builds it, once with every
FrameStackConv3D computing as `keras.layers.Conv3D` does (the baseline). Prints the median seconds
of a training step (after one warm-up step) for both, and their ratio, from the same run.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from data_pipeline import step_seconds  # noqa: E402

import network  # noqa: E402
from nets.layers import FrameStackConv3D  # noqa: E402

# (input, batch) per model: the demo's SlowFast input; I3D smaller, as Conv3D takes long there.
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
    stacked_op = FrameStackConv3D.convolution_op
    rows = []
    for name in args.models.split(","):
        shape, batch_size = INPUTS[name]
        stacked, weights = measure(name, shape, batch_size, args.steps)
        FrameStackConv3D.convolution_op = keras.layers.Conv3D.convolution_op  # the baseline
        try:
            plain, _ = measure(name, shape, batch_size, args.steps, weights)
        finally:
            FrameStackConv3D.convolution_op = stacked_op
        rows.append((name, shape, batch_size, plain, stacked))
        print(f"{name}: Conv3D {plain:.3f} s, FrameStackConv3D {stacked:.3f} s a step", flush=True)
    print("\n| model | input, batch | Conv3D s/step | FrameStackConv3D s/step | speed-up |")
    print("|---|---|---|---|---|")
    for name, shape, batch_size, plain, stacked in rows:
        size = "x".join(map(str, shape))
        print(f"| `{name}` | {size}, {batch_size} | {plain:.3f} | {stacked:.3f} | {plain / stacked:.1f} x |")


if __name__ == "__main__":
    main()
