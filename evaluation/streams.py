"""How well gesture events match the gestures performed in a continuous stream.

    figures = score_stream(events, truth)   # events: [{"event": label, "frame": n}, ...] as the app fires them

The truth is the file `synthetic.py --video` writes beside a video, and one a user can write for a
recording of their own (frames counted from 0 at the video's frame rate, `end` inclusive):

    {"fps": 12, "num_frames": 900, "gestures": [{"label": "Swiping Left", "start": 40, "end": 57}, ...]}

Each event is matched to a gesture in time: it counts for the gesture in progress or the one that
ended at most `late` seconds (0.5) before it. An event is a *hit* when it is the first for its
gesture and has its label; every other event is *false*, and an *early* one when it came in the
`early` seconds (1.5) before a gesture started, while the hand was moving into place. A gesture
without a hit is *missed*. The Levenshtein accuracy is 1 - (edit distance between the labels fired
and the labels performed) / gestures performed, as Köpüklü et al. (2019) measure gesture detectors;
it can go below zero when there are many false events. Latency is seconds from a gesture's last
frame to its hit (negative: it fired before the gesture ended); with no hit it is None (null in
JSON), and so is the Levenshtein accuracy of a recording without gestures.
"""

import json
from pathlib import Path

import numpy as np


def read_truth(path):
    """A stream's truth file, checked: {"fps", "num_frames", "gestures": [{"label", "start", "end"}]}."""
    try:
        truth = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"No truth file {path} (synthetic.py --video writes one beside each video).") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON: {error}.") from None
    if not isinstance(truth, dict) or not {"fps", "gestures"} <= truth.keys():
        raise ValueError(f'{path} needs an object with "fps" and "gestures" ([{{label, start, end}}, ...]).')
    for gesture in truth["gestures"]:
        if not {"label", "start", "end"} <= set(gesture) or not 0 <= gesture["start"] <= gesture["end"]:
            raise ValueError(f"{path}: each gesture needs a label and frames 0 <= start <= end, got {gesture}.")
    return truth


def levenshtein(fired, performed):
    """Edit distance between two label sequences: insertions, deletions and substitutions."""
    previous = list(range(len(performed) + 1))
    for i, got in enumerate(fired, start=1):
        current = [i]
        for j, wanted in enumerate(performed, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (got != wanted)))
        previous = current
    return previous[-1]


def score_stream(events, truth, late=0.5, early=1.5):
    """Hits, misses, false and early events, Levenshtein accuracy and latency of `events` against `truth`."""
    fps, gestures = truth["fps"], truth["gestures"]
    events = sorted(events, key=lambda event: event["frame"])
    claimed, outcomes, latencies = set(), [], []
    for event in events:
        frame = event["frame"]
        current = [i for i, g in enumerate(gestures) if g["start"] <= frame <= g["end"] + late * fps]
        gesture = current[-1] if current else None
        if gesture is not None and gesture not in claimed and gestures[gesture]["label"] == event["event"]:
            claimed.add(gesture)
            latencies.append((frame - gestures[gesture]["end"]) / fps)
            outcomes.append("hit")
        elif gesture is None and any(g["start"] - early * fps <= frame < g["start"] for g in gestures):
            outcomes.append("early")
        else:
            outcomes.append("false")
    performed = [g["label"] for g in gestures]
    distance = levenshtein([event["event"] for event in events], performed)
    return {
        "gestures": len(gestures),
        "events": len(events),
        "hits": outcomes.count("hit"),
        "missed": [g["label"] for i, g in enumerate(gestures) if i not in claimed],
        "false": outcomes.count("false") + outcomes.count("early"),
        "early": outcomes.count("early"),
        "edits": distance,
        "levenshtein_accuracy": 1 - distance / len(gestures) if gestures else None,
        **latency_figures(latencies),
        "outcomes": [{**event, "outcome": outcome} for event, outcome in zip(events, outcomes)],
    }


def combine(scores):
    """Figures over several streams: counts added, Levenshtein accuracy over all gestures, latency over all hits."""
    gestures = sum(s["gestures"] for s in scores)
    distance = sum(s["edits"] for s in scores)  # a false event in a recording without gestures counts too
    latencies = [latency for s in scores for latency in s["latencies"]]
    return {
        "streams": len(scores),
        "gestures": gestures,
        "events": sum(s["events"] for s in scores),
        "hits": sum(s["hits"] for s in scores),
        "missed": sum(len(s["missed"]) for s in scores),
        "false": sum(s["false"] for s in scores),
        "early": sum(s["early"] for s in scores),
        "edits": distance,
        "levenshtein_accuracy": 1 - distance / gestures if gestures else None,
        **latency_figures(latencies),
    }


def latency_figures(latencies):
    """Median and largest latency of the hits, None (null in JSON) when nothing hit."""
    return {
        "latency_median_s": float(np.median(latencies)) if latencies else None,
        "latency_max_s": float(np.max(latencies)) if latencies else None,
        "latencies": latencies,
    }


def summary(figures):
    """One line of figures, as evaluate.py --stream and bench/app_live.py print them."""
    missed = figures["missed"] if isinstance(figures["missed"], int) else len(figures["missed"])
    text = f"{figures['hits']} of {figures['gestures']} gestures hit, {missed} missed, {figures['false']} false events "
    if figures["gestures"]:
        text += f"({figures['early']} early; {20 * figures['false'] / figures['gestures']:.1f} per 20 gestures); "
        text += f"Levenshtein accuracy {figures['levenshtein_accuracy']:.3f}; "
    else:  # a recording without gestures measures the false events alone
        text += f"({figures['early']} early); no gestures, so no Levenshtein accuracy; "
    if figures["latency_median_s"] is None:
        return text + "no gesture hit, so no latency"
    return text + (
        f"latency after the gesture's end: median {1000 * figures['latency_median_s']:.0f} ms, "
        f"at most {1000 * figures['latency_max_s']:.0f} ms"
    )
