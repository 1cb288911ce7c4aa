"""Late fusion of two runs, as the two-stream papers do: each stream alone, their average, and a GRU.

    python evaluate.py --fuse RUN_SPATIAL RUN_MOTION [--weights 1,1.5] [--positions 5]

A two-stream run (`train.py --model two_stream`) scores one frame or one flow stack at a time.
For fusion each clip is looked at in `positions` evenly spread places; a stream's score is its
per-position scores averaged, the average fusion is the streams' scores averaged (weighted), and
the recurrent fusion (as the two-stream Xception project's best figure) is a GRU trained on the
training clips over the per-position features of both streams, side by side. Runs of other models
are fused by their clip scores alone (no recurrent fusion: they have no per-position features).

Where `evaluate.py` has saved a run's scores for the same clips (scores.npz, perhaps of several
clips and crops per video), those are the run's scores here: late fusion of saved scores.
"""

import itertools
import json
from pathlib import Path

import keras
import numpy as np

from clips.index import read_index
from common.files import atomic_path, write_atomic
from evaluation.scoring import model_version, score_clips
from training.runs import compiled_predictor, load_run, run_dataset

SPREAD = 10**6  # a stride too large for any clip: sampling then spreads the positions over the whole clip


def has_frame_features(model):
    return {"frame_features", "head_scores"} <= {layer.name for layer in model.layers}


def stream_outputs(model, config, split, data_dir, positions, batch_size=8, workers=2):
    """(scores (clips, classes), features (clips, positions, features) or None, labels) of one run."""
    if not has_frame_features(model):
        scores, data = score_clips(model, config, split, data_dir, batch_size=batch_size, workers=workers)
        return scores, None, data.labels
    data = run_dataset(
        config, split, data_dir, batch_size=batch_size, num_frames=positions, stride=SPREAD, augment=False, shuffle=False
    )
    backbone = compiled_predictor(model.get_layer("frame_features").layer)  # one frame or flow stack -> its features
    head = model.get_layer("head_scores")
    features = []
    for index in range(len(data)):
        clips, _ = data[index]  # (batch, positions, height, width, channels)
        features.append(backbone(clips.reshape(-1, *clips.shape[2:])).reshape(*clips.shape[:2], -1))
    features = np.concatenate(features)
    scores = keras.ops.convert_to_numpy(head(features)).mean(axis=1)  # per-position scores, averaged
    return scores, features, data.labels


def saved_scores(run_dir, split, data_dir, clip_names, min_windows=1):
    """(scores, labels, views) that evaluate.py saved for exactly these clips with the run's current
    model, from at least `min_windows` windows per clip; else None."""
    path = Path(run_dir) / "scores.npz"
    if not path.is_file():
        return None
    with np.load(path) as saved:
        where = [split, str(Path(data_dir).resolve()), model_version(run_dir)]
        if "split_and_data" not in saved or list(saved["split_and_data"]) != where or list(saved["clips"]) != clip_names:
            return None
        views = tuple(int(view) for view in saved["views"])
        if views[0] < min_windows:
            return None
        return saved["probabilities"], saved["labels"], views


def recurrent_fusion(train_features, train_labels, num_classes, units=128, epochs=30, seed=0):
    """A GRU over the two streams' per-position features, side by side, trained on the training clips."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=train_features.shape[1:], name="features")  # (batch, positions, features)
    x = keras.layers.GRU(units, name="fusion_gru")(inputs)
    x = keras.layers.Dropout(0.5, name="fusion_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="recurrent_fusion")
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(train_features, train_labels, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return model


def top1(scores, labels):
    return float(np.mean(scores.argmax(axis=1) == labels))


def same_clips(data_dirs, split):
    """The clip names of a split, which both runs' data must hold in the same order, with the same labels."""
    held = [[(row["clip"], row["label"]) for row in read_index(data, split)] for data in data_dirs]
    if held[0] != held[1]:
        first = next((a, b) for a, b in itertools.zip_longest(*held, fillvalue=("nothing", "")) if a != b)
        raise ValueError(
            f"{data_dirs[0]} and {data_dirs[1]} hold different {split} clips ({len(held[0])} and {len(held[1])}; "
            f"first {' '.join(first[0])} against {' '.join(first[1])}): fusion scores the same clips with both runs."
        )
    return [clip for clip, _ in held[0]]


