"""What a recognised gesture does: press a key or run a command, as a bindings file says.

    python app.py --bindings bindings/tv.json

A bindings file maps the model's labels to actions, each with a cooldown in seconds:

    {
      "about": "what the file is for (optional)",
      "cooldown": 1.5,
      "bindings": {
        "Thumb Up": {"key": "media_volume_up"},
        "Stop Sign": {"key": "media_play_pause", "cooldown": 3},
        "Swiping Left": {"command": ["playerctl", "previous"]}
      }
    }

A key is one of pynput's key names (media_play_pause, media_volume_up, media_volume_down,
media_volume_mute, media_next, media_previous, space, left, right, ...) or a single character,
pressed through pynput where there is a display. A command is an argument list, run without a
shell (so no label or file can inject one), in the background. Labels the model does not know
are an error at start, listing them.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_COOLDOWN = 1.0


def load_bindings(path, classes):
    """The bindings of a file, checked against the model's classes: {label: {"key" or "command", "cooldown"}}."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Cannot read the bindings file {path}: {error}") from None
    if not isinstance(content, dict) or not isinstance(content.get("bindings"), dict):
        raise ValueError(f'{path} must hold {{"bindings": {{"<label>": {{"key": ...}} or {{"command": [...]}}}}}}.')
    unknown = sorted(set(content["bindings"]) - set(classes))
    if unknown:
        raise ValueError(f"{path} binds labels the model does not know: {', '.join(unknown)}. Its labels: {', '.join(classes)}.")
    default = float(content.get("cooldown", DEFAULT_COOLDOWN))
    bindings = {}
    for label, action in content["bindings"].items():
        where = f"{path}, {label!r}"
        if not isinstance(action, dict) or len({"key", "command"} & set(action)) != 1:
            raise ValueError(f'{where}: give either "key": NAME or "command": [PROGRAM, ARGUMENT, ...].')
        command = action.get("command")
        if command is not None and (not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command)):
            raise ValueError(f'{where}: "command" must be a non-empty list of strings (no shell), got {command!r}.')
        if "key" in action:
            key_name(action["key"], where)  # checked now, pressed later
        bindings[label] = {**action, "cooldown": float(action.get("cooldown", default))}
    return bindings


def key_name(name, where="a binding"):
    """A pynput key name or a single character, checked without pynput (which needs a display)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a key is a name like media_play_pause or one character, got {name!r}.")
    if len(name) > 1 and not name.replace("_", "").isalnum():
        raise ValueError(f"{where}: {name!r} is not a key name (media_play_pause, space, left, ...).")
    return name


class Actions:
    """Runs the bound action of each gesture event, at most once per its cooldown."""

    def __init__(self, bindings, keyboard=None, keys=None):
        """`keyboard` and `keys`: pynput's keyboard Controller and Key, made here when a binding presses a key."""
        self.bindings, self.last, self.processes = bindings, {}, []
        self.keyboard, self.keys = keyboard, keys
        if any("key" in action for action in bindings.values()):
            if keyboard is None:
                self.keyboard, self.keys = make_keyboard()
            for action in bindings.values():
                if "key" in action:
                    self.key(action["key"])  # an unknown name fails at start, not mid-demo

    def key(self, name):
        if len(name) == 1:
            return name
        try:
            return getattr(self.keys, name)
        except AttributeError:
            raise ValueError(f"pynput has no key {name!r}; see pynput.keyboard.Key for the names.") from None

    def __call__(self, event, now=None):
        """Runs the action bound to `event["event"]` unless it ran less than its cooldown ago; returns
        what was done ("key NAME" / "command ...") or None."""
        action = self.bindings.get(event["event"])
        now = time.monotonic() if now is None else now
        if action is None or now - self.last.get(event["event"], -float("inf")) < action["cooldown"]:
            return None
        self.last[event["event"]] = now
        if "key" in action:
            key = self.key(action["key"])
            self.keyboard.press(key)
            self.keyboard.release(key)
            return f"key {action['key']}"
        self.processes = [process for process in self.processes if process.poll() is None]
        try:
            self.processes.append(subprocess.Popen(action["command"], stdin=subprocess.DEVNULL))
        except OSError as error:  # a missing program should not end the demo
            print(f"app.py: cannot run {action['command']}: {error}", file=sys.stderr)
            return None
        return "command " + " ".join(action["command"])

    def close(self, timeout=5):
        for process in self.processes:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()


def make_keyboard():
    """(pynput keyboard Controller, pynput Key): key presses need the pynput package and a display."""
    try:
        from pynput import keyboard
    except ImportError as error:
        raise ImportError(
            f"Key bindings press keys through pynput, which did not import ({error}): pip install pynput, "
            "and run where there is a display (or bind commands instead)."
        ) from None
    return keyboard.Controller(), keyboard.Key
