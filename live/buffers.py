"""What the live app feeds the model: the run's input made from camera frames, as in training.

    buffer = make_buffer(config)          # frames, optical flow or keypoints, as the run was trained
    if buffer.add(frame):                 # a frame due at the run's rate; True once a clip is ready
        clip = buffer.clip()              # (time, height, width, channels), or (samples, joints * 2)
        views = buffer.views()            # (views, time, ...): what the model scores, its scores averaged

Each buffer keeps only the frames one clip needs, preprocessed by the functions the data generator
uses, and says how far apart (`period`, seconds) the frames it takes must be.

Frames are seen at two speeds: the last frames at the run's stride and at one less (`strides`),
both ending at the newest frame, and the model's scores on the two averaged. Training jitters the
stride by one, so both are clips the model knows; a short or quick gesture fills more of the
shorter view, which recognises it sooner. On streams the event options were not tuned on, more
gestures fired in time and fewer false events (README, Measured).
"""

import argparse
import collections

import numpy as np

from clips import flow, landmarks
from clips.frames import resize_short_side
from clips.keypoints import keypoint_features
from datagenerator import preprocess_flow, preprocess_frame


class Pacer:
    """Which source frames are due, `period` seconds apart by their timestamps, whatever the source's
    rate; after a stall longer than a period the clock starts again from the next frame."""

    def __init__(self, period):
        self.period, self.next_time = period, None
        self.restarted = False  # whether the last due frame came after a stall

    def due(self, timestamp):
        if self.next_time is not None and timestamp + 1e-6 < self.next_time:
            return False
        self.restarted = self.next_time is not None and timestamp - self.next_time > self.period
        if self.next_time is None or self.restarted:
            self.next_time = timestamp  # the first frame, or the source stalled
        self.next_time += self.period
        return True


class FrameBuffer:
    """The last `frames` frames, `stride` dataset frames apart, preprocessed as in training.

    Given due frames only (`add(frame)`), it keeps the last `frames` of them. Given every source frame
    with its time (`add(frame, timestamp)`, as the app does), it keeps the longest view's span of them
    and samples clips ending at the newest, one per stride of `strides` (default: the run's): a
    prediction can start on any camera frame, not only every `period` seconds.
    """

    slides = True  # takes every source frame with its time

    def __init__(self, config, strides=None):
        self.size, self.channels = (config["size"],) * 2, config["channels"]
        self.period = config["stride"] / config["fps"]
        self.spacings = [stride / config["fps"] for stride in strides or [config["stride"]]]  # seconds, per view
        self.frames = collections.deque(maxlen=config["frames"])
        self.span = (config["frames"] - 1) * max(self.spacings)  # seconds from the longest view's first frame to its last
        self.timed = collections.deque()  # (timestamp, frame) of every source frame within the span

    def add(self, frame, timestamp=None):
        """Takes a due frame, or any frame with its time; True once there are enough for a clip."""
        frame = preprocess_frame(frame, self.size, self.channels)
        if timestamp is None:
            self.frames.append(frame)
            return len(self.frames) == self.frames.maxlen
        self.timed.append((timestamp, frame))
        while self.timed[0][0] < timestamp - self.span - self.period:
            self.timed.popleft()
        return self.timed[0][0] <= timestamp - self.span + 1e-6

    def needed(self):
        """Frames to add, `period` apart, before a clip is ready."""
        return self.frames.maxlen

    def reset(self):
        """Forgets every frame: the next clip is made of frames added from now on."""
        self.frames.clear()
        self.timed.clear()

    def clip(self):
        """(time, height, width, channels), `period` apart, built only when the model is free to take it."""
        if not self.timed:
            return np.stack(self.frames)
        return self._sample(self._times(), self.period)

    def views(self):
        """(views, time, height, width, channels): a clip per stride; given due frames only, the one clip."""
        if not self.timed:
            return self.clip()[None]
        times = self._times()  # once for all the views
        return np.stack([self._sample(times, spacing) for spacing in self.spacings])

    def _times(self):
        return np.array([timestamp for timestamp, _ in self.timed])

    def _sample(self, times, spacing):
        """The frames nearest to `spacing` seconds apart, ending at the newest (`times`: of `timed`)."""
        wanted = times[-1] - spacing * np.arange(self.frames.maxlen)[::-1]
        nearest = np.abs(times[None, :] - wanted[:, None]).argmin(axis=1)
        return np.stack([self.timed[i][1] for i in nearest])


