import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import ROOT, TINY

import network
import train
from training import lr_schedule, runs, settings


def history(run):
    with open(run / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_a_run_folder_has_everything(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.json", "classes.json", "model.keras", "checkpoint", "history.csv", "chart.png"} <= names
    rows = history(trained_run)
    assert list(rows[0]) == ["epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [row["epoch"] for row in rows] == ["1", "2"] and float(rows[0]["lr"]) == 2e-3
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"] == "slowfast" and config["input_shape"] == [8, 32, 32, 1]
    model = keras.models.load_model(trained_run / "model.keras", safe_mode=True)
    assert model.output_shape == (None, 10)
    assert (trained_run / "chart.png").read_bytes()[:4] == b"\x89PNG"


def test_continuing_with_another_model_or_shape_is_refused(trained_run, prepared_dir, tmp_path):
    run = tmp_path / "run"
    os.system(f"cp -r {trained_run} {run}")
    with pytest.raises(SystemExit, match="frames 8 \\(asked 16\\)"):
        train.main(["--run", str(run), "--frames", "16"])
    with pytest.raises(SystemExit, match="model slowfast \\(asked slowfast_r50\\)"):
        train.main(["--run", str(run), "--model", "slowfast_r50"])
    with pytest.raises(SystemExit, match="batch_size 8 \\(asked 16\\)"):
        train.main(["--run", str(run), "--batch-size", "16"])
    config = json.loads((run / "config.json").read_text())
    flipped = config["flip"]
    with pytest.raises(SystemExit, match=f"flip {flipped} \\(asked {not flipped}\\)"):
        train.main(["--run", str(run), "--flip" if not flipped else "--no-flip"])
    del config["flip"]  # a run from before the option: it did not flip
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match="flip False \\(asked True\\)"):
        train.main(["--run", str(run), "--flip"])
    data = tmp_path / "data at 6 fps"  # the same classes, prepared with --fps 6: the app would sample it wrongly
    data.mkdir()
    shutil.copy(prepared_dir / "classes.json", data)
    (data / "dataset.json").write_text(json.dumps({**json.loads((prepared_dir / "dataset.json").read_text()), "fps": 6}))
    with pytest.raises(SystemExit, match=f"fps 12 \\(the data {data} has 6\\)"):
        train.main(["--run", str(run), "--data", str(data)])


def test_lr_schedule_phases_are_read_and_checked():
    # a run with --lr-schedule 3e-3:1,5e-4:1, continued with --lr 1e-4: test_commands.py (readme_run)
    assert lr_schedule.parse_phases("2e-3:20,1e-4:10") == [[2e-3, 20], [1e-4, 10]]
    with pytest.raises(ValueError, match="LR:EPOCHS"):
        lr_schedule.parse_phases("fast")
    with pytest.raises(SystemExit):
        train.main(["--lr-schedule", "1e-3:1", "--lr", "1e-4"])


def numbers(rows):
    return np.array([[float(row[key]) for key in runs.HISTORY_COLUMNS] for row in rows])


# a schedule with a position to keep: warm-up, cosine decay, and a plateau that may halve the rate
SCHEDULE = ["--epochs", "4", "--lr", "3e-3", "--warmup", "1", "--decay", "cosine", "--plateau", "1:0.5"]


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_exactly(prepared_dir, tmp_path):
    """The same command after a SIGKILL finishes the run with the history of the uninterrupted one."""

    def command(run):
        return [sys.executable, str(ROOT / "train.py"), "--data", str(prepared_dir), "--run", str(run), *TINY, *SCHEDULE]

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(command(whole), check=True, capture_output=True)
    process = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file, deadline = killed / "checkpoint" / "state.json", time.monotonic() + 240
    while time.monotonic() < deadline and not (state_file.is_file() and json.loads(state_file.read_text())["epoch"] >= 2):
        time.sleep(0.05)
    time.sleep(0.3)  # now inside epoch 3 (or writing its checkpoint)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = json.loads(state_file.read_text())["epoch"]
    assert 2 <= done < 4
    finished = subprocess.run(command(killed), check=True, capture_output=True, text=True)
    assert "resuming the interrupted invocation" in finished.stdout
    expected, resumed = numbers(history(whole)), numbers(history(killed))
    assert resumed.shape == expected.shape == (4, len(runs.HISTORY_COLUMNS))
    np.testing.assert_allclose(resumed, expected, rtol=1e-4, atol=1e-7)
    config = json.loads((killed / "config.json").read_text())
    assert [(r["from_epoch"], r["to_epoch"]) for r in config["runs"]] == [(1, 4)]  # one invocation, finished
    assert not (killed / ".checkpoint.tmp").exists() and not (killed / ".checkpoint.old").exists()
    # (a different command, a new --lr, goes on as a new invocation: test_commands.py's train-again step)


def test_the_same_seed_gives_the_same_history_and_fresh_starts_over(trained_run, prepared_dir, tmp_path, monkeypatch):
    """--fresh over a copy of the shared run (seed 0, trained in whichever process made the fixture) trains
    the same epochs again; another seed trains others. A relative --data is kept as an absolute path, since
    evaluate.py and the next train.py may start in another folder."""

    def run(folder, *options):
        train.main(["--data", str(prepared_dir), "--run", str(folder), "--epochs", "2", *options, *TINY])
        return numbers(history(folder))

    first, copy = numbers(history(trained_run)), tmp_path / "first"
    shutil.copytree(trained_run, copy)
    (copy / "notes.txt").write_text("mine")
    (copy / "streams.json").write_text("{}")  # what evaluate.py --stream and export.py made of the model before
    (copy / "export").mkdir()
    (copy / "export" / "model.tflite").write_bytes(b"the old model")
    np.testing.assert_array_equal(run(copy, "--fresh"), first)  # started over: two epochs, the same ones
    assert (copy / "notes.txt").read_text() == "mine"  # only the run's own files go
    assert not (copy / "streams.json").exists() and not (copy / "export").exists()
    monkeypatch.chdir(prepared_dir.parent)
    assert not np.allclose(run(tmp_path / "other", "--seed", "1", "--data", prepared_dir.name)[:, 2:], first[:, 2:])
    assert json.loads((tmp_path / "other" / "config.json").read_text())["data"] == str(prepared_dir.resolve())


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="written by prepare.py"):
        train.main(["--data", str(tmp_path / "nowhere"), "--run", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()  # no empty run folder left behind


def test_ctrl_c_says_how_to_carry_on_instead_of_a_traceback(tmp_path, monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train", interrupted)
    with pytest.raises(SystemExit) as stopped:
        train.main(["--run", str(tmp_path / "run")])
    assert stopped.value.code == 130 and "the same command carries on" in capsys.readouterr().err


def test_a_best_model_is_only_moved_into_place_for_a_committed_epoch(trained_run, tmp_path):
    """Killed after saving an improved model: committed epochs finish, uncommitted ones are dropped."""
    run = tmp_path / "run"
    os.system(f"cp -r {trained_run} {run}")
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    committed = runs.best_candidate(run, state["best_epoch"])
    uncommitted = runs.best_candidate(run, state["epoch"] + 1)
    committed.write_bytes(b"committed")
    uncommitted.write_bytes(b"uncommitted")
    loaded_state = runs.recover_checkpoint(run)
    assert loaded_state == state
    assert (run / "model.keras").read_bytes() == b"committed"
    assert not committed.exists() and not uncommitted.exists()


# I3D's training step is slow on a CPU at 32x32 (its 3D pooling and convolution gradients); it pads
# "same", so 16x16 frames go through.
I3D_SIZE = ["--size", "16"]


def test_weights_are_refused_for_a_model_without_them(prepared_dir, tmp_path):
    with pytest.raises(
        SystemExit, match="--weights applies to i3d, mobilenet_gru, mobilenet_lstm, slowfast_r50, .*, tsm_mobilenet, two_stream"
    ):
        train.main(["--data", str(prepared_dir), "--run", str(tmp_path), "--weights", "imagenet", *TINY])


def test_pose_lstm_learns_moving_skeletons_end_to_end(tmp_path):
    """Keypoints of waving and squatting skeletons (synthetic.py --keypoints) -> train.py -> evaluate.py."""
    import evaluate
    import synthetic

    data, run = tmp_path / "poses", tmp_path / "run"
    synthetic.write_keypoint_dataset(data, clips_per_class=40, seed=0)
    train.main(["--data", str(data), "--run", str(run), "--model", "pose_lstm", "--epochs", "12", "--batch-size", "16"])
    config = json.loads((run / "config.json").read_text())
    assert config["modality"] == "keypoints" and config["input_shape"] == [9, 34]
    metrics = evaluate.main(["--run", str(run), "--workers", "1"])
    assert metrics["num_clips"] == 20 and metrics["top1"] >= 0.9


def test_freeze_backbone_epochs_train_the_head_first(prepared_dir, tmp_path):
    """--freeze-backbone-epochs 1 with a local weights file: epoch 1 keeps the backbone, epoch 2 trains it."""
    import evaluate

    source = network.build_model("i3d", input_shape=(8, 16, 16, 1), num_classes=400)  # as if converted from Kinetics
    weights = tmp_path / "i3d.weights.h5"
    source.save_weights(weights)
    run, options = tmp_path / "run", ["--data", str(prepared_dir), "--model", "i3d", *TINY, *I3D_SIZE]
    train.main(["--run", str(run), "--weights", str(weights), "--freeze-backbone-epochs", "1", "--epochs", "1", *options])

    def kernels(path):
        model = keras.models.load_model(path)
        return [model.get_layer(name).get_weights()[0] for name in ("Conv3d_1a_7x7_conv", "head_logits")]

    stem = source.get_layer("Conv3d_1a_7x7_conv").get_weights()[0]
    frozen_stem, trained_head = kernels(run / "checkpoint" / "model.keras")
    np.testing.assert_array_equal(frozen_stem, stem)  # loaded from the file and kept
    assert trained_head.shape[-1] == 10  # a new head for the 10 classes, on the loaded backbone
    train.main(["--run", str(run), "--epochs", "1", "--workers", "1"])  # continues past the switch
    assert not np.allclose(kernels(run / "checkpoint" / "model.keras")[0], stem)
    assert json.loads((run / "config.json").read_text())["freeze_backbone_epochs"] == 1
    assert evaluate.main(["--run", str(run), "--workers", "1"])["num_clips"] == 10  # I3D's run is evaluated
    with pytest.raises(SystemExit, match="has none here"):
        train.main(["--run", str(tmp_path / "other"), "--freeze-backbone-epochs", "2", *options])


def test_the_runs_in_the_config_say_what_happened():
    plan = lr_schedule.make_schedule([[1e-3, 10]])
    other = lr_schedule.make_schedule([[1e-4, 5]])
    config = {"runs": []}
    state = {"epoch": 0}
    first, resumed = train.invocation_of(plan, state, config)
    assert not resumed and config["runs"] == [{"from_epoch": 1, "to_epoch": 10, "schedule": plan}]
    state.update(epoch=4, invocation=dict(first, done=False))  # killed after epoch 4
    second, _ = train.invocation_of(other, state, config)  # another command: the first ends at 4
    assert config["runs"][0]["ended_at"] == 4 and (second["from_epoch"], second["to_epoch"]) == (5, 9)
    # killed before epoch 5 counted; the first command again resumes its invocation, the second is gone
    again, resumed = train.invocation_of(plan, state, config)
    assert resumed and again == state["invocation"] and config["runs"] == [{"from_epoch": 1, "to_epoch": 10, "schedule": plan}]
    state.update(epoch=7, invocation=dict(first, done=True))  # stopped early at 7
    third, resumed = train.invocation_of(plan, state, config)
    assert not resumed and config["runs"][0]["ended_at"] == 7 and third["from_epoch"] == 8


def test_bad_numbers_are_refused_up_front():
    for option, value in (("--lr", "0"), ("--batch-size", "0"), ("--warmup", "-1"), ("--dropout", "1")):
        with pytest.raises(SystemExit):
            train.main([option, value])


def test_the_best_epoch_is_the_most_accurate_then_the_lowest_validation_loss():
    state = {"best_val_accuracy": 1.0, "best_epoch": 1, "history": [{"val_accuracy": 1.0, "val_loss": 0.06}]}
    assert runs.improves_on_best({"val_accuracy": 1.0, "val_loss": 0.01}, state)  # as accurate, surer
    assert not runs.improves_on_best({"val_accuracy": 1.0, "val_loss": 0.07}, state)
    assert not runs.improves_on_best({"val_accuracy": 0.9, "val_loss": 0.001}, state)
    assert not runs.improves_on_best({"val_accuracy": 1.0, "val_loss": float("nan")}, state)
    first = {"best_val_accuracy": -1.0, "best_epoch": 0, "history": []}
    assert runs.improves_on_best({"val_accuracy": 0.0, "val_loss": 2.0}, first)


def test_the_default_model_trains_on_steady_flow_where_the_data_has_it(prepared_dir, tmp_path):
    """prepare.py writes steady flow by default; slowfast then trains on it (training/settings.py's
    STEADY_FLOW), unless asked for frames; other models and other flow keep their defaults."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("classes.json", "index.csv"):
        shutil.copy(prepared_dir / name, data)
    dataset = json.loads((prepared_dir / "dataset.json").read_text())

    def config(flow, *argv):
        (data / "dataset.json").write_text(json.dumps({**dataset, "flow": flow}))
        args = train.make_parser().parse_args(["--data", str(data), *argv])
        return settings.resolve_config(args, tmp_path / "run", None)[0]

    steady = config("farneback-steady")
    assert (steady["modality"], steady["flip"], steady["input_shape"]) == ("flow", True, [16, 48, 48, 4])
    assert steady["model_options"] == settings.FLOW_SLOWFAST == {"fast_stem_frames": 1}
    assert steady["flow_method"] == "farneback-steady" and steady["prepared_size"] == 40
    asked = config("dis-steady", "--modality", "flow", "--size", "64", "--no-flip")
    assert (asked["modality"], asked["flip"], asked["input_shape"]) == ("flow", False, [16, 64, 64, 4])
    own_flow = config("tvl1 (the dataset's tvl1_flow)")  # a layout's own flow is not steady
    for frames in (config("farneback-steady", "--modality", "frames"), config(None), config("dis"), own_flow):
        assert (frames["modality"], frames["flip"], frames["input_shape"]) == ("frames", False, [16, 112, 112, 1])
    assert not any("model_options" in run for run in (config("farneback-steady", "--modality", "frames"), own_flow))
    assert config("farneback-steady", "--model", "c3d")["modality"] == "frames"
    assert config("farneback-steady", "--model", "two_stream", "--modality", "flow")["input_shape"] == [1, 112, 112, 20]
    with pytest.raises(ValueError, match="has no optical flow \\(prepared with --flow none\\)"):
        config(None, "--modality", "flow")
    # numbered classes (IsoGD's ids) do not say which class a mirror image is: not mirrored unless asked
    classes = json.loads((data / "classes.json").read_text())
    (data / "classes.json").write_text(json.dumps([str(n) for n in range(1, len(classes) + 1)]))
    assert config("farneback-steady")["flip"] is False and config("farneback-steady", "--flip")["flip"] is True


def test_a_run_builds_the_model_its_config_records(tmp_path):
    """The fast stem's temporal kernel comes from the run's config: 1 on flow as training/settings.py
    records it, the paper's 5 for a run whose config predates the option, so that it still continues."""
    config = {"model": "slowfast", "input_shape": [16, 32, 32, 4], "dropout": None, "seed": 0, "freeze_backbone_epochs": 0}
    kernel = lambda config: train.new_model(config, ["a", "b"]).get_layer("fast_stem_conv").kernel.shape  # noqa: E731
    assert kernel({**config, "model_options": settings.FLOW_SLOWFAST}) == (1, 7, 7, 4, 4)
    assert kernel(config) == (5, 7, 7, 4, 4)


def test_the_chart_is_drawn_when_a_run_ends_unless_it_shows_every_epoch_already(tmp_path, monkeypatch):
    """An epoch within CHART_SECONDS of the last drawing leaves the chart as it is, so the run's end
    draws the epochs it is missing, and nothing when it shows them all."""
    drawn = []
    monkeypatch.setattr(runs, "plot_history", lambda history, path: drawn.append(len(history)))
    rows = [{"epoch": n, "lr": 2e-3, "loss": 1.0, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5} for n in (1, 2)]
    checkpoint = runs.RunCheckpoint(tmp_path, {"history": rows[:1]})
    checkpoint.write_chart()
    checkpoint.state["history"] = rows
    checkpoint.on_train_end()
    checkpoint.on_train_end()
    assert drawn == [1, 2]
