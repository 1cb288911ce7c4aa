"""Data pipeline throughput next to the rate at which `slowfast` trains on the same clips.

    python bench/data_pipeline.py [--clips-per-class 20] [--batches 12]

Builds a synthetic Jester-layout set, prepares it, then measures clips per second delivered by
`ClipDataset` with and without augmentation, with 1 and 2 workers (threads, as `PyDataset`
uses them), and clips per second of `slowfast` training steps at 16x112x112x1, batch 16.
The goal: 2 workers deliver at least twice as fast as the model trains. Medians of 3 repeats.
"""

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import network  # noqa: E402
import prepare  # noqa: E402
import synthetic  # noqa: E402
from datagenerator import ClipDataset  # noqa: E402


def data_rate(data_dir, augment, workers, batches, repeats=3):
    """Clips per second of ClipDataset batches fetched by `workers` threads."""
    rates = []
    for repeat in range(repeats):
        data = ClipDataset(data_dir, "train", batch_size=16, augment=augment, epoch=repeat)
        count = min(batches, len(data))
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            clips = sum(len(batch[1]) for batch in pool.map(data.__getitem__, range(count)))
        rates.append(clips / (time.perf_counter() - started))
    return statistics.median(rates)


def training_rate(steps=6, batch_size=16):
    """Clips per second of slowfast training steps at its default input."""
    model = network.build_model("slowfast", input_shape=(16, 112, 112, 1), num_classes=27)
    model.compile(keras.optimizers.Adam(1e-3, amsgrad=True), "sparse_categorical_crossentropy")
    clips = np.random.default_rng(0).uniform(-1, 1, (batch_size, 16, 112, 112, 1)).astype("float32")
    labels = np.arange(batch_size) % 27
    return batch_size / step_seconds(model, clips, labels, steps)


def step_seconds(model, clips, labels, steps):
    """Median seconds of a compiled model's training step on one batch, after one that builds the graph."""
    model.train_on_batch(clips, labels)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        model.train_on_batch(clips, labels)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-class", type=int, default=20, help="synthetic clips per class (default: 20)")
    parser.add_argument("--batches", type=int, default=12, help="batches of 16 per measurement (default: 12)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        source, data_dir = Path(folder) / "jester", Path(folder) / "data"
        synthetic.write_dataset(source, clips_per_class=args.clips_per_class)
        prepare.prepare(source, data_dir, size=128, gray=True, progress=False)
        rates = {
            (augment, workers): data_rate(data_dir, augment, workers, args.batches)
            for augment in (False, True)
            for workers in (1, 2)
        }
    train = training_rate()
    print("\nclips per second (16x112x112x1, median of 3)")
    print(f"{'pipeline':<34}{'1 worker':>10}{'2 workers':>11}")
    for augment in (False, True):
        name = "with augmentation" if augment else "without augmentation"
        print(f"{name:<34}{rates[augment, 1]:>10.1f}{rates[augment, 2]:>11.1f}")
    print(f"{'slowfast training (batch 16)':<34}{train:>10.1f}")
    ratio = rates[True, 2] / train
    print(
        f"\n2 workers with augmentation deliver {ratio:.1f}x the training rate (goal: at least 2x); "
        f"2 workers / 1 worker = {rates[True, 2] / rates[True, 1]:.2f}"
    )


if __name__ == "__main__":
    main()
