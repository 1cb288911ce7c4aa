"""Shared fixtures: a tiny synthetic Jester dataset, prepared, and a run trained on it."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# make test runs two pytest-xdist workers on two cores: TensorFlow gets one thread in each, and in the
# commands they start, rather than four or more threads fighting over the two cores
if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
# train.py remembers whether XLA is faster on this machine in ~/.cache (training/xla.py): tests neither
# read the user's answer nor leave their own (one folder per process, so pytest-xdist workers stay apart)
os.environ["XDG_CACHE_HOME"] = str(Path(tempfile.gettempdir()) / f"video-gestures-tests-{os.getpid()}")

import export  # noqa: E402
import prepare  # noqa: E402
import synthetic  # noqa: E402
import train  # noqa: E402
from live.exported import load_export  # noqa: E402
from scenes.streams import write_stream  # noqa: E402
from training.runs import load_run, run_dataset  # noqa: E402

# Small enough for a CPU test: 8 frames of 32x32 gray.
TINY = ["--frames", "8", "--size", "32", "--channels", "1", "--batch-size", "8", "--workers", "1"]


def user_environment():
    """The environment a user's shell gives a command: without the test suite's TF_CPP_MIN_LOG_LEVEL."""
    return {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}


def run_command(script, *args, expect_status=0, timeout=600):
    """`python SCRIPT ARGS...` in a fresh process from the project folder, as a user types it, with this
    venv's Python; checks its exit status and that it printed no CUDA error. Returns stdout and stderr."""
    command = [sys.executable, script, *map(str, args)]
    done = subprocess.run(command, cwd=ROOT, env=user_environment(), capture_output=True, text=True, timeout=timeout)
    shown = f"$ {' '.join(command[1:])}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    assert done.returncode == expect_status, f"exit status {done.returncode}, expected {expect_status}\n{shown}"
    assert "cuInit" not in done.stderr and "CUDA error" not in done.stderr, f"a CUDA error line on a machine without GPU\n{shown}"
    return done.stdout + done.stderr


def made_once(tmp_path_factory, name, make):
    """A folder that `make(folder)` fills once for the whole test run. Under pytest-xdist (make test runs
    two workers) the first worker to need it makes it while any other waits, and then all read it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' common folder
    folder, made = root / name, root / f"{name}.made"
    with FileLock(f"{folder}.lock"):
        if not made.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed making it
            folder.mkdir()
            make(folder)
            made.touch()
    return folder


@pytest.fixture(scope="session")
def jester_dir(tmp_path_factory):
    """Official Jester layout, 4 clips per class (3 train, 1 validation) of 10 classes."""
    return made_once(
        tmp_path_factory,
        "jester",
        lambda out: synthetic.write_dataset(out, clips_per_class=4, seed=1, validation_fraction=0.25, workers=2),
    )


@pytest.fixture(scope="session")
def prepared_dir(jester_dir, tmp_path_factory):
    return made_once(
        tmp_path_factory, "prepared", lambda out: prepare.prepare(jester_dir, out, size=40, gray=True, workers=2, progress=False)
    )


@pytest.fixture
def image_reads(monkeypatch):
    """The paths of the images read from disk through cv2.imread while the test runs, in order."""
    reads, imread = [], cv2.imread
    monkeypatch.setattr(cv2, "imread", lambda path, *flags: reads.append(path) or imread(path, *flags))
    return reads


@pytest.fixture(scope="session")
def trained_run(prepared_dir, tmp_path_factory):
    """A run folder after 2 epochs of the default model on the tiny set."""
    return made_once(
        tmp_path_factory, "run", lambda run: train.main(["--data", str(prepared_dir), "--run", str(run), "--epochs", "2", *TINY])
    )


@pytest.fixture(scope="session")
def stream_run(prepared_dir, tmp_path_factory):
    """A run folder after 2 epochs of the streaming model (tsm_mobilenet) on the tiny set."""
    argv = ["--data", str(prepared_dir), "--model", "tsm_mobilenet", "--epochs", "2", *TINY]
    return made_once(tmp_path_factory, "stream_run", lambda run: train.main([*argv, "--run", str(run)]))


@pytest.fixture(scope="session")
def gesture_video(tmp_path_factory):
    folder = made_once(
        tmp_path_factory,
        "video",
        lambda out: write_stream(out / "gestures.mp4", seed=3, num_gestures=2, height=120, width=160),  # 11 s
    )
    return folder / "gestures.mp4"


@pytest.fixture(scope="session")
def flow_prepared_dir(jester_dir, tmp_path_factory):
    """The tiny Jester set prepared in colour with DIS optical flow, for motion streams."""
    return made_once(
        tmp_path_factory,
        "prepared_flow",
        lambda out: prepare.prepare(jester_dir, out, size=40, gray=False, workers=2, flow_method="dis", progress=False),
    )


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory):
    """The README's first steps as a user types them, each a fresh process (see test_commands.py):
    synthetic.py -> prepare.py -> train.py with --lr-schedule -> train.py again with a new --lr.
    Returns the folder: synthetic/, data/, gestures.mp4 (and .json), model/, what each step printed, and
    the run's history.csv and checkpoint state after the first train.py."""

    def make(work):
        steps = {
            "synthetic": ["synthetic.py", work / "synthetic", "--clips-per-class", "4", "--validation-fraction", "0.25"],
            "prepare": ["prepare.py", work / "synthetic", "--out", work / "data", "--gray", "--size", "40", "--workers", "2"],
            "check": ["prepare.py", "check", work / "data"],
            "train": ["train.py", "--data", work / "data", "--run", work / "model", "--lr-schedule", "3e-3:1,5e-4:1", *TINY],
            "train_again": ["train.py", "--run", work / "model", "--epochs", "1", "--lr", "1e-4", "--workers", "1"],
        }
        steps["synthetic"] += ["--video", work / "gestures.mp4"]
        for name, command in steps.items():
            (work / f"{name}.out").write_text(run_command(*command))
            if name == "train":  # what the first invocation left, for the test that continues it
                shutil.copy(work / "model" / "history.csv", work / "history_before.csv")
                shutil.copy(work / "model" / "checkpoint" / "state.json", work / "state_before.json")

    return made_once(tmp_path_factory, "readme", make)


def validation_clips(run):
    """The run's 9 validation clips, as evaluation sees them."""
    config = load_run(run)[0]
    data = run_dataset(config, "validation", augment=False, shuffle=False, batch_size=9)
    return data[0][0]


def check_export(run, fmt, quantize):
    """The export of `run` that export.py recorded: it runs from its folder alone and gives the Keras
    model's probabilities on the validation clips, within the quantisation's tolerance."""
    path = run / "export" / export.export_name(fmt, quantize)
    recorded = json.loads((run / "export" / "exports.json").read_text())[path.name]
    assert recorded["clips"] == 10 and recorded["quantize"] == quantize
    clips = validation_clips(run)
    expected = load_run(run)[2].predict(clips, verbose=0)
    config, classes, model = load_export(path)  # from the export folder alone
    assert classes == json.loads((run / "classes.json").read_text()) and config["frames"] == 8
    got = model.predict(clips)
    tolerance = {"none": 1e-5, "float16": 1e-2, "int8": 5e-2}[quantize]
    np.testing.assert_allclose(got, expected, atol=tolerance)
    if quantize == "none":
        assert recorded["agreement"] == 1.0 and recorded["max_difference"] < 1e-5
    return path