def fuse(run_a, run_b, data_dir=None, split="validation", weights=(1.0, 1.0), positions=5, workers=2):
    """Top-1 of each run, of their weighted average and (for two-stream runs) of the recurrent fusion.
    Writes fusion.json and, when trained, fusion.keras into the first run's folder."""
    runs = [Path(run_a), Path(run_b)]
    loaded = [load_run(run) for run in runs]
    (config_a, classes, _), (_, classes_b, _) = loaded
    if classes != classes_b:
        raise ValueError(f"{runs[0]} and {runs[1]} were trained on different classes; fusion needs the same ones.")
    # each run on its own data (frames prepared without flow, and the flow), unless --data: the same clips
    data_dirs = [data_dir or config["data"] for config, _, _ in loaded]
    clip_names = same_clips(data_dirs, split)
    recurrent = all(has_frame_features(model) for _, _, model in loaded)
    if recurrent:  # trained on the training clips' features
        same_clips(data_dirs, "train")
    outputs, sources = [], []
    for run, data, (config, _, model) in zip(runs, data_dirs, loaded):
        # a two-stream run's saved scores must look at least as widely as fusion's own positions
        saved = saved_scores(run, split, data, clip_names, positions if has_frame_features(model) else 1)
        if saved is not None and not has_frame_features(model):  # nothing else to compute for this run
            outputs.append((saved[0], None, saved[1]))
        else:
            outputs.append(stream_outputs(model, config, split, data, positions, workers=workers))
            if saved is not None:  # the saved scores, the features for the recurrent fusion
                outputs[-1] = (saved[0], *outputs[-1][1:])
        sources.append(f"evaluate.py's scores.npz ({saved[2][0]} clips x {saved[2][1]} crops)" if saved else "computed")
    labels = outputs[0][2]
    if (labels < 0).any():
        raise ValueError(f"Split {split!r} of {data_dirs[0]} has unlabelled clips; fuse on a labelled split.")
    weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    average = weights[0] * outputs[0][0] + weights[1] * outputs[1][0]
    results = {
        "split": split,
        "num_clips": int(len(labels)),
        "positions": positions,
        "weights": weights.tolist(),
        "streams": {str(run): top1(scores, labels) for run, (scores, _, _) in zip(runs, outputs)},
        "scores": {str(run): source for run, source in zip(runs, sources)},
        "average_fusion": top1(average, labels),
    }
    if recurrent:
        train = [stream_outputs(model, config, "train", data, positions) for data, (config, _, model) in zip(data_dirs, loaded)]
        fusion = recurrent_fusion(np.concatenate([train[0][1], train[1][1]], axis=-1), train[0][2], len(classes))
        features = np.concatenate([outputs[0][1], outputs[1][1]], axis=-1)
        results["recurrent_fusion"] = top1(fusion.predict(features, verbose=0), labels)
        with atomic_path(runs[0] / "fusion.keras") as temporary:
            fusion.save(temporary)
    write_atomic(runs[0] / "fusion.json", json.dumps(results, indent=1) + "\n")
    return results


def report(results):
    lines = [f"{results['split']}: {results['num_clips']} clips, {results['positions']} positions each"]
    for run, accuracy in results["streams"].items():
        lines.append(f"  {run}: top-1 {accuracy:.4f} ({results['scores'][run]} scores)")
    weights = "/".join(f"{weight:.2f}" for weight in results["weights"])
    lines.append(f"  average fusion {weights}: top-1 {results['average_fusion']:.4f}")
    if "recurrent_fusion" in results:
        lines.append(f"  recurrent fusion (GRU): top-1 {results['recurrent_fusion']:.4f}")
    return "\n".join(lines)
