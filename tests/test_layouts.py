"""Every layout of DATASETS.md, in miniature with real videos and frames, through prepare.py."""

import csv
import json
import shutil

import cv2
import miniatures
import pytest

import prepare
from clips.frames import select_frames
from clips.index import read_index
from layouts.base import Options


def prepared(source, out, **options):
    layout_options = {k: options.pop(k) for k in ("split", "depth", "val_fraction", "seed") if k in options}
    settings = dict(size=32, workers=2, min_frames=4, progress=False, options=Options(**layout_options))
    prepare.prepare(source, out, **{**settings, **options})
    with open(out / "skipped.csv", newline="") as file:
        skipped = {row["clip"]: row["reason"] for row in csv.DictReader(file)}
    return read_index(out), json.loads((out / "classes.json").read_text()), skipped


def splits(index):
    return {split: sorted(row["clip"] for row in index if row["split"] == split) for split in {r["split"] for r in index}}


def test_ucf101_videos(tmp_path):
    broken = miniatures.ucf101(tmp_path / "ucf")
    index, classes, skipped = prepared(tmp_path / "ucf", tmp_path / "out")
    assert classes == miniatures.UCF_CLASSES
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["layout"] == "ucf101"
    by_split = splits(index)
    assert len(by_split["train"]) == 5 and len(by_split["validation"]) == 6  # the test list is the validation split
    assert all("_g01_" in clip for clip in by_split["train"])
    labels = {row["clip"]: row["label"] for row in index}
    assert labels["v_HandStandPushups_g01_c01"] == "HandstandPushups"  # the file names' spelling, the class's name
    assert labels["v_HandStandPushups_g02_c02"] == "HandstandPushups"  # from a test line, which has no label
    assert "cannot open video" in skipped[broken] and broken + ".avi" in skipped[broken]
    assert skipped["v_YoYo_g07_c01"].startswith("missing video")
    assert skipped["trainlist01.txt:7"] == "trainlist01.txt line 7: cannot tell the class of 'YoYo/v_YoYo_g09_c01.avi 42'"
    frame = cv2.imread(str(tmp_path / "out" / "frames" / "v_YoYo_g02_c01" / "00001.jpg"))
    assert frame.shape == (32, 43, 3) and index[0]["num_frames"] == 12

    index, _, _ = prepared(tmp_path / "ucf", tmp_path / "split2", split=2)
    assert all("_g02_" in clip for clip in splits(index)["train"])
    with pytest.raises(SystemExit):
        prepare.main([str(tmp_path / "ucf"), "--out", str(tmp_path / "x"), "--split", "4"])


def test_ucf101_frames_keep_their_tvl1_flow(tmp_path):
    broken = miniatures.ucf101(tmp_path / "ucf", frames=True)
    index, classes, skipped = prepared(tmp_path / "ucf", tmp_path / "out")
    assert classes == miniatures.UCF_CLASSES and len(index) == 11
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["layout"] == "ucf101_frames"
    assert {row["num_frames"] for row in index} == {10} and {row["num_flow"] for row in index} == {9}
    assert skipped[broken].startswith("no frames in")
    flow_x = cv2.imread(str(tmp_path / "out" / "flow" / index[0]["clip"] / "x_00001.jpg"), cv2.IMREAD_GRAYSCALE)
    flow_y = cv2.imread(str(tmp_path / "out" / "flow" / index[0]["clip"] / "y_00001.jpg"), cv2.IMREAD_GRAYSCALE)
    # u = 160 at 48 px high is 32.5 levels of motion; at 32 px it is two thirds of that
    assert flow_x.shape == (32, 43) and abs(flow_x.mean() - (127.5 + 32.5 * 32 / 48)) < 1.5
    assert abs(flow_y.mean() - 128) < 1.5
    assert prepare.check(tmp_path / "out") == 0
    index, _, _ = prepared(tmp_path / "ucf", tmp_path / "few", max_frames=5)
    assert {(row["num_frames"], row["num_flow"]) for row in index} == {(5, 4)}  # the flow of the kept frames


