"""Keypoints (clips/landmarks.py, prepare.py keypoints, synthetic.py --keypoints) without MediaPipe: a stand-in
detector that finds a blue square in real JPEG frames."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import clips.keypoints as keypoint_files
import prepare
import synthetic
from clips import landmarks
from clips.index import INDEX_COLUMNS, read_classes, read_index
from common.files import write_csv

HEIGHT, WIDTH = 48, 80  # not square, so a swapped x and y would show
SIDE, TOP = 12, 16


def square_left(number):
    return 4 + 3 * number  # moves right by 3 pixels a frame


def write_clip(data_dir, clip, num_frames):
    """Frames 00001.jpg ... of a blue (BGR) square moving right over a dark background."""
    folder = data_dir / "frames" / clip
    folder.mkdir(parents=True)
    for number in range(num_frames):
        frame = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
        frame[TOP : TOP + SIDE, square_left(number) : square_left(number) + SIDE] = (255, 0, 0)
        assert cv2.imwrite(str(folder / f"{number + 1:05d}.jpg"), frame)


def find_square(rgb):
    """Stands in for MediaPipe: 5 joints in pixels, or None without a square. Joint 0 is the square's
    centre; 1 beside it with a low score; 2 left of the frame; 3 below it; 4 with no score (NaN).
    It reads channel 2 as blue, so it finds the square only if the landmarker gave it RGB."""
    rows, columns = np.nonzero(rgb[..., 2] > 128)
    if len(columns) == 0:
        return None
    x, y = columns.mean(), rows.mean()
    return [(x, y, 0.9), (x + 3, y, 0.2), (-4.0, y, 0.9), (x, rgb.shape[0] + 2.0, 0.9), (x, y + 3, np.nan)]


class Counting:
    """A detector that counts its calls."""

    def __init__(self, detect=find_square):
        self.detect, self.calls = detect, 0

    def __call__(self, rgb):
        self.calls += 1
        return self.detect(rgb)


def square_landmarker(detect=find_square):
    return landmarks.Landmarker.from_function(detect, joints=5, name="square.task")


@pytest.fixture
def data_dir(tmp_path):
    """A prepared DATA_DIR: two good clips (one id with '/'), one with a corrupt JPEG, one whose frames are gone."""
    write_clip(tmp_path, "a/one", 20)
    write_clip(tmp_path, "two", 10)
    write_clip(tmp_path, "broken", 9)
    (tmp_path / "frames" / "broken" / "00005.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    rows = [("a/one", "left", "train", 20), ("two", "left", "validation", 10), ("broken", "left", "train", 9)]
    rows.append(("gone", "left", "train", 12))
    rows = [dict(zip(INDEX_COLUMNS, (*row, 0))) for row in rows]
    write_csv(tmp_path / "index.csv", INDEX_COLUMNS, rows)
    (tmp_path / "classes.json").write_text(json.dumps(["left"]))
    (tmp_path / "dataset.json").write_text(json.dumps({"layout": "test", "size": HEIGHT}))
    return tmp_path


def test_sample_positions_spread_over_the_clip_and_repeat_in_short_ones():
    np.testing.assert_array_equal(keypoint_files.sample_positions(33, 9), [0, 4, 8, 12, 16, 20, 24, 28, 32])
    assert keypoint_files.sample_positions(300)[[0, -1]].tolist() == [0, 299] and len(keypoint_files.sample_positions(300)) == 9
    short = keypoint_files.sample_positions(4, 9)
    assert len(short) == 9 and set(short) == {0, 1, 2, 3} and np.all(np.diff(short) >= 0)
    assert keypoint_files.sample_positions(1, 9).tolist() == [0] * 9
    with pytest.raises(ValueError, match="at least one frame"):
        keypoint_files.sample_positions(0)


def test_landmarker_normalises_and_marks_missing_joints(data_dir):
    frame = cv2.imread(str(data_dir / "frames" / "two" / "00001.jpg"))
    keypoints = square_landmarker()(frame)
    assert keypoints.shape == (5, 3) and keypoints.dtype == np.float32
    centre_x, centre_y = square_left(0) + (SIDE - 1) / 2, TOP + (SIDE - 1) / 2
    np.testing.assert_allclose(keypoints[0], [centre_x / WIDTH, centre_y / HEIGHT, 0.9], atol=1 / WIDTH)
    for joint in (1, 2, 3):  # below min_presence, left of the frame, below it
        assert keypoints[joint].tolist() == [-1, -1, 0]
    assert keypoints[4, 2] == 1.0 and keypoints[4, 0] > 0  # no score given: present, with presence 1


def test_no_detection_leaves_every_joint_missing(data_dir):
    frame = cv2.imread(str(data_dir / "frames" / "two" / "00001.jpg"))
    assert square_landmarker(lambda rgb: None)(frame).tolist() == [[-1, -1, 0]] * 5
    blank = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)  # no square, so the detector finds nothing
    assert (square_landmarker()(blank) == [-1, -1, 0]).all()
    with pytest.raises(ValueError, match=r"shape \(2, 3\); expected \(5, 3\)"):
        square_landmarker(lambda rgb: [(1, 1, 1)] * 2)(frame)


def test_each_sample_has_the_keypoints_of_its_own_frame(data_dir):
    """The original project reused one dict, so its nine timesteps were one pose."""
    frames = landmarks.FrameFolder(data_dir, "a/one", 20)
    keypoints = landmarks.clip_keypoints(frames, square_landmarker(), num_samples=9)
    assert keypoints.shape == (9, 5, 3)
    x = keypoints[:, 0, 0]
    assert np.all(np.diff(x) > 0), x  # the square moves right, and so does every sample's joint
    expected = [(square_left(i) + (SIDE - 1) / 2) / WIDTH for i in keypoint_files.sample_positions(20, 9)]
    np.testing.assert_allclose(x, expected, atol=1 / WIDTH)


def test_a_short_clip_repeats_frames_but_detects_each_once(data_dir):
    detector = Counting()
    keypoints = landmarks.clip_keypoints(landmarks.FrameFolder(data_dir, "two", 4), square_landmarker(detector), num_samples=9)
    assert detector.calls == 4 and keypoints.shape == (9, 5, 3)
    assert len(np.unique(keypoints[:, 0, 0])) == 4
    keypoints[0, 0, 0] = 7.0  # samples of the same frame are copies, not one shared array
    assert keypoints[1, 0, 0] != 7.0


def test_extract_dataset_writes_reports_and_resumes(data_dir, monkeypatch):
    leftover = data_dir / "keypoints" / "a" / ".one.npy.tmp-999"  # of a killed run
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half")
    replaced = []
    real_replace = os.replace  # the module all writers rename with
    monkeypatch.setattr(os, "replace", lambda source, target: replaced.append(Path(target)) or real_replace(source, target))
    summary = landmarks.extract_dataset(data_dir, None, landmarker=square_landmarker(), progress=False)
    assert (summary["clips"], summary["extracted"], summary["resumed"], summary["empty"]) == (4, 2, 0, 0)
    problems = dict(summary["problems"])
    assert set(problems) == {"broken", "gone"} and "00005.jpg" in problems["broken"] and "gone" in problems["gone"]
    assert data_dir / "keypoints" / "a" / "one.npy" in replaced  # written under a temporary name, then renamed
    assert not list((data_dir / "keypoints").rglob("*tmp*"))
    keypoints = keypoint_files.load_keypoints(data_dir, "a/one")
    assert keypoints.shape == (9, 5, 3) and keypoints.dtype == np.float32 and np.all(np.diff(keypoints[:, 0, 0]) > 0)
    dataset = json.loads((data_dir / "dataset.json").read_text())
    assert dataset["layout"] == "test" and dataset["size"] == HEIGHT  # the other keys are kept
    assert dataset["keypoints"] == {"model": "square.task", "kind": "pose", "joints": 5, "samples": 9}

    detector = Counting()
    again = landmarks.extract_dataset(data_dir, None, landmarker=square_landmarker(detector), progress=False)
    assert detector.calls == 0 and (again["extracted"], again["resumed"], len(again["problems"])) == (0, 2, 2)

    write_clip(data_dir, "gone", 12)  # the missing clip turns up: only it is extracted
    third = landmarks.extract_dataset(data_dir, None, landmarker=square_landmarker(detector), progress=False)
    assert (third["extracted"], third["resumed"]) == (1, 2) and detector.calls == 9
    with pytest.raises(ValueError, match="samples: 9 then, 5 now"):
        landmarks.extract_dataset(data_dir, None, num_samples=5, landmarker=square_landmarker(), progress=False)


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "keypoints" / "class a" / "clip.npy"
    keypoint_files.save_atomic(path, np.zeros((9, 5, 3), np.float32))

    def disk_full(file, array):
        file.write(b"\x93NUMPY half")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(OSError):
        keypoint_files.save_atomic(path, np.ones((9, 5, 3), np.float32))
    with pytest.raises(OSError):
        keypoint_files.save_atomic(path.with_name("other.npy"), np.ones((9, 5, 3), np.float32))
    monkeypatch.undo()
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.npy"]  # no half file, no temporary
    assert (np.load(path) == 0).all()  # the earlier file is whole


def test_keypoint_features_interleave_x_and_y():
    keypoints = np.array([[[0.1, 0.2, 0.9], [0.3, 0.4, 0.8], [-1, -1, 0]], [[0.5, 0.6, 1], [0.7, 0.8, 0], [0, 0, 0.5]]])
    features = keypoint_files.keypoint_features(keypoints)
    assert features.shape == (2, 6) and features.dtype == np.float32
    np.testing.assert_allclose(features[0], [0.1, 0.2, 0.3, 0.4, -1, -1])
    np.testing.assert_allclose(features[1], [0.5, 0.6, -1, -1, 0, 0])  # presence 0 is missing, whatever x, y say
    assert keypoint_files.keypoint_features(np.stack([keypoints] * 4)).shape == (4, 2, 6)


def test_without_mediapipe_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    model = tmp_path / "pose_landmarker_lite.task"
    model.write_bytes(b"model")
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe now raises ImportError
    with pytest.raises(ImportError, match="pip install mediapipe"):
        landmarks.Landmarker(model)


def test_a_missing_model_file_is_named_with_where_to_get_one(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        landmarks.Landmarker(tmp_path / "models" / "pose_landmarker_full.task")
    assert "pose_landmarker_full.task" in str(error.value) and "pose_landmarker_lite.task" in str(error.value)
    with pytest.raises(FileNotFoundError, match=r"Download a Hand Landmarker \(hand_landmarker.task\)"):
        landmarks.Landmarker(tmp_path / "hand_landmarker.task")
    with pytest.raises(ValueError, match="Unknown landmarker kind 'face'"):
        landmarks.Landmarker(tmp_path / "x.task", kind="face")


def test_kind_auto_reads_the_model_name():
    assert landmarks.Landmarker("models/Hand_Landmarker.task", detect=find_square, joints=5).kind == "hand"
    assert landmarks.Landmarker("pose_landmarker_heavy.task", detect=find_square, joints=5).kind == "pose"


def landmark(x, y, visibility=None, presence=None):
    return SimpleNamespace(x=x, y=y, z=0.0, visibility=visibility, presence=presence)


def test_mediapipe_results_become_points():
    """pose_points and hand_points read the attributes of MediaPipe's result classes."""
    assert landmarks.pose_points(SimpleNamespace(pose_landmarks=[])) is None
    people = [[landmark(0.1, 0.2, 0.9, 0.7), landmark(0.3, 0.4), landmark(0.5, 0.6, presence=0.4)], [landmark(0, 0, 1, 1)]]
    points = landmarks.pose_points(SimpleNamespace(pose_landmarks=people))
    np.testing.assert_allclose(points[[0, 2]], [[0.1, 0.2, 0.7], [0.5, 0.6, 0.4]])
    assert np.isnan(points[1, 2]) and points.shape == (3, 3)  # no scores given, and only the first person

    right = SimpleNamespace(category_name="Right", score=0.9)
    hand = [landmark(0.5, 0.5, 0.0, 0.0)] * 21  # older MediaPipe gives hand landmarks 0.0 scores: ignored
    result = SimpleNamespace(hand_landmarks=[hand], handedness=[[right]])
    one = landmarks.hand_points(result, num_hands=1)
    assert one.shape == (21, 3) and np.isnan(one[:, 2]).all()
    two = landmarks.hand_points(result, num_hands=2)  # a lone right hand: the left hand's slot stays empty
    assert two.shape == (42, 3) and np.isnan(two[:21]).all() and (two[21:, 0] == 0.5).all()
    assert landmarks.hand_points(SimpleNamespace(hand_landmarks=[], handedness=[]), 2) is None


