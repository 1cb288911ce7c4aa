"""Write a synthetic gesture dataset in the official 20BN-Jester layout.

A drawn hand moves over a cluttered, noisy background. The classes differ only in their
motion (swipe left/right/up/down, zoom in/out, turn clockwise/counterclockwise, no gesture);
clip length, speed, timing, start position, hand size, colours, background and noise vary
per clip, so the direction of a gesture is visible only across frames. The output is what
the real dataset looks like on disk, so `prepare.py` reads it through the same code path:

    OUT_DIR/20bn-jester-v1/<id>/00001.jpg ...
    OUT_DIR/jester-v1-labels.csv        one class name per line
    OUT_DIR/jester-v1-train.csv         id;label
    OUT_DIR/jester-v1-validation.csv    id;label

`--video FILE` also writes a webcam-sized video of several gestures in a row, the hand resting
between them, with a sidecar `FILE.json` listing each gesture's label and frame range, for trying
`app.py` without a camera.

    python synthetic.py data/synthetic --clips-per-class 60 --video data/gestures.mp4

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
from clips.keypoints import KEYPOINTS, MISSING, NUM_SAMPLES, keypoints_path, save_atomic
from common.files import write_atomic, write_csv

CLASSES = [
    "Swiping Left",
    "Swiping Right",
    "Swiping Up",
    "Swiping Down",
    "Zooming In With Full Hand",
    "Zooming Out With Full Hand",
    "Turning Hand Clockwise",
    "Turning Hand Counterclockwise",
    "No gesture",
]
FRAME_HEIGHT, FRAME_WIDTH = 100, 132  # Jester frames are 100 px high
FPS = 12  # Jester's frame rate


def random_scene(rng):
    """Everything about a clip that does not depend on its gesture."""
    return {
        "base": rng.uniform(20, 110, size=3),  # darker than any hand, also in gray
        "gradient": rng.uniform(-40, 40, size=(2, 3)),
        "clutter": [
            (rng.uniform(0, 1, 2), rng.uniform(0.05, 0.3, 2), rng.uniform(20, 235, 3)) for _ in range(rng.integers(1, 4))
        ],
        "noise": rng.uniform(2.0, 6.0),
        "skin": np.array([rng.uniform(90, 160), rng.uniform(130, 200), rng.uniform(180, 250)]),  # BGR
        "radius": rng.uniform(0.11, 0.16),  # palm radius, a fraction of the frame height
        "angle": rng.uniform(-20, 20),  # finger direction in degrees, 0 = up
        "noise_seed": int(rng.integers(2**31)),
    }


def random_motion(rng, label, num_frames):
    """Per-frame hand centre (x, y as fractions), scale and angle for one gesture."""
    begin = rng.uniform(0.15, 0.35) * num_frames
    duration = rng.uniform(0.35, 0.6) * num_frames
    t = np.clip((np.arange(num_frames) - begin) / duration, 0.0, 1.0)
    progress = 0.5 - 0.5 * np.cos(np.pi * t)  # ease in and out
    x = np.full(num_frames, rng.uniform(0.3, 0.7))
    y = np.full(num_frames, rng.uniform(0.35, 0.65))
    scale = np.ones(num_frames)
    angle = np.zeros(num_frames)
    # Swipes start anywhere their path fits, so start positions of opposite swipes overlap.
    distance = rng.uniform(0.22, 0.38)
    if label in ("Swiping Left", "Swiping Right"):
        sign = -1 if label == "Swiping Left" else 1
        start = rng.uniform(0.1, 0.9 - distance)
        x = (start if sign > 0 else 1 - start) + sign * distance * progress
    elif label in ("Swiping Up", "Swiping Down"):
        sign = -1 if label == "Swiping Up" else 1
        start = rng.uniform(0.15, 0.85 - distance)
        y = (start if sign > 0 else 1 - start) + sign * distance * progress
    elif label.startswith("Zooming"):
        factor = rng.uniform(2.0, 2.6)
        grow = label.startswith("Zooming In")
        scale = factor**progress if grow else factor ** (1 - progress) / factor * 1.3
    elif label.startswith("Turning"):
        sweep = rng.uniform(150, 240)
        angle = (sweep if label == "Turning Hand Clockwise" else -sweep) * progress
    else:  # No gesture: the hand rests, with a little tremor
        x = x + rng.normal(0, 0.002, num_frames)
        y = y + rng.normal(0, 0.002, num_frames)
    return np.stack([x, y, scale, angle], axis=1), (int(begin), int(begin + duration))


def render_background(scene, height, width):
    rows = np.linspace(0, 1, height)[:, None, None]
    cols = np.linspace(0, 1, width)[None, :, None]
    image = scene["base"] + rows * scene["gradient"][0] + cols * scene["gradient"][1]
    image = np.clip(image, 0, 255).astype(np.uint8)
    for (cx, cy), (sx, sy), color in scene["clutter"]:
        top_left = (int((cx - sx / 2) * width), int((cy - sy / 2) * height))
        bottom_right = (int((cx + sx / 2) * width), int((cy + sy / 2) * height))
        cv2.rectangle(image, top_left, bottom_right, color.tolist(), -1)
    return image


def draw_hand(image, scene, x, y, scale, angle):
    """A palm, four fingers and a thumb; the thumb shows which way the hand is turned."""
    height, width = image.shape[:2]
    centre = np.array([x * width, y * height])
    radius = scene["radius"] * height * scale
    skin = scene["skin"].tolist()
    direction = np.deg2rad(scene["angle"] + angle)
    for offset in (-0.5, -0.17, 0.17, 0.5):  # fingers, spread around "up"
        a = direction + offset * 0.6
        tip = centre + 2.1 * radius * np.array([np.sin(a), -np.cos(a)])
        cv2.line(image, _point(centre), _point(tip), skin, max(1, int(radius * 0.45)), cv2.LINE_AA)
    thumb = direction - 1.6
    tip = centre + 1.6 * radius * np.array([np.sin(thumb), -np.cos(thumb)])
    cv2.line(image, _point(centre), _point(tip), skin, max(1, int(radius * 0.5)), cv2.LINE_AA)
    cv2.circle(image, _point(centre), max(2, int(radius)), skin, -1, cv2.LINE_AA)


def _point(xy):
    return int(round(xy[0])), int(round(xy[1]))


def render_clip(scene, motion, height=FRAME_HEIGHT, width=FRAME_WIDTH):
    """Frames (time, height, width, 3) uint8 BGR of one clip."""
    background = render_background(scene, height, width)
    noise_rng = np.random.default_rng(scene["noise_seed"])
    frames = []
    for x, y, scale, angle in motion:
        frame = background.copy()
        draw_hand(frame, scene, x, y, scale, angle)
        noise = noise_rng.normal(0, scene["noise"], frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return np.stack(frames)


def make_clip(seed, index, label):
    """Frames of the clip number `index` of a dataset, deterministic for (seed, index)."""
    rng = np.random.default_rng([seed, index])
    num_frames = int(rng.integers(28, 45))
    motion, _ = random_motion(rng, label, num_frames)
    return render_clip(random_scene(rng), motion)


def write_clip(task):
    """Writes one clip's frames as JPEGs (runs in a worker process)."""
    seed, clip_id, label, clip_dir = task
    clip_dir.mkdir(exist_ok=True)
    for number, frame in enumerate(make_clip(seed, clip_id, label), start=1):
        cv2.imwrite(str(clip_dir / f"{number:05d}.jpg"), frame)


