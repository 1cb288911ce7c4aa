"""evaluation/streams.py: events matched to the gestures of a stream's truth, as the literature counts them."""

import json

import pytest

from evaluation.streams import combine, levenshtein, read_truth, score_stream, summary

TRUTH = {
    "fps": 10,
    "num_frames": 300,
    "gestures": [
        {"label": "a", "start": 20, "end": 40},
        {"label": "b", "start": 100, "end": 120},
        {"label": "c", "start": 200, "end": 220},
    ],
}


def event(label, frame):
    return {"event": label, "frame": frame}


def test_levenshtein_counts_insertions_deletions_substitutions():
    assert levenshtein("abc", "abc") == 0
    assert levenshtein("abxc", "abc") == 1  # one inserted
    assert levenshtein("ac", "abc") == 1  # one deleted
    assert levenshtein("axc", "abc") == 1  # one substituted
    assert levenshtein([], ["a", "b"]) == 2


def test_one_right_event_per_gesture_is_perfect():
    figures = score_stream([event("a", 38), event("b", 123), event("c", 210)], TRUTH)
    assert figures["hits"] == 3 and figures["false"] == 0 and figures["missed"] == []
    assert figures["levenshtein_accuracy"] == 1.0
    assert figures["latency_median_s"] == pytest.approx(-0.2)  # fired 0.2 s before a's end, 0.3 s after b's
    assert figures["latency_max_s"] == pytest.approx(0.3)


def test_late_duplicate_wrong_and_early_events_are_false():
    events = [event("x", 10), event("a", 30), event("a", 35), event("b", 115), event("c", 226), event("c", 260)]
    figures = score_stream(events, TRUTH)
    outcomes = [e["outcome"] for e in figures["outcomes"]]
    # x fires 1 s before a starts (early), a fires twice, c 0.6 s after its end (too late) and again much later
    assert outcomes == ["early", "hit", "false", "hit", "false", "false"]
    assert figures["hits"] == 2 and figures["missed"] == ["c"] and figures["false"] == 4 and figures["early"] == 1
    assert figures["levenshtein_accuracy"] == pytest.approx(0.0)  # three insertions for three gestures
    assert score_stream([*events, event("d", 280)], TRUTH)["levenshtein_accuracy"] < 0  # more events: below zero


def test_a_wrong_label_is_false_and_the_gesture_missed():
    figures = score_stream([event("a", 30), event("a", 110)], TRUTH)
    assert figures["hits"] == 1 and figures["false"] == 1 and figures["missed"] == ["b", "c"]
    assert figures["levenshtein_accuracy"] == pytest.approx(1 / 3)


def test_combine_adds_streams_up_and_summary_says_it():
    first = score_stream([event("a", 30), event("b", 110), event("c", 210)], TRUTH)
    second = score_stream([event("a", 30)], TRUTH)
    overall = combine([first, second])
    assert overall["gestures"] == 6 and overall["hits"] == 4 and overall["missed"] == 2
    assert overall["levenshtein_accuracy"] == pytest.approx(1 - 2 / 6)
    line = summary(overall)
    assert "4 of 6 gestures hit, 2 missed, 0 false events" in line and "Levenshtein accuracy 0.667" in line


def test_nothing_hit_and_no_gestures_give_null_figures_and_plain_words():
    silent = score_stream([event("x", 150)], TRUTH)  # a model that never fires the right label
    quiet = score_stream([event("a", 50)], {"fps": 10, "gestures": []})  # a recording for false events alone
    overall = combine([silent, quiet])
    assert silent["latency_median_s"] is None and quiet["levenshtein_accuracy"] is None
    assert overall["gestures"] == 3 and overall["false"] == 2 and overall["edits"] == 4  # the quiet one's event counts
    assert overall["levenshtein_accuracy"] == pytest.approx(1 - 4 / 3)
    text = json.dumps({"silent": silent, "quiet": quiet, "overall": overall}, allow_nan=False)  # strict JSON
    assert json.loads(text)["silent"]["latency_max_s"] is None
    assert "no gesture hit, so no latency" in summary(silent) and "nan" not in summary(silent)
    assert "no gestures, so no Levenshtein accuracy" in summary(quiet) and "nan" not in summary(quiet)


def test_truth_files_are_checked(tmp_path):
    path = tmp_path / "v.mp4.json"
    path.write_text(json.dumps(TRUTH))
    assert read_truth(path) == TRUTH
    with pytest.raises(FileNotFoundError, match="synthetic.py --video"):
        read_truth(tmp_path / "missing.json")
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        read_truth(path)
    path.write_text(json.dumps({"fps": 10, "gestures": [{"label": "a", "start": 9, "end": 3}]}))
    with pytest.raises(ValueError, match="start <= end"):
        read_truth(path)
