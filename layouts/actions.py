"""Action datasets as they ship: UCF101 (videos, or pre-extracted frames and TV-L1 flow) and
Kinetics (CSV lists and downloaded clips). See DATASETS.md; the interface is as in
`layouts/gestures.py`: `detect(root)`, and `read(root, options)` -> (classes, Clips and Problems).
"""

from functools import lru_cache
from pathlib import Path

from layouts.base import SPLIT_NAMES, TOO_MANY_FIELDS, Clip, Problem, csv_header, csv_rows, is_video, numbered_lines, problem


class UCF101:
    name = "ucf101"
    expects = (
        "UCF101: ucfTrainTestlist/ (classInd.txt, trainlist01.txt, testlist01.txt) beside the videos "
        "UCF-101/<Class>/v_<Class>_g01_c01.avi"
    )
    fps = None  # the videos' own rate (25 fps)
    video_folders = ("UCF-101", "UCF101", "videos", ".")

    @staticmethod
    def lists_folder(root):
        for folder in (root / "ucfTrainTestlist", root):
            if (folder / "classInd.txt").is_file():
                return folder
        return None

    @classmethod
    def detect(cls, root):
        return cls.lists_folder(root) is not None and cls.videos_folder(root) is not None

    @classmethod
    def videos_folder(cls, root):
        """The folder holding the class folders of videos."""
        for name in cls.video_folders:
            folder = root / name
            if folder.is_dir() and any(p.is_dir() and any(map(is_video, p.iterdir())) for p in folder.iterdir()):
                return folder
        return None

    @classmethod
    def read(cls, root, options):
        lists = cls.lists_folder(root)
        if options.split not in (1, 2, 3):
            raise ValueError(f"UCF101 has splits 1, 2 and 3, not --split {options.split}.")
        classes = cls.read_classes(lists / "classInd.txt")
        return classes, cls.clips(root, lists, options.split, classes)

    @staticmethod
    def read_classes(path):
        numbered = {}
        for _, line in numbered_lines(path):
            number, _, name = line.partition(" ")
            if number.isdigit() and name.strip():
                numbered[int(number)] = name.strip()
        return [numbered[i] for i in sorted(numbered)]

    @classmethod
    def clips(cls, root, lists, split_number, classes):
        base = cls.base(root)
        canonical = {name.lower(): name for name in classes}  # HandStandPushups -> HandstandPushups
        for split, prefix in (("train", "trainlist"), ("validation", "testlist")):
            path = lists / f"{prefix}{split_number:02d}.txt"
            if not path.is_file():
                yield Problem(path.name, f"{path} is missing: no {split} clips for split {split_number}")
                continue
            for number, line in numbered_lines(path):
                parts = line.split()
                relative = Path(parts[0].replace("\\", "/"))
                label = cls.label_of(relative, parts[1:], classes, canonical)
                if label is None or len(parts) > 2:
                    yield problem(path, number, f"cannot tell the class of {line!r}")
                    continue
                yield cls.clip(base, relative, label, split)

    @staticmethod
    def label_of(relative, rest, classes, canonical):
        """The class of a list line: its 1-based number, else its folder, else its file name."""
        if rest:
            return classes[int(rest[0]) - 1] if rest[0].isdigit() and 1 <= int(rest[0]) <= len(classes) else None
        if len(relative.parts) > 1 and relative.parts[-2].lower() in canonical:
            return canonical[relative.parts[-2].lower()]
        name = relative.stem.removeprefix("v_").rsplit("_g", 1)[0]  # v_<Class>_g08_c01
        return canonical.get(name.lower())

    @classmethod
    def base(cls, root):
        return cls.videos_folder(root)

    @staticmethod
    def clip(folder, relative, label, split):
        source = folder / relative
        for candidate in (source, folder / label / relative.name, folder / relative.name):
            if candidate.is_file():
                source = candidate
                break
        return Clip(relative.stem, label, split, source)


