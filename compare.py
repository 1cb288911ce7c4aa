"""Train several models with one recipe on one prepared dataset, and compare them in a table and a chart.

    python compare.py --data data --models c3d,mobilenet_lstm,mobilenet_gru --epochs 20 --lr 1e-3 --channels 3

The study of the MobileNet+LSTM project (Conv3D against MobileNet with an LSTM or a GRU), for any
registered models. Every option compare.py does not know is train.py's, given to every model alike
(`--epochs`, `--lr`, `--lr-schedule`, `--frames`, `--size`, `--channels`, `--batch-size`, `--seed` ...).
Each model trains through train.py into OUT/<model>/ and is measured by evaluate.py on the
validation split; evaluation/costs.py counts its parameters and GFLOPs and times it on the CPU. Writes
OUT/comparison.md (a table) and OUT/comparison.png (a chart), with in each row:

    top-1, mean class accuracy   evaluate.py, --clips windows per clip
    parameters, GFLOPs per clip  of the trained model, at its input
    training clips per second    the median epoch's training clips over its seconds of training
                                 (validation not counted; the first epoch, which compiles, only if alone)
    inference ms per clip        batch 1 through the app's compiled predictor, median of --calls

Started again with the same command, a killed comparison goes on: a model whose training finished
is not trained again, and one interrupted resumes where it stopped.
"""

from common import quiet  # noqa: F401  # isort: skip  (first: TensorFlow starts without its C++ start-up lines)

import argparse
import json
import statistics
import sys
from pathlib import Path

import keras

import evaluate
import train
from common.files import write_atomic
from evaluation import costs
from network import MODELS, PRETRAINED
from training.runs import load_run, recover_checkpoint, run_dataset, save_figure
from training.settings import resolve_config

COLUMNS = [  # (key, heading, format)
    ("top1", "top-1", "{:.3f}"),
    ("mean_class_accuracy", "mean class accuracy", "{:.3f}"),
    ("parameters", "parameters (M)", "{:.2f}"),
    ("gflops", "GFLOPs per clip", "{:.3g}"),
    ("train_clips_per_second", "training clips/s", "{:.1f}"),
    ("inference_ms", "inference ms per clip", "{:.1f}"),
]


def train_model(name, data_dir, run_dir, recipe, weights):
    """Trains one model with the recipe: once, as one invocation of train.py. A run of this recipe that
    finished is kept, an interrupted one resumes, and a run folder holding anything else is refused."""
    argv = ["--data", str(data_dir), "--run", str(run_dir), "--model", name, *recipe]
    if name in PRETRAINED and weights:
        argv += ["--weights", weights]
    args = train.make_parser().parse_args(argv)
    state = recover_checkpoint(run_dir)
    if state:
        resolve_config(args, run_dir, state)  # another model, data or shape: a ValueError
        invocation = state.get("invocation", {})
        if invocation.get("schedule") != train.schedule_of(args) or invocation.get("from_epoch") != 1:
            raise ValueError(f"{run_dir} holds a run trained with another recipe; give another --out.")
        if invocation.get("done"):
            print(f"{name}: trained already in {run_dir}")
            return state
    print(f"{name}: training in {run_dir}")
    return train.main(argv)


def training_speed(state, num_clips):
    """Training clips per second of the median epoch (the first, which compiles, left out if others exist)."""
    seconds = [row["train_seconds"] for row in state["history"] if row.get("train_seconds")]
    return num_clips / statistics.median(seconds[1:] or seconds)


def measure(name, run_dir, state, clips, calls, workers):
    loaded = load_run(run_dir)  # once: a large model (C3D's 46 M parameters) takes seconds to load
    metrics = evaluate.evaluate(run_dir, clips=clips, workers=workers, loaded=loaded)
    config, _, model = loaded
    shape = tuple(config["input_shape"])
    figures = {
        "model": name,
        "input": list(shape),
        "epochs": state["epoch"],
        "top1": metrics["top1"],
        "mean_class_accuracy": metrics["mean_class_accuracy"],
        "parameters": model.count_params() / 1e6,
        "gflops": costs.gflops(model, shape),
        "train_clips_per_second": training_speed(state, run_dataset(config, "train").num_clips),
        "inference_ms": costs.cpu_ms(model, shape, calls),
    }
    keras.backend.clear_session()  # the next model starts with fresh memory
    return figures


def table(rows, recipe, clips, weights=None):
    recipe_text = " ".join([*recipe, *(["--weights", weights] if weights else [])]) or "train.py's defaults"
    lines = [
        f"Recipe: `{recipe_text}`; top-1 on the validation split with {clips} clip(s) per video.",
        "",
        "| model | input | epochs | " + " | ".join(heading for _, heading, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 3) + "|",
    ]
    for row in rows:
        values = " | ".join(text.format(row[key]) for key, _, text in COLUMNS)
        lines.append(f"| `{row['model']}` | {'x'.join(map(str, row['input']))} | {row['epochs']} | {values} |")
    return "\n".join(lines) + "\n"


def chart(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(COLUMNS), figsize=(3.2 * len(COLUMNS), 3.6))
    names = [row["model"] for row in rows]
    for axis, (key, heading, text) in zip(axes, COLUMNS):
        values = [row[key] for row in rows]
        bars = axis.bar(names, values, color=[f"C{i}" for i in range(len(rows))])
        axis.bar_label(bars, [text.format(value) for value in values], fontsize=8)
        axis.set_title(heading, fontsize=10)
        axis.tick_params(axis="x", labelrotation=45, labelsize=8)
        axis.margins(y=0.15)
    figure.tight_layout()
    save_figure(figure, path)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        epilog="Any other option is train.py's (see python train.py --help), given to every model.",
    )
    parser.add_argument("--data", default="data", help="prepared data folder from prepare.py (default: data)")
    models = "c3d,mobilenet_lstm,mobilenet_gru"
    parser.add_argument("--models", default=models, help=f"comma-separated models (default: {models})")
    parser.add_argument("--out", default="comparison", help="folder for the runs, table and chart (default: comparison)")
    parser.add_argument("--weights", help=f"for {', '.join(sorted(PRETRAINED))}: imagenet, none or a file (default: train.py's)")
    parser.add_argument("--clips", type=int, default=1, help="evaluation windows per clip (default: 1)")
    parser.add_argument("--calls", type=int, default=10, help="timed inference calls per model (default: 10)")
    args, recipe = parser.parse_known_args(argv)
    names = args.models.split(",")
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(MODELS))}")
    if args.clips < 1 or args.calls < 1:
        parser.error(f"--clips and --calls must be at least 1, got {args.clips} and {args.calls}")
    given = train.make_parser().parse_args(recipe)  # the recipe's own mistakes are reported here
    clashing = [
        option for option, value in (("--model", given.model), ("--run", given.run != "model"), ("--fresh", given.fresh)) if value
    ]
    if clashing:
        parser.error(f"{', '.join(clashing)} is set by compare.py for each model; leave it out")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for name in names:
            state = train_model(name, args.data, out / name, recipe, args.weights)
            rows.append(measure(name, out / name, state, args.clips, args.calls, given.workers))
            print(json.dumps(rows[-1]), flush=True)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"compare.py: {error}")
    markdown = table(rows, recipe, args.clips, args.weights)
    write_atomic(out / "comparison.md", markdown)
    write_atomic(out / "comparison.json", json.dumps(rows, indent=1) + "\n")
    chart(rows, out / "comparison.png")
    print("\n" + markdown)
    print(f"wrote {out / 'comparison.md'}, {out / 'comparison.png'} and {out / 'comparison.json'}")
    return rows


if __name__ == "__main__":
    main()
