"""Training through tf.distribute and in mixed precision, on this machine's CPU."""

import csv
import json
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
from conftest import ROOT, TINY

import train
from network import build_model
from training import distribute, runs

# Two logical CPU devices must be configured before TensorFlow starts, so this runs in its own process.
TWO_CPUS = """
import sys
sys.path.insert(0, {root!r})
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import train
train.main(sys.argv[1:])
"""


def history(run):
    with open(run / "history.csv", newline="") as file:
        return np.array([[float(value) for value in row.values()] for row in csv.DictReader(file)])


def subset(prepared_dir, folder, train=26, validation=8):
    """The prepared set cut to `train` and `validation` clips (26 and 8 split over 2 replicas)."""
    folder.mkdir()
    for path in prepared_dir.iterdir():
        if path.name != "index.csv":
            (folder / path.name).symlink_to(path)
    header, *rows = (prepared_dir / "index.csv").read_text().splitlines()
    kept = [row for row in rows if ",train," in row][:train] + [row for row in rows if ",validation," in row][:validation]
    (folder / "index.csv").write_text("\n".join([header, *kept]) + "\n")
    return folder


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_matches_one_device(prepared_dir, tmp_path):
    # Dropout draws its masks per replica, so it is off here: everything else must agree. At the default rate
    # (2e-3) Adam's first steps, nearly the sign of each gradient, amplify the rounding of the synchronised batch
    # norm to 1 % within these 4 steps; at 5e-4 it stays within 1.3e-3 (and within 7e-4 on one thread).
    data = subset(prepared_dir, tmp_path / "even")
    common = ["--data", str(data), "--epochs", "1", "--dropout", "0", "--lr", "5e-4", *TINY]
    script = TWO_CPUS.format(root=str(ROOT))
    mirrored = subprocess.run(
        [sys.executable, "-c", script, *common, "--run", str(tmp_path / "mirrored"), "--distribute", "mirrored"],
        check=True,
        capture_output=True,
        text=True,
    )
    said = "on 26 clips, validating on 8 of 8; input (8, 32, 32, 1) of frames, batch 8 on 2 replicas (MirroredStrategy)"
    assert said in mirrored.stdout
    train.main([*common, "--run", str(tmp_path / "single"), "--distribute", "none"])
    single, both = history(tmp_path / "single"), history(tmp_path / "mirrored")
    assert single.shape == both.shape == (1, 6)
    np.testing.assert_allclose(both, single, rtol=2e-3)  # loss, accuracy, val_loss, val_accuracy of the epoch
    config = json.loads((tmp_path / "mirrored" / "config.json").read_text())
    assert config["dropout"] == 0 and config["batch_size"] == 8
    model = keras.models.load_model(tmp_path / "mirrored" / "model.keras")
    assert all(layer.synchronized for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))


def test_the_global_batch_splits_evenly_over_the_replicas():
    three = types.SimpleNamespace(num_replicas_in_sync=3)
    assert distribute.global_batch(16, three) == (15, "--batch-size 16 does not split evenly over 3 replicas; using 15")
    assert distribute.global_batch(2, three)[0] == 3  # at least one clip per replica
    assert distribute.global_batch(16, types.SimpleNamespace(num_replicas_in_sync=1)) == (16, None)


def test_the_start_line_says_how_the_model_is_computed_and_why(monkeypatch):
    model = build_model("slowfast", (4, 32, 32, 1), 3)
    monkeypatch.setattr(distribute, "cpu_has_bfloat16", lambda: True)
    said = distribute.describe_speed(model, "float32")
    assert said.startswith("3D convolutions as 2D frame stacks, TensorFlow's fused batch norm, float32 (the CPU has bfloat16")
    assert "XLA off" in said
    monkeypatch.setattr(distribute, "cpu_has_bfloat16", lambda: False)
    distribute.adapt_model(model, types.SimpleNamespace(num_replicas_in_sync=2))  # the fused kernel cannot sync
    said = distribute.describe_speed(model, "float32")
    assert "Keras's synchronised batch norm" in said and "bfloat16" not in said
    assert "frame stacks" not in distribute.describe_speed(build_model("pose_lstm", (9, 66), 3), "float32")


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        distribute.make_strategy("multiworker")
    assert distribute.make_strategy("auto").num_replicas_in_sync == 1  # no GPU, no TF_CONFIG: one device
    with pytest.raises(SystemExit):
        train.main(["--distribute", "everywhere"])


def test_mixed_precision_trains_and_is_kept_for_the_run(prepared_dir, tmp_path):
    run = tmp_path / "run"
    try:
        train.main(["--data", str(prepared_dir), "--run", str(run), "--epochs", "1", "--mixed-precision", *TINY])
        train.main(["--run", str(run), "--epochs", "1", *TINY])  # continuing keeps the run's precision
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert json.loads((run / "config.json").read_text())["mixed_precision"] is True
    assert np.isfinite(history(run)[:, 2:]).all()
    model = keras.models.load_model(run / "checkpoint" / "model.keras")
    assert model.get_layer("predictions").dtype_policy.name == "float32"  # probabilities in float32
    assert model.get_layer("slow_stem_conv").dtype_policy.name == "mixed_bfloat16"  # the convolutions in bfloat16
    assert model.predict(np.zeros((1, 8, 32, 32, 1), "float32"), verbose=0).dtype == np.float32
    _, _, loaded = runs.load_run(run)  # for evaluate.py and the app on a CPU: float32 throughout
    assert {layer.dtype_policy.name for layer in distribute.all_layers(loaded)} == {"float32"}
    clip = np.random.default_rng(0).uniform(-1, 1, (1, 8, 32, 32, 1)).astype("float32")
    mixed = keras.models.load_model(run / "model.keras")  # the same epoch, in bfloat16
    np.testing.assert_allclose(loaded.predict(clip, verbose=0), mixed.predict(clip, verbose=0), atol=0.02)