def test_isogd_with_depth_and_unlabelled_lists(tmp_path, capsys):
    miniatures.isogd(tmp_path / "IsoGD_phase_1")
    index, classes, skipped = prepared(tmp_path, tmp_path / "out", depth=True)
    assert classes == ["1", "2", "5"]  # the labels as they are, in numeric order
    assert {k: len(v) for k, v in splits(index).items()} == {"train": 4, "validation": 2, "test": 2}
    assert all(row["label"] == "" for row in index if row["split"] == "test")
    assert "cannot open video" in skipped["train_002_M_00005"]
    assert skipped["train_list.txt:6"].startswith("train_list.txt line 6: expected")
    assert skipped["train_list.txt:7"] == "train_list.txt line 7: no label"
    clip = index[0]["clip"]
    depth = sorted((tmp_path / "out" / "depth" / clip).iterdir())
    assert len(depth) == index[0]["num_frames"] == 13  # trimmed to the shorter depth video
    assert cv2.imread(str(depth[0]), cv2.IMREAD_UNCHANGED).ndim == 2
    assert prepare.check(tmp_path / "out") == 0

    unlabelled = tmp_path / "unlabelled"
    miniatures.isogd(unlabelled, labelled_valid=False)
    for name in ("train_list.txt", "valid_list.txt", "test_list.txt"):  # headers, which IsoGD's lists lack
        (unlabelled / name).write_text("rgb depth label\n" + (unlabelled / name).read_text())
    capsys.readouterr()
    index, _, skipped = prepared(unlabelled, tmp_path / "out2")
    assert {k: len(v) for k, v in splits(index).items()} == {"train": 4, "test": 4}
    assert skipped["train_list.txt:1"].startswith("train_list.txt line 1: expected")
    assert "warning: no validation clips of 1, 2, 5" in capsys.readouterr().out
    assert not (tmp_path / "out2" / "depth").exists()


def test_kinetics_both_namings_and_missing_clips(tmp_path):
    miniatures.kinetics(tmp_path / "k400")
    index, classes, skipped = prepared(tmp_path / "k400", tmp_path / "out")
    assert classes == sorted(miniatures.KINETICS_LABELS)
    assert {k: len(v) for k, v in splits(index).items()} == {"train": 5, "validation": 3, "test": 2}
    assert [row["split"] for row in index] == ["train"] * 5 + ["validation"] * 3 + ["test"] * 2
    labels = {row["clip"]: row["label"] for row in index}
    assert labels["yt007-Ab_c7_000070_000080"] == "playing guitar (acoustic)"  # found as val/yt007-Ab_c7.mp4
    assert "train.csv line 8: listed but missing" in skipped["gone-for-good_000000_000010"]
    assert "cannot open video" in skipped["yt001-Ab_c1_000010_000020"]
    assert skipped["train.csv:9"].startswith("train.csv line 9: needs youtube_id")
    assert json.loads((tmp_path / "out" / "dataset.json").read_text())["fps"] == 30


def test_upgrad_index_is_the_label(tmp_path):
    miniatures.upgrad(tmp_path / "Project_data")
    index, classes, skipped = prepared(tmp_path, tmp_path / "out")
    assert classes == ["Left Swipe", "Right Swipe", "Stop", "Thumbs Down", "Thumbs Up"]
    assert {k: len(v) for k, v in splits(index).items()} == {"train": 10, "validation": 5}
    assert any(" " in row["clip"] for row in index)  # folder names with spaces are kept
    assert {row["label"] for row in index if "Left" in row["clip"]} == {"Left Swipe"}  # both spellings
    assert skipped == {"train.csv:11": "train.csv line 11: expected 'folder;gesture_name;label_index'"}
    assert index[0]["num_frames"] == 30 and prepare.check(tmp_path / "out") == 0


def test_folder_per_class_of_videos_gets_a_stratified_split(tmp_path):
    miniatures.folders(tmp_path / "mine")
    index, classes, skipped = prepared(tmp_path / "mine", tmp_path / "out")
    assert classes == ["clap", "thumbs up", "wave"]
    for label in classes:  # 5 clips each: one held out, in every class
        assert sum(row["split"] == "validation" and row["label"] == label for row in index) == 1
    assert len(index) == 15 and skipped["wave_broken"].startswith("empty video file")
    again, _, _ = prepared(tmp_path / "mine", tmp_path / "again")
    assert splits(again) == splits(index)  # seeded
    other, _, _ = prepared(tmp_path / "mine", tmp_path / "other", seed=5, val_fraction=0.4)
    held = [row["label"] for row in other if row["split"] == "validation"]
    assert held.count("clap") == held.count("thumbs up") == 2 and splits(other) != splits(index)


def test_folder_per_class_of_frame_folders_with_a_split_level(tmp_path):
    miniatures.folders(tmp_path / "mine", videos=False, split_level=True)
    index, classes, skipped = prepared(tmp_path / "mine", tmp_path / "out")
    assert classes == ["clap", "thumbs up", "wave"]
    assert {k: len(v) for k, v in splits(index).items()} == {"train": 12, "validation": 3}
    assert "unreadable frame" in skipped["train_wave_broken"]


