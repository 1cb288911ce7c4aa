"""Write a synthetic gesture dataset in the official 20BN-Jester layout.

A drawn hand moves over a cluttered, noisy background (scenes/hands.py). The classes differ
only in their motion: swipe left/right/up/down, zoom in/out, turn clockwise/counterclockwise, no
gesture (a resting hand), and doing other things (the movements between gestures: rising into
place, lowering, repositioning, idling); clip length, speed, timing, start position, hand size,
colours, background and noise vary per clip. The output is what the real dataset looks like on
disk, so `prepare.py` reads it through the same code path:

    OUT_DIR/20bn-jester-v1/<id>/00001.jpg ...
    OUT_DIR/jester-v1-labels.csv        one class name per line
    OUT_DIR/jester-v1-train.csv         id;label
    OUT_DIR/jester-v1-validation.csv    id;label

`--video FILE` also writes a continuous stream as a webcam sees it (scenes/streams.py): one hand
rises into place, performs each gesture once at its own speed, lowers or repositions, idles. Its
truth `FILE.json` lists each gesture's label and frames, for `app.py --expect` and `evaluate.py
--stream`. `--streams N` writes N such streams into OUT_DIR and no dataset; `--fps 30` draws them
at a webcam's rate, `--passers` adds shapes crossing the background.

    python synthetic.py data/synthetic --clips-per-class 60 --video data/gestures.mp4
    python synthetic.py streams --streams 4 --fps 30 --passers --seed 7

`--keypoints` instead writes a prepared DATA_DIR of moving stick figures (waving, squatting) for
`pose_lstm`: keypoints/<class>/<number>.npy in `clips/keypoints.py`'s format, no frames, to try the
keypoint model without MediaPipe or a model file.

    python synthetic.py poses_demo --keypoints
"""

import argparse
import json
import os
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from clips.index import INDEX_COLUMNS
from clips.keypoints import KEYPOINTS, NUM_SAMPLES, keypoints_path, save_atomic
from common.files import write_atomic, write_csv
from scenes.hands import (
    BACKGROUND_CLASSES,
    CLASSES,
    FPS,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    GESTURES,
    drift,
    random_motion,
    random_scene,
    random_transition,
    render_clip,
    rest_pose,
)
from scenes.poses import KEYPOINT_CLASSES, STICK_FIGURE, synthetic_keypoints
from scenes.streams import clip_from_stream, passers_by, render_stream, write_stream


def make_clip(seed, index, label):
    """Frames of the clip number `index` of a dataset, deterministic for (seed, index)."""
    rng = np.random.default_rng([seed, index])
    num_frames = int(rng.integers(28, 45))
    if label == "Doing other things":
        scene, motion = random_scene(rng), random_transition(rng, num_frames)
    elif label in GESTURES:  # cut from a stream, with what comes before and after the gesture
        scene, motion = random_scene(rng), clip_from_stream(rng, label, num_frames)
    else:
        motion, _ = random_motion(rng, label, num_frames)
        scene = random_scene(rng)
        if rng.random() < 0.3:  # No gesture: a third of the hands rest low, or out of the picture
            motion = drift(rest_pose(rng), num_frames, rng, 0.02)
    if rng.random() < 0.5:  # half the clips have someone passing behind
        walkers = passers_by(rng, num_frames, FPS, wait=num_frames / FPS)
        return np.stack(list(render_stream(scene, motion, FPS, FRAME_HEIGHT, FRAME_WIDTH, walkers)))
    return render_clip(scene, motion)


def write_clip(task):
    """Writes one clip's frames as JPEGs (runs in a worker process)."""
    seed, clip_id, label, clip_dir = task
    clip_dir.mkdir(exist_ok=True)
    for number, frame in enumerate(make_clip(seed, clip_id, label), start=1):
        cv2.imwrite(str(clip_dir / f"{number:05d}.jpg"), frame)


def write_dataset(out_dir, clips_per_class=60, seed=0, validation_fraction=0.2, workers=None, background_clips=None):
    """Writes the Jester layout; returns {"train": [(id, label)], "validation": [...]}. `background_clips`
    (default: `clips_per_class`) is the count of each class a live app must stay quiet on."""
    out_dir = Path(out_dir)
    frames_dir = out_dir / "20bn-jester-v1"
    frames_dir.mkdir(parents=True, exist_ok=True)
    counts = {label: clips_per_class for label in CLASSES}
    counts.update({label: background_clips or clips_per_class for label in BACKGROUND_CLASSES})
    splits = {"train": [], "validation": []}
    tasks = []
    for index in range(max(counts.values())):  # one clip of every class in turn: the ids stay where they were
        for label in CLASSES:
            if index >= counts[label]:
                continue
            num_validation = max(1, round(counts[label] * validation_fraction))
            split = "validation" if index >= counts[label] - num_validation else "train"
            clip_id = len(tasks) + 1
            tasks.append((seed, clip_id, label, frames_dir / str(clip_id)))
            splits[split].append((clip_id, label))
    with Pool(workers or os.cpu_count()) as pool:
        for _ in pool.imap_unordered(write_clip, tasks, chunksize=4):
            pass
    write_atomic(out_dir / "jester-v1-labels.csv", "".join(f"{label}\n" for label in CLASSES))
    for split, rows in splits.items():
        write_atomic(out_dir / f"jester-v1-{split}.csv", "".join(f"{i};{label}\n" for i, label in rows))
    return splits


