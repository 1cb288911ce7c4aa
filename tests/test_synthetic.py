import json

import cv2
import numpy as np

import synthetic
from scenes.hands import FRAME_HEIGHT, FRAME_WIDTH, GESTURES, random_motion, random_transition
from scenes.streams import stream_poses, write_stream


def test_same_seed_same_clip_other_seed_other_clip():
    first = synthetic.make_clip(seed=5, index=3, label="Swiping Left")
    again = synthetic.make_clip(seed=5, index=3, label="Swiping Left")
    other = synthetic.make_clip(seed=6, index=3, label="Swiping Left")
    np.testing.assert_array_equal(first, again)
    assert first.shape[1:] == (FRAME_HEIGHT, FRAME_WIDTH, 3)
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_classes_differ_in_their_motion():
    """Left and right swipes move the hand the opposite way; their start positions overlap."""
    moves, starts = {"Swiping Left": [], "Swiping Right": []}, {"Swiping Left": [], "Swiping Right": []}
    for label in moves:
        for index in range(40):
            rng = np.random.default_rng([0, index])
            motion, _ = random_motion(rng, label, 36)
            moves[label].append(motion[-1, 0] - motion[0, 0])
            starts[label].append(motion[0, 0])
    assert max(moves["Swiping Left"]) < -0.2 and min(moves["Swiping Right"]) > 0.2
    assert max(starts["Swiping Left"]) > 0.8 and min(starts["Swiping Right"]) < 0.2
    overlap = max(starts["Swiping Right"]) - min(starts["Swiping Left"])
    assert overlap > 0.2  # where a swipe starts does not tell its direction


def test_turning_and_zooming_change_angle_and_scale():
    rng = np.random.default_rng(1)
    clockwise, _ = random_motion(rng, "Turning Hand Clockwise", 30)
    counter, _ = random_motion(rng, "Turning Hand Counterclockwise", 30)
    zoom_in, _ = random_motion(rng, "Zooming In With Full Hand", 30)
    zoom_out, _ = random_motion(rng, "Zooming Out With Full Hand", 30)
    assert clockwise[-1, 3] > 90 and counter[-1, 3] < -90
    assert zoom_in[-1, 2] > zoom_in[0, 2] * 1.5 and zoom_out[-1, 2] < zoom_out[0, 2] / 1.5


def test_writes_the_official_jester_layout(tmp_path):
    synthetic.main([str(tmp_path), "--clips-per-class", "2", "--seed", "4"])
    labels = (tmp_path / "jester-v1-labels.csv").read_text().splitlines()
    assert labels == synthetic.CLASSES and "No gesture" in labels and len(labels) >= 9
    train_rows = [line.split(";") for line in (tmp_path / "jester-v1-train.csv").read_text().splitlines()]
    validation_rows = [line.split(";") for line in (tmp_path / "jester-v1-validation.csv").read_text().splitlines()]
    assert len(train_rows) == len(validation_rows) == len(labels)
    for clip_id, label in train_rows + validation_rows:
        frames = sorted((tmp_path / "20bn-jester-v1" / clip_id).iterdir())
        assert frames[0].name == "00001.jpg" and len(frames) >= 28 and label in labels
        assert cv2.imread(str(frames[0])).shape == (100, FRAME_WIDTH, 3)


def test_more_background_clips_are_added_after_the_same_clips(tmp_path):
    synthetic.main([str(tmp_path / "plain"), "--clips-per-class", "2", "--seed", "4"])
    synthetic.main([str(tmp_path / "more"), "--clips-per-class", "2", "--seed", "4", "--background-clips", "5"])
    rows = lambda name, split: (tmp_path / name / f"jester-v1-{split}.csv").read_text().splitlines()  # noqa: E731
    more = rows("more", "train") + rows("more", "validation")
    counts = {label: sum(row.endswith(f";{label}") for row in more) for label in synthetic.CLASSES}
    assert counts == {label: 5 if label in ("No gesture", "Doing other things") else 2 for label in synthetic.CLASSES}
    assert sum(row.endswith(";No gesture") for row in rows("more", "validation")) == 1  # a fifth of 5
    first = set(rows("plain", "train")) - {row for row in rows("plain", "train") if "No gesture" in row or "other" in row}
    assert first <= set(rows("more", "train"))  # the gestures' clips keep their ids and splits
    same = tmp_path / "plain" / "20bn-jester-v1" / "1" / "00001.jpg", tmp_path / "more" / "20bn-jester-v1" / "1" / "00001.jpg"
    assert same[0].read_bytes() == same[1].read_bytes()


def test_stream_and_its_truth(tmp_path):
    path = tmp_path / "g.mp4"
    truth = write_stream(path, seed=2, num_gestures=3, height=120, width=160)
    assert json.loads((tmp_path / "g.mp4.json").read_text()) == truth
    assert len(truth["gestures"]) == 3 and len({g["label"] for g in truth["gestures"]}) == 3
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == truth["num_frames"]
    assert all(0 <= g["start"] < g["end"] < count for g in truth["gestures"])
    gestures = truth["gestures"]  # between two gestures the hand at least holds, moves and settles: 0.8 s or more
    assert all(following["start"] - gesture["end"] >= 0.8 * truth["fps"] for gesture, following in zip(gestures, gestures[1:]))


def test_streams_keep_their_speed_in_seconds_at_any_frame_rate():
    """The same seed at 12 and 30 fps: the same gestures, lasting the same seconds (to a frame)."""
    slow, _ = stream_poses(np.random.default_rng(4), GESTURES, fps=12)
    fast, _ = stream_poses(np.random.default_rng(4), GESTURES, fps=30)
    assert abs(len(slow) / 12 - len(fast) / 30) < 0.1 * len(GESTURES)


def test_hands_rise_into_place_and_lower_out_of_it():
    poses, gestures = stream_poses(np.random.default_rng(1), GESTURES, fps=12)
    first = gestures[0]["start"]
    assert poses[0, 1] > 0.85 and poses[first, 1] < 0.75  # from rest, low or below the picture, up to the gesture
    lowest_between = [poses[g["end"] : h["start"], 1].max() for g, h in zip(gestures, gestures[1:])]
    assert max(lowest_between) > 0.85  # it lowers out of the way at least once


def test_other_things_are_movements_between_gestures():
    """Doing other things: clips where the hand rises, lowers, repositions, comes closer or drifts."""
    travelled = []
    for index in range(30):
        motion = random_transition(np.random.default_rng([9, index]), 36)
        assert motion.shape == (36, 4)
        travelled.append(np.abs(motion[-1, :2] - motion[0, :2]).max())
    assert max(travelled) > 0.3 and min(travelled) < 0.1  # some go far (rise, lower), some stay (drift, approach)


def test_streams_command_writes_streams_only(tmp_path):
    synthetic.main([str(tmp_path), "--streams", "2", "--fps", "30", "--passers", "--seed", "3"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stream_1.mp4",
        "stream_1.mp4.json",
        "stream_2.mp4",
        "stream_2.mp4.json",
    ]
    assert json.loads((tmp_path / "stream_2.mp4.json").read_text())["fps"] == 30
