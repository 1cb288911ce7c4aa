"""What `train.py --data DATA --epochs N` gives in a fixed time on this machine, beside the recipe before it.

    python bench/recipe.py [--data PREPARED] [--budget 5] [--recipes default,before,frames] [--flow METHOD] [--runs FOLDER]

Each recipe trains SlowFast on the prepared set for as many epochs as fit in `--budget` minutes
(timed by a three-epoch probe: the first two with the start-up, then one more), from scratch, in this
process, one after the other:
- default: `train.py --epochs N` as it is now (a warm-up epoch and a cosine to near zero); on data
  with steady flow (prepare.py's default: the scene's motion, the camera's taken out), SlowFast on it:
  at each sampled frame the two flow fields up to the next one, at 48x48, half the clips mirrored;
- before: the recipe before it, the same command then: gray frames at 112x112, a constant 2e-3,
  every 3D kernel computed as stacked frames and Keras's own batch norm (the layers as
  `bench/conv_speed.py` times them);
- frames: today's schedule and layers on gray frames at 112x112 (`--modality frames`), the default
  before steady flow was.
For each it prints the validation top-1 of the saved (best) model, its mean class accuracy and worst
classes, the best epoch's and the last epoch's validation accuracy, the training clips per second
(validation included) and the minutes it took, then the ratios of the default to the one before.
The goal (issue 17): top-1 >= 0.95, every class >= 0.85, the last epoch within 1 point of the best,
within 5 minutes, at 2x the clips per second of the recipe before.

Without `--data` it measures on the set `bench/heldout.py` draws (fetching its backgrounds the first
time), written and prepared with the defaults and `--flow` (default farneback-steady) in a temporary folder: a style
the project was not tuned on. `synthetic.py` writes the demo's style, the one the project was tuned on.
"""

import argparse
import contextlib
import csv
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import heldout  # noqa: E402
import keras  # noqa: E402
from conv_speed import computed_as  # noqa: E402

import evaluate  # noqa: E402
import prepare  # noqa: E402
import train  # noqa: E402
from clips import flow  # noqa: E402
from clips.index import read_index  # noqa: E402
from nets.layers import FramesAsBatch, FrameStackConv3D  # noqa: E402
from training.runs import RunCheckpoint  # noqa: E402

RECIPES = {
    "default": ([], contextlib.nullcontext),
    "before": (
        ["--modality", "frames", "--decay", "constant", "--warmup", "0"],
        # SlowFast has no frame backbone: FramesAsBatch keeps its own call
        lambda: computed_as(FrameStackConv3D.stacked_op, keras.layers.BatchNormalization.call, FramesAsBatch.call),
    ),
    "frames": (["--modality", "frames"], contextlib.nullcontext),
}


@contextlib.contextmanager
def epoch_ends(times):
    """Appends the time at which each epoch of train.py ends (when its checkpoint is written) to `times`."""
    original = RunCheckpoint.on_epoch_end

    def timed(self, epoch, logs=None):
        original(self, epoch, logs)
        times.append(time.perf_counter())

    RunCheckpoint.on_epoch_end = timed
    try:
        yield
    finally:
        RunCheckpoint.on_epoch_end = original


def timed_training(data, run, epochs, options, seed):
    """Seconds of one `train.py` invocation from scratch, and the seconds from its start to each epoch's end."""
    argv = ["--data", str(data), "--run", str(run), "--fresh", "--epochs", str(epochs), "--seed", str(seed), *options]
    ends = []
    started = time.perf_counter()
    with epoch_ends(ends):
        train.main(argv)
    return time.perf_counter() - started, [end - started for end in ends]


