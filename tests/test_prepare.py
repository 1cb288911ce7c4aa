import csv
import json
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import ROOT

import prepare
import synthetic
from clips import flow
from clips.frames import resize_short_side
from clips.index import read_index


def read_csv(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_official_layout(jester_dir, prepared_dir):
    index = read_csv(prepared_dir / "index.csv")
    assert list(index[0]) == ["clip", "label", "split", "num_frames", "num_flow"]
    assert len(index) == 40
    assert sum(row["split"] == "train" for row in index) == 30
    assert sum(row["split"] == "validation" for row in index) == 10
    assert json.loads((prepared_dir / "classes.json").read_text()) == synthetic.CLASSES
    for row in index[:3]:
        source = sorted((jester_dir / "20bn-jester-v1" / row["clip"]).iterdir())
        frames = sorted((prepared_dir / "frames" / row["clip"]).iterdir())
        assert int(row["num_frames"]) == len(frames) == len(source)  # variable lengths are kept
        frame = cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED)
        assert frame.ndim == 2 and min(frame.shape) == 40  # gray, short side --size
    assert read_csv(prepared_dir / "skipped.csv") == []


def make_kaggle_mirror(root, jester_dir):
    """The Kaggle mirror's layout: Train/<id>/, Train.csv with a header and a quoted shape."""
    rows = {"Train": [], "Validation": [], "Test": []}
    for number, line in enumerate((jester_dir / "jester-v1-train.csv").read_text().splitlines()[:6]):
        clip_id, label = line.split(";")
        split = ["Train", "Train", "Train", "Validation", "Validation", "Test"][number]
        shutil.copytree(jester_dir / "20bn-jester-v1" / clip_id, root / split / clip_id)
        rows[split].append((clip_id, "" if split == "Test" else label))
    for split, split_rows in rows.items():
        with open(root / f"{split}.csv", "w", newline="") as file:
            writer = csv.writer(file)
            if split == "Test":  # the test list has no labels at all
                writer.writerow(["video_id", "frames", "shape", "format"])
                writer.writerows([clip_id, 37, "(37, 100, 176, 3)", "jpg"] for clip_id, _ in split_rows)
                continue
            writer.writerow(["video_id", "label", "frames", "label_id", "shape", "format"])
            for clip_id, label in split_rows:
                writer.writerow([clip_id, label, 37, synthetic.CLASSES.index(label), "(37, 100, 176, 3)", "jpg"])


def test_kaggle_mirror_layout(jester_dir, tmp_path):
    source = tmp_path / "20bn-jester"
    make_kaggle_mirror(source, jester_dir)
    assert prepare.prepare(tmp_path, tmp_path / "out", size=32, workers=1, progress=False) == (6, 0)
    index, skipped = read_index(tmp_path / "out"), read_csv(tmp_path / "out" / "skipped.csv")
    assert [row["split"] for row in index] == ["train"] * 3 + ["validation"] * 2 + ["test"]
    assert index[-1]["label"] == "" and skipped == []
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["layout"] == "jester_kaggle"
    classes = json.loads((tmp_path / "out" / "classes.json").read_text())
    assert classes == [c for c in synthetic.CLASSES if c in {row["label"] for row in index}]
    assert cv2.imread(str(tmp_path / "out" / "frames" / index[0]["clip"] / "00001.jpg")).shape[2] == 3


def test_unknown_layout_lists_the_known_ones(tmp_path):
    (tmp_path / "videos").mkdir()
    with pytest.raises(ValueError, match="jester-v1-labels.csv") as error:
        prepare.prepare(tmp_path, tmp_path / "out", progress=False)
    assert "Train.csv" in str(error.value) and "videos" in str(error.value)
    with pytest.raises(SystemExit, match="No known dataset layout"):
        prepare.main([str(tmp_path), "--out", str(tmp_path / "out")])


def test_bad_clips_and_lines_are_skipped_and_reported(jester_dir, tmp_path):
    source = tmp_path / "jester"
    shutil.copytree(jester_dir, source)
    clips = [line.split(";")[0] for line in (source / "jester-v1-train.csv").read_text().splitlines()]
    (source / "20bn-jester-v1" / clips[0] / "00003.jpg").write_bytes(b"not a jpeg")
    for frame in sorted((source / "20bn-jester-v1" / clips[1]).iterdir())[5:]:
        frame.unlink()
    shutil.rmtree(source / "20bn-jester-v1" / clips[2])
    with open(source / "jester-v1-train.csv", "a") as file:
        file.write(f"999;Waving Wildly\nno-separator-here\n{clips[3]};Swiping Up\n")
    prepared, _ = prepare.prepare(source, tmp_path / "out", size=32, workers=2, progress=False)
    reasons = {row["clip"]: row["reason"] for row in read_csv(tmp_path / "out" / "skipped.csv")}
    assert "unreadable frame" in reasons[clips[0]] and "00003.jpg" in reasons[clips[0]]
    assert "too few frames (5 < 8)" in reasons[clips[1]]
    assert "missing frame folder" in reasons[clips[2]]
    assert "jester-v1-train.csv line 31: unknown label 'Waving Wildly'" == reasons["999"]
    assert "line 32" in reasons["no-separator-here"]
    assert reasons[clips[3]].startswith("listed again")
    assert prepared == 40 - 3 and not (tmp_path / "out" / "frames" / clips[0]).exists()


