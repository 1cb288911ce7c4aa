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
"""

import argparse
import json
import os
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

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
    _write_lines(out_dir / "jester-v1-labels.csv", CLASSES)
    for split, rows in splits.items():
        _write_lines(out_dir / f"jester-v1-{split}.csv", [f"{i};{label}" for i, label in rows])
    return splits


def _write_lines(path, lines):
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write("".join(f"{line}\n" for line in lines))
    os.replace(temporary, path)


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="folder to write the Jester-layout dataset into")
    parser.add_argument("--clips-per-class", type=int, default=60, help="clips per class (default: 60)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default: 0)")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="share of clips for validation (default: 0.2)")
    parser.add_argument("--video", help="also write a video of several gestures in a row (and VIDEO.json)")
    args = parser.parse_args(argv)
    if args.clips_per_class < 2:
        parser.error(f"--clips-per-class must be at least 2 (one train, one validation), got {args.clips_per_class}")
    splits = write_dataset(args.out_dir, args.clips_per_class, args.seed, args.validation_fraction)
    print(
        f"Wrote {len(splits['train'])} training and {len(splits['validation'])} validation clips "
        f"of {len(CLASSES)} classes to {args.out_dir}"
    )
    if args.video:
        sidecar = write_video(args.video, args.seed)
        print(f"Wrote {args.video} ({sidecar['num_frames']} frames, {len(sidecar['gestures'])} gestures) and {args.video}.json")


if __name__ == "__main__":
    main()
