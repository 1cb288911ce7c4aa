"""Each dataset layout of DATASETS.md in miniature: real encoded videos, real JPEG and PNG frames,
the real list formats, and in each a few things that go wrong in real downloads."""

import csv

import cv2
import numpy as np

CORRUPT = b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(range(256)) * 4


def moving_frames(num_frames, height, width, seed=0, speed=2):
    """A textured square moving right by `speed` pixels per frame on a noisy background."""
    rng = np.random.default_rng(seed)
    background = rng.integers(30, 90, (height, width, 3), dtype=np.uint8)
    texture = rng.integers(120, 255, (height // 3, height // 3, 3), dtype=np.uint8)
    side = texture.shape[0]
    frames = []
    for t in range(num_frames):
        frame = background.copy()
        left = 2 + t * speed
        frame[height // 3 : height // 3 + side, left : left + side] = texture[:, : max(0, min(side, width - left))]
        frames.append(frame)
    return frames


def write_video(path, num_frames=12, height=48, width=64, fps=25, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "mp4v" if path.suffix in (".mp4", ".mov", ".m4v") else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    for frame in moving_frames(num_frames, height, width, seed):
        writer.write(frame)
    writer.release()
    assert path.stat().st_size > 0, f"OpenCV wrote no video to {path}"


def write_frames(folder, num_frames=10, height=48, width=64, name="{:05d}.jpg", seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    for number, frame in enumerate(moving_frames(num_frames, height, width, seed), start=1):
        cv2.imwrite(str(folder / name.format(number)), frame)


UCF_CLASSES = ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]


def ucf_file(name, group, clip):
    spelled = "HandStandPushups" if name == "HandstandPushups" else name  # the file names' spelling
    return f"v_{spelled}_g{group:02d}_c{clip:02d}"


def ucf101(root, frames=False):
    """3 classes x 2 groups x 2 clips. Split 1 trains on group 1, tests on group 2; split 2 the reverse.
    Trouble: one corrupt video (or empty frame folder), one listed-but-missing clip, one bad line."""
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(UCF_CLASSES, start=1)))
    for split, (train_group, test_group) in {1: (1, 2), 2: (2, 1)}.items():
        train = [f"{name}/{ucf_file(name, train_group, c)}.avi {i}" for i, name in enumerate(UCF_CLASSES, 1) for c in (1, 2)]
        test = [f"{name}/{ucf_file(name, test_group, c)}.avi" for name in UCF_CLASSES for c in (1, 2)]
        train.append("YoYo/v_YoYo_g09_c01.avi 42")  # label out of range
        test.append("YoYo/v_YoYo_g07_c01.avi")  # listed, never shipped
        (lists / f"trainlist{split:02d}.txt").write_text("\r\n".join(train) + "\r\n")  # the lists have Windows ends
        (lists / f"testlist{split:02d}.txt").write_text("\r\n".join(test) + "\r\n")
    for n, (name, group, clip) in enumerate((n, g, c) for n in UCF_CLASSES for g in (1, 2) for c in (1, 2)):
        stem = ucf_file(name, group, clip)
        if frames:
            write_frames(root / "jpegs_256" / stem, 10, name="frame{:06d}.jpg", seed=n)
            for axis in "uv":
                folder = root / "tvl1_flow" / axis / stem
                folder.mkdir(parents=True)
                for number in range(1, 10):
                    cv2.imwrite(str(folder / f"frame{number:06d}.jpg"), np.full((48, 64), 160 if axis == "u" else 128, np.uint8))
        else:
            write_video(root / "UCF-101" / name / f"{stem}.avi", seed=n)
    broken = ucf_file("YoYo", 1, 2)
    if frames:
        for file in (root / "jpegs_256" / broken).iterdir():
            file.unlink()
    else:
        (root / "UCF-101" / "YoYo" / f"{broken}.avi").write_bytes(CORRUPT)
    return broken


def isogd(root, labelled_valid=True):
    """Train: 4 clips of labels 1, 2, 5 (+1 corrupt, +1 bad line); valid: 2; test: 2 without labels."""
    lists = {"train": [], "valid": [], "test": []}
    number = 0
    for split, labels in {"train": [1, 2, 5, 5, 2], "valid": [1, 5], "test": [2, 1]}.items():
        for label in labels:
            number += 1
            rgb, depth = (
                f"{split}/{(number - 1) // 3 + 1:03d}/M_{number:05d}.avi",
                f"{split}/{(number - 1) // 3 + 1:03d}/K_{number:05d}.avi",
            )
            write_video(root / rgb, num_frames=14, seed=number)
            write_video(root / depth, num_frames=13, seed=number + 100)  # depth a frame short, as happens
            labelled = split == "train" or (split == "valid" and labelled_valid)
            lists[split].append(f"{rgb} {depth} {label}" if labelled else f"{rgb} {depth}")
    (root / lists["train"][-1].split()[0]).write_bytes(CORRUPT)
    lists["train"].append("train/001/M_00099.avi train/001/K_00099.avi two")
    lists["train"].append("train/001/M_00098.avi train/001/K_00098.avi")  # a training clip needs its label
    for split, lines in lists.items():
        (root / f"{split}_list.txt").write_text("\n".join(lines) + "\n")
    return lists


KINETICS_LABELS = ["abseiling", "playing guitar (acoustic)", "zumba"]


def kinetics(root):
    """train.csv (official naming under train/<label>/), validate.csv (<id>.mp4, flat under val/), test.csv
    without labels; one listed clip missing, one corrupt, one row without times."""
    rows = {"train": [], "validate": [], "test": []}
    for n in range(9):
        label, split = KINETICS_LABELS[n % 3], ["train", "train", "validate"][n // 3]
        youtube_id, start = f"yt{n:03d}-Ab_c{n}", 10 * n
        rows[split].append([label, youtube_id, start, start + 10, split])
        if split == "train":
            write_video(root / "train" / label / f"{youtube_id}_{start:06d}_{start + 10:06d}.mp4", fps=30, seed=n)
        else:
            write_video(root / "val" / f"{youtube_id}.mp4", fps=30, seed=n)
    for n in range(9, 11):
        rows["test"].append([f"tst{n}", 0, 10, "test"])
        write_video(root / "test" / f"tst{n}_000000_000010.mp4", fps=30, seed=n)
    rows["train"].append(["zumba", "gone-for-good", 0, 10, "train"])  # never downloaded
    rows["train"].append(["zumba", "no-times", "", "", "train"])
    (root / "train" / KINETICS_LABELS[1] / "yt001-Ab_c1_000010_000020.mp4").write_bytes(CORRUPT)
    for split, split_rows in rows.items():
        with open(root / f"{split}.csv", "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(
                ["label", "youtube_id", "time_start", "time_end", "split"]
                if split != "test"
                else ["youtube_id", "time_start", "time_end", "split"]
            )
            writer.writerows(split_rows)


def upgrad(root):
    """5 gestures, PNG frames in folders whose names hold spaces; names spelled two ways."""
    names = ["Left_Swipe_new", "Right_Swipe_new", "Stop_new", "Thumbs_Down_new", "Thumbs_Up_new"]
    for split, count in (("train", 10), ("val", 5)):
        lines = []
        for n in range(count):
            label = n % 5
            name = names[label] if n < 5 else names[label].replace("_", " ", 1)  # 'Left Swipe_new'
            folder = f"WIN_2018090{len(split)}_15_{n:02d}_42_Pro_{name}"
            write_frames(
                root / split / folder,
                num_frames=30,
                height=30,
                width=40,
                name=f"WIN_20180907_15_{n:02d}_42_Pro_{{:05d}}.png",
                seed=n,
            )
            lines.append(f"{folder};{name};{label}")
        if split == "train":
            lines.append("just-a-folder-name")
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")


def folders(root, videos=True, split_level=False):
    """3 classes of 5 clips, as videos or frame folders; with train/ and val/ levels if asked."""
    for label in ("clap", "wave", "thumbs up"):
        for n in range(5):
            top = root / ("val" if n == 4 else "train") if split_level else root
            if videos:
                write_video(top / label / f"clip {n}{['.mp4', '.avi', '.mov'][n % 3]}", fps=15, seed=n)
            else:
                write_frames(top / label / f"take_{n}", num_frames=9, name="img{:03d}.png", seed=n)
    broken = (root / "train" if split_level else root) / "wave" / ("broken.mp4" if videos else "broken")
    if videos:
        broken.write_bytes(b"")
    else:
        broken.mkdir()
        (broken / "0001.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
