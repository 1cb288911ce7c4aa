"""Turn a dataset as downloaded into prepared clips that `datagenerator.py` reads.

    python prepare.py SOURCE --out DATA_DIR [--size 128] [--gray] [--fps N] [--flow METHOD|none] [--workers N]

SOURCE is recognised by its layout (see `layouts/gestures.py` and `layouts/actions.py`):
20BN-Jester (official or Kaggle), UCF101 (videos, or jpegs_256 with tvl1_flow), ChaLearn IsoGD,
Kinetics, upGrad-style gesture sets, or a folder per class. DATA_DIR receives:

    frames/<clip>/00001.jpg ...   frames resized so the short side is --size pixels
    flow/<clip>/x_00001.jpg ...   8-bit optical flow, less the camera's motion (--flow farneback-steady,
                                  the default; --flow none skips it), or a layout's own flow
    depth/<clip>/00001.jpg ...    with --depth (IsoGD): the depth video's frames
    index.csv                     clip,label,split,num_frames,num_flow (one row per prepared clip)
    classes.json                  class names; a label's position is its class index
    skipped.csv                   clip,reason for every clip or line that could not be used
    dataset.json                  the layout and the settings the frames were prepared with

`python prepare.py check DATA_DIR` prints clips and frame counts per split and class, and any
problem (missing frames or clips, unknown labels); it exits 1 when it finds errors.

`python prepare.py keypoints DATA_DIR --model pose_landmarker_lite.task` writes the keypoints
`pose_lstm` reads (keypoints/<clip>.npy, see clips/keypoints.py) for every clip of a prepared DATA_DIR,
with a MediaPipe landmarker (`pip install mediapipe` and a model file from its solutions guide);
`--keypoints MODEL.task` does the same right after preparing.

Each clip is written under a temporary name and renamed when complete, so a killed run can
simply be started again: finished clips are kept, half-written ones are redone.
"""

import argparse
import json
import os
import shutil
import sys
from collections import Counter
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

from tqdm import tqdm

from clips import flow, landmarks
from clips.frames import FLOW_NAME, FOLDERS_FPS, FRAME_NAME, clip_folder, prepare_clip, start_worker
from clips.index import INDEX_COLUMNS, read_classes, read_index
from clips.keypoints import NUM_SAMPLES
from common.files import StreamedCsv, write_atomic
from layouts.actions import UCF101, Kinetics, UCF101Frames
from layouts.base import FRAME_SUFFIXES, Options, Problem, is_video
from layouts.gestures import FolderPerClass, IsoGD, JesterKaggle, JesterOfficial, UpGrad

# In the order they are tried: the most specific first, a plain folder per class last.
LAYOUTS = {
    layout.name: layout
    for layout in (JesterOfficial, JesterKaggle, UCF101Frames, UCF101, IsoGD, Kinetics, UpGrad, FolderPerClass)
}


def detect_layout(source, name=None):
    """Returns (layout, root): the layout found at `source` or in one of its sub-folders."""
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"Dataset path {source} is not a folder.")
    if name is not None and name not in LAYOUTS:
        raise ValueError(f"Unknown --format {name!r}. Known formats: {', '.join(LAYOUTS)}.")
    layouts = [LAYOUTS[name]] if name else list(LAYOUTS.values())
    folders = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    # every specific layout, at the top or one level down, then the catch-all folder per class: one level
    # down only where one folder alone holds one (an archive unpacked into its own folder), since in
    # classes/people/clip.mp4 each class's folder looks like a folder per class
    nested = []
    if FolderPerClass in layouts and not FolderPerClass.detect(source):
        nested = [p for p in folders if FolderPerClass.detect(p)]
    for group, candidates in (
        ([x for x in layouts if x is not FolderPerClass], [source, *folders]),
        ([x for x in layouts if x is FolderPerClass], [source, *nested] if len(nested) == 1 else [source]),
    ):
        for root in candidates:
            for layout in group:
                if layout.detect(root):
                    return layout, root
    found = ", ".join(describe(p) for p in sorted(source.iterdir())[:12]) or "nothing"
    known = "\n".join(f"  {layout.name}: {layout.expects}" for layout in layouts)
    several = ""
    if len(nested) > 1:
        named = ", ".join(f"{p.name}/" for p in nested[:5]) + (", ..." if len(nested) > 5 else "")
        several = f"\n{named} each hold a folder per class: give the path of the one to prepare."
    raise ValueError(f"No known dataset layout at {source} (found: {found}).{several}\nKnown layouts:\n{known}")


