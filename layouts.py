"""Dataset layouts `prepare.py` recognises, each as it ships on disk (see DATASETS.md).

A layout is a class with a `name`, a one-line `expects` (shown when nothing matches), a
`detect(root)` test and a `read(root)` that returns the class names and a list of `Clip`s.
Lines it cannot use are returned as `Problem`s naming the file and line, never raised, so one
bad line does not stop a preparation of a hundred thousand clips.
"""

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Clip:
    clip: str  # unique name, used as the folder name of the prepared frames
    label: str  # class name, "" for unlabelled (test) clips
    split: str  # "train", "validation" or "test"
    source: Path  # a folder of frames (or, for video layouts, a video file)


@dataclass(frozen=True)
class Problem:
    clip: str
    reason: str


FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def frame_files(folder):
    """The image files of a frame folder, in frame order."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in FRAME_SUFFIXES)


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
    def read(cls, root):
        classes = [line.strip() for line in _lines(root / "jester-v1-labels.csv") if line.strip()]
        known = set(classes)
        clips, problems = [], []
        for split, file_name in cls.splits.items():
            path = root / file_name
            if not path.is_file():
                continue
            for number, line in enumerate(_lines(path), start=1):
                if not line.strip():
                    continue
                clip_id, _, label = line.strip().partition(";")
                clip_id, label = clip_id.strip(), label.strip()
                if not clip_id or (split != "test" and label not in known):
                    reason = "no label" if not label else f"unknown label {label!r}"
                    problems.append(Problem(clip_id or f"{file_name}:{number}", f"{file_name} line {number}: {reason}"))
                    continue
                clips.append(Clip(clip_id, label, split, root / cls.frames_folder / clip_id))
        return classes, clips, problems


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
    def read(cls, root):
        names_by_id, clips, problems = {}, [], []
        for split, folder in cls.splits.items():
            path = root / f"{folder}.csv"
            if not path.is_file():
                continue
            with open(path, newline="", encoding="utf-8") as file:
                reader = csv.DictReader(file)
                missing = ({"video_id"} if split == "test" else {"video_id", "label"}) - set(reader.fieldnames or ())
                if missing:
                    problems.append(Problem(path.name, f"{path.name} line 1: header lacks {', '.join(sorted(missing))}"))
                    continue
                for row in reader:
                    line = reader.line_num
                    clip_id, label = (row.get("video_id") or "").strip(), (row.get("label") or "").strip()
                    if not clip_id or (split != "test" and not label):
                        reason = f"{path.name} line {line}: missing video_id or label"
                        problems.append(Problem(clip_id or f"{path.name}:{line}", reason))
                        continue
                    if label and (row.get("label_id") or "").strip().isdigit():
                        names_by_id.setdefault(int(row["label_id"]), label)
                    clips.append(Clip(clip_id, label, split, root / folder / clip_id))
        labels = {clip.label for clip in clips if clip.label}
        # label_id gives the official class order; labels without one follow, sorted
        classes = [names_by_id[i] for i in sorted(names_by_id)]
        classes += sorted(labels - set(classes))
        return classes, clips, problems


def _lines(path):
    with open(path, encoding="utf-8") as file:
        return file.read().splitlines()


LAYOUTS = {layout.name: layout for layout in (JesterOfficial, JesterKaggle)}


def detect_layout(source, name=None):
    """Returns (layout, root): the layout found at `source` or in one of its sub-folders."""
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"Dataset path {source} is not a folder.")
    if name is not None and name not in LAYOUTS:
        raise ValueError(f"Unknown --format {name!r}. Known formats: {', '.join(LAYOUTS)}.")
    layouts = [LAYOUTS[name]] if name else list(LAYOUTS.values())
    candidates = [source] + sorted(p for p in source.iterdir() if p.is_dir())
    for root in candidates:
        for layout in layouts:
            if layout.detect(root):
                return layout, root
    found = ", ".join(sorted(p.name for p in source.iterdir())[:12]) or "nothing"
    known = "\n".join(f"  {layout.name}: {layout.expects}" for layout in layouts)
    raise ValueError(f"No known dataset layout at {source} (found: {found}).\nKnown layouts:\n{known}")
