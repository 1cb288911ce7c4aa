"""What every dataset layout shares: the records it returns and the readers of its files.

A layout (in `layouts/gestures.py` and `layouts/actions.py`; `prepare.py` keeps the list and finds
which one a dataset path holds) reads a dataset's lists and folders into `Clip`s, one per clip to
prepare, and `Problem`s, one per clip or line it cannot use. Problems name the file and line
and are never raised: one bad line must not stop a preparation of a hundred thousand clips.
"""

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v", ".mpg", ".mpeg")
VALIDATION_NAMES = {"val": "validation", "valid": "validation", "validate": "validation", "validation": "validation"}
SPLIT_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test", **VALIDATION_NAMES}


@dataclass(frozen=True)
class Clip:
    clip: str  # unique name, used as the folder name of the prepared frames
    label: str  # class name, "" for unlabelled (test) clips
    split: str  # "train", "validation" or "test"
    source: Path  # a folder of frames or a video file
    depth: Path | None = None  # a second modality (IsoGD's depth video), prepared beside the frames
    flow: tuple | None = None  # (x folder, y folder) of pre-extracted 8-bit flow images


@dataclass(frozen=True)
class Problem:
    clip: str
    reason: str


@dataclass(frozen=True)
class Options:
    """The prepare.py options that change what a layout lists."""

    split: int = 1  # UCF101's train/test split, 1, 2 or 3
    depth: bool = False  # IsoGD: take the K_ depth videos as well
    val_fraction: float = 0.2  # folder per class without a val/ level: share held out per class
    seed: int = 0  # for that held-out choice


def natural_key(path):
    """Sorts frame_2.jpg before frame_10.jpg: numbers in a name compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def entries(folder):
    """A folder's entries without hidden ones (.DS_Store, ._clip.mp4, .ipynb_checkpoints)."""
    return [p for p in Path(folder).iterdir() if not p.name.startswith(".")]


def frame_files(folder):
    """The image files of a frame folder, in frame order."""
    return sorted((p for p in entries(folder) if p.suffix.lower() in FRAME_SUFFIXES), key=natural_key)


def is_video(path):
    return path.suffix.lower() in VIDEO_SUFFIXES


def is_prepared(folder):
    """A DATA_DIR that prepare.py wrote (it holds dataset.json), which may sit inside a dataset but is no part of it."""
    return (folder / "dataset.json").is_file()


def is_frame_folder(path):
    """A folder holding image files directly (one clip's frames)."""
    try:
        return path.is_dir() and any(entry.suffix.lower() in FRAME_SUFFIXES for entry in entries(path))
    except OSError:
        return False


def numbered_lines(path):
    """(line number, stripped line) of the non-empty lines of a text file, read lazily."""
    with open(path, encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, start=1):
            line = line.strip().lstrip("\ufeff")
            if line:
                yield number, line


def csv_rows(path, delimiter=","):
    """(line number, row dict) of a CSV file with a header, read lazily; the row is None when the
    line has more fields than the header (an unquoted comma), which callers report."""
    with open(path, newline="", encoding="utf-8", errors="replace") as file:
        reader = csv.DictReader(file, delimiter=delimiter)
        for row in reader:
            if None in row:
                yield reader.line_num, None
                continue
            yield reader.line_num, {(k or "").strip().lstrip("\ufeff"): (v or "").strip() for k, v in row.items()}


TOO_MANY_FIELDS = "more fields than the header (an unquoted comma?)"


def csv_header(path, delimiter=","):
    with open(path, newline="", encoding="utf-8", errors="replace") as file:
        header = next(csv.reader(file, delimiter=delimiter), [])
    return [name.strip().lstrip("\ufeff") for name in header]


def problem(path, number, reason, clip=None):
    """A Problem for line `number` of file `path`."""
    return Problem(clip or f"{Path(path).name}:{number}", f"{Path(path).name} line {number}: {reason}")


def held_out(names, fraction, seed, label):
    """Which of one class's clip names go to validation: a seeded share, at least one of two or more."""
    names = sorted(names)
    count = round(len(names) * fraction)
    if fraction > 0 and len(names) >= 2:
        count = min(max(count, 1), len(names) - 1)
    rng = np.random.default_rng([seed, *label.encode("utf-8")])
    return {names[i] for i in rng.permutation(len(names))[:count]}
