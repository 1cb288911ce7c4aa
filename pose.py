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
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from clips.frames import FRAME_NAME, ClipError, clip_folder
from clips.index import INDEX_COLUMNS
from clips.keypoints import KEYPOINTS, MISSING, NUM_SAMPLES, keypoints_path, sample_positions, save_atomic
from common.files import write_atomic, write_csv

JOINTS = {"pose": 33, "hand": 21}  # MediaPipe's landmarks per person or hand
MODELS = {"pose": "a Pose Landmarker model (e.g. pose_landmarker_lite.task)", "hand": "a Hand Landmarker (hand_landmarker.task)"}
GUIDE = "https://ai.google.dev/edge/mediapipe/solutions/guide"


class Landmarker:
    """One person's (or hand's) joints in a frame: `landmarker(frame)` -> float32 (joints, 3).

    `frame` is a BGR (or gray) uint8 image. `self.detect(rgb)` returns None when it finds nothing,
    else (joints, 3) of x, y in pixels and a score (NaN where the model gives none), which this class
    turns into the keypoint format. It is MediaPipe's unless `detect` is given (see `from_function`),
    so tests need neither MediaPipe nor a model. A hand model with num_hands=2 gives 42 joints: the
    left hand's 21 then the right's, by MediaPipe's handedness, a hand not found marked missing.
    """

    def __init__(self, model_path, kind="auto", min_presence=0.5, num_hands=1, detect=None, joints=None):
        self.kind = ("hand" if "hand" in Path(model_path).name.lower() else "pose") if kind == "auto" else kind
        if self.kind not in JOINTS or num_hands not in (1, 2):
            raise ValueError(
                f"Unknown landmarker kind {kind!r} or num_hands {num_hands}; expected auto, pose or hand, and 1 or 2."
            )
        self.name, self.min_presence, self._task = Path(model_path).name, min_presence, None
        if detect is None:
            self._task, detect = mediapipe_detector(Path(model_path), self.kind, min_presence, num_hands)
            joints = JOINTS[self.kind] * (num_hands if self.kind == "hand" else 1)
        elif joints is None:
            raise ValueError("A Landmarker with its own detect function needs `joints`, the number of joints it returns.")
        self.detect, self.joints = detect, joints

    @classmethod
    def from_function(cls, detect, joints, min_presence=0.5, name="function", kind="pose"):
        """A landmarker around any detector; `detect(rgb)` -> None or (joints, 3) of x, y pixels and score."""
        return cls(name, kind, min_presence, detect=detect, joints=joints)

    def __call__(self, frame):
        height, width = frame.shape[:2]
        rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB if frame.ndim == 2 else cv2.COLOR_BGR2RGB)
        keypoints = np.tile(np.float32([MISSING, MISSING, 0.0]), (self.joints, 1))  # a new array per frame
        found = self.detect(rgb)
        if found is None:
            return keypoints
        found = np.asarray(found, np.float64)
        if found.shape != (self.joints, 3):
            raise ValueError(f"The detector returned landmarks of shape {found.shape}; expected ({self.joints}, 3).")
        x, y, score = found[:, 0] / width, found[:, 1] / height, found[:, 2]
        with np.errstate(invalid="ignore"):  # NaN compares False: a NaN score (none given) passes, a NaN x fails
            present = (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1) & ~(score < self.min_presence)
        presence = np.clip(np.nan_to_num(score, nan=1.0), 0.0, 1.0)
        keypoints[present] = np.stack([x, y, presence], axis=1)[present]
        return keypoints

    def close(self):
        if self._task is not None:
            self._task.close()
            self._task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def mediapipe_detector(model_path, kind, min_presence, num_hands):
    """(MediaPipe task, detect function) for a Pose or Hand Landmarker model file, in IMAGE mode."""
    if not model_path.is_file():
        raise FileNotFoundError(
            f"Landmarker model {model_path} not found. Download {MODELS[kind]} from the MediaPipe solutions "
            f"guide ({GUIDE}, Vision: Pose or Hand landmark detection) and give its path."
        )
    try:
        import mediapipe
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as error:
        raise ImportError(f"Keypoint extraction needs MediaPipe: pip install mediapipe ({error})") from error
    common = {"base_options": BaseOptions(model_asset_path=str(model_path)), "running_mode": vision.RunningMode.IMAGE}
    try:
        if kind == "pose":
            task = vision.PoseLandmarker.create_from_options(vision.PoseLandmarkerOptions(
                **common, num_poses=1, min_pose_detection_confidence=min_presence, min_pose_presence_confidence=min_presence
            ))  # fmt: skip
        else:
            task = vision.HandLandmarker.create_from_options(vision.HandLandmarkerOptions(
                **common, num_hands=num_hands,
                min_hand_detection_confidence=min_presence, min_hand_presence_confidence=min_presence,
            ))  # fmt: skip
    except (ValueError, RuntimeError, OSError) as error:
        raise ValueError(f"MediaPipe cannot load {model_path} as {MODELS[kind]} ({error}); is it a {kind} landmarker?") from error

    def detect(rgb):
        result = task.detect(mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
        points = pose_points(result) if kind == "pose" else hand_points(result, num_hands)
        return None if points is None else points * (rgb.shape[1], rgb.shape[0], 1)

    return task, detect


def pose_points(result):
    """The first person of a PoseLandmarkerResult as (33, 3) normalised x, y and score, or None; the
    score is the lower of visibility and presence, of those MediaPipe gives (it leaves unset ones None)."""
    if not result.pose_landmarks:
        return None
    points = []
    for point in result.pose_landmarks[0]:
        scores = [score for score in (point.visibility, point.presence) if score is not None]
        points.append((point.x, point.y, min(scores, default=np.nan)))
    return np.array(points, np.float64)


def hand_points(result, num_hands):
    """A HandLandmarkerResult as (21 * num_hands, 3) normalised x, y and NaN scores, or None. Hand
    landmarks have no score of their own (older MediaPipe gives 0.0 for the unset fields), so all
    of a found hand's count: the hand itself passed min_hand_presence_confidence."""
    if not result.hand_landmarks:
        return None
    slots = [None] * num_hands
    for landmarks, handedness in zip(result.hand_landmarks, result.handedness):
        slot = int(num_hands == 2 and bool(handedness) and handedness[0].category_name == "Right")
        slot = slot if slots[slot] is None else num_hands - 1 - slot  # two hands called the same side: the other slot
        if slots[slot] is None:
            slots[slot] = [(point.x, point.y, np.nan) for point in landmarks]
    empty = [(np.nan, np.nan, np.nan)] * JOINTS["hand"]
    return np.array([point for hand in slots for point in (hand or empty)], np.float64)


class FrameFolder:
    """A prepared clip's frames, read only when indexed: frames/<clip>/00001.jpg is frame 0."""

    def __init__(self, data_dir, clip, num_frames):
        self.folder, self.num_frames = clip_folder(data_dir, clip), int(num_frames)
        if self.num_frames < 1:
            raise ClipError(f"index.csv gives num_frames={num_frames!r}; expected a positive count")

    def __len__(self):
        return self.num_frames

    def __getitem__(self, index):
        path = self.folder / FRAME_NAME.format(index + 1)
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None  # no OpenCV warning for a missing file
        if frame is None:
            raise ClipError(f"{'unreadable' if path.is_file() else 'missing'} frame {path}")
        return frame


def clip_keypoints(frames, landmarker, num_samples=NUM_SAMPLES):
    """(num_samples, joints, 3) keypoints of a clip: a sequence of frames (or a FrameFolder). The
    frames are all read before any is detected, so an unreadable one costs no detection; a frame
    sampled twice (a short clip) is detected once."""
    positions, order = np.unique(sample_positions(len(frames), num_samples), return_inverse=True)
    images = [frames[int(position)] for position in positions]
    detected = np.stack([landmarker(image) for image in images])
    return detected[order.reshape(-1)]  # indexing copies: every sample owns its values


def extract_dataset(data_dir, model_path, num_samples=NUM_SAMPLES, kind="auto", progress=True, landmarker=None):
    """Writes keypoints/<clip>.npy for every clip of DATA_DIR/index.csv that has none yet.

    `landmarker` (a Landmarker) replaces the one made from `model_path` and `kind`, and is left
    open. Unreadable clips are reported, not fatal. Returns {"clips", "extracted", "resumed", "empty"
    (clips where nothing was found in any sample), "problems": [(clip, reason)], "joints", "kind"}.
    """
    data_dir = Path(data_dir)
    index = data_dir / "index.csv"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: prepare the dataset first (`python prepare.py SOURCE --out {data_dir}`).")
    if landmarker is None:
        with Landmarker(model_path, kind) as landmarker:
            return extract_dataset(data_dir, model_path, num_samples, kind, progress, landmarker)
    settings = {"model": landmarker.name, "kind": landmarker.kind, "joints": landmarker.joints, "samples": num_samples}
    record_settings(data_dir, settings)
    print(f"Extracting keypoints into {data_dir / KEYPOINTS}: {settings}, minimum presence {landmarker.min_presence}")
    for leftover in (data_dir / KEYPOINTS).rglob(".*.tmp-*"):  # half-written files of a killed run
        leftover.unlink()
    summary = {"clips": 0, "extracted": 0, "resumed": 0, "empty": 0, "problems": [], **settings}
    with open(index, newline="", encoding="utf-8") as file:
        for row in tqdm(csv.DictReader(file), disable=not progress, unit="clip"):
            summary["clips"] += 1
            path = keypoints_path(data_dir, row["clip"])
            if path.is_file():
                summary["resumed"] += 1
                continue
            try:
                keypoints = clip_keypoints(FrameFolder(data_dir, row["clip"], row["num_frames"]), landmarker, num_samples)
            except ClipError as error:
                summary["problems"].append((row["clip"], str(error)))
                continue
            save_atomic(path, keypoints)
            summary["extracted"] += 1
            summary["empty"] += int(not keypoints[..., 2].any())
    return summary


def record_settings(data_dir, settings):
    """Adds "keypoints" to dataset.json, keeping its other keys; refuses to mix the files of two
    extractions, since a resumed run would keep the earlier files."""
    path = data_dir / "dataset.json"
    dataset = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    earlier = dataset.get(KEYPOINTS)
    if earlier and earlier != settings and any((data_dir / KEYPOINTS).rglob("*.npy")):
        changed = [key for key, value in settings.items() if earlier.get(key) != value]
        details = ", ".join(f"{key}: {earlier.get(key)} then, {settings[key]} now" for key in changed)
        raise ValueError(f"{data_dir / KEYPOINTS} holds keypoints of other settings ({details}): keep them, or delete it.")
    write_atomic(path, json.dumps({**dataset, KEYPOINTS: settings}, indent=1) + "\n")


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


def report(summary):
    """What extract_dataset did, for people: counts, then the first unreadable clips and why."""
    lines = [f"{summary['extracted']} clips extracted, {summary['resumed']} done before, {len(summary['problems'])} unreadable"]
    if summary["empty"]:
        lines.append(f"warning: {summary['empty']} clips with no {summary['kind']} found in any sample (is it the right model?)")
    lines += [f"  {clip}: {reason}" for clip, reason in summary["problems"][:10]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