@pytest.mark.slow
def test_rerun_after_a_kill_gives_the_same_index(jester_dir, tmp_path):
    """A real SIGKILL part-way, then a rerun, against one uninterrupted run."""
    source = tmp_path / "jester"
    synthetic.write_dataset(source, clips_per_class=15, seed=2, workers=2)  # 150 clips
    command = [sys.executable, str(ROOT / "prepare.py"), str(source), "--size", "48", "--workers", "1"]
    subprocess.run(command + ["--out", str(tmp_path / "whole")], check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(command + ["--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((killed / "frames").glob("*"))) < 40:
        time.sleep(0.005)
    process.kill()
    process.wait()
    assert not (killed / "index.csv").exists(), "the run finished before it could be killed"
    done = [p for p in (killed / "frames").iterdir() if not p.name.startswith(".")]
    assert 0 < len(done) < 150
    half_written = killed / "frames" / ".5.tmp-1"
    half_written.mkdir(exist_ok=True)

    subprocess.run(command + ["--out", str(killed)], check=True, capture_output=True)
    assert (killed / "index.csv").read_text() == (tmp_path / "whole" / "index.csv").read_text()
    assert not half_written.exists()


def test_other_settings_are_refused_on_resume(prepared_dir, jester_dir, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(prepared_dir, out)
    with pytest.raises(ValueError, match="size: 40 then, 64 now"):
        prepare.prepare(jester_dir, out, size=64, gray=True, progress=False)
    (out / "notes.txt").write_text("mine")
    assert prepare.prepare(jester_dir, out, size=64, gray=True, fresh=True, progress=False) == (40, 0)
    index = read_index(out)
    assert (out / "notes.txt").exists()
    assert min(cv2.imread(str(out / "frames" / index[0]["clip"] / "00001.jpg")).shape[:2]) == 64


def test_read_index_filters_by_split(prepared_dir):
    assert len(read_index(prepared_dir, "validation")) == 10
    assert all(isinstance(row["num_frames"], int) for row in read_index(prepared_dir))


def test_resize_short_side():
    frame = np.zeros((100, 176, 3), np.uint8)
    assert resize_short_side(frame, 128).shape == (128, 225, 3)


def test_check_reports_a_deleted_frame_and_exits_nonzero(prepared_dir, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(prepared_dir, out)
    with pytest.raises(SystemExit) as done:
        prepare.main(["check", str(out)])
    assert done.value.code == 0
    printed = capsys.readouterr().out
    assert "train: 30 clips" in printed and "0 errors" in printed and "Swiping Left" in printed
    clip = read_index(out, "validation")[0]["clip"]
    (out / "frames" / clip / "00004.jpg").unlink()
    with pytest.raises(SystemExit) as done:
        prepare.main(["check", str(out)])
    assert done.value.code == 1
    assert f"error: {clip}: 1 of" in capsys.readouterr().out


def test_keypoints_without_mediapipe_or_model_fail_before_preparing(jester_dir, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(SystemExit, match="mediapipe|Landmarker"):
        prepare.main([str(jester_dir), "--out", str(out), "--keypoints", str(tmp_path / "pose_landmarker_lite.task")])
    assert not (out / "index.csv").exists()


def test_a_rerun_keeps_the_keypoints_pose_py_recorded(jester_dir, tmp_path):
    out = tmp_path / "out"
    prepare.prepare(jester_dir, out, size=32, gray=True, workers=1, progress=False)
    settings = json.loads((out / "dataset.json").read_text())
    keypoints = {"model": "pose_landmarker_lite.task", "kind": "pose", "joints": 33, "samples": 9}
    (out / "dataset.json").write_text(json.dumps({**settings, "keypoints": keypoints}))
    prepare.prepare(jester_dir, out, size=32, gray=True, workers=1, progress=False)
    assert json.loads((out / "dataset.json").read_text())["keypoints"] == keypoints


def test_options_out_of_range_and_an_out_that_is_a_file(jester_dir, tmp_path, capsys):
    for option in (["--size", "0"], ["--fps", "-5"], ["--val-fraction", "20"], ["--max-frames", "4"], ["--workers", "0"]):
        with pytest.raises(SystemExit) as stopped:
            prepare.main([str(jester_dir), "--out", str(tmp_path / "out"), *option])
        assert stopped.value.code == 2 and option[0] in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    (tmp_path / "a file").write_text("mine")
    with pytest.raises(SystemExit, match="is a file"):
        prepare.main([str(jester_dir), "--out", str(tmp_path / "a file")])
    with pytest.raises(SystemExit, match="Not a directory"):
        prepare.main([str(jester_dir), "--out", str(tmp_path / "a file" / "data")])
    assert (tmp_path / "a file").read_text() == "mine"


def test_flow_is_written_by_default_and_a_resumed_run_keeps_what_it_had(tmp_path):
    """prepare.py without --flow: steady flow into a new DATA_DIR, what DATA_DIR holds when resuming
    (data prepared before flow was the default stays frames only), and none for --flow none."""
    assert prepare.flow_to_write(None, tmp_path / "new") == flow.DEFAULT == "farneback-steady"
    assert prepare.flow_to_write("none", tmp_path / "new") is None
    assert prepare.flow_to_write("dis", tmp_path / "new") == "dis"
    for earlier, kept in (({}, None), ({"flow": "dis"}, "dis"), ({"flow": "tvl1 (the dataset's tvl1_flow)"}, None)):
        (tmp_path / "dataset.json").write_text(json.dumps({"layout": "jester", **earlier}))
        assert prepare.flow_to_write(None, tmp_path) == kept
    assert prepare.flow_to_write(None, tmp_path, fresh=True) == flow.DEFAULT  # started over: the defaults
    assert prepare.flow_to_write("farneback-steady", tmp_path) == "farneback-steady"  # refused by check_settings