def wrist_and_hip_motion(keypoints):
    """The larger side-to-side spread of the wrists, and the larger up-and-down spread of the hips."""

    def spread(joint, axis):
        values = keypoints[:, joint, axis][keypoints[:, joint, 2] > 0]
        return values.std() if len(values) > 2 else 0.0

    return max(spread(9, 0), spread(10, 0)), max(spread(11, 1), spread(12, 1))


def test_synthetic_classes_differ_in_their_motion():
    rng = np.random.default_rng(3)
    for label in synthetic.KEYPOINT_CLASSES:
        clips = [synthetic.synthetic_keypoints(label, 9, rng) for _ in range(60)]
        assert all(clip.shape == (9, 17, 3) and clip.dtype == np.float32 for clip in clips)
        for clip in clips:
            wrist, hip = wrist_and_hip_motion(clip)
            assert (wrist > hip) == (label == "waving"), (label, wrist, hip)
        starts = [clip[0, 0, 0] for clip in clips if clip[0, 0, 2] > 0]
        assert np.std(starts) > 0.05  # the figure stands anywhere: where it is does not tell the class
        present = np.concatenate([clip[..., 2].ravel() for clip in clips])
        assert 0.01 < np.mean(present == 0) < 0.2  # some joints are missing, marked as such
        assert all(
            np.array_equal(clip[clip[..., 2] == 0], np.tile([-1, -1, 0], ((clip[..., 2] == 0).sum(), 1))) for clip in clips
        )
    with pytest.raises(ValueError, match="Unknown synthetic class"):
        synthetic.synthetic_keypoints("juggling")


