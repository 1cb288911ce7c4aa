import json

import cv2
import numpy as np

import synthetic


def test_same_seed_same_clip_other_seed_other_clip():
    first = synthetic.make_clip(seed=5, index=3, label="Swiping Left")
    again = synthetic.make_clip(seed=5, index=3, label="Swiping Left")
    other = synthetic.make_clip(seed=6, index=3, label="Swiping Left")
    np.testing.assert_array_equal(first, again)
    assert first.shape[1:] == (synthetic.FRAME_HEIGHT, synthetic.FRAME_WIDTH, 3)
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_classes_differ_in_their_motion():
    """Left and right swipes move the hand the opposite way; their start positions overlap."""
    moves, starts = {"Swiping Left": [], "Swiping Right": []}, {"Swiping Left": [], "Swiping Right": []}
    for label in moves:
        for index in range(40):
            rng = np.random.default_rng([0, index])
            motion, _ = synthetic.random_motion(rng, label, 36)
            moves[label].append(motion[-1, 0] - motion[0, 0])
            starts[label].append(motion[0, 0])
    assert max(moves["Swiping Left"]) < -0.2 and min(moves["Swiping Right"]) > 0.2
    assert max(starts["Swiping Left"]) > 0.8 and min(starts["Swiping Right"]) < 0.2
    overlap = max(starts["Swiping Right"]) - min(starts["Swiping Left"])
    assert overlap > 0.2  # where a swipe starts does not tell its direction


def test_turning_and_zooming_change_angle_and_scale():
    rng = np.random.default_rng(1)
    clockwise, _ = synthetic.random_motion(rng, "Turning Hand Clockwise", 30)
    counter, _ = synthetic.random_motion(rng, "Turning Hand Counterclockwise", 30)
    zoom_in, _ = synthetic.random_motion(rng, "Zooming In With Full Hand", 30)
    zoom_out, _ = synthetic.random_motion(rng, "Zooming Out With Full Hand", 30)
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
        assert cv2.imread(str(frames[0])).shape == (100, synthetic.FRAME_WIDTH, 3)


def test_video_and_sidecar(tmp_path):
    path = tmp_path / "g.mp4"
    sidecar = synthetic.write_video(path, seed=2, num_gestures=3, height=120, width=160)
    assert json.loads((tmp_path / "g.mp4.json").read_text()) == sidecar
    assert [g["label"] for g in sidecar["gestures"]] and len(sidecar["gestures"]) == 3
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == sidecar["num_frames"]
    assert all(0 <= g["start"] < g["end"] <= count for g in sidecar["gestures"])
    gestures = sidecar["gestures"]  # the hand rests at least 8 frames after one gesture and 8 before the next
    assert all(following["start"] - gesture["end"] >= 16 for gesture, following in zip(gestures, gestures[1:]))