def write_keypoint_dataset(out_dir, clips_per_class=40, classes=KEYPOINT_CLASSES, num_samples=NUM_SAMPLES, seed=0):
    """A prepared DATA_DIR of synthetic keypoints (no frames): index.csv, classes.json, dataset.json,
    keypoints/<class>/<number>.npy; a quarter of each class (at least one clip) for validation.
    Returns the number of clips per split."""
    if not set(classes) <= set(KEYPOINT_CLASSES) or clips_per_class < 2:
        raise ValueError(
            f"Synthetic sets have classes of {KEYPOINT_CLASSES}, 2 clips each or more; got {classes}, {clips_per_class}."
        )
    out_dir = Path(out_dir)
    num_validation = max(1, round(clips_per_class / 4))
    rows = []
    for number in range(clips_per_class):
        split = "validation" if number >= clips_per_class - num_validation else "train"
        for label in classes:
            rng = np.random.default_rng([seed, KEYPOINT_CLASSES.index(label), number])
            clip = f"{label}/{number + 1:04d}"
            save_atomic(keypoints_path(out_dir, clip), synthetic_keypoints(label, num_samples, rng))
            rows.append({"clip": clip, "label": label, "split": split, "num_frames": num_samples, "num_flow": 0})
    write_atomic(out_dir / "classes.json", json.dumps(list(classes), indent=1) + "\n")
    settings = {"model": "synthetic", "kind": "pose", "joints": len(STICK_FIGURE), "samples": num_samples}
    dataset = {"layout": "synthetic keypoints", "seed": seed, KEYPOINTS: settings}
    write_atomic(out_dir / "dataset.json", json.dumps(dataset, indent=1) + "\n")
    write_csv(out_dir / "index.csv", INDEX_COLUMNS, rows)  # last: a DATA_DIR with an index is complete
    return {split: sum(row["split"] == split for row in rows) for split in ("train", "validation")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="folder to write the Jester-layout dataset (or with --keypoints, the keypoint set) into")
    parser.add_argument("--clips-per-class", type=int, help="clips per class (default: 60; 40 with --keypoints)")
    parser.add_argument(
        "--background-clips",
        type=int,
        help=f"clips of each of {' and '.join(map(repr, BACKGROUND_CLASSES))} (default: --clips-per-class)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default: 0)")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="share of clips for validation (default: 0.2)")
    parser.add_argument("--video", help="also write a stream of every gesture in a row (and VIDEO.json, its truth)")
    parser.add_argument("--streams", type=int, help="instead write this many streams into OUT_DIR (stream_1.mp4, ...)")
    parser.add_argument("--fps", type=float, default=12, help="frame rate of the streams (default: 12, Jester's)")
    parser.add_argument("--passers", action="store_true", help="shapes cross the streams' background, as people passing")
    parser.add_argument(
        "--keypoints",
        action="store_true",
        help="instead write a prepared DATA_DIR of moving stick figures' keypoints (waving, squatting) for pose_lstm",
    )
    parser.add_argument("--samples", type=int, default=NUM_SAMPLES, help="with --keypoints: samples per clip (default: 9)")
    args = parser.parse_args(argv)
    if args.clips_per_class is not None and args.clips_per_class < 2:
        parser.error(f"--clips-per-class must be at least 2 (one train, one validation), got {args.clips_per_class}")
    if args.keypoints:
        if args.samples < 1:
            parser.error(f"--samples must be at least 1, got {args.samples}")
        counts = write_keypoint_dataset(args.out_dir, args.clips_per_class or 40, num_samples=args.samples, seed=args.seed)
        print(f"Wrote {counts['train']} training and {counts['validation']} validation keypoint clips to {args.out_dir}")
        return
    if args.streams is not None:
        if args.streams < 1:
            parser.error(f"--streams must be at least 1, got {args.streams}")
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        for number in range(1, args.streams + 1):
            path = Path(args.out_dir) / f"stream_{number}.mp4"
            truth = write_stream(path, (args.seed, number), args.fps, args.passers)
            print(f"Wrote {path} ({truth['num_frames']} frames at {args.fps:g} fps, {len(truth['gestures'])} gestures)")
        return
    if args.background_clips is not None and args.background_clips < 2:
        parser.error(f"--background-clips must be at least 2 (one train, one validation), got {args.background_clips}")
    clips = args.clips_per_class or 60
    splits = write_dataset(args.out_dir, clips, args.seed, args.validation_fraction, background_clips=args.background_clips)
    print(
        f"Wrote {len(splits['train'])} training and {len(splits['validation'])} validation clips "
        f"of {len(CLASSES)} classes to {args.out_dir}"
    )
    if args.video:
        sidecar = write_stream(args.video, args.seed, args.fps, args.passers)
        print(f"Wrote {args.video} ({sidecar['num_frames']} frames, {len(sidecar['gestures'])} gestures) and {args.video}.json")


if __name__ == "__main__":
    main()