def test_synthetic_dataset_is_a_prepared_data_dir(tmp_path):
    synthetic.main([str(tmp_path), "--keypoints", "--clips-per-class", "4", "--samples", "6"])
    assert read_classes(tmp_path) == list(synthetic.KEYPOINT_CLASSES)
    rows = read_index(tmp_path)
    assert len(rows) == 8 and {row["split"] for row in rows} == {"train", "validation"}
    assert len(read_index(tmp_path, "validation")) == 2
    for row in rows:
        keypoints = keypoint_files.load_keypoints(tmp_path, row["clip"])
        assert keypoints.shape == (6, 17, 3) and row["num_frames"] == 6 and row["label"] in row["clip"]
    assert json.loads((tmp_path / "dataset.json").read_text())["keypoints"]["joints"] == 17
    again = tmp_path / "again"
    synthetic.write_keypoint_dataset(again, clips_per_class=4, num_samples=6)
    assert np.array_equal(
        keypoint_files.load_keypoints(again, rows[3]["clip"]), keypoint_files.load_keypoints(tmp_path, rows[3]["clip"])
    )


def test_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        prepare.main(["keypoints", "--help"])
    assert exit_info.value.code == 0 and "--min-presence" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        prepare.main(["keypoints", str(tmp_path)])
    assert exit_info.value.code == 2 and "pose_landmarker_lite.task" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        prepare.main(["keypoints", str(tmp_path), "--model", str(tmp_path / "pose_landmarker_lite.task")])
    assert "prepare.py keypoints: Landmarker model" in str(exit_info.value.code)


def test_importing_the_keypoint_code_loads_neither_mediapipe_nor_tensorflow():
    code = "import sys, clips.landmarks, synthetic; print(sorted({'mediapipe', 'tensorflow', 'keras'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(synthetic.__file__).parent, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
