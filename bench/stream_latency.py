"""Milliseconds per new frame: the streaming model against SlowFast re-run on every window, in Keras
and as LiteRT exports, on 1 and 2 CPU cores, with each one's top-1 on the same validation clips.

    python bench/stream_latency.py [--data demo/data] [--runs bench/streaming_runs] [--frames 100]

Trains `slowfast` and `tsm_mobilenet` with the demo's recipe where their run folders have no model
yet (`make demo` prepares demo/data), exports both to LiteRT (export.py), evaluates all four, then
times each in a fresh process pinned to the cores: a new camera frame costs the stream one step,
and SlowFast a whole 16-frame window. Goal: the stream at most 15 ms per frame on one core, with
top-1 within 2 points of SlowFast's. Medians.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("slowfast", "tsm_mobilenet")
RECIPE = ["--lr-schedule", "2e-3:14,5e-4:6"]  # the demo's (Makefile)
GOAL_MS, GOAL_POINTS = 15.0, 2.0


def measure(kind, path, threads, frames):
    """Median ms per new frame of one model in this process, on `threads` cores (call it in a fresh one)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(threads)))
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from evaluation.costs import median_ms
    from live.recognizer import load_predictor

    export, run = (path, None) if kind == "litert" else (None, path)
    config, _, predict, stream = load_predictor(export, run, threads=threads)  # as the live app runs it
    shape = (config["frames"], config["size"], config["size"], config["channels"])
    clip = np.random.default_rng(0).uniform(-1, 1, (1, *shape)).astype(np.float32)
    if stream:  # one step per new frame
        return median_ms(lambda: stream.step(clip[0, 0]), frames)
    return median_ms(lambda: predict(clip), frames)  # the whole window again for every new frame


def prepare_runs(data, runs):
    """Trains and exports what is missing; returns {model: (run folder, top-1 Keras, top-1 LiteRT)}."""
    import evaluate
    import export
    import train

    results = {}
    for name in MODELS:
        run = runs / name
        if not (run / "model.keras").is_file():
            train.main(["--data", str(data), "--run", str(run), "--model", name, "--fresh", *RECIPE])
        litert = run / "export" / "model.tflite"
        if not litert.is_file():
            export.export(run, "litert")
        results[name] = (run, evaluate.evaluate(run)["top1"], evaluate.evaluate(None, export=litert)["top1"])
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="demo/data", help="prepared data to train and evaluate on (default: demo/data)")
    parser.add_argument("--runs", default="bench/streaming_runs", help="where the two runs go (default: bench/streaming_runs)")
    parser.add_argument("--frames", type=int, default=100, help="timed frames per measurement (default: 100)")
    parser.add_argument("--measure", nargs=3, metavar=("KIND", "PATH", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:  # the child process
        kind, path, threads = args.measure
        print(json.dumps(measure(kind, path, int(threads), args.frames)))
        return None
    if not (Path(args.data) / "index.csv").is_file():
        parser.error(f"{args.data} has no index.csv: run `make demo` first, or give --data a prepared folder")
    results = prepare_runs(Path(args.data), Path(args.runs))
    cores = [1, 2] if len(os.sched_getaffinity(0)) >= 2 else [1]
    quiet = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    rows = []
    for name, (run, top1_keras, top1_litert) in results.items():
        for kind, path, top1 in (("keras", run, top1_keras), ("litert", run / "export" / "model.tflite", top1_litert)):
            times = []
            for threads in cores:
                command = [sys.executable, __file__, "--measure", kind, str(path), str(threads), "--frames", str(args.frames)]
                done = subprocess.run(command, capture_output=True, text=True, check=True, env=quiet)
                times.append(float(done.stdout.strip().splitlines()[-1]))
            rows.append((name, kind, top1, times))
    baseline = rows[0][3][0]  # SlowFast in Keras on one core
    columns = " | ".join(f"ms per new frame, {c} core{'s' if c > 1 else ''}" for c in cores)
    print(f"\n| model | runtime | top-1 | {columns} | vs SlowFast |")
    print("|---|---|---|" + "---|" * len(cores) + "---|")
    for name, kind, top1, times in rows:
        print(f"| {name} | {kind} | {top1:.3f} | {' | '.join(f'{t:.1f}' for t in times)} | {baseline / times[0]:.1f}x |")
    best = min(times[0] for name, _, _, times in rows if name == "tsm_mobilenet")
    points = 100 * (results["slowfast"][1] - results["tsm_mobilenet"][1])
    speed, accuracy = "met" if best <= GOAL_MS else "missed", "met" if points <= GOAL_POINTS else "missed"
    print(f"\nstream on one core: {best:.1f} ms per frame (goal {GOAL_MS:.0f}): {speed}")
    print(f"top-1 {points:+.1f} points behind SlowFast (goal at most {GOAL_POINTS:.0f}): {accuracy}")
    return rows


if __name__ == "__main__":
    main()
