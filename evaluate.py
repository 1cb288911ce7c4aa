"""Measure a trained run on prepared clips: top-1, top-5, mean class accuracy, per class, confusions.

    python evaluate.py --run model [--data DATA_DIR] [--split validation] [--clips 10] [--crops 3]
    python evaluate.py --fuse RUN_SPATIAL RUN_MOTION [--weights 1,1.5]   # two streams, see evaluation/fusion.py
    python evaluate.py --model model/export/model_int8.tflite           # an exported model (export.py)
    python evaluate.py --stream VIDEO [VIDEO ...] [--truth TRUTH.json]  # gesture events on continuous video

Each clip is looked at in `--clips` windows spread evenly over its length (1: the centred one, as in
validation) and, with `--crops 3`, in three views along the frame's long side; its score is the
average of their class probabilities, as the papers' multi-clip testing does. Writes into the run
folder `metrics.json` (the figures, per-class accuracy and the most frequent confusions),
`scores.npz` (every clip's name, label and class probabilities) and `confusion.png`; for an
exported model, NAME.metrics.json and NAME.confusion.png beside it.

`--stream` instead runs the app's recognition path (live/recognizer.py, frame by frame as with
`app.py --sync`, with the app's event options) over each video and scores the events it fires
against the video's truth (VIDEO.json unless `--truth`; its format is in evaluation/streams.py):
hits, misses, false and early events, Levenshtein accuracy and latency after each gesture's end.
Writes them to streams.json in the run folder (NAME.streams.json beside an export).
"""

from common import quiet  # noqa: F401  # isort: skip  (first: TensorFlow starts without its C++ start-up lines)

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common.files import write_atomic
from evaluation.scoring import CROPS, confusion_matrix, per_class, save_scores, score_clips, top_confusions, top_k_accuracy
from evaluation.streams import combine, read_truth, score_stream, summary
from live.buffers import add_view_arguments, make_buffer
from live.events import add_event_arguments, events_from_arguments
from live.exported import load_export
from live.recognizer import Recognizer, load_predictor
from live.sources import Source
from training.runs import load_run, save_figure


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
                color = "white" if rates[row, column] > 0.5 else "black"
                axis.text(column, row, count, ha="center", va="center", fontsize=7, color=color)
    figure.colorbar(image, fraction=0.046)
    figure.tight_layout()
    save_figure(figure, path)


def evaluate(run_dir, data_dir=None, split="validation", batch_size=16, workers=2, clips=1, crops=1, export=None, loaded=None):
    """Returns the metrics dict and writes metrics.json, scores.npz and confusion.png into the run folder,
    or for an `export` (a file of export.py), NAME.metrics.json and NAME.confusion.png beside it.
    `loaded`: the run's (config, classes, model) from load_run, when the caller holds them already."""
    if export:
        config, classes, model = load_export(export)
        run_dir, prefix = Path(export).parent, f"{Path(export).name}."
    else:
        config, classes, model = loaded or load_run(run_dir)
        run_dir, prefix = Path(run_dir), ""
    data_dir = data_dir or config["data"]
    probabilities, data = score_clips(model, config, split, data_dir, clips, crops, batch_size, workers, classes)
    predictions = probabilities.argmax(axis=1)
    matrix = confusion_matrix(data.labels, predictions, len(classes))
    classes_seen = per_class(matrix, classes)
    metrics = {
        "top1": float(np.mean(predictions == data.labels)),
        "top5": top_k_accuracy(probabilities, data.labels, 5),
        "mean_class_accuracy": float(np.mean([entry["accuracy"] for entry in classes_seen.values()])),
        "num_clips": int(len(data.labels)),
        "views": {"clips": clips, "crops": crops},
        "split": split,
        "data": str(data_dir),
        "per_class": classes_seen,
        "top_confusions": top_confusions(matrix, classes),
    }
    write_atomic(run_dir / f"{prefix}metrics.json", json.dumps(metrics, indent=1) + "\n")
    if not export:  # scores for fusion are the Keras model's
        save_scores(run_dir / "scores.npz", data, probabilities, classes, (clips, crops))
    views = f"{clips} clip{'s' if clips > 1 else ''} x {crops} crop{'s' if crops > 1 else ''}"
    title = f"{prefix[:-1] or config['model']} on {split} ({views}): top-1 {metrics['top1']:.3f} ({metrics['num_clips']} clips)"
    plot_confusion(matrix, classes, run_dir / f"{prefix}confusion.png", title)
    return metrics