def write_dataset(out_dir, clips_per_class=60, seed=0, validation_fraction=0.2, workers=None):
    """Writes the Jester layout; returns {"train": [(id, label)], "validation": [...]}."""
    out_dir = Path(out_dir)
    frames_dir = out_dir / "20bn-jester-v1"
    frames_dir.mkdir(parents=True, exist_ok=True)
    num_validation = max(1, round(clips_per_class * validation_fraction))
    splits = {"train": [], "validation": []}
    tasks = []
    for index in range(clips_per_class):
        split = "validation" if index >= clips_per_class - num_validation else "train"
        for label in CLASSES:
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


def write_video(path, seed=0, num_gestures=None, height=240, width=320):
    """A video of gestures in a row over one scene, and `path.json` listing them."""
    rng = np.random.default_rng([seed, 999_999])
    scene = random_scene(rng)
    labels = [c for c in CLASSES if c != "No gesture"]
    order = [labels[i] for i in rng.permutation(len(labels))][:num_gestures]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
    if not writer.isOpened():
        raise OSError(f"Cannot write video {path}: OpenCV has no mp4v encoder here.")
    gestures, frame_count = [], 0
    for label in ["No gesture"] + order + ["No gesture"]:
        num_frames = int(rng.integers(30, 40))
        motion, (begin, end) = random_motion(rng, label, num_frames)
        # a person rests between gestures: the hand holds still before and after each one
        before, after = (int(n) for n in rng.integers(8, 15, size=2))
        motion = np.concatenate([motion[:1].repeat(before, axis=0), motion, motion[-1:].repeat(after, axis=0)])
        begin, end, num_frames = begin + before, end + before, len(motion)
        for frame in render_clip(scene, motion, height, width):
            writer.write(frame)
        if label != "No gesture":
            gestures.append({"label": label, "start": frame_count + begin, "end": frame_count + end})
        frame_count += num_frames
    writer.release()
    sidecar = {"fps": FPS, "num_frames": frame_count, "gestures": gestures}
    Path(f"{path}.json").write_text(json.dumps(sidecar, indent=1))
    return sidecar


