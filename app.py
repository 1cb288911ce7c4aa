"""Recognise gestures live from a webcam or a video, drawing the prediction over the picture.

    python app.py                                   # webcam 0, model from model/
    python app.py --source clip.mp4 --no-display --output annotated.mp4 --log predictions.jsonl
    python app.py --model model/export/model.tflite # an exported model (export.py)

Frames are taken at the rate the model was trained on (the dataset's frame rate divided by
the run's stride), whatever the camera delivers, so gestures keep their speed. The model runs
in a background thread on the latest frames, so the picture never waits for it; a streaming
model (tsm_mobilenet) takes each frame once as it comes and carries its state. A label is
shown only when its score, averaged over the last few predictions, is above the threshold.
Press q or Esc to quit. `--mode record` records a few seconds on a key press and classifies them (live/record.py).
"""

from common import quiet  # noqa: F401  # isort: skip  (first: TensorFlow starts without its C++ start-up lines)

import argparse
import collections
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from live.bindings import Actions, load_bindings
from live.buffers import add_view_arguments, make_buffer
from live.events import add_event_arguments, events_from_arguments
from live.recognizer import Recognizer, load_predictor
from live.record import Recorder
from live.sources import Source


def draw(frame, label, top, fps, latency_ms=float("nan")):
    """Top-3 labels with probability bars, the display rate and prediction latency, and the recognised label."""
    height, width = frame.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    lines = len(top) + 1
    panel = frame[: 10 + 20 * lines, : min(width, 300)]
    panel[:] = (panel * 0.45).astype(np.uint8)  # darken behind the text
    for row, (name, score) in enumerate(top):
        y = 20 + 20 * row
        cv2.rectangle(frame, (8, y - 12), (8 + int(120 * score), y + 4), (80, 200, 80), -1)
        cv2.putText(frame, f"{score:4.2f} {name}", (12, y), font, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    speed = f"{fps:4.1f} fps" + (f", {latency_ms:.0f} ms per prediction" if latency_ms == latency_ms else "")  # not nan
    cv2.putText(frame, speed, (12, 20 + 20 * len(top)), font, 0.45, (200, 200, 200), 1, cv2.LINE_AA)
    if label:
        text_width = cv2.getTextSize(label, font, 1.0, 2)[0][0]
        scale = min(0.8, 0.95 * (width - 20) / text_width)  # the whole label fits the picture
        cv2.putText(frame, label, (10, height - 14), font, scale, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(frame, label, (10, height - 14), font, scale, (60, 255, 60), 2, cv2.LINE_AA)
    return frame


def score_gestures(events, sidecar, grace=1.5):
    """Which gestures of a labelled video (synthetic.py --video) the app showed in time.

    A gesture counts as recognised when its label was shown between its start and `grace`
    seconds after its end (a clip-level model answers once it has seen most of the gesture).
    """
    recognised = []
    for gesture in sidecar["gestures"]:
        last = gesture["end"] + grace * sidecar["fps"]
        shown = {e["label"] for e in events if gesture["start"] <= e["frame"] <= last}
        recognised.append(gesture["label"] in shown)
    return recognised


def write_lines(log, lines):
    """Moves the waiting lines (a deque the model's thread appends to) into the JSON-lines log, if any."""
    while lines:
        line = lines.popleft()
        if log is not None:
            log.write(json.dumps(line) + "\n")


class VideoWriter:
    """The annotated video, written under a partial name beside `path` (OpenCV picks the container by the
    ending, so it stays) and renamed to `path` when closed: a video at `path` is always whole."""

    def __init__(self, path, fps, size):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise OSError(f"Cannot write the video {path}: OpenCV has no writer for that name; give a .mp4 file.")

    def write(self, picture):
        self.writer.write(picture)

    def close(self):
        self.writer.release()
        os.replace(self.partial, self.path)


def stop_as_interrupted(signum, frame):
    """A service stop (SIGTERM, `timeout`) ends the app as Ctrl-C does: the video and the log are finished."""
    raise KeyboardInterrupt


def read_key(args):
    """The key pressed while the picture was shown (-1: none, and always without a window)."""
    return -1 if args.no_display else cv2.waitKey(1) & 0xFF


def run(args):
    has_screen = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or not sys.platform.startswith("linux")
    if not args.no_display and not has_screen:
        raise OSError("No display to open a window on; use --no-display (with --output FILE.mp4 to see the result).")
    config, classes, predict, stream = load_predictor(args.model, args.run, live=args.mode == "live")
    detector = events_from_arguments(args, classes)
    actions = Actions(load_bindings(args.bindings, classes)) if args.bindings else None
    buffer = make_buffer(config, args.keypoints, stream=stream is not None, strides=args.strides)
    source = Source(args.source, args.width, args.height, args.fps, realtime=not (args.sync or args.fast), loop=args.loop)

    def on_event(event):  # in the inference thread: an action must not hold up the picture
        done = actions(event) if actions else None
        print(f"{event['time']:8.2f} s  {event['event']} ({event['score']:.2f})" + (f" -> {done}" if done else ""), flush=True)

    recorder, recognizer = None, None
    if args.mode == "record":
        recorder = Recorder(predict, config, classes, buffer, args.seconds, args.show_flow)
        lines = collections.deque()  # the recordings' results, for the log
    else:
        options = dict(background=not args.sync, buffer=buffer, on_event=on_event, every=args.every, stream=stream)
        recognizer = Recognizer(predict, config, classes, detector, **options)
        recognizer.keep_all = bool(args.expect)  # the whole history, to score the video at the end
        lines = recognizer.lines
    writer, log = None, open(args.log, "w", encoding="utf-8") if args.log else None
    shown_times = collections.deque(maxlen=30)  # the display rate over the last second or so
    shown, fps = 0, 0.0
    try:
        started = time.monotonic()
        while (item := source.read()) is not None:
            frame, index, timestamp = item
            if args.duration and time.monotonic() - started > args.duration:
                break
            # a mirror for the person in front of it; drawn on after the buffers have taken the frame
            picture = cv2.flip(frame, 1) if args.mirror else frame
            shown_times.append(time.monotonic())
            fps = (len(shown_times) - 1) / (shown_times[-1] - shown_times[0]) if len(shown_times) > 1 else 0.0
            if recorder:
                result = recorder.add(frame, index, timestamp)
                if result:
                    lines.append(result)
                    print(
                        f"Recording {result['recording']}: " + ", ".join(f"{name} {score:.2f}" for name, score in result["top"])
                    )
                recorder.draw(picture, timestamp)
            else:
                recognizer.add(frame, index, timestamp)  # the model sees the camera's frames as recorded, as in Jester
                label, _, top = recognizer.state()
                draw(picture, label, top, fps, recognizer.latency_ms())
            if args.output:
                writer = writer or VideoWriter(args.output, source.fps, picture.shape[1::-1])
                writer.write(picture)
            write_lines(log, lines)
            if not args.no_display:
                cv2.imshow("gestures", picture)
            key = read_key(args)
            if key in (ord("q"), 27):
                break
            if recorder:
                recorder.key(key, timestamp)
            shown += 1
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (see main): stop as q does
        print("Stopped.")
    finally:
        if recognizer:
            recognizer.close()
        elif hasattr(buffer, "close"):
            buffer.close()
        if actions:
            actions.close()
        source.close()
        if log:  # before the video, whose renaming may fail (a player holding the old file open on Windows)
            write_lines(log, lines)
            log.close()
        if writer:
            writer.close()
        if not args.no_display:
            cv2.destroyAllWindows()
    if recorder:
        work = f"{recorder.count} recordings classified"
    else:
        latency, events = recognizer.latency_ms(), len(recognizer.events)
        work = f"{recognizer.num_predictions} predictions, median {latency:.0f} ms each; {events} gesture events"
    dropped = f" ({source.dropped} stale frames dropped)" if not source.is_file else ""
    print(f"Showed {shown} frames at {fps:.1f} fps{dropped}; {work}" + (f"; wrote {args.output}" if writer else ""))
    return recognizer


def report_expected(recognizer, sidecar_path):
    """Prints which of a labelled video's gestures were recognised and whether the events match them;
    returns the labels of the gestures missed."""
    sidecar = json.loads(Path(sidecar_path).read_text(encoding="utf-8"))
    recognised = score_gestures(recognizer.predictions, sidecar)
    missed = [g["label"] for g, ok in zip(sidecar["gestures"], recognised) if not ok]
    print(
        f"Recognised {sum(recognised)} of {len(recognised)} gestures in the video"
        + (f"; missed: {', '.join(missed)}" if missed else "")
    )
    performed, fired = [g["label"] for g in sidecar["gestures"]], [e["event"] for e in recognizer.events]
    print(f"Events {'match' if fired == performed else 'differ from'} the gestures performed: {', '.join(fired) or 'none'}")
    return missed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="model", help="run folder written by train.py (default: model)")
    parser.add_argument("--model", metavar="EXPORT", help="an exported model (export.py) to run instead of --run's")
    parser.add_argument("--source", default="0", help="camera index, video file or stream URL (default: 0)")
    parser.add_argument("--width", type=int, help="camera picture width to ask for (default: the camera's)")
    parser.add_argument("--height", type=int, help="camera picture height to ask for (default: the camera's)")
    parser.add_argument("--fps", type=float, help="camera frame rate to ask for (default: the camera's)")
    parser.add_argument("--mirror", action="store_true", help="show the picture mirrored (the model still sees it as recorded)")
    parser.add_argument(
        "--mode", choices=("live", "record"), default="live", help="live, or record: space records, then predicts (default: live)"
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="with --mode record: seconds to record (default: 3)")
    parser.add_argument("--show-flow", action="store_true", help="with --mode record: show the recording's optical flow")
    parser.add_argument("--loop", action="store_true", help="play a video file over and over")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: at the end, or q)")
    parser.add_argument("--every", type=int, default=1, help="clip models: predict on every N-th frame taken (default: 1)")
    parser.add_argument("--no-display", action="store_true", help="no window (for servers; use --output to see the result)")
    parser.add_argument("--output", help="write the annotated video to this .mp4 file")
    parser.add_argument("--log", help="write a JSON line per prediction and per gesture event to this file")
    add_event_arguments(parser)
    add_view_arguments(parser)
    parser.add_argument(
        "--bindings", metavar="FILE.json", help="what each gesture does: keys or commands (see live/bindings.py, bindings/)"
    )
    parser.add_argument(
        "--sync",
        action="store_true",
        help="predict in the main loop, on every frame the model takes (a file then gives the same predictions every time)",
    )
    parser.add_argument(
        "--expect",
        metavar="SIDECAR.json",
        help="a video's sidecar from synthetic.py --video: report which gestures were recognised; exit 1 if any was missed",
    )
    parser.add_argument("--fast", action="store_true", help="read a video file as fast as possible instead of in real time")
    parser.add_argument("--keypoints", metavar="MODEL.task", help="pose_lstm runs: the MediaPipe model they were trained with")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error(f"--every must be at least 1, got {args.every}")
    for option, path in (("output", args.output), ("log", args.log)):
        if path and not Path(path).parent.is_dir():
            parser.error(f"--{option} {path}: the folder {Path(path).parent} does not exist")
    in_main_thread = threading.current_thread() is threading.main_thread()  # where Python delivers signals
    previous_sigterm = signal.signal(signal.SIGTERM, stop_as_interrupted) if in_main_thread else None
    try:
        recognizer = run(args)
        missed = report_expected(recognizer, args.expect) if args.expect and recognizer else []
    except (FileNotFoundError, OSError, ValueError, ImportError) as error:
        sys.exit(f"app.py: {error}")
    except KeyboardInterrupt:  # before the first frame (the model still loading)
        sys.exit("app.py: stopped")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_sigterm)
    if missed:  # a failed check, for make demo and scripts
        sys.exit(f"app.py: {len(missed)} of the video's gestures were not recognised")
    return recognizer


if __name__ == "__main__":
    main()
