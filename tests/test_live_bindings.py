import json
import sys
import time
import types
from pathlib import Path

import pytest

from live.bindings import Actions, load_bindings

ROOT = Path(__file__).resolve().parents[1]
JESTER = [
    "Doing other things", "Drumming Fingers", "No gesture", "Pulling Hand In", "Pulling Two Fingers In", "Pushing Hand Away",
    "Pushing Two Fingers Away", "Rolling Hand Backward", "Rolling Hand Forward", "Shaking Hand", "Sliding Two Fingers Down",
    "Sliding Two Fingers Left", "Sliding Two Fingers Right", "Sliding Two Fingers Up", "Stop Sign", "Swiping Down",
    "Swiping Left", "Swiping Right", "Swiping Up", "Thumb Down", "Thumb Up", "Turning Hand Clockwise",
    "Turning Hand Counterclockwise", "Zooming In With Full Hand", "Zooming In With Two Fingers",
    "Zooming Out With Full Hand", "Zooming Out With Two Fingers",
]  # fmt: skip
# A harmless command: appends its arguments, one line per run, to the file named first.
RECORD = "import sys; open(sys.argv[1], 'a').write(repr(sys.argv[2:]) + '\\n')"


def write(path, content):
    path.write_text(json.dumps(content))
    return path


def test_the_example_binding_files_fit_their_models():
    jester = load_bindings(ROOT / "bindings" / "jester.json", JESTER)
    assert jester["Stop Sign"] == {"key": "media_play_pause", "cooldown": 2.0} and jester["Thumb Up"]["cooldown"] == 0.5
    tv = load_bindings(ROOT / "bindings" / "tv.json", ["Swipe", "Stop", "Thumbs Up", "Thumbs Down"])
    assert tv["Swipe"]["command"] == ["playerctl", "play"] and tv["Thumbs Down"]["key"] == "media_volume_down"


def test_labels_the_model_does_not_know_are_listed(tmp_path):
    path = write(tmp_path / "b.json", {"bindings": {"Thumb Up": {"key": "a"}, "Wave": {"key": "b"}, "Clap": {"key": "c"}}})
    with pytest.raises(ValueError, match="does not know: Clap, Wave"):
        load_bindings(path, ["Thumb Up", "No gesture"])


@pytest.mark.parametrize(
    "action, message",
    [
        ({"command": "rm -rf /"}, "list of strings"),
        ({"command": []}, "list of strings"),
        ({"key": "a", "command": ["ls"]}, "either"),
        ({"key": "play pause"}, "not a key name"),
    ],
)
def test_malformed_bindings_are_explained(tmp_path, action, message):
    with pytest.raises(ValueError, match=message):
        load_bindings(write(tmp_path / "b.json", {"bindings": {"Thumb Up": action}}), ["Thumb Up"])


def test_a_command_runs_with_its_arguments_and_respects_its_cooldown(tmp_path):
    record = tmp_path / "ran.txt"
    command = [sys.executable, "-c", RECORD, str(record), "volume up", "; touch hacked"]
    bindings = load_bindings(
        write(tmp_path / "b.json", {"bindings": {"Thumb Up": {"command": command, "cooldown": 2}}}), ["Thumb Up"]
    )
    actions = Actions(bindings)
    event = {"event": "Thumb Up", "frame": 10, "time": 1.0, "score": 0.9}
    assert actions(event, now=100.0).startswith("command ")
    assert actions(event, now=101.5) is None  # within its 2 s cooldown
    assert actions(event, now=102.5) is not None
    assert actions({"event": "Swiping Left"}, now=200.0) is None  # not bound
    actions.close()
    assert record.read_text().splitlines() == [repr(["volume up", "; touch hacked"])] * 2  # no shell: the text stays text
    assert not (tmp_path / "hacked").exists()


def test_a_key_binding_presses_and_releases_the_key(tmp_path):
    pressed = []
    keyboard = types.SimpleNamespace(
        press=lambda key: pressed.append(("press", key)), release=lambda key: pressed.append(("release", key))
    )
    keys = types.SimpleNamespace(media_play_pause="<play/pause>")
    bindings = {"Stop Sign": {"key": "media_play_pause", "cooldown": 1.0}, "Thumb Up": {"key": "k", "cooldown": 1.0}}
    actions = Actions(bindings, keyboard=keyboard, keys=keys)
    actions({"event": "Stop Sign"}, now=time.monotonic())
    actions({"event": "Thumb Up"}, now=time.monotonic())
    assert pressed == [("press", "<play/pause>"), ("release", "<play/pause>"), ("press", "k"), ("release", "k")]
    with pytest.raises(ValueError, match="no key 'media_rewind'"):
        Actions({"Stop Sign": {"key": "media_rewind", "cooldown": 1.0}}, keyboard=keyboard, keys=keys)
