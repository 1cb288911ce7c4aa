"""One device: Keras's `fit` against training/loop.py's custom loop, on the same data, model and seed.

    python bench/training_loop.py --data demo/data [--epochs 3] [--model slowfast]

train.py trains with `fit` on one machine and with the custom loop across machines. This measures
whether the loop could be the one path everywhere: the default model at the run's defaults
(16x112x112x1, batch 16, 2 loading threads, the default schedule's rates), trained from the same
weights for a few epochs each way in this process, one after the other. Prints each epoch's seconds
(the first includes building the graph), the median of the others and their ratio, and the
largest difference of the training losses.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import train  # noqa: E402
from clips.index import read_classes  # noqa: E402
from training import loop, lr_schedule  # noqa: E402
from training.runs import RUN_DEFAULTS, run_dataset  # noqa: E402


class EpochSeconds(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds, self.losses = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)
        self.losses.append(float(logs["loss"]))


def measure(config, classes, epochs, use_loop):
    """Seconds of each epoch and its training loss, by fit or by the loop, from the seed's weights."""
    model = train.new_model(config, classes)
    train.compile_model(model)
    train.build_training_state(model, config["input_shape"])
    data = run_dataset(config, "train", workers=2)
    validation = run_dataset(config, "validation", workers=2)
    schedule = lr_schedule.make_schedule([[lr_schedule.DEFAULT_LR, epochs]], decay="cosine")
    timer = EpochSeconds()
    callbacks = [lr_schedule.LearningRateControl(schedule, 0, lr_schedule.fresh_counters()), timer]
    if use_loop:
        loop.fit_across_workers(model, tf.distribute.get_strategy(), data, validation, epochs, 0, callbacks, verbose=0)
    else:
        model.fit(data, validation_data=validation, epochs=epochs, callbacks=callbacks, shuffle=False, verbose=0)
    return timer.seconds, timer.losses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="demo/data", help="a prepared data folder (default: demo/data, from make demo)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each path, the first not counted (default: 3)")
    parser.add_argument("--model", default="slowfast", help="model to train (default: slowfast)")
    args = parser.parse_args(argv)
    data_dir = Path(args.data)
    classes = read_classes(data_dir)
    config = {**RUN_DEFAULTS, "model": args.model, "data": str(data_dir), "num_classes": len(classes)}
    config["input_shape"] = [config["frames"], config["size"], config["size"], config["channels"]]
    fps = json.loads((data_dir / "dataset.json").read_text(encoding="utf-8")).get("fps")
    print(f"{args.model} {tuple(config['input_shape'])} at {fps} fps, batch {config['batch_size']}, {args.epochs} epochs each")
    results = {}
    for name, use_loop in (("fit", False), ("loop", True)):
        seconds, losses = measure(config, classes, args.epochs, use_loop)
        later = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
        results[name] = later, losses
        epochs, losses_text = ", ".join(f"{s:.1f}" for s in seconds), ", ".join(f"{v:.4f}" for v in losses)
        print(f"{name:5s} epochs {epochs} s; median after the first {later:.2f} s; losses {losses_text}")
    (fit_seconds, fit_losses), (loop_seconds, loop_losses) = results["fit"], results["loop"]
    largest = max(abs(a - b) / abs(a) for a, b in zip(fit_losses, loop_losses))
    ratio = loop_seconds / fit_seconds
    print(f"loop / fit: {ratio:.3f} x the seconds per epoch; the losses differ by at most {largest:.2e} (relative)")


if __name__ == "__main__":
    main()