def describe(path):
    """'train.csv', or 'train/ (3 folders, 2 videos)': what a user has at a path, for an error."""
    if not path.is_dir():
        return path.name
    counts = Counter(
        "folder" if p.is_dir() else "video" if is_video(p) else "image" if p.suffix.lower() in FRAME_SUFFIXES else "file"
        for p in path.iterdir()
    )
    return f"{path.name}/ ({', '.join(f'{n} {kind}s' for kind, n in sorted(counts.items())) or 'empty'})"


FRAME_SETTINGS = ("layout", "size", "gray", "requested_fps", "max_frames", "flow", "depth")  # what prepared files depend on
OUTPUTS = ("index.csv", "classes.json", "skipped.csv", "dataset.json")


def check_settings(out_dir, settings):
    """Refuses to resume into a DATA_DIR prepared with other settings; returns the earlier settings."""
    path = out_dir / "dataset.json"
    earlier = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    changed = [k for k in FRAME_SETTINGS if earlier and (earlier.get(k) or None) != (settings[k] or None)]
    if earlier.get("source") and earlier["source"] != settings["source"]:  # another dataset's clips would stay
        changed.append("source")
    if changed:
        details = ", ".join(f"{k}: {earlier.get(k)} then, {settings[k]} now" for k in changed)
        moved = f' (A dataset that only moved: set "source" in {path} to its new place.)' if "source" in changed else ""
        raise ValueError(
            f"{out_dir} was prepared with other settings ({details}). Use another --out, or --fresh to start over.{moved}"
        )
    return earlier


def flow_to_write(asked, out_dir, fresh=False):
    """The flow method of `--flow asked`: none for none; when not given, the one DATA_DIR was prepared
    with if it was (a resumed run keeps its settings), else (or with --fresh) the default."""
    if asked is not None:
        return None if asked == "none" else asked
    path = Path(out_dir) / "dataset.json"
    if fresh or not path.is_file():
        return flow.DEFAULT
    earlier = json.loads(path.read_text(encoding="utf-8")).get("flow")
    return earlier if earlier in flow.CHOICES else None  # a layout's own flow is read again, not computed


def worker_pool(workers):
    """Processes that each run OpenCV on one thread: the workers are the parallelism.

    They are not forked from this process, whose OpenCV thread pool may be running (a forked
    copy of it can hang), but from a fresh server that has only imported clip_io; where there
    is no fork server (Windows) they start from scratch.
    """
    if "forkserver" in get_all_start_methods():
        context = get_context("forkserver")
        context.set_forkserver_preload(["clips.frames"])
    else:
        context = get_context("spawn")
    return context.Pool(workers, initializer=start_worker)


def tasks(items, out_dir, settings):
    """(Clip or Problem, DATA_DIR, settings) for each listed item; a clip listed twice, or named as another
    clip is (swipe/left_0.mp4 and swipe_left/0.mp4 are both swipe_left_0), is a Problem."""
    seen = {}  # clip name -> its source, as text (a Path takes several times the memory, for 650,000 clips)
    for item in items:
        if not isinstance(item, Problem) and item.clip in seen:
            first = seen[item.clip]
            if first == str(item.source):
                item = Problem(item.clip, f"listed again (as {item.split}, {item.source}); the first listing is kept")
            else:
                item = Problem(item.clip, f"{item.source} gets the same clip name as {first}, which is kept; rename one")
        elif not isinstance(item, Problem):
            seen[item.clip] = str(item.source)
        yield item, out_dir, settings


