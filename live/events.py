"""From a stream of predictions to gesture events: one performed gesture, one event.

    detector = GestureEvents(classes, threshold=0.6, release=0.4, cooldown=1.0, smoothing=0.5)
    event = detector.update(probabilities, frame=120, time=10.0)   # None, or {"event": label, ...}

The app predicts several times a second, and a gesture stays on top for a second or two, so
labels alone would fire the same gesture thirty times. A gesture *starts* when its score,
averaged over the predictions of the last `smoothing` seconds, reaches `threshold`; it has *ended* once the top
class is another one, a background class ("No gesture", "Doing other things") or scores below
`release`. Only a start is an event, and no event comes sooner than `cooldown` seconds after the
previous one, so a flicker between two labels within a gesture does not fire twice.

The defaults (threshold 0.7, smoothing 0.5 s, cooldown 1 s) are the best of those measured with
`evaluate.py --stream` on synthetic streams kept for tuning (the README's Measured section): a
lower threshold fires on the movements between gestures, a higher one misses quick gestures.
Waiting longer for the evidence (a confirmation window, a minimum time above the threshold, a
margin over the second class) fired more events after the 0.5 s a user waits, not fewer false ones.
"""

import collections

import numpy as np

BACKGROUND = ("No gesture", "Doing other things")  # Jester's classes for "nothing is happening"


class GestureEvents:
    """Smoothing, threshold, background classes, hysteresis and cooldown over class probabilities."""

    def __init__(self, classes, threshold=0.7, release=None, cooldown=1.0, smoothing=0.5, background=BACKGROUND):
        if not 0 <= threshold <= 1:
            raise ValueError(f"--threshold must be between 0 and 1, got {threshold}.")
        self.classes, self.threshold, self.cooldown = list(classes), threshold, cooldown
        self.release = threshold * 0.7 if release is None else release
        if not 0 <= self.release <= threshold:
            raise ValueError(f"--release ({self.release}) must be between 0 and --threshold ({threshold}).")
        self.background = {index for index, name in enumerate(self.classes) if name in background}
        self.smoothing = smoothing  # seconds: the same window whether the model predicts 6 or 30 times a second
        self.recent = collections.deque()  # (time, probabilities)
        self.active = None  # the class of the gesture in progress, once it has fired
        self.last_time = None  # of the last event

    def smoothed(self):
        return np.mean([p for _, p in self.recent], axis=0) if self.recent else np.zeros(len(self.classes))

    def update(self, probabilities, frame, time):
        """Takes one prediction; returns the event it starts, or None."""
        self.recent.append((time, np.asarray(probabilities, dtype=np.float64)))
        while self.recent[0][0] < time - self.smoothing - 1e-9:
            self.recent.popleft()
        scores = self.scores = self.smoothed()
        top = int(np.argmax(scores))
        score = float(scores[top])
        if top in self.background or score < self.release:
            self.active = None  # the gesture is over; the next one may fire
            return None
        if top == self.active or score < self.threshold:
            return None  # the same gesture still, or not sure enough yet
        if self.last_time is not None and time - self.last_time < self.cooldown:
            return None
        self.active, self.last_time = top, time
        return {"event": self.classes[top], "frame": int(frame), "time": round(float(time), 3), "score": round(score, 4)}

    def shown(self):
        """(label or None, smoothed score, top-3 [(name, score)]): what the picture shows now.
        A background class is shown as nothing happening."""
        if not self.recent:
            return None, 0.0, []
        scores = self.scores  # as of the last prediction, not averaged again for every frame shown
        order = np.argsort(-scores)[:3]
        top = [(self.classes[i], float(scores[i])) for i in order]
        label = top[0][0] if scores[order[0]] >= self.threshold and order[0] not in self.background else None
        return label, top[0][1], top


def add_event_arguments(parser):
    """The options of the event decision, the same in app.py and evaluate.py --stream."""
    group = parser.add_argument_group("gesture events")
    group.add_argument(
        "--threshold", type=float, default=0.7, help="smoothed score a gesture needs to show and fire (default: 0.7)"
    )
    group.add_argument(
        "--release", type=float, help="score below which a gesture has ended and may fire again (default: 0.7 x threshold)"
    )
    group.add_argument(
        "--cooldown", type=float, default=1.0, help="seconds from one gesture event to the next, at least (default: 1)"
    )
    group.add_argument(
        "--smoothing", type=float, default=0.5, help="seconds of predictions averaged before deciding (default: 0.5)"
    )
    group.add_argument(
        "--background",
        default=",".join(BACKGROUND),
        help=f"classes that mean nothing is happening, comma-separated (default: {','.join(BACKGROUND)})",
    )


def events_from_arguments(args, classes):
    """The GestureEvents the options of add_event_arguments ask for."""
    background = [label.strip() for label in args.background.split(",") if label.strip()]
    return GestureEvents(classes, args.threshold, args.release, args.cooldown, args.smoothing, background)