# A stick figure facing the camera in COCO's (and PoseNet's) 17 joints: nose, eyes, ears, shoulders,
# elbows, wrists, hips, knees, ankles, left before right. x to the right, y down, in body heights from
# the middle of the hips; the person's left side is on the image's right.
STICK_FIGURE = np.array([
    (0, -0.62), (0.03, -0.65), (-0.03, -0.65), (0.06, -0.63), (-0.06, -0.63), (0.14, -0.48), (-0.14, -0.48), (0.18, -0.26),
    (-0.18, -0.26), (0.19, -0.05), (-0.19, -0.05), (0.09, 0), (-0.09, 0), (0.1, 0.24), (-0.1, 0.24), (0.1, 0.48), (-0.1, 0.48),
])  # fmt: skip
KEYPOINT_CLASSES = ("waving", "squatting")


def synthetic_keypoints(label, num_samples=NUM_SAMPLES, rng=None):
    """(num_samples, joints, 3) keypoints of one moving stick figure, in the format of extracted ones.

    "waving": one arm raised, its wrist swinging side to side; "squatting": everything above the
    ankles going down and up, knees spreading. Position, size, frame shape, speed, phase, noise and
    a share of missing joints vary per clip, so only the motion tells the classes apart. The 17
    joints are COCO's, as PoseNet gives them (see STICK_FIGURE)."""
    rng = rng if rng is not None else np.random.default_rng()
    label = KEYPOINT_CLASSES[label] if isinstance(label, int | np.integer) else label
    if label not in KEYPOINT_CLASSES:
        raise ValueError(f"Unknown synthetic class {label!r}; expected one of {KEYPOINT_CLASSES} or its index.")
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
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default: 0)")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="share of clips for validation (default: 0.2)")
    parser.add_argument("--video", help="also write a video of several gestures in a row (and VIDEO.json)")
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
    splits = write_dataset(args.out_dir, args.clips_per_class or 60, args.seed, args.validation_fraction)
    print(
        f"Wrote {len(splits['train'])} training and {len(splits['validation'])} validation clips "
        f"of {len(CLASSES)} classes to {args.out_dir}"
    )
    if args.video:
        sidecar = write_video(args.video, args.seed)
        print(f"Wrote {args.video} ({sidecar['num_frames']} frames, {len(sidecar['gestures'])} gestures) and {args.video}.json")


if __name__ == "__main__":
    main()
