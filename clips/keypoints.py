"""A prepared clip's keypoints: the files `prepare.py keypoints` writes and `pose_lstm` reads.

    keypoints/<clip>.npy    float32 (num_samples, joints, 3): x, y, presence

x, y are fractions of the frame's width and height from its top left; presence is the detector's
confidence, or 1 where it gives none; a missing joint is x = y = -1, presence 0.
"""

from pathlib import Path

import numpy as np

from clips.frames import clip_folder
from common.files import atomic_path

KEYPOINTS = "keypoints"  # the modality folder in DATA_DIR
MISSING = -1.0  # x and y of a joint that was not found
NUM_SAMPLES = 9  # as in the original Lite pose project


def keypoints_path(data_dir, clip):
    """DATA_DIR/keypoints/<clip>.npy; a clip id with '/' is a sub-folder, as for frames."""
    return Path(f"{clip_folder(data_dir, clip, KEYPOINTS)}.npy")


def save_atomic(path, array):
    """Writes an .npy file whole or not at all, creating its folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        np.save(file, array)


def load_keypoints(data_dir, clip):
    """A clip's float32 (num_samples, joints, 3) array of x, y, presence."""
    path = keypoints_path(data_dir, clip)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python prepare.py keypoints {data_dir} --model MODEL.task` first.")
    array = np.load(path)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"{path} holds an array of shape {array.shape}; expected (num_samples, joints, 3).")
    return array.astype(np.float32, copy=False)


def _swap(count, pairs):
    order = np.arange(count)
    for left, right in pairs:
        order[[left, right]] = right, left
    return order


# Each layout's joints in a mirror image: a mirrored left wrist is where the right one was, so it
# takes the right wrist's place. COCO's 17 (PoseNet, the synthetic stick figures), MediaPipe's 33
# pose landmarks, one hand's 21 (nothing to swap), two hands' 42 (the left hand's 21 then the right's).
MIRRORED_JOINTS = {
    17: _swap(17, [(1, 2), (3, 4)] + [(i, i + 1) for i in range(5, 17, 2)]),
    33: _swap(33, [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10)] + [(i, i + 1) for i in range(11, 33, 2)]),
    21: np.arange(21),
    42: np.r_[21:42, 0:21],
}


def mirror_order(joints, source="keypoints"):
    """Where each of `joints` joints comes from in a mirror image; a layout not known is refused, naming `source`."""
    if joints not in MIRRORED_JOINTS:
        raise ValueError(
            f"{source}: {joints} joints is not a layout --flip knows how to mirror "
            f"({', '.join(map(str, MIRRORED_JOINTS))}); train without --flip."
        )
    return MIRRORED_JOINTS[joints]


def mirror_keypoints(points, source="keypoints"):
    """(..., joints, 3) keypoints seen in a mirror: x -> 1 - x, and left and right joints trade places;
    a missing joint stays missing. `source` names the clip in the error for a layout not known."""
    mirrored = points[..., mirror_order(points.shape[-2], source), :].copy()
    present = mirrored[..., 2] > 0
    mirrored[..., 0] = np.where(present, 1 - mirrored[..., 0], mirrored[..., 0])
    return mirrored


def keypoint_features(array):
    """(..., num_samples, joints, 3) keypoints -> (..., num_samples, joints * 2) float32 model input:
    x0, y0, x1, y1, ... with a missing joint's x and y at -1."""
    array = np.asarray(array, np.float32)
    points = np.where(array[..., 2:3] > 0, array[..., :2], MISSING)  # presence 0 means missing, whatever x, y say
    return points.reshape(*array.shape[:-2], array.shape[-2] * 2)


def sample_positions(num_frames, num_samples=NUM_SAMPLES):
    """0-based frame indices evenly spread from the first frame to the last, repeating frames of a short clip."""
    if num_frames < 1:
        raise ValueError(f"A clip needs at least one frame to sample keypoints from, got num_frames={num_frames}.")
    return np.round(np.linspace(0, num_frames - 1, num_samples)).astype(int)
