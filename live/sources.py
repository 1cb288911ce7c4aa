"""Where the app's frames come from: a camera, a video file, or a stream URL that may drop.

    source = Source("0", width=640, height=480, fps=30)     # camera 0
    source = Source("clip.mp4", loop=True)                  # a file, played at its own rate, over and over
    source = Source("rtsp://camera.local/stream")           # reconnects when the stream drops
    frame, index, timestamp = source.read()                 # None at the end

A camera or stream is read by its own thread, which keeps only the newest frame: when the app is
busy, stale frames are dropped rather than queued, so the picture never falls behind and memory
stays flat. A file is read in order and, unless `realtime` is off, no faster than its frame rate,
as a camera would deliver it. Timestamps are seconds from the start: by the clock for a camera or
stream, by the frame rate for a file (so a file gives the same timestamps every run).
"""

import threading
import time
from pathlib import Path

import cv2

RECONNECT_SECONDS = 2.0  # wait between attempts to reopen a dropped stream


def open_capture(source, width=None, height=None, fps=None):
    """An opened cv2.VideoCapture for a camera index, a file or a URL, with the camera settings asked."""
    is_camera = source.isdigit()
    if not is_camera and "://" not in source and not Path(source).is_file():
        raise FileNotFoundError(f"No video file {source}; give --source a camera index, a file or a URL.")
    capture = cv2.VideoCapture(int(source) if is_camera else source)
    if not capture.isOpened():
        hint = "no camera here? try --source FILE" if is_camera else "is it a video OpenCV can decode?"
        raise OSError(f"Cannot open {'camera ' if is_camera else ''}{source} ({hint}).")
    for setting, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height), (cv2.CAP_PROP_FPS, fps)):
        if value and is_camera:
            capture.set(setting, value)  # a camera takes the nearest mode it has
    return capture


class Source:
    """Frames of a camera, file or stream, as (frame, index, timestamp); see the module's docstring."""

    def __init__(self, source, width=None, height=None, fps=None, realtime=True, reconnect=True, loop=False, opener=open_capture):
        self.name, self.opener, self.settings = str(source), opener, (width, height, fps)
        self.is_file = "://" not in self.name and not self.name.isdigit()
        self.capture = opener(self.name, *self.settings)
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.realtime, self.reconnect, self.loop = realtime, reconnect and "://" in self.name, loop
        self.started = time.monotonic()
        self.index, self.dropped = 0, 0
        self.latest, self.ended, self.error = None, False, None
        self.condition = threading.Condition()
        self.thread = None
        if not self.is_file:  # a live source: read it continuously, keep the newest frame
            self.thread = threading.Thread(target=self._grab, daemon=True)
            self.thread.start()

    def read(self):
        """(frame, index, timestamp) of the next frame to show, or None when the source has ended."""
        if self.is_file:
            ok, frame = self.capture.read()
            if not ok and self.loop and self.index:  # from the start again; index and time go on
                self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self.capture.read()
            if not ok:
                return None
            index, timestamp = self.index, self.index / self.fps
            self.index += 1
            if self.realtime:
                time.sleep(max(0.0, timestamp - (time.monotonic() - self.started)))
            return frame, index, timestamp
        with self.condition:
            while self.latest is None and not self.ended:
                self.condition.wait(timeout=0.5)
            if self.latest is None:
                if self.error is not None:
                    raise OSError(f"Reading {self.name} failed: {self.error}") from self.error
                return None
            latest, self.latest = self.latest, None
        return latest

    def _grab(self):
        index = 0
        try:
            while not self.ended:
                ok, frame = self.capture.read()
                if not ok:
                    if self.reconnect and self._reopen():
                        continue
                    break
                with self.condition:
                    if self.latest is not None:
                        self.dropped += 1  # the app did not take it in time: it is stale now
                    self.latest = (frame, index, time.monotonic() - self.started)
                    self.condition.notify()
                index += 1
        except Exception as error:  # noqa: BLE001 - handed to read(), in the app's thread
            self.error = error
        finally:
            with self.condition:
                self.ended = True
                self.condition.notify()

    def _reopen(self):
        """Waits and opens the stream again until it answers or the source is closed; True once open."""
        print(f"app.py: {self.name} stopped sending frames; reconnecting", flush=True)
        self.capture.release()
        while not self.ended:
            time.sleep(RECONNECT_SECONDS)
            try:
                self.capture = self.opener(self.name, *self.settings)
                print(f"app.py: {self.name} reconnected", flush=True)
                return True
            except OSError:
                continue
        return False

    def close(self):
        self.ended = True
        if self.thread:
            self.thread.join(timeout=5)
        self.capture.release()
