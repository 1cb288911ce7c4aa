import numpy as np
import pytest

from live.events import GestureEvents

CLASSES = ["Swiping Left", "Swiping Right", "Thumb Up", "No gesture"]


def probabilities(label, score, other=None, other_score=0.0):
    """A prediction: `score` for `label`, `other_score` for `other`, the rest spread over the others."""
    row = np.zeros(len(CLASSES))
    row[CLASSES.index(label)] = score
    if other:
        row[CLASSES.index(other)] = other_score
    rest = [i for i, value in enumerate(row) if value == 0]
    row[rest] = (1 - row.sum()) / len(rest)
    return row


def feed(detector, predictions, period=0.2):
    events = []
    for index, prediction in enumerate(predictions):
        event = detector.update(prediction, frame=index, time=index * period)
        if event:
            events.append(event)
    return events


def test_one_gesture_held_for_seconds_fires_once():
    detector = GestureEvents(CLASSES, threshold=0.6, smoothing=0.5)
    held = (
        [probabilities("No gesture", 0.9)] * 5
        + [probabilities("Swiping Left", 0.9)] * 15
        + [probabilities("No gesture", 0.9)] * 5
    )
    events = feed(detector, held)
    assert [e["event"] for e in events] == ["Swiping Left"]
    assert events[0]["frame"] == 6 and set(events[0]) == {"event", "frame", "time", "score"}  # once the mean of 3 passes 0.6


def test_a_flicker_within_a_gesture_does_not_fire_twice():
    detector = GestureEvents(CLASSES, threshold=0.5, smoothing=0.1, cooldown=1.0)
    # Swiping Left, with one prediction where Swiping Right tops it, then Swiping Left again
    flicker = (
        [probabilities("Swiping Left", 0.8)] * 3
        + [probabilities("Swiping Right", 0.6)]
        + [probabilities("Swiping Left", 0.8)] * 3
    )
    assert [e["event"] for e in feed(detector, flicker)] == ["Swiping Left"]  # the flicker came 0.6 s after: cooldown


def test_hovering_at_the_threshold_fires_once_and_again_only_after_release():
    detector = GestureEvents(CLASSES, threshold=0.5, release=0.3, smoothing=0.1, cooldown=0.0)
    hovering = [probabilities("Thumb Up", s) for s in (0.52, 0.45, 0.55, 0.48, 0.51)]
    assert len(feed(detector, hovering)) == 1  # hysteresis: 0.45 is above the release
    detector = GestureEvents(CLASSES, threshold=0.5, release=0.3, smoothing=0.1, cooldown=0.0)
    again = [probabilities("Thumb Up", s) for s in (0.6, 0.2, 0.6)]
    assert len(feed(detector, again)) == 2  # it fell below the release in between: a new gesture


def test_gestures_in_a_row_each_fire_and_the_background_never_does():
    detector = GestureEvents(CLASSES, threshold=0.5, smoothing=0.3, cooldown=1.0)
    row = [probabilities("No gesture", 0.95)] * 8
    for label in ("Swiping Left", "Thumb Up", "Swiping Right"):
        row += [probabilities(label, 0.85)] * 12  # 2.4 s each, back to back
    row += [probabilities("No gesture", 0.95)] * 8
    events = feed(detector, row)
    assert [e["event"] for e in events] == ["Swiping Left", "Thumb Up", "Swiping Right"]
    assert detector.shown()[0] is None and detector.shown()[2][0][0] == "No gesture"  # shown as nothing happening


def test_settings_are_checked():
    with pytest.raises(ValueError, match="--release"):
        GestureEvents(CLASSES, threshold=0.5, release=0.7)
    with pytest.raises(ValueError, match="--threshold"):
        GestureEvents(CLASSES, threshold=1.5)