class FlowBuffer:
    """Optical flow between consecutive dataset-rate frames, stacked as the data generator stacks it.

    Flow is computed at the prepared frames' scale (`prepare.py --size`) with the dataset's method,
    so its pixels per frame mean what they meant in training, then encoded and squashed alike. Its
    positions are `stride` flow fields apart, one view per stride of `strides` (default: the run's),
    each ending at the newest."""

    def __init__(self, config, strides=None):
        if not config.get("flow_method") or not config.get("prepared_size"):
            raise ValueError("This run does not record how its flow was made; train it again with this version of train.py.")
        self.compute, self.prepared_size = flow.flow_method(config["flow_method"]), config["prepared_size"]
        self.size = (config["size"],) * 2
        self.period = 1 / config["fps"]  # flow is between consecutive frames
        self.pairs, self.stride, self.positions = config["flow_pairs"], config["stride"], config["frames"]
        self.strides = strides or [self.stride]
        self.flows = collections.deque(maxlen=(self.positions - 1) * max(self.strides) + self.pairs)
        self.previous = None

    def add(self, frame):
        gray = resize_short_side(flow.to_gray(frame), self.prepared_size)
        previous, self.previous = self.previous, gray
        if previous is not None:
            self.flows.append(preprocess_flow(*flow.encode(self.compute(previous, gray)), self.size))  # (height, width, 2)
        return len(self.flows) == self.flows.maxlen

    def needed(self):
        return self.flows.maxlen + 1  # flow is between consecutive frames

    def reset(self):
        self.flows.clear()
        self.previous = None

    def views(self):
        flows = list(self.flows)  # once for all the views
        return np.stack([self._stack(flows, stride) for stride in self.strides])

    def clip(self):
        """(positions, height, width, 2 * pairs) at the run's stride, ending at the newest flow."""
        return self._stack(list(self.flows), self.stride)

    def _stack(self, flows, stride):
        """The positions `stride` flow fields apart, ending at the newest of `flows`."""
        starts = range(len(flows) - (self.positions - 1) * stride - self.pairs, len(flows) - self.pairs + 1, stride)
        return np.stack([np.concatenate(flows[start : start + self.pairs], axis=-1) for start in starts])


class KeypointBuffer:
    """Keypoints of the last `samples` frames, as far apart in time as they were spread in training."""

    def __init__(self, config, landmarker):
        self.landmarker = landmarker
        if "keypoint_spacing" not in config:
            raise ValueError("This run does not record how far apart its keypoints were; train it again with this train.py.")
        self.period = config["keypoint_spacing"]  # seconds between samples in a typical training clip
        self.samples = collections.deque(maxlen=config["input_shape"][0])

    def add(self, frame):
        self.samples.append(self.landmarker(frame))  # (joints, 3): x, y, presence
        return len(self.samples) == self.samples.maxlen

    def needed(self):
        return self.samples.maxlen

    def reset(self):
        self.samples.clear()

    def views(self):
        return self.clip()[None]

    def clip(self):
        return keypoint_features(np.stack(self.samples))  # (samples, joints * 2)

    def close(self):
        self.landmarker.close()


def default_strides(config):
    """The strides a run's frames are seen at: its own and one less (a clip of one frame: its own)."""
    stride = config["stride"]
    return [stride - 1, stride] if stride > 1 and config["frames"] > 1 else [stride]


def make_buffer(config, keypoints_model=None, stream=False, strides=None):
    """What turns camera frames into the run's input: frames (one at a time for a `stream`; at each
    of `strides`, default `default_strides`, for a clip), optical flow or keypoints."""
    modality = config.get("modality", "frames")  # a hand-made config of frames may leave it out
    if strides and (stream or modality == "keypoints"):
        kind = "a streaming model, which takes each frame once" if stream else "a keypoint model"
        raise ValueError(f"--strides sets the views of a clip of frames or flow; this run is {kind}.")
    if stream:  # a streaming model carries the past itself: it takes each due frame alone
        return FrameBuffer({**config, "frames": 1})
    if modality != "keypoints":
        return FlowBuffer(config, strides) if modality == "flow" else FrameBuffer(config, strides or default_strides(config))
    trained = config["keypoints"]
    if not keypoints_model:
        raise ValueError(
            f"This run was trained on keypoints of {trained['model']} ({trained['kind']} landmarker): "
            f"give that model file with --keypoints PATH/{trained['model']}."
        )
    if trained["model"] == "synthetic":
        raise ValueError("This run was trained on synthetic.py's stick figures; no landmarker finds them in a picture.")
    landmarker = landmarks.Landmarker(keypoints_model, trained["kind"])
    if landmarker.joints != trained["joints"]:
        raise ValueError(f"{keypoints_model} finds {landmarker.joints} joints; the run was trained on {trained['joints']}.")
    return KeypointBuffer(config, landmarker)


def add_view_arguments(parser):
    """--strides, the same in app.py and evaluate.py --stream."""

    def strides(text):
        values = [int(value) for value in text.split(",") if value.strip().isdigit()]
        if not values or min(values) < 1 or len(values) != len(text.split(",")):
            raise argparse.ArgumentTypeError(f"--strides takes whole numbers of at least 1, like 1,2; got {text!r}")
        return values

    parser.add_argument(
        "--strides",
        type=strides,
        help="frame strides a clip model sees the newest frames at, its scores averaged (default: the run's and one "
        "less; on flow, the run's)",
    )
