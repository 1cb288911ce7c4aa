"""Turn a dataset as downloaded into prepared clips that `datagenerator.py` reads.

    python prepare.py SOURCE --out DATA_DIR [--size 128] [--gray] [--workers N]

SOURCE is recognised by its layout (see `layouts.py`). DATA_DIR receives:

    frames/<clip>/00001.jpg ...   frames resized so the short side is --size pixels
    index.csv                     clip,label,split,num_frames (one row per prepared clip)
    classes.json                  class names; a label's position is its class index
    skipped.csv                   clip,reason for every clip or line that could not be used
    dataset.json                  the layout, frame size, colour and frame rate

`python prepare.py check DATA_DIR` prints clips and frame counts per split and class, and any
problem (missing frames or clips, unknown labels); it exits 1 when it finds errors.

Each clip is written under a temporary name and renamed when complete, so a killed run can
simply be started again: finished clips are kept, half-written ones are redone.
"""

import argparse
import csv
import json
import os
import shutil
import sys
from multiprocessing import Pool
from pathlib import Path

import cv2
from tqdm import tqdm

from layouts import LAYOUTS, Problem, detect_layout, frame_files

FRAME_NAME = "{:05d}.jpg"  # 1-based, as in Jester
INDEX_COLUMNS = ["clip", "label", "split", "num_frames"]
JPEG_QUALITY = 95


def read_index(data_dir, split=None):
    """Rows of index.csv as dicts (num_frames as int), optionally of one split."""
    path = Path(data_dir) / "index.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python prepare.py SOURCE --out {data_dir}` first.")
    with open(path, newline="", encoding="utf-8") as file:
        rows = [dict(row, num_frames=int(row["num_frames"])) for row in csv.DictReader(file)]
    return [row for row in rows if split is None or row["split"] == split]


def read_classes(folder):
    path = Path(folder) / "classes.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {folder} a folder written by prepare.py or train.py?")
    return json.loads(path.read_text(encoding="utf-8"))


def clip_folder(data_dir, clip):
    return Path(data_dir) / "frames" / clip