def report(metrics):
    """The figures, a table of the classes, and the most frequent confusions, as text."""
    width = max(len(name) for name in metrics["per_class"]) + 2
    lines = [
        f"{metrics['split']}: top-1 {metrics['top1']:.4f}, top-5 {metrics['top5']:.4f}, mean class accuracy "
        f"{metrics['mean_class_accuracy']:.4f} on {metrics['num_clips']} clips "
        f"({metrics['views']['clips']} clips x {metrics['views']['crops']} crops each)",
        "",
        f"{'class':<{width}}{'clips':>6}  accuracy",
    ]
    lines += [f"{name:<{width}}{entry['clips']:>6}  {entry['accuracy']:.3f}" for name, entry in metrics["per_class"].items()]
    if metrics["top_confusions"]:
        lines += ["", "most frequent confusions (true -> predicted: clips):"]
        lines += [f"  {c['true']} -> {c['predicted']}: {c['clips']}" for c in metrics["top_confusions"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="model", help="run folder written by train.py (default: model)")
    parser.add_argument("--model", metavar="EXPORT", help="an exported model (export.py) to measure instead of --run's")
    parser.add_argument("--data", help="prepared data folder (default: the one the run trained on)")
    parser.add_argument(
        "--split", default="validation", choices=("train", "validation", "test"), help="split to measure (default: validation)"
    )
    parser.add_argument("--clips", type=int, default=1, help="windows per clip, spread over its length, averaged (default: 1)")
    parser.add_argument("--crops", type=int, default=1, choices=sorted(CROPS), help="views across each frame (default: 1)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per batch (default: 16)")
    parser.add_argument("--workers", type=int, default=2, help="data-loading threads (default: 2)")
    parser.add_argument("--min-top1", type=float, help="exit 1 when top-1 is below this (a check for scripts and make demo)")
    parser.add_argument("--fuse", nargs=2, metavar=("RUN_A", "RUN_B"), help="fuse two runs (two streams) instead of --run")
    parser.add_argument("--weights", default="1,1", help="with --fuse: the runs' weights in the average fusion (default: 1,1)")
    parser.add_argument(
        "--positions", type=int, default=5, help="with --fuse: places scored per clip by a two-stream run (default: 5)"
    )
    parser.add_argument("--stream", nargs="+", metavar="VIDEO", help="score the gesture events fired on these videos instead")
    parser.add_argument("--truth", metavar="TRUTH.json", help="with one --stream video: its truth (default: VIDEO.json)")
    parser.add_argument("--keypoints", metavar="MODEL.task", help="with --stream, pose_lstm runs: their MediaPipe model")
    add_event_arguments(parser)
    add_view_arguments(parser)
    args = parser.parse_args(argv)
    if args.clips < 1:
        parser.error(f"--clips must be at least 1, got {args.clips}")
    if args.truth and len(args.stream or ()) != 1:
        parser.error("--truth goes with one --stream video")
    if args.fuse:
        return fuse_runs(args, parser)
    if args.stream:
        try:
            return measure_streams(args)
        except (FileNotFoundError, OSError, ValueError) as error:
            sys.exit(f"evaluate.py: {error}")
    try:
        metrics = evaluate(args.run, args.data, args.split, args.batch_size, args.workers, args.clips, args.crops, args.model)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"evaluate.py: {error}")
    print(report(metrics))
    if args.model:
        written = Path(args.model).parent / Path(args.model).name
        print(f"wrote {written}.metrics.json and {written}.confusion.png")
    else:
        print(f"wrote metrics.json, scores.npz and confusion.png into {args.run}")
    if args.min_top1 is not None and metrics["top1"] < args.min_top1:
        sys.exit(f"evaluate.py: top-1 {metrics['top1']:.4f} is below --min-top1 {args.min_top1}")
    return metrics


def run_stream(video, predictor, detector, keypoints=None, strides=None):
    """The events the app's recognition path fires on `video`, every frame taken in order."""
    config, classes, predict, stream = predictor
    if stream is not None:
        stream.reset()
    buffer = make_buffer(config, keypoints, stream=stream is not None, strides=strides)
    recognizer = Recognizer(predict, config, classes, detector, background=False, buffer=buffer, stream=stream)
    source = Source(video, realtime=False)
    try:
        while (item := source.read()) is not None:
            recognizer.add(*item)
    finally:
        recognizer.close()
        source.close()
    return recognizer.events


def measure_streams(args):
    """Scores the events on each --stream video; prints and writes the figures, and returns them."""
    missing = [video for video in args.stream if not Path(video).is_file()]
    if missing:
        raise FileNotFoundError(f"No video file {missing[0]} to measure.")
    predictor = load_predictor(args.model, args.run)
    truths = [read_truth(args.truth or f"{video}.json") for video in args.stream]  # every file checked before the work
    results = {}
    for video, truth in zip(args.stream, truths):
        events = run_stream(video, predictor, events_from_arguments(args, predictor[1]), args.keypoints, args.strides)
        results[video] = score_stream(events, truth)
        print(f"{video}: {summary(results[video])}")
    overall = combine(list(results.values()))
    if len(results) > 1:
        print(f"all {len(results)} streams: {summary(overall)}")
    settings = {name: getattr(args, name) for name in ("threshold", "release", "cooldown", "smoothing", "background", "strides")}
    written = Path(f"{args.model}.streams.json") if args.model else Path(args.run) / "streams.json"
    report = {"overall": overall, "streams": results, "events": settings}
    write_atomic(written, json.dumps(report, indent=1) + "\n")
    print(f"wrote {written}")
    return report


def fuse_runs(args, parser):
    from evaluation import fusion

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
