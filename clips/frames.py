"""One clip from its source (a video or a folder of frames) to its prepared files, and back.

A prepared DATA_DIR holds, per clip:

    frames/<clip>/00001.jpg ...             the frames, short side --size pixels
    flow/<clip>/x_00001.jpg, y_00001.jpg    with --flow or pre-extracted flow: 8-bit flow (see clips/flow.py)
    depth/<clip>/00001.jpg ...              with --depth: the depth video's frames, gray

Each is written into a temporary folder and renamed when complete, frames last, so a clip whose
frames folder exists is complete and a killed run redoes only the clip it was writing.
"""

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from clips import flow
from layouts.base import Problem, frame_files, is_video

FRAME_NAME = "{:05d}.jpg"  # 1-based, as in Jester
FLOW_NAME = "{axis}_{number:05d}.jpg"  # axis "x" or "y"
JPEG_QUALITY = 95
TOO_FEW = "too few frames ({} < {}) in {}"  # a clip under --min-frames, newly read or kept by an earlier run
FOLDERS_FPS = 30.0  # the rate assumed for a folder of frames whose layout does not say


class ClipError(Exception):
    """A clip that cannot be prepared; the message says why and is written to skipped.csv."""


def start_worker():
    """A preparing process: OpenCV on one thread (the processes are the parallelism), and FFmpeg silent, so a
    corrupt video prints no 'moov atom not found' over the progress bar; skipped.csv names it and says why.
    (Set before the process's first video: FFmpeg reads it then. OPENCV_FFMPEG_LOGLEVEL=32 shows them again.)"""
    cv2.setNumThreads(1)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def clip_folder(data_dir, clip, modality="frames"):
    """Where a prepared clip's frames (or "flow", or "depth") are."""
    return Path(data_dir) / modality / clip


def resize_short_side(frame, size):
    height, width = frame.shape[:2]
    scale = size / min(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(frame, new_size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def select_frames(count, source_fps, fps=None, max_frames=None):
    """Indices of the frames to keep: every frame, or `fps` of the source's per second, then at
    most `max_frames` of those, evenly spread."""
    step = source_fps / fps if fps and source_fps and fps < source_fps else 1.0
    indices = np.unique(np.ceil(np.arange(0, count, step) - 1e-6).astype(int))
    indices = indices[indices < count]
    if max_frames and len(indices) > max_frames:
        indices = indices[np.round(np.linspace(0, len(indices) - 1, max_frames)).astype(int)]
    return indices


def read_video(path, size, gray, fps=None):
    """The frames of a video, resized as they are decoded; returns (frames, the video's frames per
    second). With `fps` below the video's rate, frames off that rate's grid (as `select_frames`
    picks them) are skipped with `grab`, never converted or resized."""
    if not path.is_file():
        raise ClipError(f"missing video {path}")
    if path.stat().st_size == 0:
        raise ClipError(f"empty video file {path}")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])  # workers are the parallelism
    try:
        if not capture.isOpened():
            raise ClipError(f"cannot open video {path} (corrupt, or a format OpenCV cannot decode)")
        source_fps = capture.get(cv2.CAP_PROP_FPS)
        source_fps = source_fps if 0 < source_fps < 1000 else FOLDERS_FPS
        step = source_fps / fps if fps and fps < source_fps else 1.0
        frames, index, kept = [], 0, 0
        while capture.grab():
            if index == int(np.ceil(kept * step - 1e-6)):  # the next frame on the grid
                ok, frame = capture.retrieve()
                if not ok:
                    break
                frames.append(resize_short_side(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if gray else frame, size))
                kept += 1
            index += 1
    finally:
        capture.release()
    if not frames:
        raise ClipError(f"no frames could be decoded from {path}")
    return frames, source_fps


def read_clip(source, size, gray, source_fps, fps=None, max_frames=None):
    """The selected frames of a video or frame folder, resized; returns (frames, source fps)."""
    source = Path(source)
    if not source.is_dir() and (source.is_file() or is_video(source)):  # a frame folder may be named clip.avi
        frames, source_fps = read_video(source, size, gray, fps)  # already at `fps`
        return [frames[i] for i in select_frames(len(frames), source_fps, None, max_frames)], source_fps
    if not source.is_dir():
        raise ClipError(f"missing frame folder {source}")
    files = frame_files(source)
    if not files:
        raise ClipError(f"no frames in {source}")
    frames = []
    for i in select_frames(len(files), source_fps, fps, max_frames):
        frame = cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
        if frame is None:
            raise ClipError(f"unreadable frame {files[i]}")
        frames.append(resize_short_side(frame, size))
    return frames, source_fps