def write_atomic(path, text):
    """Writes a whole file or nothing: a reader never sees half of it."""
    temporary = Path(f"{path}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_csv(path, columns, rows):
    lines = [",".join(columns)] + [",".join(_csv_field(row[c]) for c in columns) for row in rows]
    write_atomic(path, "\n".join(lines) + "\n")


def _csv_field(value):
    value = str(value)
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value


def resize_short_side(frame, size):
    height, width = frame.shape[:2]
    scale = size / min(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, new_size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def prepare_clip(task):
    """Writes one clip's frames; returns (num_frames, None) or (0, reason). Runs in a worker."""
    clip, source, out_dir, size, gray, min_frames = task
    final = clip_folder(out_dir, clip)
    if final.is_dir():  # finished by an earlier run
        return len(os.listdir(final)), None
    if not source.is_dir():
        return 0, f"missing frame folder {source}"
    files = frame_files(source)
    if len(files) < min_frames:
        return 0, f"too few frames ({len(files)} < {min_frames}) in {source}"
    temporary = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    flag = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
    for number, file in enumerate(files, start=1):
        frame = cv2.imread(str(file), flag)
        if frame is None:
            shutil.rmtree(temporary)
            return 0, f"unreadable frame {file}"
        frame = resize_short_side(frame, size)
        if not cv2.imwrite(str(temporary / FRAME_NAME.format(number)), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            shutil.rmtree(temporary)
            return 0, f"cannot write frame {number} into {temporary.parent} (disk full?)"
    os.rename(temporary, final)
    return len(files), None


def check_settings(out_dir, settings):
    """Refuses to resume into a DATA_DIR prepared with other settings."""
    path = out_dir / "dataset.json"
    if path.is_file():
        earlier = json.loads(path.read_text(encoding="utf-8"))
        changed = [k for k in ("layout", "size", "gray") if earlier.get(k) != settings[k]]
        if changed:
            details = ", ".join(f"{k}: {earlier.get(k)} then, {settings[k]} now" for k in changed)
            raise ValueError(
                f"{out_dir} was prepared with other settings ({details}). Use another --out, or --fresh to start over."
            )
    write_atomic(path, json.dumps(settings, indent=1) + "\n")


def prepare(source, out_dir, size=128, gray=False, workers=None, min_frames=8, layout_name=None, fresh=False, progress=True):
    """Prepares a dataset; returns (index rows, skipped rows)."""
    layout, root = detect_layout(source, layout_name)
    classes, listed, problems = layout.read(root)
    clips, seen = [], set()
    for clip in listed:  # one folder per clip: a clip listed twice is prepared once
        if clip.clip in seen:
            problems.append(Problem(clip.clip, f"listed again (as {clip.split}); the first listing is kept"))
        else:
            seen.add(clip.clip)
            clips.append(clip)
    if not clips:
        raise ValueError(f"The {layout.name} layout at {root} lists no usable clips.")
    out_dir = Path(out_dir)
    if fresh:  # what prepare.py writes, and nothing else of the folder
        shutil.rmtree(out_dir / "frames", ignore_errors=True)
        for name in ("index.csv", "classes.json", "skipped.csv", "dataset.json"):
            (out_dir / name).unlink(missing_ok=True)
    (out_dir / "frames").mkdir(parents=True, exist_ok=True)
    settings = {"layout": layout.name, "source": str(Path(source).resolve()), "size": size, "gray": gray, "fps": layout.fps}
    check_settings(out_dir, settings)
    for leftover in (out_dir / "frames").glob(".*.tmp-*"):  # half-written clips of a killed run
        shutil.rmtree(leftover, ignore_errors=True)

    workers = workers or os.cpu_count() or 1
    print(
        f"Preparing {len(clips)} clips of {len(classes)} classes ({layout.name} layout at {root}) "
        f"into {out_dir}: short side {size} px, {'gray' if gray else 'colour'}, {workers} workers"
    )
    tasks = [(c.clip, c.source, out_dir, size, gray, min_frames) for c in clips]
    index, skipped = [], [{"clip": p.clip, "reason": p.reason} for p in problems]
    with Pool(workers) as pool:
        results = pool.imap(prepare_clip, tasks, chunksize=4)  # ordered: index.csv is deterministic
        for clip, (num_frames, reason) in tqdm(zip(clips, results), total=len(clips), disable=not progress, unit="clip"):
            if reason:
                skipped.append({"clip": clip.clip, "reason": reason})
            else:
                index.append({"clip": clip.clip, "label": clip.label, "split": clip.split, "num_frames": num_frames})

    write_atomic(out_dir / "classes.json", json.dumps(classes, indent=1) + "\n")
    write_csv(out_dir / "skipped.csv", ["clip", "reason"], skipped)
    write_csv(out_dir / "index.csv", INDEX_COLUMNS, index)
    counts = {split: sum(row["split"] == split for row in index) for split in ("train", "validation", "test")}
    print(
        f"Prepared {len(index)} clips ({', '.join(f'{n} {s}' for s, n in counts.items() if n)}); "
        f"skipped {len(skipped)} (see {out_dir / 'skipped.csv'})"
    )
    return index, skipped


def check(data_dir):
    """Prints clips and frame counts per split and class, and the problems; returns the error count."""
    data_dir = Path(data_dir)
    classes, rows = read_classes(data_dir), read_index(data_dir)
    errors, warnings = [], []
    counts, frames = {}, {}  # (split, label) -> clips; split -> [num_frames]
    for row in rows:
        key = (row["split"], row["label"])
        counts[key] = counts.get(key, 0) + 1
        frames.setdefault(row["split"], []).append(row["num_frames"])
        if row["label"] and row["label"] not in classes:
            errors.append(f"{row['clip']}: label {row['label']!r} is not in classes.json")
        folder = clip_folder(data_dir, row["clip"])
        if not folder.is_dir():
            errors.append(f"{row['clip']}: in index.csv but {folder} is missing")
            continue
        present = set(os.listdir(folder))
        missing = [FRAME_NAME.format(n) for n in range(1, row["num_frames"] + 1) if FRAME_NAME.format(n) not in present]
        if missing:
            errors.append(f"{row['clip']}: {len(missing)} of {row['num_frames']} frames missing ({', '.join(missing[:3])})")
    for split, split_frames in frames.items():
        print(f"{split}: {len(split_frames)} clips, {min(split_frames)}-{max(split_frames)} frames per clip")
        labelled = [c for c in classes if (split, c) in counts]
        if split != "test":
            for name in classes:
                print(f"  {counts.get((split, name), 0):6d}  {name}")
            empty = sorted(set(classes) - set(labelled))
            if empty:
                warnings.append(f"{split}: no clips of {', '.join(empty)}")
    for line in warnings:
        print(f"warning: {line}")
    for line in errors:
        print(f"error: {line}")
    print(f"{len(rows)} clips checked: {len(errors)} errors, {len(warnings)} warnings")
    return len(errors)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["check"]:
        checker = argparse.ArgumentParser(
            prog="prepare.py check",
            description="Check a prepared DATA_DIR: counts per split "
            "and class, frame-count ranges and problems; exits 1 when it finds errors.",
        )
        checker.add_argument("data_dir", help="folder written by prepare.py")
        try:
            sys.exit(1 if check(checker.parse_args(argv[1:]).data_dir) else 0)
        except (FileNotFoundError, ValueError) as error:
            sys.exit(f"prepare.py check: {error}")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="the dataset folder, as downloaded")
    parser.add_argument("--out", default="data", help="folder for the prepared clips (default: data)")
    parser.add_argument("--size", type=int, default=128, help="short side of the prepared frames in pixels (default: 128)")
    parser.add_argument("--gray", action="store_true", help="store grayscale frames (smaller, and what the default model uses)")
    parser.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    parser.add_argument("--min-frames", type=int, default=8, help="skip clips with fewer frames (default: 8)")
    parser.add_argument("--format", choices=sorted(LAYOUTS), help="the layout, when detection should not guess")
    parser.add_argument("--fresh", action="store_true", help="delete what an earlier run prepared in DATA_DIR and start over")
    args = parser.parse_args(argv)
    try:
        prepare(args.source, args.out, args.size, args.gray, args.workers, args.min_frames, args.format, args.fresh)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"prepare.py: {error}")


if __name__ == "__main__":
    main()
