"""Record-then-predict, for signs and gestures one at a time: `app.py --mode record`.

Space starts a countdown of COUNTDOWN seconds (to get in position), then `--seconds` are recorded
behind a red marker, then the recording is classified and its top 3 shown until the next space.
The model sees the recording as it would see a live clip: frames at the run's rate, the centred
stretch of them it needs (spread over the recording if it is shorter). `--show-flow` shows the
recording's optical flow beside the result.
"""

import cv2
import numpy as np

from clips import flow
from datagenerator import sample_indices
from live.buffers import Pacer

COUNTDOWN = 3.0  # seconds
SPACE = ord(" ")


class Recorder:
    """A state machine, fed every frame: waiting -> countdown -> recording -> showing the result."""

    def __init__(self, predict, config, classes, buffer, seconds=3.0, show_flow=False):
        """`buffer` (live_input.make_buffer) makes the model's input, and says how far apart its frames are."""
        self.predict, self.config, self.classes, self.buffer = predict, config, classes, buffer
        self.seconds, self.show_flow = seconds, show_flow
        self.state, self.since = "waiting", 0.0
        self.recorded, self.pacer = [], None
        self.result, self.flow_picture, self.count = None, None, 0

    def key(self, key, timestamp):
        """A key press: space starts the countdown, unless one is running."""
        if key == SPACE and self.state in ("waiting", "result"):
            self.state, self.since = "countdown", timestamp

    def add(self, frame, index, timestamp):
        """Takes a frame; returns the result {"recording", "frame", "time", "top"} once a recording is classified."""
        if self.state == "countdown" and timestamp - self.since >= COUNTDOWN:
            self.state, self.since, self.recorded, self.pacer = "recording", timestamp, [], Pacer(self.buffer.period)
        if self.state != "recording":
            return None
        if timestamp - self.since < self.seconds - 1e-6:
            if self.pacer.due(timestamp):  # frames at the rate the model was trained on
                self.recorded.append(frame.copy())
            return None
        self.count += 1
        probabilities = np.asarray(self.predict(self.clip()[None]))[0]
        order = np.argsort(-probabilities)[:3]
        top = [[self.classes[i], round(float(probabilities[i]), 4)] for i in order]
        self.result = {"recording": self.count, "frame": int(index), "time": round(float(timestamp), 3), "top": top}
        if self.show_flow:
            self.flow_picture = recording_flow(self.recorded, self.config.get("flow_method") or "dis")
        self.state = "result"
        return self.result

    def clip(self):
        """The model's input from the recorded frames: the centred stretch one clip needs, or all of
        them spread out (frames repeated) when the recording is shorter."""
        self.buffer.reset()
        for i in sample_indices(len(self.recorded), self.buffer.needed(), stride=1):
            self.buffer.add(self.recorded[i])
        return self.buffer.clip()

    def draw(self, picture, timestamp):
        """The state on the picture: a prompt, the countdown, the red marker, or the result."""
        height, width = picture.shape[:2]
        font = cv2.FONT_HERSHEY_SIMPLEX
        if self.state in ("waiting", "result"):
            cv2.putText(picture, "space: record", (10, height - 12), font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        if self.state == "countdown":
            number = str(int(np.ceil(COUNTDOWN - (timestamp - self.since))))
            cv2.putText(picture, number, (width // 2 - 20, height // 2 + 20), font, 2.0, (0, 220, 255), 4, cv2.LINE_AA)
        if self.state == "recording":
            cv2.circle(picture, (width - 20, 20), 10, (0, 0, 255), -1)
            cv2.putText(picture, f"{timestamp - self.since:.1f} s", (width - 80, 25), font, 0.5, (0, 0, 255), 1, cv2.LINE_AA)
        if self.state == "result" and self.result:
            for row, (name, score) in enumerate(self.result["top"]):
                y = 22 + 22 * row
                cv2.rectangle(picture, (8, y - 14), (8 + int(150 * score), y + 4), (80, 200, 80), -1)
                cv2.putText(picture, f"{score:4.2f} {name}", (12, y), font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            if self.flow_picture is not None:  # a thumbnail at the top right
                thumb = cv2.resize(self.flow_picture, (width // 3, height // 3))
                picture[: height // 3, width - width // 3 :] = thumb
        return picture


def recording_flow(frames, method):
    """One picture of a recording's motion: the flow of its frames, summed, in colour."""
    gray = [flow.to_gray(frame) for frame in frames]
    compute = flow.flow_method(method)
    total = sum((compute(a, b) for a, b in zip(gray, gray[1:])), np.zeros((*gray[0].shape, 2), np.float32))
    return flow.flow_picture(*flow.encode(total / max(1, len(gray) - 1) * 4))  # scaled up to be seen