class UCF101Frames(UCF101):
    name = "ucf101_frames"
    expects = (
        "UCF101 pre-extracted frames: jpegs_256/v_<Name>/frame000001.jpg (with tvl1_flow/u/ and tvl1_flow/v/, "
        "if present, as the clips' flow) beside ucfTrainTestlist/"
    )
    fps = 25

    @staticmethod
    def own_flow(root):
        """The flow this dataset brings, recorded in dataset.json."""
        return "tvl1 (the dataset's tvl1_flow)" if (root / "tvl1_flow").is_dir() else None

    @classmethod
    def detect(cls, root):
        return cls.lists_folder(root) is not None and (root / "jpegs_256").is_dir()

    @staticmethod
    def base(root):
        return root

    @staticmethod
    def clip(root, relative, label, split):
        flow = root / "tvl1_flow"
        pair = (flow / "u" / relative.stem, flow / "v" / relative.stem) if flow.is_dir() else None
        return Clip(relative.stem, label, split, root / "jpegs_256" / relative.stem, flow=pair)


@lru_cache(maxsize=64)
def _listing(folder):
    """The file names of a folder; a few folders are cached since Kinetics lists are sorted by label."""
    try:
        return frozenset(p.name for p in Path(folder).iterdir())
    except OSError:
        return frozenset()


class Kinetics:
    name = "kinetics"
    expects = (
        "Kinetics: CSV lists with the header label,youtube_id,time_start,time_end,split beside the clips, "
        "<youtube_id>_<start:06d>_<end:06d>.mp4 or <youtube_id>.mp4, under <split>/<label>/ or flat"
    )
    fps = None  # the clips' own rate (mostly 30 fps)
    clip_suffixes = (".mp4", ".webm", ".mkv", ".avi")

    @staticmethod
    def lists(root):
        """The CSV lists, in the root or its annotations/ folder, train first and test last."""
        found = sorted(root.glob("*.csv")) + sorted(root.glob("annotations/*.csv"))
        lists = [p for p in found if {"youtube_id", "time_start", "time_end"} <= set(csv_header(p))]
        rank = {"train": 0, "validation": 1, "test": 2}
        return sorted(lists, key=lambda p: rank.get(Kinetics.split_of(p, {}), 1))

    @classmethod
    def detect(cls, root):
        return bool(cls.lists(root))

    @classmethod
    def read(cls, root, options):
        labels = {row["label"] for path in cls.lists(root) for _, row in csv_rows(path) if row and row.get("label")}
        return sorted(labels), cls.clips(root)

    @staticmethod
    def split_of(path, row):
        """A row's split: its split column, else the list's file name (kinetics_400_val.csv)."""
        if row.get("split"):
            return SPLIT_NAMES.get(row["split"].lower())
        words = path.stem.lower().replace("-", "_").split("_")
        return next((SPLIT_NAMES[w] for w in reversed(words) if w in SPLIT_NAMES), None)

    @classmethod
    def clips(cls, root):
        for path in cls.lists(root):
            for number, row in csv_rows(path):
                if row is None:
                    yield problem(path, number, TOO_MANY_FIELDS)
                    continue
                split, youtube_id = cls.split_of(path, row), row.get("youtube_id", "")
                try:
                    start, end = int(float(row["time_start"])), int(float(row["time_end"]))
                except (KeyError, ValueError):
                    start = end = None
                if not youtube_id or start is None or split is None:
                    yield problem(path, number, "needs youtube_id, time_start, time_end and a split")
                    continue
                clip_id = f"{youtube_id}_{start:06d}_{end:06d}"
                label = row.get("label", "")
                if split != "test" and not label:
                    yield problem(path, number, "no label", clip_id)
                    continue
                source = cls.find(root, split, label, clip_id, youtube_id)
                if source is None:
                    yield Problem(clip_id, f"{path.name} line {number}: listed but missing: no {clip_id}.mp4 or {youtube_id}.mp4")
                    continue
                yield Clip(clip_id, label, split, source)

    @classmethod
    def find(cls, root, split, label, clip_id, youtube_id):
        """The clip's file under <split>/<label>/, <split>/ or the root, by either naming."""
        split_folders = [root / name for name, value in SPLIT_NAMES.items() if value == split]
        labels = [label, label.replace(" ", "_")] if label else []
        for top in [*split_folders, root]:
            for folder in [top / name for name in labels] + [top]:
                names = _listing(folder)
                for stem in (clip_id, youtube_id):
                    for suffix in cls.clip_suffixes:
                        if stem + suffix in names:
                            return folder / (stem + suffix)
        return None