def prepare(
    source,
    out_dir,
    size=128,
    gray=False,
    workers=None,
    min_frames=8,
    layout_name=None,
    fresh=False,
    progress=True,
    fps=None,
    max_frames=None,
    flow_method=None,
    options=None,
):
    """Prepares a dataset; returns the numbers of clips prepared and skipped. `flow_method` (a name of
    clips/flow.py's CHOICES, or None for frames only) is what the command line's `flow_to_write` chose."""
    options = options or Options()
    layout, root = detect_layout(source, layout_name)
    classes, items = layout.read(root, options)
    if flow_method:
        flow.flow_method(flow_method)  # a missing TV-L1 module fails here, not in every worker
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; give a folder for the prepared clips.")
    if out_dir.is_dir() and any(os.path.samefile(out_dir, folder) for folder in (source, root)):
        raise ValueError(
            f"--out {out_dir} is the dataset folder itself, where the prepared frames/ would mix with the dataset's "
            "own folders; give another folder, for example --out data."
        )
    if fresh:  # what prepare.py writes, and nothing else of the folder
        for name in ("frames", "flow", "depth", "keypoints"):
            shutil.rmtree(out_dir / name, ignore_errors=True)
        for name in OUTPUTS:
            (out_dir / name).unlink(missing_ok=True)
    (out_dir / "frames").mkdir(parents=True, exist_ok=True)
    own_flow = layout.own_flow(root) if hasattr(layout, "own_flow") else None
    settings = {"layout": layout.name, "source": str(Path(source).resolve()), "size": size, "gray": gray}
    settings.update(requested_fps=fps, max_frames=max_frames, flow=own_flow or flow_method, depth=options.depth)
    earlier = check_settings(out_dir, settings)
    # written now, so a killed run resumed with other settings is refused too
    write_atomic(out_dir / "dataset.json", json.dumps({**earlier, **settings}, indent=1) + "\n")
    settings.update(split=options.split, val_fraction=options.val_fraction, seed=options.seed)  # the index's choices
    for modality in ("frames", "flow", "depth"):  # half-written clips and lists of a killed run
        for leftover in (out_dir / modality).glob(".*.tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    for leftover in out_dir.glob("*.tmp-*"):
        leftover.unlink()

    workers = workers or os.cpu_count() or 1
    flow_said = f", {settings['flow']} flow" if settings["flow"] else ""
    print(
        f"Preparing the {layout.name} layout at {root} ({len(classes)} classes) into {out_dir}: short side {size} px, "
        f"{'gray' if gray else 'colour'}, {f'{fps} fps' if fps else 'source frame rate'}"
        f"{f', at most {max_frames} frames' if max_frames else ''}{flow_said}, "
        f"{workers} workers"
    )
    clip_settings = dict(settings, flow=flow_method, min_frames=min_frames, source_fps=layout.fps or FOLDERS_FPS)
    index = StreamedCsv(out_dir / "index.csv", INDEX_COLUMNS)
    skipped = StreamedCsv(out_dir / "skipped.csv", ["clip", "reason"])
    counts, class_counts, rates = Counter(), Counter(), Counter()
    with worker_pool(workers) as pool:
        # ordered, so the index is deterministic; 4 clips per message halves this process's share of the cores
        results = pool.imap(prepare_clip, tasks(items, out_dir, clip_settings), chunksize=4)
        for clip, info, reason in tqdm(results, disable=not progress, unit="clip"):
            if reason:
                skipped.write({"clip": clip.clip, "reason": reason})
                continue
            index.write({"clip": clip.clip, "label": clip.label, "split": clip.split, **info})
            counts[clip.split] += 1
            class_counts[clip.split, clip.label] += 1
            if info["fps"]:
                rates[round(info["fps"], 2)] += 1
    skipped.commit()
    if not index.count:
        index.discard()
        raise ValueError(f"No clip of the {layout.name} layout at {root} could be prepared; see {out_dir / 'skipped.csv'}.")
    # the frame rate the clips now have, which training and the app sample by
    # (the rate of a finished earlier run stays: the clips it kept report none, so `rates` counts only new ones)
    source_rate = layout.fps or earlier.get("source_fps") or (rates.most_common(1)[0][0] if rates else FOLDERS_FPS)
    settings.update(source_fps=source_rate, fps=fps if fps and fps < source_rate else source_rate)
    write_atomic(out_dir / "classes.json", json.dumps(classes, indent=1) + "\n")
    index.commit()
    write_atomic(out_dir / "dataset.json", json.dumps({**earlier, **settings}, indent=1) + "\n")  # keeps the keypoints' record
    print(
        f"Prepared {index.count} clips ({', '.join(f'{counts[s]} {s}' for s in ('train', 'validation', 'test') if counts[s])}); "
        f"skipped {skipped.count} (see {out_dir / 'skipped.csv'})"
    )
    unchecked = [label for label in classes if class_counts["train", label] and not class_counts["validation", label]]
    if unchecked:  # a class's held-out clips all skipped, or a validation list without labels
        named = ", ".join(unchecked[:10]) + (f" and {len(unchecked) - 10} more" if len(unchecked) > 10 else "")
        print(f"warning: no validation clips of {named}: training cannot measure how well it learns them")
    return index.count, skipped.count


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
        expected = {"frames": [FRAME_NAME.format(n) for n in range(1, row["num_frames"] + 1)]}
        expected["flow"] = [FLOW_NAME.format(axis=a, number=n) for n in range(1, row["num_flow"] + 1) for a in "xy"]
        if (data_dir / "depth").is_dir():
            expected["depth"] = expected["frames"]
        for modality, names in expected.items():
            folder = clip_folder(data_dir, row["clip"], modality)
            present = set(os.listdir(folder)) if folder.is_dir() else set()
            missing = [name for name in names if name not in present]
            if missing:
                errors.append(
                    f"{row['clip']}: {len(missing)} of {len(names)} {modality} files missing ({', '.join(missing[:3])})"
                )
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


def extract_keypoints(argv):
    """`prepare.py keypoints DATA_DIR --model MODEL.task`: pose_lstm's keypoints of a prepared DATA_DIR."""
    parser = argparse.ArgumentParser(
        prog="prepare.py keypoints",
        description="Write keypoints/<clip>.npy for every clip of a prepared DATA_DIR with a MediaPipe landmarker, "
        f"at samples evenly spread over each clip (see clips/landmarks.py). Model files: {landmarks.GUIDE}",
    )
    parser.add_argument("data_dir", help="folder written by prepare.py")
    parser.add_argument("--model", help="landmarker model file: pose_landmarker_lite.task, hand_landmarker.task, ...")
    parser.add_argument("--samples", type=int, default=NUM_SAMPLES, help="samples per clip, evenly spread (default: 9)")
    parser.add_argument(
        "--kind", choices=("auto", *landmarks.JOINTS), default="auto", help="auto (default): hand if named so, else pose"
    )
    parser.add_argument("--min-presence", type=float, default=0.5, help="less confident joints are missing (default: 0.5)")
    parser.add_argument("--hands", type=int, choices=(1, 2), default=1, help="hand models: hands, 21 joints each (default: 1)")
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error(f"--samples must be at least 1, got {args.samples}")
    if not args.model:
        parser.error(f"--model is needed: {landmarks.MODELS['pose']} or {landmarks.MODELS['hand']} from {landmarks.GUIDE}")
    try:
        with landmarks.Landmarker(args.model, args.kind, args.min_presence, args.hands) as landmarker:
            summary = landmarks.extract_dataset(args.data_dir, args.model, args.samples, landmarker=landmarker)
    except (FileNotFoundError, ValueError, ImportError) as error:
        sys.exit(f"prepare.py keypoints: {error}")
    print(landmarks.report(summary))


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
    if argv[:1] == ["keypoints"]:
        extract_keypoints(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="the dataset folder, as downloaded")
    parser.add_argument("--out", default="data", help="folder for the prepared clips (default: data)")
    parser.add_argument("--size", type=int, default=128, help="short side of the prepared frames in pixels (default: 128)")
    parser.add_argument(
        "--gray",
        action="store_true",
        help="store grayscale frames (smaller; a model on frames sees them gray unless --channels 3)",
    )
    parser.add_argument("--workers", type=int, default=None, help="parallel processes (default: all cores)")
    parser.add_argument("--min-frames", type=int, default=8, help="skip clips with fewer frames (default: 8)")
    parser.add_argument("--format", choices=list(LAYOUTS), help="the layout, when detection should not guess")
    parser.add_argument("--fps", type=float, help="frames per second to keep from videos and frame folders (default: all)")
    parser.add_argument("--max-frames", type=int, help="keep at most this many frames per clip, evenly spread (default: all)")
    parser.add_argument(
        "--flow",
        choices=(*flow.CHOICES, "none"),
        help="optical flow between consecutive frames to write beside them, what the default model trains on; "
        f"none: frames only (default: {flow.DEFAULT} for a new DATA_DIR, as prepared before when resuming; "
        "a layout's own flow, as UCF101's tvl1_flow, instead; see clips/flow.py)",
    )
    parser.add_argument("--depth", action="store_true", help="IsoGD: prepare the K_ depth videos too, into depth/")
    parser.add_argument("--split", type=int, default=1, choices=(1, 2, 3), help="UCF101's train/test split (default: 1)")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="folder per class without val/: share of each class held out (default: 0.2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of that held-out choice (default: 0)")
    parser.add_argument("--fresh", action="store_true", help="delete what an earlier run prepared in DATA_DIR and start over")
    parser.add_argument(
        "--keypoints",
        metavar="MODEL.task",
        help="also write pose_lstm's keypoints with this MediaPipe model (see prepare.py keypoints --help)",
    )
    args = parser.parse_args(argv)
    for option, value, lowest in (("size", args.size, 8), ("min-frames", args.min_frames, 1), ("workers", args.workers, 1)):
        if value is not None and value < lowest:
            parser.error(f"--{option} must be at least {lowest}, got {value}")
    if args.max_frames is not None and args.max_frames < args.min_frames:
        parser.error(f"--max-frames {args.max_frames} keeps fewer frames than --min-frames {args.min_frames} asks for")
    if args.fps is not None and args.fps <= 0:
        parser.error(f"--fps must be above 0, got {args.fps}")
    if not 0 <= args.val_fraction < 1:
        parser.error(f"--val-fraction is a share of each class, from 0 up to 1 (0.2 holds out a fifth), got {args.val_fraction}")
    options = Options(split=args.split, depth=args.depth, val_fraction=args.val_fraction, seed=args.seed)
    try:
        landmarker = None
        if args.keypoints:  # a missing package or model file fails now, not after the frames
            landmarker = landmarks.Landmarker(args.keypoints)
        prepare(
            args.source, args.out, args.size, args.gray, args.workers, args.min_frames, args.format, args.fresh,
            fps=args.fps, max_frames=args.max_frames, flow_method=flow_to_write(args.flow, args.out, args.fresh), options=options,
        )  # fmt: skip
        if landmarker is not None:
            with landmarker:
                summary = landmarks.extract_dataset(args.out, args.keypoints, landmarker=landmarker)
            print(f"Keypoints: {landmarks.report(summary)}")
    except (OSError, ValueError, RuntimeError, ImportError) as error:  # a missing dataset, an unwritable --out, ...
        sys.exit(f"prepare.py: {error}")


if __name__ == "__main__":
    main()