def epochs_within(budget_seconds, probe):
    """Epochs that fit in the budget, from a three-epoch probe: its start-up and first two epochs, then one
    epoch each as long as its third, and what follows the last (the chart, written when a run ends)."""
    total, (_, second, third) = probe
    return max(1, 2 + int((budget_seconds - second - (total - third)) // (third - second)))


def measure(name, data, folder, budget_minutes, seed):
    """One recipe's figures, its probe and run trained in `folder`."""
    options, layers = RECIPES[name]
    with layers():
        probe = timed_training(data, folder / f"{name}_probe", 3, options, seed)
        epochs = epochs_within(budget_minutes * 60, probe)
        ends = ", ".join(f"{end:.1f}" for end in probe[1])
        print(f"{name}: the probe's epochs ended {ends} s after its start, its run {probe[0]:.1f} s; {epochs} epochs fit")
        run = folder / name
        seconds, _ = timed_training(data, run, epochs, options, seed)
    metrics = evaluate.evaluate(run)
    with open(run / "history.csv", newline="") as file:
        accuracies = [float(row["val_accuracy"]) for row in csv.DictReader(file)]
    clips = len(read_index(data, "train")) * epochs
    worst = sorted(metrics["per_class"].items(), key=lambda item: item[1]["accuracy"])[:3]
    return {
        "recipe": name,
        "epochs": epochs,
        "top1": metrics["top1"],
        "mean_class": metrics["mean_class_accuracy"],
        "worst": ", ".join(f"{label} {entry['accuracy']:.2f}" for label, entry in worst),
        "best": max(accuracies),
        "last": accuracies[-1],
        "clips_per_second": clips / seconds,
        "minutes": seconds / 60,
    }


def heldout_data(folder, seed, flow_method):
    """bench/heldout.py's set, prepared with prepare.py's defaults and the flow of `--flow flow_method`
    (the frames are the defaults' either way)."""
    counts = heldout.write_set(folder / "heldout", seed=seed)
    print(f"bench/heldout.py --seed {seed}: {counts['train']} training and {counts['validation']} validation clips")
    prepare.prepare(folder / "heldout", folder / "data", flow_method=flow_method, progress=False)
    return folder / "data"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a prepared data folder (prepare.py) (default: bench/heldout.py's set, made here)")
    parser.add_argument("--budget", type=float, default=5.0, help="minutes of training per recipe (default: 5)")
    parser.add_argument("--recipes", default="default,before", help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--seed", type=int, default=0, help="train.py's --seed (default: 0)")
    parser.add_argument("--draw", type=int, default=7, help="bench/heldout.py's --seed, without --data (default: 7)")
    parser.add_argument(
        "--flow",
        default=flow.DEFAULT,
        choices=flow.CHOICES,
        help=f"prepare.py's --flow for the set made here (default: {flow.DEFAULT})",
    )
    parser.add_argument("--runs", help="keep each recipe's run folder here, for evaluate.py (default: deleted)")
    args = parser.parse_args(argv)
    names = args.recipes.split(",")
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipes {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    with tempfile.TemporaryDirectory() as folder:
        data = args.data or heldout_data(Path(folder), args.draw, args.flow)
        runs = Path(args.runs or folder)
        results = [measure(name, data, runs, args.budget, args.seed) for name in names]
    print(f"\n{args.data or f'bench/heldout.py --seed {args.draw}'}, {args.budget:g} minutes of training per recipe\n")
    print("| recipe | epochs | top-1 | mean class | worst classes | best epoch | last epoch | clips/s | minutes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['recipe']} | {r['epochs']} | {r['top1']:.3f} | {r['mean_class']:.3f} | {r['worst']} | "
            f"{r['best']:.3f} | {r['last']:.3f} | {r['clips_per_second']:.1f} | {r['minutes']:.1f} |"
        )
    by_name = {r["recipe"]: r for r in results}
    if {"default", "before"} <= by_name.keys():
        new, old = by_name["default"], by_name["before"]
        print(
            f"\ndefault / before: clips per second {new['clips_per_second'] / old['clips_per_second']:.2f} x (goal: 2 x), "
            f"top-1 {new['top1']:.3f} against {old['top1']:.3f}; the default's last epoch is "
            f"{100 * (new['best'] - new['last']):.1f} points below its best (goal: at most 1)"
        )


if __name__ == "__main__":
    main()
