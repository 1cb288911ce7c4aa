"""Latency of one live prediction: the app's compiled call against the slower ways to call a model.

    python bench/app_latency.py [--run model] [--calls 20]

Measures, for `slowfast` at 16x112x112x1 (or the run's model), the milliseconds of one clip
prediction by the app's compiled predictor, by calling the model eagerly and by `model.predict`,
and the milliseconds to preprocess one 640x480 camera frame. Medians.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import numpy as np  # noqa: E402

import network  # noqa: E402
from datagenerator import preprocess_frame  # noqa: E402
from evaluation.costs import median_ms  # noqa: E402
from training.runs import compiled_predictor, load_run  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a trained run folder (default: an untrained slowfast)")
    parser.add_argument("--calls", type=int, default=20, help="calls per measurement (default: 20)")
    args = parser.parse_args(argv)
    if args.run:
        config, _, model = load_run(args.run)
        shape = tuple(config["input_shape"])
    else:
        shape = (16, 112, 112, 1)
        model = network.build_model("slowfast", input_shape=shape, num_classes=27)
    clip = np.random.default_rng(0).uniform(-1, 1, (1, *shape)).astype("float32")
    camera_frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    predictor = compiled_predictor(model)
    figures = {
        "app's compiled predictor": median_ms(lambda: predictor(clip), args.calls),
        "eager model(clip)": median_ms(lambda: model(clip, training=False), args.calls),
        "model.predict(clip)": median_ms(lambda: model.predict(clip, verbose=0), args.calls),
        "preprocess one 640x480 frame": median_ms(lambda: preprocess_frame(camera_frame, shape[1:3], shape[3]), args.calls),
    }
    print(f"\nmilliseconds per call, {model.name} at {shape} (median of {args.calls})")
    for name, ms in figures.items():
        print(f"{name:<32}{ms:>8.1f}")
    compiled = figures["app's compiled predictor"]
    print(
        f"\nup to {1000 / compiled:.1f} predictions per second; eager is {figures['eager model(clip)'] / compiled:.1f}x, "
        f"predict {figures['model.predict(clip)'] / compiled:.1f}x slower"
    )


if __name__ == "__main__":
    main()
