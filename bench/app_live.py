"""The live app as a user runs it: display rate, predictions per second, gesture events, memory over time.

    python bench/app_live.py [--run model] [--minutes 10] [--seed 900]

Writes a 30 fps stream of synthetic gestures (scenes/streams.py, people passing behind; a seed the
project does not tune on), then runs `app.py --loop --no-display` on it in real time for --minutes,
in its own process and with its default event options, sampling that process's resident memory
every second. Figures, against the goals:
- display rate: frames shown per second (goal: at least 25 from the 30 fps source);
- predictions per second (goal: at least 10);
- gesture events, scored for each pass over the video as `evaluate.py --stream` scores them
  (evaluation/streams.py): hits, misses, false events (goal: at most 1 per 20 gestures) and the
  Levenshtein accuracy (goal: at least 0.95); needs a trained --run, e.g. from `make demo`;
- event latency: from a gesture's last frame to its event, in the video's time, plus the median
  prediction time (the event is emitted once its prediction is done) (goal: median at most 300 ms);
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.streams import combine, score_stream, summary  # noqa: E402
from scenes.streams import write_stream  # noqa: E402

SOURCE_FPS = 30


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def score_passes(events, truth):
    """Scores each whole pass over the looped video: events by their time within the pass."""
    length = truth["num_frames"] / truth["fps"]
    passes = {}
    for event in events:
        number, at = divmod(event["time"], length)
        passes.setdefault(int(number), []).append({**event, "frame": round(at * truth["fps"])})
    last = int(max(passes, default=0))  # the pass the app stopped in is not whole
    return [score_stream(passes.get(number, []), truth) for number in range(last)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="model", help="a trained run folder (default: model; make demo trains demo/model)")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the app runs (default: 10)")
    parser.add_argument("--seed", type=int, default=900, help="seed of the stream (default: 900)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "stream30.mp4"
        sidecar = write_stream(video, seed=args.seed, fps=SOURCE_FPS, passers=True)
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
    last_line = out.strip().splitlines()[-1]
    display_fps = float(last_line.split(" fps")[0].rsplit(" ", 1)[-1])
    prediction_ms = float(last_line.split("median ")[1].split(" ms")[0])
    span = predictions[-1]["time"] - predictions[0]["time"] if len(predictions) > 1 else float("nan")
    rate = (len(predictions) - 1) / span if span == span and span > 0 else 0.0
    overall = combine(score_passes(events, sidecar))
    latencies = [1000 * latency + prediction_ms for latency in overall["latencies"]]
    settled = next((mb for at, mb in memory if at >= 30), memory[0][1] if memory else float("nan"))
    growth = memory[-1][1] - settled if memory else float("nan")
    figures = {
        "display_fps": display_fps,
        "predictions_per_second": round(rate, 2),
        "prediction_ms": prediction_ms,
        "passes": overall["streams"],
        "gestures": overall["gestures"],
        "hits": overall["hits"],
        "false_events": overall["false"],
        "levenshtein_accuracy": round(overall["levenshtein_accuracy"], 3),
        "event_latency_ms_median": round(statistics.median(latencies)) if latencies else None,
        "memory_mb_start": round(settled, 1),
        "memory_mb_end": round(memory[-1][1], 1) if memory else None,
    }
    print(json.dumps(figures))
    print(f"events over {overall['streams']} whole passes: {summary(overall)}")
    false_per_20 = 20 * overall["false"] / max(1, overall["gestures"])
    goals = [
        ("display", display_fps >= 25, f"{display_fps:.1f} fps (goal >= 25)"),
        ("predictions", rate >= 10, f"{rate:.1f} per second (goal >= 10)"),
        ("event latency", bool(latencies) and statistics.median(latencies) <= 300,
         f"median {figures['event_latency_ms_median']} ms over {len(latencies)} hits, prediction included (goal <= 300)"),
        ("Levenshtein accuracy", overall["levenshtein_accuracy"] >= 0.95,
         f"{overall['levenshtein_accuracy']:.3f} over {overall['gestures']} gestures (goal >= 0.95)"),
        ("false events", false_per_20 <= 1, f"{false_per_20:.2f} per 20 gestures (goal <= 1)"),
        ("memory", growth < 50, f"{growth:+.1f} MB from 30 s to {args.minutes:g} min (goal < 50)"),
    ]  # fmt: skip
    for name, met, text in goals:
        print(f"{name}: {text} {'ok' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
