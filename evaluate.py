"""Measure a trained run on prepared clips: top-1, top-5 and a confusion matrix.

    python evaluate.py --run model [--data DATA_DIR] [--split validation]
    python evaluate.py --fuse RUN_SPATIAL RUN_MOTION [--weights 1,1.5]   # two streams, see fusion.py

Clips are sampled as in validation (centred, no augmentation). Writes into the run folder
`metrics.json` ({"top1": ..., "top5": ..., "num_clips": ...}) and `confusion.png`.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from prepare import write_atomic
from train import load_run, run_dataset, save_figure


def top_k_accuracy(probabilities, labels, k):
    k = min(k, probabilities.shape[1])
    top = np.argsort(-probabilities, axis=1)[:, :k]
    return float(np.mean([label in row for label, row in zip(labels, top)]))


def confusion_matrix(labels, predictions, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def plot_confusion(matrix, classes, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(5, 0.45 * len(classes) + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = axis.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(classes)), classes, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    if len(classes) <= 30:
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                axis.text(
                    column,
                    row,
                    count,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if rates[row, column] > 0.5 else "black",
                )
    figure.colorbar(image, fraction=0.046)
    figure.tight_layout()
    save_figure(figure, path)


def evaluate(run_dir, data_dir=None, split="validation", batch_size=16, workers=2):
    """Returns the metrics dict and writes metrics.json and confusion.png into the run folder."""
    run_dir = Path(run_dir)
    config, classes, model = load_run(run_dir)
    data_dir = data_dir or config["data"]
    data = run_dataset(config, split, data_dir, batch_size=batch_size, augment=False, shuffle=False, workers=workers)
    if data.classes != classes:
        raise ValueError(f"{data_dir} has other classes than the run {run_dir} was trained on.")
    if (data.labels < 0).any():
        raise ValueError(f"Split {split!r} of {data_dir} has unlabelled clips; evaluate a labelled split.")
    probabilities = model.predict(data, verbose=0)
    predictions = probabilities.argmax(axis=1)
    metrics = {
        "top1": float(np.mean(predictions == data.labels)),
        "top5": top_k_accuracy(probabilities, data.labels, 5),
        "num_clips": int(len(data.labels)),
        "split": split,
        "data": str(data_dir),
    }
    write_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    matrix = confusion_matrix(data.labels, predictions, len(classes))
    plot_confusion(
        matrix,
        classes,
        run_dir / "confusion.png",
        f"{config['model']} on {split}: top-1 {metrics['top1']:.3f} ({metrics['num_clips']} clips)",
    )
    return metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="model", help="run folder written by train.py (default: model)")
    parser.add_argument("--data", help="prepared data folder (default: the one the run trained on)")
    parser.add_argument(
        "--split", default="validation", choices=("train", "validation", "test"), help="split to measure (default: validation)"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="clips per batch (default: 16)")
    parser.add_argument("--workers", type=int, default=2, help="data-loading threads (default: 2)")
    parser.add_argument("--fuse", nargs=2, metavar=("RUN_A", "RUN_B"), help="fuse two runs (two streams) instead of --run")
    parser.add_argument("--weights", default="1,1", help="with --fuse: the runs' weights in the average fusion (default: 1,1)")
    parser.add_argument(
        "--positions", type=int, default=5, help="with --fuse: places scored per clip by a two-stream run (default: 5)"
    )
    args = parser.parse_args(argv)
    if args.fuse:
        return fuse_runs(args, parser)
    try:
        metrics = evaluate(args.run, args.data, args.split, args.batch_size, args.workers)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"evaluate.py: {error}")
    print(
        f"{args.split}: top-1 {metrics['top1']:.4f}, top-5 {metrics['top5']:.4f} on {metrics['num_clips']} clips; "
        f"wrote {Path(args.run) / 'metrics.json'} and {Path(args.run) / 'confusion.png'}"
    )
    return metrics


def fuse_runs(args, parser):
    import fusion

    try:
        weights = [float(w) for w in args.weights.split(",")]
    except ValueError:
        weights = []
    if len(weights) != 2 or min(weights) < 0 or sum(weights) <= 0:
        parser.error(f"--weights takes two non-negative numbers like 1,1.5; got {args.weights!r}")
    try:
        results = fusion.fuse(*args.fuse, args.data, args.split, weights, args.positions, args.workers)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"evaluate.py: {error}")
    print(fusion.report(results))
    print(f"wrote {Path(args.fuse[0]) / 'fusion.json'}")
    return results


if __name__ == "__main__":
    main()
