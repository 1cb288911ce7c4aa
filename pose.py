"""Keypoints for the `pose_lstm` model: a person's (or a hand's) joints at a few moments of each clip.

    python pose.py DATA_DIR --model pose_landmarker_lite.task [--samples 9] [--kind auto]
    python pose.py --synthetic OUT [--clips-per-class 40]

The first reads a prepared DATA_DIR's frames (see prepare.py) and writes, per clip in index.csv,

    keypoints/<clip>.npy    float32 (num_samples, joints, 3): x, y, presence

x, y are fractions of the frame's width and height from its top left; presence is the detector's
confidence, or 1 where it gives none. A missing joint (not found, below --min-presence or outside
the frame) is x = y = -1, presence 0. The samples are evenly spread over the clip, each detected on
its own frame (the original PoseNet project reused one dict, so its LSTM saw nine copies of one
pose). Files are renamed into place when complete, so a killed run resumes; dataset.json records
"keypoints": model, kind, joints, samples. The detector is MediaPipe's Pose Landmarker (33 joints)
or Hand Landmarker (21 per hand): `pip install mediapipe` and a model file from its solutions guide.

The second writes a prepared DATA_DIR of moving stick figures (waving, squatting): keypoints, no frames.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from clips.index import INDEX_COLUMNS
from clips.keypoints import KEYPOINTS, MISSING, NUM_SAMPLES, keypoints_path, save_atomic
from clips.landmarks import GUIDE, JOINTS, MODELS, Landmarker, extract_dataset, report
from common.files import write_atomic, write_csv

# A stick figure facing the camera in COCO's (and PoseNet's) 17 joints: nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles, left before right. x to the right, y down, in body heights from
# the middle of the hips; the person's left side is on the image's right.
STICK_FIGURE = np.array([
    (0, -0.62), (0.03, -0.65), (-0.03, -0.65), (0.06, -0.63), (-0.06, -0.63), (0.14, -0.48), (-0.14, -0.48), (0.18, -0.26),
    (-0.18, -0.26), (0.19, -0.05), (-0.19, -0.05), (0.09, 0), (-0.09, 0), (0.1, 0.24), (-0.1, 0.24), (0.1, 0.48), (-0.1, 0.48),
])  # fmt: skip
SYNTHETIC_CLASSES = ("waving", "squatting")


def synthetic_keypoints(label, num_samples=NUM_SAMPLES, rng=None):
    """(num_samples, joints, 3) keypoints of one moving stick figure, in the format of extracted ones.

    "waving": one arm raised, its wrist swinging side to side; "squatting": everything above the
    ankles going down and up, knees spreading. Position, size, frame shape, speed, phase, noise and
    a share of missing joints vary per clip, so only the motion tells the classes apart. The 17
    joints are COCO's, as PoseNet gives them (see STICK_FIGURE)."""
    rng = rng if rng is not None else np.random.default_rng()
    label = SYNTHETIC_CLASSES[label] if isinstance(label, int | np.integer) else label
    if label not in SYNTHETIC_CLASSES:
        raise ValueError(f"Unknown synthetic class {label!r}; expected one of {SYNTHETIC_CLASSES} or its index.")
    time = np.linspace(0.0, 1.0, num_samples)[:, None]  # (num_samples, 1)
    cycles, phase = rng.uniform(1.0, 2.0), rng.uniform(0, 2 * np.pi)
    body = np.broadcast_to(STICK_FIGURE, (num_samples, *STICK_FIGURE.shape)).copy()  # (num_samples, 17, 2)
    body[:, :, 0] += rng.uniform(0.0, 0.02) * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * time + phase)  # idle sway
    if label == "waving":
        side = rng.choice([1, -1])  # the person's left or right arm
        elbow, wrist = (7, 9) if side == 1 else (8, 10)
        body[:, elbow] = body[:, elbow - 2] + (side * 0.12, -0.06)  # raised beside the shoulder
        angle = rng.uniform(0.5, 0.9) * np.sin(2 * np.pi * cycles * time[:, 0] + phase)
        body[:, wrist] = body[:, elbow] + 0.22 * np.stack([np.sin(angle), -np.cos(angle)], axis=1)
    else:
        down = rng.uniform(0.12, 0.25) * (1 - np.cos(2 * np.pi * cycles * time)) / 2  # (num_samples, 1)
        body[:, :13, 1] += down  # everything above the knees
        body[:, 13:15, 1] += down / 2
        body[:, 13:15, 0] += np.array([1, -1]) * down / 2  # knees go outward
    scale = rng.uniform(0.4, 0.65)  # body height in frame heights
    aspect = rng.uniform(1.2, 1.8)  # frame width over height: x is a fraction of the width
    centre = np.array([rng.uniform(0.3, 0.7), rng.uniform(0.55, 0.62)])
    points = centre + body * scale * np.array([1 / aspect, 1.0])
    points += rng.normal(0, rng.uniform(0.003, 0.01) * scale, points.shape)
    presence = rng.uniform(0.6, 1.0, points.shape[:2])
    missing = (rng.random(points.shape[:2]) < rng.uniform(0.0, 0.1)) | ((points < 0) | (points > 1)).any(axis=2)
    keypoints = np.concatenate([points, presence[..., None]], axis=2).astype(np.float32)
    keypoints[missing] = (MISSING, MISSING, 0.0)
    return keypoints


