"""pretrained/torch_files.py: torch.save files (zip and legacy) and Caffe2 pickles read without torch, and
without running anything a file names."""

import os

import numpy as np
import pytest
from checkpoint_files import Global, write_caffe2, write_torch

from pretrained.torch_files import CheckpointError, Opaque, read_caffe2, read_torch


class Command:
    """What a malicious pickle holds: a call of os.system when it is loaded."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return Global("os", "system"), (self.command,)


class SystemCall:
    """The same in a plain pickle (Caffe2 files are plain pickles)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def checkpoint():
    rng = np.random.default_rng(0)
    state = {
        "conv.weight": rng.normal(size=(8, 3, 5, 7, 7)).astype("float32"),
        "norm.num_batches_tracked": np.array(1000, np.int64),
        "half.weight": rng.normal(size=(4, 2)).astype("float16"),
    }
    return {
        "epoch": 196,
        "model_state": state,
        "cfg": "MODEL:\n  ARCH: slowfast\n",
        "meta": {"seed": np.int64(3), "steps": [1, 2.5]},
    }


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_torch_checkpoint_reads_back_exactly(tmp_path, legacy):
    path = tmp_path / "checkpoint.pyth"
    written = checkpoint()
    write_torch(path, written, legacy=legacy)
    read = read_torch(path)
    assert (read["epoch"], read["cfg"], read["meta"]["seed"], read["meta"]["steps"]) == (196, written["cfg"], 3, [1, 2.5])
    for name, value in written["model_state"].items():
        got = read["model_state"][name]
        assert got.dtype == value.dtype and got.shape == value.shape, name
        np.testing.assert_array_equal(got, value)


def test_nothing_a_torch_file_names_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    write_torch(path, {"state_dict": {"w": np.zeros(2, np.float32)}, "payload": Command(f"touch {marker}")})
    read = read_torch(path)
    assert isinstance(read["payload"], Opaque) and not marker.exists()
    np.testing.assert_array_equal(read["state_dict"]["w"], np.zeros(2))


def test_a_caffe2_pickle_reads_its_blobs_and_nothing_else(tmp_path):
    path = tmp_path / "SLOWFAST_4x16_R50.pkl"
    blobs = {"conv1_w": np.arange(24, dtype=np.float32).reshape(2, 3, 1, 2, 2), "model_iter": np.array([7], np.int64)}
    write_caffe2(path, blobs)
    read = read_caffe2(path)
    assert set(read) == set(blobs) and all(np.array_equal(read[name], blobs[name]) for name in blobs)
    marker = tmp_path / "ran"
    write_caffe2(path, {"conv1_w": SystemCall(f"touch {marker}")})
    with pytest.raises(CheckpointError, match=r"names (posix|os)\.system"):
        read_caffe2(path)
    assert not marker.exists()


def test_what_is_no_torch_file_is_said(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="neither a zip nor a legacy torch.save file"):
        read_torch(path)
