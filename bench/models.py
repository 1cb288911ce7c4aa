"""Size, cost and CPU speed of every registered model at the input the README quotes for it.

    python bench/models.py [--models slowfast,c3d] [--calls 5] [--threads N] [--quick] [--out FILE]

For each model in `network.MODELS` (models added later are measured too): its parameters (all
and trainable), its GFLOPs per clip and its CPU milliseconds per clip at batch 1 through the
app's compiled predictor (median of --calls calls after one warm-up), as `evaluation/costs.py` counts them.
Prints a JSON line per model as it goes, then a markdown table, and checks at start that the
profiler counts a multiply-add as two FLOPs (see evaluation/costs.py).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import network  # noqa: E402
from evaluation import costs  # noqa: E402

# The input and class count the README quotes for each model; others get DEFAULT_INPUT.
REFERENCE_INPUTS = {
    "slowfast": ((16, 112, 112, 1), 27),
    "slowfast_r50": ((32, 224, 224, 3), 400),
    "c3d": ((16, 112, 112, 3), 101),
    "mobilenet_lstm": ((16, 112, 112, 3), 27),
    "mobilenet_gru": ((16, 112, 112, 3), 27),
    "i3d": ((64, 224, 224, 3), 400),
    "two_stream": ((1, 299, 299, 3), 101),
    "pose_lstm": ((9, 66), 2),  # (frames, keypoint features), not a clip
}
DEFAULT_INPUT = ((16, 112, 112, 3), 27)
# Published GFLOPs (one multiply-add = one FLOP) and the input they were counted at. SlowFast's are
# per test view, at PySlowFast's TEST_CROP_SIZE of 256, though it trains at 224: at another height
# and width the figure is scaled by the area, as a convolution's cost is.
PUBLISHED_GFLOPS = {
    "c3d": ((16, 112, 112, 3), 38.5, "Tran et al. 2015"),
    "slowfast_r50": ((32, 256, 256, 3), 36.7, "SlowFast 4x16 R50, Feichtenhofer et al. 2019"),
}
QUICK_FRAMES, QUICK_SIZE = 8, 80  # --quick clips; 80 rather than 64 as Xception needs at least 71 pixels


def reference_input(name, quick):
    shape, num_classes = REFERENCE_INPUTS.get(name, DEFAULT_INPUT)
    if quick and len(shape) == 4:  # only clips shrink; a keypoint sequence is small already
        shape = (min(shape[0], QUICK_FRAMES), QUICK_SIZE, QUICK_SIZE, shape[3])
    return shape, num_classes


def measure(name, shape, num_classes, calls):
    options = {"weights": None} if name in network.PRETRAINED else {}  # never download weights
    model = network.build_model(name, input_shape=shape, num_classes=num_classes, **options)
    gflops = costs.gflops(model, shape)
    figures = {
        "model": name,
        "input": list(shape),
        "num_classes": num_classes,
        "parameters": model.count_params(),
        "trainable_parameters": costs.trainable_parameters(model),
        "gflops": float(f"{gflops:.4g}"),
        "cpu_ms": round(costs.cpu_ms(model, shape, calls), 1),
    }
    published_shape, published, source = PUBLISHED_GFLOPS.get(name, ((), None, None))
    if published and len(shape) == 4 and (shape[0], shape[3]) == (published_shape[0], published_shape[3]):
        scaled = published * shape[1] * shape[2] / (published_shape[1] * published_shape[2])
        figures.update(published_gflops=published, published_input=list(published_shape), published_by=source)
        figures.update(published_scaled_gflops=round(scaled, 2), ratio_to_published=round(gflops / scaled, 3))
    keras.backend.clear_session()  # the next model starts with fresh layer names and memory
    return figures


def table_row(figures):
    shape = "x".join(str(size) for size in figures["input"])
    parameters = f"{figures['parameters'] / 1e6:.2f} M ({figures['trainable_parameters'] / 1e6:.2f} M trainable)"
    gflops = f"{figures['gflops']:.3g}"
    if "published_gflops" in figures:
        paper = f"the paper's {figures['published_gflops']}"
        if figures["published_input"] != figures["input"]:
            size, scaled = "x".join(map(str, figures["published_input"][1:3])), figures["published_scaled_gflops"]
            paper += f" at {size}, so {scaled:.3g} at {'x'.join(map(str, figures['input'][1:3]))}"
        gflops += f" ({figures['ratio_to_published']:.2f} x {paper})"
    model = f"`{figures['model']}`"
    return f"| {model} | {shape}, {figures['num_classes']} classes | {parameters} | {gflops} | {figures['cpu_ms']:.1f} |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", help="comma-separated model names (default: every registered model)")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per model, after one warm-up (default: 5)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra- and inter-op threads (default: 0, all cores)")
    parser.add_argument("--quick", action="store_true", help=f"clips of {QUICK_FRAMES}x{QUICK_SIZE}x{QUICK_SIZE}, a smoke run")
    parser.add_argument("--out", help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else list(network.MODELS)
    unknown = [name for name in names if name not in network.MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(network.MODELS)}")
    if args.calls < 1 or args.threads < 0:
        parser.error(f"--calls must be at least 1 and --threads at least 0, got {args.calls} and {args.threads}")
    if args.threads:
        try:  # must come before TensorFlow runs its first op
            tf.config.threading.set_intra_op_parallelism_threads(args.threads)
            tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        except RuntimeError as error:
            raise SystemExit(f"--threads must be set before TensorFlow starts: run in a fresh process ({error})") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = f"{args.threads} intra- and inter-op threads" if args.threads else f"all {cores} cores"
    print(f"models: {', '.join(names)}; {args.calls} calls each; {threads}; {'quick inputs' if args.quick else 'README inputs'}")
    costs.check_multiply_add_convention()

    rows, failed, started = [], [], time.perf_counter()
    for name in names:
        shape, num_classes = reference_input(name, args.quick)
        try:
            figures = measure(name, shape, num_classes, args.calls)
        except Exception as error:  # one model that fails to build or run should not stop the others
            print(f"{name}: failed at {shape} ({type(error).__name__}: {error})", flush=True)
            failed.append(name)
            continue
        figures["threads"] = args.threads or cores
        print(json.dumps(figures), flush=True)
        rows.append(table_row(figures))

    header = [
        f"CPU ms: median of {args.calls} calls at batch 1 through the app's compiled predictor, {threads}. "
        "GFLOPs count a multiply-add as one.",
        "",
        "| model | input | parameters | GFLOPs per clip | CPU ms per clip |",
        "|---|---|---|---|---|",
    ]
    markdown = "\n".join(header + rows) + "\n"
    print("\n" + markdown)
    failures = f"; failed: {', '.join(failed)}" if failed else ""
    print(f"measured {len(rows)} of {len(names)} in {time.perf_counter() - started:.0f} s{failures}")
    if args.out:
        Path(args.out).write_text(markdown, encoding="utf-8")
        print(f"wrote {args.out}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
