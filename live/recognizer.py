"""The app's recognition path: source frames in, predictions and gesture events out.

    config, classes, predict, stream = load_predictor(export, run)
    recognizer = Recognizer(predict, config, classes, GestureEvents(classes), background=False)
    recognizer.add(frame, index, timestamp)   # every source frame; predictions and events follow
    recognizer.events                         # [{"event": label, "frame", "time", "score"}, ...]

`app.py` runs it live (the model in a background thread on the latest frames); `evaluate.py
--stream` runs it headless over a video, frame by frame, and scores the events it fires.
"""

import collections
import threading
import time

import numpy as np

from live.buffers import Pacer, make_buffer
from live.events import GestureEvents
from live.exported import load_export
from nets.streaming import Stream
from network import STREAMING
from training.runs import compiled_predictor, load_run

RECENT = 100  # prediction latencies kept for the picture and the summary
BACKLOG = 30  # frames a stream may have waiting before the picture waits for it (5 s at Jester's 6 a second)


class Recognizer:
    """Keeps the last frames the model needs and turns them into predictions and gesture events."""

    def __init__(
        self, predict, config, classes, detector=None, background=True, buffer=None, on_event=None, every=1, stream=None
    ):
        """`predict` maps clips (views, time, height, width, channels) to probabilities (views, classes);
        `detector` (an events.GestureEvents) smooths them and finds gesture events, each handed to
        `on_event`; `buffer` (default: the run's frames or flow) turns source frames into clips;
        a prediction starts on every `every`-th frame the model takes, when the model is free.
        With a `stream` (streaming.Stream) instead, every frame the model takes steps it, in order
        (the buffer: buffers.make_buffer(..., stream=True)); after a stall of the source it starts afresh."""
        self.classes = classes
        self.detector = detector or GestureEvents(classes)
        self.buffer = buffer or make_buffer(config)
        self.period = self.buffer.period  # seconds between the frames the model sees
        self.predict, self.on_event = predict, on_event
        self.pacer = Pacer(self.period)
        self.latest = None  # (frame index, time, probabilities) of the newest prediction
        self.every, self.taken = every, 0
        self.keep_all = True  # every prediction in `predictions`; off, hours of them take no memory
        self.predictions = []  # {"frame", "time", "label", "score", "top"}
        self.num_predictions = 0
        self.events = []  # every gesture event: {"event", "frame", "time", "score"}
        self.lines = collections.deque()  # both, in order, until app.write_lines takes them for the log
        self.latencies = collections.deque(maxlen=RECENT)
        self.lock = threading.RLock()  # _run holds it while it calls state()
        self.error = None  # an exception of the worker thread, raised again in add()
        self.jobs, self.busy = collections.deque(), False  # a clip model gets one at a time, a stream every frame
        self.stream, self.sequential = stream, stream is not None
        self.wake = threading.Condition(self.lock)
        self.background = background
        if background:
            self.worker = threading.Thread(target=self._work, daemon=True)
            self.running = True
            self.worker.start()

    def add(self, frame, index, timestamp):
        """Offers a source frame; keeps it if it is due (or any, where the buffer slides), and starts
        a prediction when the clip is ready and the model free."""
        if getattr(self.buffer, "slides", False) and not self.sequential:  # it takes every frame, with its time
            ready = self.buffer.add(frame, timestamp)
            if not ready or not (self.background or self.pacer.due(timestamp)):  # headless: one every `period`
                return
        elif not self.pacer.due(timestamp) or not self.buffer.add(frame):  # not due, or not enough frames yet
            return
        self.taken += 1
        if (self.taken - 1) % self.every and not self.sequential:
            return
        restart = self.sequential and self.pacer.restarted  # a stream's frames must be `period` apart
        if not self.background:
            self._run(self.buffer.views(), index, timestamp, restart)
            return
        with self.lock:
            if self.error is not None:
                raise self.error
            if (self.busy or self.jobs) and not self.sequential:  # the model is busy: no clip is built for it
                return
        clip = self.buffer.views()  # (views, time, height, width, channels); only this thread hands out jobs
        with self.lock:
            while len(self.jobs) >= BACKLOG and self.error is None:  # a stream needs every frame: wait for it
                self.wake.wait(timeout=1)
            self.jobs.append((clip, index, timestamp, restart))
            self.wake.notify_all()

    def _work(self):
        while True:
            with self.lock:
                while not self.jobs and self.running:
                    self.wake.wait()
                if not self.running and not (self.sequential and self.jobs):  # a stream's last frames still count
                    return
                job, self.busy = self.jobs.popleft(), True
                self.wake.notify_all()  # room in the backlog
            try:
                self._run(*job)
            except Exception as error:  # noqa: BLE001 - handed to the main thread
                with self.lock:
                    self.error = error
                return
            finally:
                with self.lock:
                    self.busy = False

    def _run(self, clip, index, timestamp, restart=False):
        started = time.perf_counter()
        if self.stream is not None:
            if restart:
                self.stream.reset()
            probabilities = self.stream.step(clip[0, 0])
        else:
            probabilities = np.asarray(self.predict(clip)).mean(axis=0)  # the views' scores averaged
        self.latencies.append(time.perf_counter() - started)
        if probabilities is None:  # a stream before its first whole clip
            return
        with self.lock:
            self.latest = (index, timestamp, probabilities)
            event = self.detector.update(probabilities, index, timestamp)
            label, score, top = self.state()
            prediction = {"frame": index, "time": round(timestamp, 3), "label": label, "score": round(score, 4)}
            prediction["top"] = [[name, round(p, 4)] for name, p in top]
            if self.keep_all:
                self.predictions.append(prediction)
            self.num_predictions += 1
            self.lines.append(prediction)
            if event:
                self.events.append(event)
                self.lines.append(event)
        if event and self.on_event:
            self.on_event(event)

    def state(self):
        """(label or None, its smoothed score, top-3 [(name, score)]) of recent predictions."""
        with self.lock:
            return self.detector.shown()

    def latency_ms(self):
        """Median milliseconds of the recent predictions (nan before the first)."""
        return 1000 * float(np.median(self.latencies)) if self.latencies else float("nan")

    def close(self):
        if self.background:
            with self.lock:
                self.running = False
                self.wake.notify_all()
            self.worker.join(timeout=10)
        if hasattr(self.buffer, "close"):
            self.buffer.close()


def load_predictor(export, run, live=True, threads=None):
    """(config, classes, predict clips -> probabilities, a streaming.Stream or None) of an exported model
    (export.py, its runtime on at most `threads` threads) or else a run folder. A streaming model runs
    `live` frame by frame, carrying its state."""
    if export:
        config, classes, model = load_export(export, threads)
        return config, classes, model.predict, model if isinstance(model, Stream) and live else None
    config, classes, model = load_run(run)
    stream = Stream(model) if config["model"] in STREAMING and live else None
    return config, classes, compiled_predictor(model), stream
