"""Gesture datasets as they ship: 20BN-Jester (official and Kaggle), ChaLearn IsoGD, the upGrad
style TV-control sets, and a user's own folder per class. See DATASETS.md for each layout.

Each layout has a `name`, an `expects` line (shown when nothing matches), `detect(root)` and
`read(root, options)`, which returns the class names and an iterator of `Clip`s and `Problem`s.
The lists are read as they are iterated, so a large dataset is never held in memory at once.
"""

import itertools
import re
from collections import Counter
from pathlib import Path

from layouts.base import (
    SPLIT_NAMES,
    TOO_MANY_FIELDS,
    Clip,
    Problem,
    csv_header,
    csv_rows,
    entries,
    held_out,
    is_frame_folder,
    is_prepared,
    is_video,
    numbered_lines,
    problem,
)


class JesterOfficial:
    name = "jester"
    expects = (
        "20BN-Jester v1: jester-v1-labels.csv, jester-v1-train.csv and jester-v1-validation.csv "
        "(id;label, no header) beside a 20bn-jester-v1/<id>/00001.jpg folder"
    )
    fps = 12
    frames_folder = "20bn-jester-v1"
    splits = {"train": "jester-v1-train.csv", "validation": "jester-v1-validation.csv", "test": "jester-v1-test.csv"}

    @classmethod
    def detect(cls, root):
        return (root / "jester-v1-labels.csv").is_file() and (root / cls.frames_folder).is_dir()

    @classmethod
    def read(cls, root, options):
        classes = [line for _, line in numbered_lines(root / "jester-v1-labels.csv")]
        return classes, cls.clips(root, set(classes))

    @classmethod
    def clips(cls, root, known):
        for split, file_name in cls.splits.items():
            path = root / file_name
            if not path.is_file():
                continue
            for number, line in numbered_lines(path):
                clip_id, _, label = (part.strip() for part in line.partition(";"))
                if not clip_id or (split != "test" and label not in known):
                    yield problem(path, number, f"unknown label {label!r}" if label else "no label", clip_id)
                    continue
                yield Clip(clip_id, label, split, root / cls.frames_folder / clip_id)


class JesterKaggle:
    name = "jester_kaggle"
    expects = (
        "20BN-Jester, Kaggle mirror: Train.csv and Validation.csv (comma-separated, header "
        "video_id,label,...,label_id,...) beside Train/<video_id>/00001.jpg and Validation/<video_id>/"
    )
    fps = 12
    splits = {"train": "Train", "validation": "Validation", "test": "Test"}

    @classmethod
    def detect(cls, root):
        return (root / "Train.csv").is_file() and (root / "Train").is_dir()

    @classmethod
    def read(cls, root, options):
        names_by_id, labels = {}, set()
        for split, folder in cls.splits.items():
            if split != "test" and (root / f"{folder}.csv").is_file():
                for _, row in csv_rows(root / f"{folder}.csv"):
                    if row and row.get("label"):
                        labels.add(row["label"])
                        if row.get("label_id", "").isdigit():
                            names_by_id.setdefault(int(row["label_id"]), row["label"])
        # label_id gives the official class order; labels without one follow, sorted
        classes = [names_by_id[i] for i in sorted(names_by_id)]
        classes += sorted(labels - set(classes))
        return classes, cls.clips(root)

    @classmethod
    def clips(cls, root):
        for split, folder in cls.splits.items():
            path = root / f"{folder}.csv"
            if not path.is_file():
                continue
            missing = ({"video_id"} if split == "test" else {"video_id", "label"}) - set(csv_header(path))
            if missing:
                yield problem(path, 1, f"header lacks {', '.join(sorted(missing))}", path.name)
                continue
            for number, row in csv_rows(path):
                if row is None:
                    yield problem(path, number, TOO_MANY_FIELDS)
                    continue
                clip_id, label = row.get("video_id", ""), row.get("label", "")
                if not clip_id or (split != "test" and not label):
                    yield problem(path, number, "missing video_id or label", clip_id)
                    continue
                yield Clip(clip_id, label, split, root / folder / clip_id)


class IsoGD:
    name = "isogd"
    expects = (
        "ChaLearn IsoGD: train_list.txt (and valid_list.txt, test_list.txt) with lines "
        "'train/001/M_00001.avi train/001/K_00001.avi 26' beside the train/ video folders"
    )
    fps = None  # the videos' own rate (10 fps)
    lists = {"train": "train_list.txt", "validation": "valid_list.txt", "test": "test_list.txt"}

    @classmethod
    def detect(cls, root):
        path = root / "train_list.txt"
        if not path.is_file():
            return False
        first_two = [line.split() for _, line in itertools.islice(numbered_lines(path), 2)]  # the first may be a header
        return any(len(parts) >= 2 and is_video(Path(parts[0])) for parts in first_two)

    @classmethod
    def read(cls, root, options):
        labels = set()
        for file_name in cls.lists.values():
            if (root / file_name).is_file():
                labels.update(parts[2] for _, parts in cls.lines(root / file_name) if len(parts) == 3 and parts[2].isdigit())
        return sorted(labels, key=int), cls.clips(root, options.depth)

    @staticmethod
    def lines(path):
        for number, line in numbered_lines(path):
            yield number, line.split()

    @classmethod
    def clips(cls, root, depth):
        for split, file_name in cls.lists.items():
            path = root / file_name
            if not path.is_file():
                continue
            for number, parts in cls.lines(path):
                if len(parts) not in (2, 3) or (len(parts) == 3 and not parts[2].isdigit()):
                    yield problem(path, number, "expected 'RGB-path depth-path [label]'")
                    continue
                if len(parts) == 2 and split == "train":
                    yield problem(path, number, "no label")
                    continue
                # lists without labels (some releases' valid and test lists) are test clips
                label, clip_split = (parts[2], split) if len(parts) == 3 else ("", "test")
                clip_id = str(Path(parts[0]).with_suffix("")).replace("/", "_").replace("\\", "_")
                yield Clip(clip_id, label, clip_split, root / parts[0], root / parts[1] if depth else None)


