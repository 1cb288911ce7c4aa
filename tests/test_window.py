"""The app in a real window, on a virtual X display (Xvfb) that the test starts."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT


@pytest.fixture
def display():
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb; .ci/run installs it)")
    number = 90 + os.getpid() % 100
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "640x480x24"], stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    if server.poll() is not None:
        pytest.skip(f"Xvfb could not start display :{number}")
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.slow
def test_the_window_shows_the_picture_with_the_overlay(display, trained_run, gesture_video):
    from PIL import ImageGrab

    command = [sys.executable, str(ROOT / "app.py"), "--run", str(trained_run), "--source", str(gesture_video)]
    environment = dict(os.environ, DISPLAY=display)
    pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the video plays in real time, over and over, for at most 20 s from the first frame shown
    app = subprocess.Popen([*command, "--threshold", "0", "--loop", "--duration", "20"], env=environment, **pipes)
    bars, deadline = 0, time.monotonic() + 120  # the app starts TensorFlow first: look until the overlay is up
    while bars <= 200 and app.poll() is None and time.monotonic() < deadline:
        time.sleep(1.0)
        screen = np.asarray(ImageGrab.grab(xdisplay=display))  # (height, width, RGB)
        # the probability bars are drawn in (80, 200, 80) BGR, which is (80, 200, 80) RGB too
        bars = (np.abs(screen.astype(int) - (80, 200, 80)).sum(axis=-1) < 30).sum()
    stopped = app.poll() is None
    if stopped:  # seen (or given up on): a service stop closes the window as q does
        app.send_signal(signal.SIGTERM)
    out, err = app.communicate(timeout=120)
    assert app.returncode == 0, err[-2000:]
    assert "Showed" in out and ("Stopped." in out) == stopped
    assert bars > 200, f"no overlay on the screen ({bars} bar pixels)"
    assert screen.std() > 20  # the video's picture, not an empty screen
