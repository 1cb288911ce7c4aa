"""Stick figures' keypoints for `pose_lstm`: a person waving or squatting, in the format of extracted ones.

keypoints = synthetic_keypoints("waving", num_samples=9, rng=np.random.default_rng(0))  # (9, 17, 3)
"""

import numpy as np

from clips.keypoints import MISSING, NUM_SAMPLES

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
