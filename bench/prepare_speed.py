"""How fast `prepare.py` prepares clips with 1 and 2 workers, and whether its memory stays flat.

    python bench/prepare_speed.py [--clips 400] [--videos 120] [--memory-clips 200,2000] [--flow none]

Three measurements, each by running `prepare.py` as users do, in a subprocess (with its default
steady flow, or `--flow METHOD|none` as given):
1. Jester-like frame folders (37 JPEG frames of 100x176 per clip): clips per second with 1 and
   2 workers. Goal: 2 workers at least 1.7 times as fast as 1.
2. 320x240 videos (3 s at 25 fps, MJPG AVI like UCF101's size): the same.
3. Peak memory (the summed resident memory of prepare.py and its workers, sampled every 20 ms)
   preparing a small and a large set of short clips. Goal: the large within 20 % of the small.
Medians of `--repeats` runs.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_frame_folders(root, count, num_frames=37, height=100, width=176, seed=0):
    """A folder per class of frame folders (the `folders` layout), Jester-sized."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (height + num_frames * 2, width + num_frames * 2, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(base, (9, 9), 3)  # photo-like, so JPEG work is realistic
    for n in range(count):
        folder = root / f"class{n % 5}" / f"clip{n:05d}"
        folder.mkdir(parents=True)
        for t in range(num_frames):
            offset = (n * 7 + t * 2) % (num_frames * 2)
            cv2.imwrite(str(folder / f"{t + 1:05d}.jpg"), base[offset : offset + height, offset : offset + width])


def write_videos(root, count, num_frames=75, height=240, width=320, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 255, (height + 160, width + 160, 3), dtype=np.uint8), (9, 9), 3)
    for n in range(count):
        path = root / f"class{n % 5}" / f"video{n:04d}.avi"
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
        for t in range(num_frames):
            offset = (n * 3 + t * 2) % 160
            writer.write(base[offset : offset + height, offset : offset + width])
        writer.release()


def tree_rss(pid):
    """Resident bytes of a process and all its descendants."""
    children, rss = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
                rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, IndexError, ValueError):
                continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def run_prepare(source, out, workers, memory=False, options=()):
    """Seconds spent preparing (from its "Preparing" line to its exit) and, if asked, the peak
    memory of one run, with prepare.py's `options` besides. Memory is sampled only when asked: the
    sampling takes CPU from the workers."""
    command = [sys.executable, str(ROOT / "prepare.py"), str(source), "--out", str(out), "--size", "128"]
    command += ["--workers", str(workers), "--fresh", *options]
    os.sync()  # the last run's writes are flushed before this one, not during it
    errors = tempfile.TemporaryFile()  # the progress bar and any error, read back only on failure
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
    process.stdout.readline()  # "Preparing ...": start-up (imports, finding the layout) is not preparing
    started, peak = time.perf_counter(), 0
    while memory and process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.02)
    process.wait()
    seconds = time.perf_counter() - started
    if process.returncode:
        errors.seek(0)
        raise RuntimeError(f"prepare.py failed: {errors.read().decode()[-2000:]}")
    return seconds, peak


def speed(name, source, count, repeats, work, options):
    times = {1: [], 2: []}
    for repeat in range(repeats):  # alternated, so a slow spell of the disk hits both
        for workers in times:
            # a new folder each time: deleting the last run's files would keep the disk busy during this one
            times[workers].append(run_prepare(source, work / f"{name.split()[0]}{repeat}_{workers}", workers, options=options)[0])
    rates = {}
    for workers, runs in times.items():
        seconds = statistics.median(runs)
        rates[workers] = count / seconds
        print(f"{name}: {count} clips with {workers} worker(s) in {seconds:.1f} s = {rates[workers]:.1f} clips/s")
    ratio = rates[2] / rates[1]
    print(f"{name}: 2 workers / 1 worker = {ratio:.2f}x (goal >= 1.7x) {'ok' if ratio >= 1.7 else 'MISSED'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=400, help="frame-folder clips for the speed test (default: 400)")
    parser.add_argument("--videos", type=int, default=120, help="320x240 videos for the speed test (default: 120)")
    parser.add_argument("--memory-clips", default="200,2000", help="small,large clip counts for memory (default: 200,2000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is quoted (default: 3)")
    parser.add_argument("--flow", help="prepare.py's --flow: a method, or none for frames only (default: prepare.py's)")
    args = parser.parse_args(argv)
    options = ["--flow", args.flow] if args.flow else []
    small, large = (int(n) for n in args.memory_clips.split(","))
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        print(f"Writing {args.clips} Jester-like frame folders and {args.videos} 320x240 videos ...")
        write_frame_folders(work / "frames", args.clips)
        write_videos(work / "videos", args.videos)
        speed("frame folders (37 x 100x176 JPEG)", work / "frames", args.clips, args.repeats, work, options)
        speed("videos (75 x 320x240 MJPG)", work / "videos", args.videos, args.repeats, work, options)

        peaks = {}
        for count in (small, large):
            write_frame_folders(work / f"many{count}", count, num_frames=10, height=60, width=80)
            runs = [run_prepare(work / f"many{count}", work / f"mem{count}", 2, True, options) for _ in range(args.repeats)]
            peaks[count] = statistics.median(peak for _, peak in runs)
            print(f"memory: {count} clips, peak {peaks[count] / 2**20:.0f} MiB for prepare.py and its 2 workers")
        growth = peaks[large] / peaks[small] - 1
        verdict = "ok" if abs(growth) <= 0.2 else "MISSED"
        print(f"memory: {large} clips / {small} clips = {1 + growth:.3f} ({growth:+.1%}; goal within 20 %) {verdict}")


if __name__ == "__main__":
    main()