def test_folder_per_class_with_train_and_test_but_no_val(tmp_path):
    for split in ("train", "test"):
        for n in range(5):
            miniatures.write_frames(tmp_path / "mine" / split / "clap" / f"take{n}", num_frames=8, seed=n)
    index, _, _ = prepared(tmp_path / "mine", tmp_path / "out")
    assert {k: len(v) for k, v in splits(index).items()} == {"train": 4, "validation": 1, "test": 5}


def test_fps_and_max_frames_select_frames(tmp_path):
    miniatures.write_video(tmp_path / "src" / "a" / "one.mp4", num_frames=30, fps=30)
    miniatures.write_video(tmp_path / "src" / "b" / "two.mp4", num_frames=30, fps=30)
    index, _, _ = prepared(tmp_path / "src", tmp_path / "half", fps=15, val_fraction=0)
    assert [row["num_frames"] for row in index] == [15, 15]
    assert json.loads((tmp_path / "half" / "dataset.json").read_text())["fps"] == 15
    index, _, _ = prepared(tmp_path / "src", tmp_path / "few", max_frames=8, val_fraction=0)
    assert [row["num_frames"] for row in index] == [8, 8]
    assert select_frames(30, 30, 15).tolist() == list(range(0, 30, 2))
    assert select_frames(10, 25, 10).tolist() == [0, 3, 5, 8]  # 2.5 source frames per kept frame
    assert select_frames(30, 30, None, 4).tolist() == [0, 10, 19, 29]
    with pytest.raises(ValueError, match="requested_fps: 15"):
        prepared(tmp_path / "src", tmp_path / "half", fps=10, val_fraction=0)


def test_nothing_matches_lists_every_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError) as error:
        prepare.prepare(tmp_path, tmp_path / "out", progress=False)
    message = str(error.value)
    assert "found: notes.txt" in message
    for name, layout in prepare.LAYOUTS.items():
        assert f"{name}: {layout.expects}" in message


def test_format_overrides_detection(tmp_path):
    miniatures.ucf101(tmp_path / "ucf")
    shutil.rmtree(tmp_path / "ucf" / "ucfTrainTestlist")
    index, classes, _ = prepared(tmp_path / "ucf", tmp_path / "out", layout_name="folders")
    assert classes == miniatures.UCF_CLASSES and len(index) == 11  # UCF-101/<Class>/ is a folder per class
    with pytest.raises(ValueError, match="Known layouts:\n  ucf101: UCF101"):
        prepared(tmp_path / "ucf", tmp_path / "out2", layout_name="ucf101")


