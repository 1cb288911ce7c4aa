"""Continuous streams as a webcam sees a person using gestures: one camera shot, one hand.

    sidecar = write_stream("stream.mp4", seed=3, fps=30, passers=True)   # and stream.mp4.json

The hand waits at rest (below the picture or low in it, idling), rises into place, pauses a
varied while, performs a gesture at a varied speed, holds, and then either lowers out of the
picture and idles, or moves (dipping) to where the next gesture starts. Every gesture of the set
is performed once, in a random order. Motion is drawn in seconds, so a 12 fps and a 30 fps stream
show gestures at the same speed. With `passers`, dim shapes cross the background now and then,
like people walking behind the person.

The sidecar is the truth `evaluate.py --stream` scores against (see evaluation/streams.py):
{"fps", "num_frames", "gestures": [{"label", "start", "end"}, ...]}, frames from 0, `end` inclusive.
"""

import json
from pathlib import Path

import cv2
import numpy as np

from common.files import write_atomic
from scenes.hands import GESTURES, draw_hand, drift, ease, gesture_path, move, random_scene, render_background, rest_pose


def stream_poses(rng, labels, fps):
    """Hand poses (frames, 4) of a stream performing `labels` in order, and each gesture's frames."""

    def frames(low, high):  # a random duration in seconds, as frames
        return max(1, int(round(rng.uniform(low, high) * fps)))

    pose = rest_pose(rng)
    parts, gestures, at_rest = [drift(pose, frames(0.5, 2.0), rng, 0.02)], [], True
    for label in labels:
        performed = gesture_path(rng, label, ease(np.linspace(0, 1, frames(0.8, 2.0))))
        dip = 0.0 if at_rest else rng.uniform(0.12, 0.3)  # from rest it rises; from a gesture it repositions
        parts.append(move(parts[-1][-1], performed[0], frames(0.6, 1.2) if at_rest else frames(0.8, 1.5), rng, dip))
        parts.append(drift(performed[0], frames(0.1, 0.8), rng, 0.01))  # settles before starting
        start = sum(len(part) for part in parts)
        parts.append(performed)
        gestures.append({"label": label, "start": start, "end": start + len(performed) - 1})
        parts.append(drift(performed[-1], frames(0.1, 0.6), rng, 0.01))  # holds at the end
        at_rest = rng.random() < 0.6
        if at_rest:  # lowers out of the way and idles
            rest = rest_pose(rng)
            parts += [move(parts[-1][-1], rest, frames(0.6, 1.2), rng), drift(rest, frames(0.5, 3.0), rng, 0.03)]
        else:  # stays up a moment
            parts.append(drift(parts[-1][-1], frames(0.3, 1.5), rng, 0.03))
    return np.concatenate(parts), gestures


def clip_from_stream(rng, label, num_frames, fps=12):
    """Poses (num_frames, 4) of a dataset clip cut from a stream around one performance of `label`:
    the whole gesture, anywhere in the clip, with what the stream shows around it (the hand rising
    into place, or repositioning after another gesture, and what it does after)."""
    labels = [label] if rng.random() < 0.5 else [GESTURES[rng.integers(len(GESTURES))], label]
    poses, gestures = stream_poses(rng, labels, fps)
    start, end = gestures[-1]["start"], gestures[-1]["end"]
    first = end + 1 - num_frames + int(rng.integers(0, max(1, num_frames - (end - start))))
    padded = np.concatenate([poses[:1].repeat(num_frames, 0), poses, poses[-1:].repeat(num_frames, 0)])
    return padded[first + num_frames : first + 2 * num_frames]


def passers_by(rng, num_frames, fps, wait=4.0):
    """Shapes crossing the background, the first within `wait` seconds: (first frame, frames, colour,
    size, y, direction) each."""
    walkers, frame = [], int(rng.uniform(-2, wait) * fps)
    while frame < num_frames:
        crossing = int(rng.uniform(2, 5) * fps)
        size = (rng.uniform(0.15, 0.3), rng.uniform(0.5, 0.9))
        walkers.append((frame, crossing, rng.uniform(30, 140, 3), size, rng.uniform(0.3, 0.7), rng.choice([-1, 1])))
        frame += crossing + int(rng.uniform(1, 6) * fps)
    return walkers


def render_stream(scene, poses, fps, height, width, walkers=()):
    """Yields the stream's frames, BGR uint8."""
    background = render_background(scene, height, width)
    noise_rng = np.random.default_rng(scene["noise_seed"])
    noises = np.round(noise_rng.standard_normal((16, height, width, 3)) * scene["noise"]).astype(np.int16)  # camera noise
    for index, (x, y, scale, angle) in enumerate(poses):
        frame = background.copy()
        for first, crossing, colour, (w, h), centre_y, direction in walkers:
            if first <= index < first + crossing:
                progress = (index - first) / crossing
                centre_x = -w + (1 + 2 * w) * (progress if direction > 0 else 1 - progress)
                centre = (int(centre_x * width), int(centre_y * height))
                cv2.ellipse(frame, centre, (int(w * width / 2), int(h * height / 2)), 0, 0, 360, colour.tolist(), -1)
        draw_hand(frame, scene, x, y, scale, angle)
        noise = noises[noise_rng.integers(len(noises))]
        yield np.clip(frame + noise, 0, 255).astype(np.uint8)


def write_stream(path, seed=0, fps=12, passers=False, height=240, width=320, num_gestures=None):
    """Writes a stream video of every gesture once (or the first `num_gestures` of them), in a random
    order, and its truth as `path.json`; returns the truth. `seed` is an int or a tuple of them."""
    rng = np.random.default_rng([*np.atleast_1d(seed), 424_242])
    labels = [GESTURES[i] for i in rng.permutation(len(GESTURES))][:num_gestures]
    poses, gestures = stream_poses(rng, labels, fps)
    scene = random_scene(rng)
    walkers = passers_by(rng, len(poses), fps) if passers else ()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"Cannot write video {path}: OpenCV has no mp4v encoder here.")
    for frame in render_stream(scene, poses, fps, height, width, walkers):
        writer.write(frame)
    writer.release()
    truth = {"fps": fps, "num_frames": len(poses), "gestures": gestures}
    write_atomic(Path(f"{path}.json"), json.dumps(truth, indent=1) + "\n")
    return truth