def write_synthetic_dataset(out_dir, clips_per_class=40, classes=SYNTHETIC_CLASSES, num_samples=NUM_SAMPLES, seed=0):
    """A prepared DATA_DIR of synthetic keypoints (no frames): index.csv, classes.json, dataset.json,
    keypoints/<class>/<number>.npy; a quarter of each class (at least one clip) for validation.
    Returns the number of clips per split."""
    if not set(classes) <= set(SYNTHETIC_CLASSES) or clips_per_class < 2:
        raise ValueError(
            f"Synthetic sets have classes of {SYNTHETIC_CLASSES}, 2 clips each or more; got {classes}, {clips_per_class}."
        )
    out_dir = Path(out_dir)
    num_validation = max(1, round(clips_per_class / 4))
    rows = []
    for number in range(clips_per_class):
        split = "validation" if number >= clips_per_class - num_validation else "train"
        for label in classes:
            rng = np.random.default_rng([seed, SYNTHETIC_CLASSES.index(label), number])
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
    parser.add_argument("data_dir", nargs="?", help="a DATA_DIR written by prepare.py, to extract keypoints for")
    parser.add_argument("--model", help="MediaPipe landmarker model file: pose_landmarker_lite.task, hand_landmarker.task, ...")
    parser.add_argument("--samples", type=int, default=NUM_SAMPLES, help="samples per clip, evenly spread (default: 9)")
    parser.add_argument("--kind", choices=("auto", *JOINTS), default="auto", help="auto (default): hand if named so, else pose")
    parser.add_argument("--min-presence", type=float, default=0.5, help="less confident joints are missing (default: 0.5)")
    parser.add_argument("--hands", type=int, choices=(1, 2), default=1, help="hand models: hands, 21 joints each (default: 1)")
    parser.add_argument("--synthetic", metavar="OUT", help="instead write a synthetic set (waving, squatting) into OUT")
    parser.add_argument("--clips-per-class", type=int, default=40, help="with --synthetic: clips per class (default: 40)")
    parser.add_argument("--seed", type=int, default=0, help="with --synthetic: random seed (default: 0)")
    args = parser.parse_args(argv)
    if bool(args.data_dir) == bool(args.synthetic):
        parser.error("give either DATA_DIR (with --model) to extract keypoints, or --synthetic OUT")
    if args.samples < 1:
        parser.error(f"--samples must be at least 1, got {args.samples}")
    try:
        if args.synthetic:
            counts = write_synthetic_dataset(args.synthetic, args.clips_per_class, num_samples=args.samples, seed=args.seed)
            print(f"Wrote {counts['train']} training and {counts['validation']} validation keypoint clips to {args.synthetic}")
            return
        if not args.model:
            parser.error(f"--model is needed: {MODELS['pose']} or {MODELS['hand']} from {GUIDE}")
        with Landmarker(args.model, args.kind, args.min_presence, args.hands) as landmarker:
            summary = extract_dataset(args.data_dir, args.model, args.samples, landmarker=landmarker)
    except (FileNotFoundError, ValueError, ImportError) as error:
        sys.exit(f"pose.py: {error}")
    print(report(summary))


if __name__ == "__main__":
    main()