def read_flow(folders, size, source_fps, fps=None, max_frames=None):
    """Pre-extracted 8-bit flow (x folder, y folder), resized to the frames with its values rescaled.
    The frame selection of `read_clip` picks the flow at each kept frame, so the two stay aligned."""
    x_files, y_files = (frame_files(folder) if folder.is_dir() else [] for folder in folders)
    if not x_files or len(x_files) != len(y_files):
        raise ClipError(f"flow folders {folders[0]} and {folders[1]} are missing or hold different counts")
    kept = set(select_frames(len(x_files) + 1, source_fps, fps, max_frames).tolist())  # flow i: frame i to i + 1
    pairs = []
    for x_file, y_file in (pair for i, pair in enumerate(zip(x_files, y_files)) if i in kept):
        images = [cv2.imread(str(file), cv2.IMREAD_GRAYSCALE) for file in (x_file, y_file)]
        if any(image is None for image in images):
            raise ClipError(f"unreadable flow image {x_file if images[0] is None else y_file}")
        factor = size / min(images[0].shape)
        pairs.append(tuple(flow.rescale(resize_short_side(image, size), factor) for image in images))
    return pairs


def write_images(folder, named_images):
    """Writes (file name, image) pairs into a new temporary folder beside `folder`; returns it."""
    temporary = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    for name, image in named_images:
        if not cv2.imwrite(str(temporary / name), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            shutil.rmtree(temporary)
            raise ClipError(f"cannot write {name} into {folder.parent} (disk full?)")
    return temporary


def prepare_clip(task):
    """Writes one clip's files; returns (clip, {num_frames, num_flow, fps}, None) or (clip, None, reason).

    `task` is (Clip or Problem, DATA_DIR, settings), settings holding size, gray, min_frames,
    requested_fps, max_frames, flow (a method name or None) and source_fps. Runs in a worker process; a
    Problem passes straight through, so results arrive in list order.
    """
    clip, out_dir, settings = task
    if isinstance(clip, Problem):
        return clip, None, clip.reason
    final = clip_folder(out_dir, clip.clip)
    if final.is_dir():  # finished by an earlier run, unless a file has gone since
        names = os.listdir(final)
        flow_files = clip_folder(out_dir, clip.clip, "flow")
        num_flow = len(os.listdir(flow_files)) // 2 if flow_files.is_dir() else 0
        if sorted(names) == [FRAME_NAME.format(n) for n in range(1, len(names) + 1)]:
            if len(names) < settings["min_frames"]:  # kept by a run with a lower --min-frames
                return clip, None, TOO_FEW.format(len(names), settings["min_frames"], clip.source)
            return clip, {"num_frames": len(names), "num_flow": num_flow, "fps": None}, None
        shutil.rmtree(final)
    temporaries = []
    try:
        size, gray = settings["size"], settings["gray"]
        selection = (settings["source_fps"], settings["requested_fps"], settings["max_frames"])
        frames, source_fps = read_clip(clip.source, size, gray, *selection)
        if len(frames) < settings["min_frames"]:
            raise ClipError(TOO_FEW.format(len(frames), settings["min_frames"], clip.source))
        outputs = []  # (temporary folder, final folder), renamed in this order
        if clip.depth is not None:
            depth, _ = read_clip(clip.depth, size, True, *selection)
            count = min(len(frames), len(depth))
            frames = frames[:count]  # RGB and depth videos can differ by a frame at the end
            named = [(FRAME_NAME.format(n), image) for n, image in enumerate(depth[:count], start=1)]
            outputs.append((clip_folder(out_dir, clip.clip, "depth"), named))
        if clip.flow:  # pre-extracted, as UCF101's tvl1_flow
            pairs = read_flow(clip.flow, size, *selection)
        else:
            pairs = list(flow.clip_flow(frames, settings["flow"])) if settings["flow"] else []
        if pairs:
            named = [
                (FLOW_NAME.format(axis=axis, number=n), image)
                for n, pair in enumerate(pairs, start=1)
                for axis, image in zip("xy", pair)
            ]
            outputs.append((clip_folder(out_dir, clip.clip, "flow"), named))
        outputs.append((final, [(FRAME_NAME.format(n), frame) for n, frame in enumerate(frames, start=1)]))
        for folder, named in outputs:
            temporaries.append((write_images(folder, named), folder))
        for temporary, folder in temporaries:
            shutil.rmtree(folder, ignore_errors=True)  # a flow or depth folder left by a killed run
            os.rename(temporary, folder)
        return clip, {"num_frames": len(frames), "num_flow": len(pairs), "fps": source_fps}, None
    except (ClipError, cv2.error, OSError) as error:
        for temporary, _ in temporaries:
            shutil.rmtree(temporary, ignore_errors=True)
        reason = str(error) if isinstance(error, ClipError) else f"{type(error).__name__} on {clip.source}: {error}"
        return clip, None, reason