def test_zero_frame_and_truncated_videos_are_skipped(tmp_path, capfd):
    source = tmp_path / "src" / "wave"
    miniatures.write_video(source / "good.mp4")
    miniatures.write_video(source / "whole.mp4", num_frames=20)
    (source / "truncated.mp4").write_bytes((source / "whole.mp4").read_bytes()[:400])
    cv2.VideoWriter(str(source / "zero.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48)).release()
    index, _, skipped = prepared(tmp_path / "src", tmp_path / "out", val_fraction=0)
    assert [row["clip"] for row in index] == ["wave_good", "wave_whole"]
    assert skipped["wave_zero"].startswith("no frames could be decoded from") and "zero.avi" in skipped["wave_zero"]
    assert "truncated.mp4" in skipped["wave_truncated"]
    assert "moov atom" not in capfd.readouterr().err  # FFmpeg's own lines, not over the progress bar
    index, _, skipped = prepared(tmp_path / "src", tmp_path / "out", val_fraction=0, min_frames=16)  # resumed
    assert [row["clip"] for row in index] == ["wave_whole"] and skipped["wave_good"].startswith("too few frames (12 < 16)")


def test_what_real_downloads_hold(tmp_path):
    """Hidden files, frames numbered without zeros, an unquoted comma, Kinetics' annotations/ folder."""
    frames = tmp_path / "mine" / "wave" / "take one"
    miniatures.write_frames(frames, num_frames=12, name="frame_{}.png")
    (frames / "._frame_1.png").write_bytes(b"resource fork")
    (tmp_path / "mine" / ".ipynb_checkpoints").mkdir()
    miniatures.write_video(tmp_path / "mine" / "clap" / "a.mp4")
    (tmp_path / "mine" / "clap" / "._a.mp4").write_bytes(b"resource fork")
    (tmp_path / "mine" / "empty").mkdir()
    index, classes, skipped = prepared(tmp_path / "mine", tmp_path / "out", val_fraction=0)
    assert classes == ["clap", "wave"] and len(index) == 2 and list(skipped) == ["empty"]
    written = [cv2.imread(str(p)).mean() for p in sorted((tmp_path / "out" / "frames" / "wave_take one").iterdir())]
    source = [cv2.imread(str(frames / f"frame_{n}.png")).mean() for n in range(1, 13)]
    assert abs(written[9] - source[9]) < 2 and abs(written[9] - source[1]) > abs(written[9] - source[9])  # 10th is frame_10

    kinetics = tmp_path / "k400"
    miniatures.kinetics(kinetics)
    (kinetics / "annotations").mkdir()
    for name in ("train.csv", "validate.csv", "test.csv"):
        (kinetics / name).rename(kinetics / "annotations" / name)
    with open(kinetics / "annotations" / "train.csv", "a") as file:
        file.write("zumba,extra-comma,0,10,train,x,y\n")
    index, _, skipped = prepared(kinetics, tmp_path / "k_out")
    assert len(index) == 10 and "more fields than the header" in skipped["train.csv:10"]


def test_a_killed_run_is_not_resumed_with_other_settings(tmp_path):
    miniatures.folders(tmp_path / "mine")
    out = tmp_path / "out"
    prepared(tmp_path / "mine", out)
    (out / "index.csv").unlink()  # as if killed before the end: dataset.json was written first
    with pytest.raises(ValueError, match="size: 32 then, 40 now"):
        prepared(tmp_path / "mine", out, size=40)
    assert not (out / "index.csv").exists()  # the refused run wrote nothing
    frames = sorted((out / "frames").iterdir())[0]
    (frames / "00003.jpg").unlink()  # a damaged clip is redone, not trusted
    index, _, _ = prepared(tmp_path / "mine", out)
    assert len(index) == 15 and all(row["num_frames"] == 12 for row in index) and prepare.check(out) == 0


def test_what_a_folder_per_class_is_not(tmp_path):
    """classes/people/clip.mp4 is no layout: the first class's people would pass for the classes. One lone
    folder (an unpacked archive) is looked into; frame folders named like videos are frame folders."""
    for label in ("clap", "wave"):
        for person in ("alice", "bob"):
            miniatures.write_video(tmp_path / "deep" / label / person / "take.mp4")
            miniatures.write_frames(tmp_path / "unpacked" / "mine" / label / f"v_{label}_{person}.avi", num_frames=9)
    with pytest.raises(ValueError, match=r"\(found: clap/ \(2 folders\), wave/.*\nclap/, wave/ each hold a folder per class"):
        prepared(tmp_path / "deep", tmp_path / "deep_out")
    (tmp_path / "unpacked" / "__MACOSX" / "mine").mkdir(parents=True)  # what a zip made on a Mac holds beside it
    (tmp_path / "unpacked" / "__MACOSX" / "mine" / "._clap").write_bytes(b"resource fork")
    (tmp_path / "unpacked" / "runs" / "model").mkdir(parents=True)  # a folder the user keeps there
    for _ in range(2):  # the second run finds the data it prepared beside mine/
        index, classes, skipped = prepared(tmp_path / "unpacked", tmp_path / "unpacked" / "data", val_fraction=0.5)
        assert classes == ["clap", "wave"] and len(index) == 4 and not skipped
    first, second = tmp_path / "names" / "swipe" / "left_0.mp4", tmp_path / "names" / "swipe_left" / "0.mp4"
    miniatures.write_video(first)
    miniatures.write_video(second)
    index, _, skipped = prepared(tmp_path / "names", tmp_path / "names_out", val_fraction=0)
    assert [row["clip"] for row in index] == ["swipe_left_0"]  # both names give swipe_left_0: not a clip listed twice
    assert skipped["swipe_left_0"] == f"{second} gets the same clip name as {first}, which is kept; rename one"


def test_prepared_data_inside_the_dataset_or_from_another_one(tmp_path):
    miniatures.folders(tmp_path / "mine")
    with pytest.raises(ValueError, match="is the dataset folder itself"):
        prepared(tmp_path / "mine", tmp_path / "mine")
    for _ in range(2):  # the second run sees mine/prepared, which is no class
        index, classes, skipped = prepared(tmp_path / "mine", tmp_path / "mine" / "prepared")
        assert classes == ["clap", "thumbs up", "wave"] and len(index) == 15 and list(skipped) == ["wave_broken"]
    miniatures.folders(tmp_path / "theirs")
    with pytest.raises(ValueError, match=f"source: {tmp_path / 'mine'} then, {tmp_path / 'theirs'} now"):
        prepared(tmp_path / "theirs", tmp_path / "mine" / "prepared")
