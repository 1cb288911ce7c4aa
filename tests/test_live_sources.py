import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from live import sources
from live.sources import Source


class FakeCapture:
    """A camera or stream: `count` numbered frames, `delay` seconds apart, then a failed read."""

    def __init__(self, first=0, count=1000, delay=0.002):
        self.next, self.last, self.delay = first, first + count, delay
        self.released = False

    def read(self):
        time.sleep(self.delay)
        if self.next >= self.last:
            return False, None
        self.next += 1
        return True, np.full((4, 4, 3), self.next - 1, np.int32)

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        self.released = True


def test_a_file_plays_in_order_timed_by_its_frame_rate(gesture_video):
    source = Source(str(gesture_video), realtime=False)
    items = []
    while (item := source.read()) is not None:
        items.append(item)
    source.close()
    assert [index for _, index, _ in items] == list(range(len(items))) and len(items) > 100
    assert items[24][2] == pytest.approx(24 / 12)  # the synthetic video is 12 fps
    started = time.monotonic()
    realtime = Source(str(gesture_video))
    for _ in range(7):
        realtime.read()
    realtime.close()
    assert time.monotonic() - started >= 0.45  # 6 frame periods of 1/12 s: no faster than a camera


def test_a_busy_app_gets_the_newest_frame_and_stale_ones_are_dropped():
    source = Source("0", opener=lambda name, *settings: FakeCapture(count=200, delay=0.002))
    seen = []
    while (item := source.read()) is not None:
        seen.append(int(item[0][0, 0, 0]))
        time.sleep(0.02)  # the app is ten times slower than the camera
    source.close()
    assert seen == sorted(seen) and len(seen) < 60  # never an old frame, never a queue
    assert source.dropped >= 100 and seen[-1] >= 190


def test_a_dropped_stream_reconnects(monkeypatch, capsys):
    monkeypatch.setattr(sources, "RECONNECT_SECONDS", 0.01)
    opened = []

    def opener(name, *settings):
        opened.append(name)
        if len(opened) == 2:
            raise OSError("not answering")  # the first attempt to reconnect fails
        return FakeCapture(first=100 * len(opened), count=5)

    source = Source("rtsp://camera.local/stream", opener=opener)
    seen = []
    while len(seen) < 8 and (item := source.read()) is not None:
        seen.append(int(item[0][0, 0, 0]))
    source.close()
    assert len(opened) >= 3 and seen[0] in range(100, 105) and seen[-1] in range(300, 305)
    assert "reconnecting" in capsys.readouterr().out


def test_a_source_that_fails_reports_it_instead_of_waiting():
    class Broken(FakeCapture):
        def read(self):
            raise RuntimeError("driver crashed")

    source = Source("0", opener=lambda name, *settings: Broken())
    with pytest.raises(OSError, match="Reading 0 failed: driver crashed"):
        source.read()
    source.close()


def test_a_looped_file_starts_again_with_time_going_on(gesture_video):
    length = json.loads(Path(f"{gesture_video}.json").read_text())["num_frames"]
    source = Source(str(gesture_video), realtime=False, loop=True)
    items = [source.read() for _ in range(length + 100)]
    source.close()
    assert [index for _, index, _ in items] == list(range(length + 100)) and items[-1][2] == pytest.approx((length + 99) / 12)
    np.testing.assert_array_equal(items[0][0], items[length][0])  # the first frame again
