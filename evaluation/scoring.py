"""Scoring clips with a model: multi-clip, multi-crop class probabilities, and the figures read off them.

    probabilities, data = score_clips(model, config, "validation", data_dir, clips=5, crops=3)
    top_k_accuracy(probabilities, data.labels, 5)

Each clip is looked at in `clips` windows spread evenly over its length (1: the centred one, as in
validation) and, with `crops=3`, in three views along the frame's long side; its score is the average
of their class probabilities, as the papers' multi-clip testing does. `evaluate.py` reports them and
`evaluation/fusion.py` fuses two runs' scores.
"""

from pathlib import Path

import keras
import numpy as np

from common.files import atomic_path
from training.runs import run_dataset

CROPS = {1: [None], 3: [0.0, 0.5, 1.0]}  # whole frame; or left (top), centre, right (bottom)


def top_k_accuracy(probabilities, labels, k):
    k = min(k, probabilities.shape[1])
    top = np.argsort(-probabilities, axis=1)[:, :k]
    return float(np.mean([label in row for label, row in zip(labels, top)]))


def confusion_matrix(labels, predictions, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def per_class(matrix, classes):
    """{class: {"clips": n, "accuracy": a}} for the classes the split has clips of."""
    totals = matrix.sum(axis=1)
    seen = [i for i in range(len(classes)) if totals[i]]
    return {classes[i]: {"clips": int(totals[i]), "accuracy": float(matrix[i, i] / totals[i])} for i in seen}


def top_confusions(matrix, classes, count=10):
    """The most frequent mistakes: [{"true", "predicted", "clips"}], most clips first."""
    mistakes = matrix.copy()
    np.fill_diagonal(mistakes, 0)
    pairs = sorted(zip(*np.nonzero(mistakes)), key=lambda pair: -mistakes[pair])[:count]
    return [{"true": classes[t], "predicted": classes[p], "clips": int(mistakes[t, p])} for t, p in pairs]


def clip_positions(count):
    """Where each of `count` windows starts, as a fraction of the way through a clip."""
    return [0.5] if count == 1 else list(np.linspace(0.0, 1.0, count))


def score_clips(model, config, split, data_dir, clips=1, crops=1, batch_size=16, workers=2, classes=None):
    """(probabilities (clips, classes) averaged over every view, the dataset of the first view).
    With `classes`, the data's classes and labels are checked against them before any scoring."""
    if (clips > 1 or crops > 1) and config["modality"] == "keypoints":
        raise ValueError("--clips and --crops apply to frames and flow; a keypoint run sees whole clips.")
    total, first = 0.0, None
    for position in clip_positions(clips):
        for crop in CROPS[crops]:
            view = dict(position=position, crop=crop, augment=False, shuffle=False)
            data = run_dataset(config, split, data_dir, batch_size=batch_size, workers=workers, **view)
            if first is None and classes is not None:  # checked on the first view, before any scoring
                if data.classes != classes:
                    raise ValueError(f"{data_dir} has other classes than the run was trained on.")
                if (data.labels < 0).any():
                    raise ValueError(f"Split {split!r} of {data_dir} has unlabelled clips; evaluate a labelled split.")
            first = first if first is not None else data
            if isinstance(model, keras.Model):
                total = total + model.predict(data, verbose=0)
            else:  # an export (live/exported.py), batch by batch
                total = total + np.concatenate([model.predict(data[i][0]) for i in range(len(data))])
    return total / (clips * len(CROPS[crops])), first


def model_version(run_dir):
    """Which model.keras scored: its modification time, so saved scores of an older model are not used."""
    return str((Path(run_dir) / "model.keras").stat().st_mtime_ns)


def save_scores(path, data, probabilities, classes, views):
    """Every clip's name, label and class probabilities, for fusion (evaluation/fusion.py) or a closer look (np.load)."""
    clip_names = np.array([row["clip"] for row in data.rows])
    where = np.array([data.split, str(Path(data.data_dir).resolve()), model_version(path.parent)])
    arrays = dict(clips=clip_names, labels=data.labels, probabilities=probabilities, classes=np.array(classes))
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, **arrays, split_and_data=where, views=np.array(views))
