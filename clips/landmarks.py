"""Keypoints found in frames by a MediaPipe Tasks landmarker, for `pose_lstm`: one clip's, a whole
prepared DATA_DIR's (`prepare.py keypoints DATA_DIR --model MODEL.task`, or `prepare.py --keypoints`),
or a live camera's (`app.py --keypoints`). The files they go to are `clips/keypoints.py`'s.

The samples are evenly spread over a clip, each detected on its own frame (the original PoseNet
project reused one dict, so its LSTM saw nine copies of one pose). A joint not found, below
`min_presence` or outside the frame is missing. Files are renamed into place when complete, so a
killed extraction resumes; dataset.json records "keypoints": model, kind, joints, samples.

The detector is MediaPipe's Pose Landmarker (33 joints) or Hand Landmarker (21 per hand):
`pip install mediapipe` and a model file from its solutions guide. MediaPipe is imported only when a
landmarker is made, so reading keypoint files never needs it.
"""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from clips.frames import FRAME_NAME, ClipError, clip_folder
from clips.keypoints import KEYPOINTS, MISSING, NUM_SAMPLES, keypoints_path, sample_positions, save_atomic
from common.files import write_atomic

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


def report(summary):
    """What extract_dataset did, for people: counts, then the first unreadable clips and why."""
    lines = [f"{summary['extracted']} clips extracted, {summary['resumed']} done before, {len(summary['problems'])} unreadable"]
    if summary["empty"]:
        lines.append(f"warning: {summary['empty']} clips with no {summary['kind']} found in any sample (is it the right model?)")
    lines += [f"  {clip}: {reason}" for clip, reason in summary["problems"][:10]]
    return "\n".join(lines)