class UpGrad:
    name = "upgrad"
    expects = (
        "upGrad-style gesture set: train.csv and val.csv (folder;gesture_name;label_index, no header) "
        "beside train/<folder>/ and val/<folder>/ frame folders"
    )
    fps = 15
    lists = {"train": "train", "validation": "val"}

    @classmethod
    def detect(cls, root):
        path = root / "train.csv"
        if not (path.is_file() and (root / "train").is_dir()):
            return False
        first = next(numbered_lines(path), (0, ""))[1]
        return first.count(";") == 2

    @classmethod
    def read(cls, root, options):
        names = {}  # index -> Counter of tidied gesture names
        for name in cls.lists.values():
            if (root / f"{name}.csv").is_file():
                for _, parts in cls.lines(root / f"{name}.csv"):
                    if len(parts) == 3 and parts[2].isdigit():
                        names.setdefault(int(parts[2]), Counter())[cls.tidy(parts[1])] += 1
        # the integer is the label; its most common spelling names it
        classes = [names[i].most_common(1)[0][0] if i in names else str(i) for i in range(max(names, default=-1) + 1)]
        return classes, cls.clips(root, classes)

    @staticmethod
    def tidy(name):
        """'Left_Swipe_new' and 'Left Swipe_new' -> 'Left Swipe'."""
        return re.sub(r"[_ ]new$", "", name.strip()).replace("_", " ").strip()

    @staticmethod
    def lines(path):
        for number, line in numbered_lines(path):
            yield number, [part.strip() for part in line.split(";")]

    @classmethod
    def clips(cls, root, classes):
        for split, name in cls.lists.items():
            path = root / f"{name}.csv"
            if not path.is_file():
                continue
            for number, parts in cls.lines(path):
                if len(parts) != 3 or not parts[2].isdigit() or not parts[0]:
                    yield problem(path, number, "expected 'folder;gesture_name;label_index'")
                    continue
                yield Clip(parts[0], classes[int(parts[2])], split, root / name / parts[0])


class FolderPerClass:
    name = "folders"
    expects = (
        "a folder per class: ROOT/<label>/<clip>.mp4 (or .avi, .mov, .webm) or ROOT/<label>/<clip>/<frame>.jpg, "
        "optionally under train/ and val/ (without them --val-fraction of each class is held out)"
    )
    fps = None  # the videos' own rate; frame folders are taken as 30 fps

    @classmethod
    def split_folders(cls, root):
        return {SPLIT_NAMES[p.name.lower()]: p for p in sorted(entries(root)) if p.is_dir() and p.name.lower() in SPLIT_NAMES}

    @classmethod
    def detect(cls, root):
        if is_prepared(root):  # its frames/ holds a folder per clip, which would pass for a class
            return False
        splits = cls.split_folders(root)
        return any(cls.has_clips(label) for label in cls.label_folders(splits.get("train", root)))

    @staticmethod
    def label_folders(top):
        """The class folders; not a DATA_DIR that prepare.py wrote inside the dataset (`--out DATASET/prepared`)."""
        return sorted(p for p in entries(top) if p.is_dir() and not is_prepared(p))

    @staticmethod
    def is_clip(path):
        return (path.is_file() and is_video(path)) or is_frame_folder(path)

    @classmethod
    def clip_paths(cls, label_folder):
        """The clips of one class: its videos and its frame folders."""
        return [p for p in sorted(entries(label_folder)) if cls.is_clip(p)]

    @classmethod
    def has_clips(cls, label_folder):
        """Whether a folder holds a clip; stops at the first, where clip_paths lists them all."""
        return any(map(cls.is_clip, entries(label_folder)))

    @classmethod
    def read(cls, root, options):
        splits = cls.split_folders(root)
        if "train" not in splits:
            splits = {"train": root}  # no split level
        classes = sorted({p.name for top in splits.values() for p in cls.label_folders(top) if cls.has_clips(p)})
        return classes, cls.clips(splits, root, options)

    @classmethod
    def clips(cls, splits, root, options):
        """Each split folder's clips; without a validation folder a seeded share of each class of
        the training clips is held out (chosen before decoding, so a corrupt clip may be chosen)."""
        for split, top in splits.items():
            for label_folder in cls.label_folders(top):
                paths = cls.clip_paths(label_folder)
                if not paths:
                    yield Problem(label_folder.name, f"{label_folder}: no videos or frame folders in this class folder")
                    continue
                validation = set()
                if split == "train" and "validation" not in splits:
                    validation = held_out([p.name for p in paths], options.val_fraction, options.seed, label_folder.name)
                stems = Counter(p.stem if p.is_file() else p.name for p in paths)
                for path in paths:
                    name = path.stem if path.is_file() else path.name
                    name = path.name if stems[name] > 1 else name  # clip.mp4 and clip.avi are two clips
                    clip_id = f"{label_folder.name}_{name}" if top == root else f"{top.name}_{label_folder.name}_{name}"
                    yield Clip(clip_id, label_folder.name, "validation" if path.name in validation else split, path)
