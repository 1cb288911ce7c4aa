"""Shared fixtures: a tiny synthetic Jester dataset, prepared, and a run trained on it."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import prepare  # noqa: E402
import synthetic  # noqa: E402
import train  # noqa: E402

# Small enough for a CPU test: 8 frames of 32x32 gray.
TINY = ["--frames", "8", "--size", "32", "--channels", "1", "--batch-size", "8", "--workers", "1"]


@pytest.fixture(scope="session")
def jester_dir(tmp_path_factory):
    """Official Jester layout, 4 clips per class (3 train, 1 validation)."""
    out = tmp_path_factory.mktemp("jester")
    synthetic.write_dataset(out, clips_per_class=4, seed=1, validation_fraction=0.25, workers=2)
    return out


@pytest.fixture(scope="session")
def prepared_dir(jester_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    prepare.prepare(jester_dir, out, size=40, gray=True, workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def trained_run(prepared_dir, tmp_path_factory):
    """A run folder after 2 epochs of the default model on the tiny set."""
    run = tmp_path_factory.mktemp("run")
    train.main(["--data", str(prepared_dir), "--run", str(run), "--epochs", "2", *TINY])
    return run


@pytest.fixture(scope="session")
def stream_run(prepared_dir, tmp_path_factory):
    """A run folder after 2 epochs of the streaming model (tsm_mobilenet) on the tiny set."""
    run = tmp_path_factory.mktemp("stream_run")
    train.main(["--data", str(prepared_dir), "--run", str(run), "--model", "tsm_mobilenet", "--epochs", "2", *TINY])
    return run


@pytest.fixture(scope="session")
def gesture_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "gestures.mp4"
    synthetic.write_video(path, seed=3, num_gestures=2, height=120, width=160)
    return path


@pytest.fixture(scope="session")
def flow_prepared_dir(jester_dir, tmp_path_factory):
    """The tiny Jester set prepared in colour with DIS optical flow, for motion streams."""
    out = tmp_path_factory.mktemp("prepared_flow")
    prepare.prepare(jester_dir, out, size=40, gray=False, workers=2, flow_method="dis", progress=False)
    return out
