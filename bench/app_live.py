"""The live app as a user runs it: display rate, predictions per second, event latency, memory over time.

    python bench/app_live.py [--run model] [--minutes 10]

Writes a 30 fps video of synthetic gestures (synthetic.py's, each frame shown 2.5 times), then runs
`app.py --loop --no-display` on it in real time for --minutes, in its own process, sampling that
process's resident memory every second. Figures, against the goals:
- display rate: frames shown per second (goal: at least 25 from the 30 fps source);
- predictions per second (goal: at least 10);
- event latency: from a gesture's last frame to its event, in the video's time, plus the median
  prediction time (the event is emitted once its prediction is done); only events of the gesture
  being performed count (goal: at most 300 ms; needs a trained --run, e.g. from `make demo`);
- memory growth: resident memory at the end against 30 s in, after start-up (goal: under 50 MB).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import synthetic  # noqa: E402

SOURCE_FPS = 30.0


def write_source(folder, seed=5):
    """A 30 fps video of synthetic gestures and its gestures, in 30 fps frames."""
    slow = folder / "gestures12.mp4"
    synthetic.write_video(slow, seed=seed, height=240, width=320)
    sidecar = json.loads(Path(f"{slow}.json").read_text())
    factor = SOURCE_FPS / sidecar["fps"]
    capture, path = cv2.VideoCapture(str(slow)), folder / "gestures30.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), SOURCE_FPS, (320, 240))
    shown = 0
    for index in range(sidecar["num_frames"]):
        frame = capture.read()[1]
        while shown < round((index + 1) * factor):
            writer.write(frame)
            shown += 1
    writer.release()
    gestures = [
        {**g, "start": round(g["start"] * factor), "end": round((g["end"] + 1) * factor) - 1} for g in sidecar["gestures"]
    ]
    return path, {"fps": SOURCE_FPS, "num_frames": shown, "gestures": gestures}


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def event_latencies(events, sidecar, prediction_ms):
    """Milliseconds from each gesture's last frame to its event, for events of the right gesture."""
    length = sidecar["num_frames"] / sidecar["fps"]
    latencies = []
    for event in events:
        loop, at = divmod(event["time"], length)
        for gesture in sidecar["gestures"]:
            start, end = gesture["start"] / sidecar["fps"], (gesture["end"] + 1) / sidecar["fps"]
            if gesture["label"] == event["event"] and start <= at <= end + 1.5:
                latencies.append(1000 * (at - end) + prediction_ms)
    return latencies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="model", help="a trained run folder (default: model; make demo trains demo/model)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the app runs (default: 10)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        video, sidecar = write_source(Path(folder))
        log = Path(folder) / "log.jsonl"
        seconds = 60 * args.minutes
        command = [sys.executable, str(ROOT / "app.py"), "--run", args.run, "--source", str(video), "--loop", "--no-display"]
        command += ["--duration", str(seconds), "--log", str(log)]
        length = sidecar["num_frames"] / SOURCE_FPS
        print(f"Running the app on a {length:.1f} s, 30 fps video, looped for {args.minutes:g} minutes ...")
        app = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started, memory = time.monotonic(), []
        while app.poll() is None:
            try:
                memory.append((time.monotonic() - started, rss_mb(app.pid)))
            except (OSError, StopIteration):
                pass
            time.sleep(1.0)
        out = app.stdout.read()
        if app.returncode:
            raise SystemExit(f"app.py failed:\n{out}")
        print(out.strip().splitlines()[-1])
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    predictions = [line for line in lines if "top" in line]
    events = [line for line in lines if "event" in line]
    summary = out.strip().splitlines()[-1]
    display_fps = float(summary.split(" fps")[0].rsplit(" ", 1)[-1])
    prediction_ms = float(summary.split("median ")[1].split(" ms")[0])
    span = predictions[-1]["time"] - predictions[0]["time"] if len(predictions) > 1 else float("nan")
    rate = (len(predictions) - 1) / span if span == span and span > 0 else 0.0
    latencies = event_latencies(events, sidecar, prediction_ms)
    settled = next((mb for at, mb in memory if at >= 30), memory[0][1] if memory else float("nan"))
    growth = memory[-1][1] - settled if memory else float("nan")
    gestures_shown = len(sidecar["gestures"]) * 60 * args.minutes * SOURCE_FPS / sidecar["num_frames"]
    figures = {
        "display_fps": display_fps,
        "predictions_per_second": round(rate, 2),
        "prediction_ms": prediction_ms,
        "events": len(events),
        "gestures_performed": round(gestures_shown),
        "event_latency_ms_median": round(statistics.median(latencies)) if latencies else None,
        "memory_mb_start": round(settled, 1),
        "memory_mb_end": round(memory[-1][1], 1) if memory else None,
    }
    print(json.dumps(figures))
    goals = [
        ("display", display_fps >= 25, f"{display_fps:.1f} fps (goal >= 25)"),
        ("predictions", rate >= 10, f"{rate:.1f} per second (goal >= 10)"),
        ("event latency", bool(latencies) and statistics.median(latencies) <= 300,
         f"median {figures['event_latency_ms_median']} ms over {len(latencies)} events of the right gesture (goal <= 300)"),
        ("memory", growth < 50, f"{growth:+.1f} MB from 30 s to {args.minutes:g} min (goal < 50)"),
    ]  # fmt: skip
    for name, met, text in goals:
        print(f"{name}: {text} {'ok' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
