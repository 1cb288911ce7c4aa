"""Training across machines: two worker processes on localhost against one process, and a lost worker."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from conftest import ROOT, user_environment

import synthetic
import train
from clips.index import read_classes
from training import distribute, loop, lr_schedule
from training.runs import HISTORY_COLUMNS, RUN_DEFAULTS, RunCheckpoint, run_dataset

# pose_lstm: small and quick to build, with batch norm (synchronised over the workers) and dropout (off here,
# since each replica draws its own masks); 24 training clips in batches of 4, 8 validation clips
OPTIONS = ["--model", "pose_lstm", "--batch-size", "4", "--dropout", "0", "--workers", "1"]


@pytest.fixture(scope="module")
def poses(tmp_path_factory):
    folder = tmp_path_factory.mktemp("poses")
    synthetic.write_keypoint_dataset(folder, clips_per_class=16, seed=0)
    return folder


@pytest.fixture(scope="module")
def one_process(poses, tmp_path_factory):
    """The history of the same command as the workers', trained in one process: two epochs."""
    run = tmp_path_factory.mktemp("one_process")
    train.main(["--data", str(poses), "--run", str(run), "--epochs", "2", *OPTIONS, "--distribute", "none"])
    return losses(run)


def losses(run):
    """Each epoch's learning rate, loss, accuracy, validation loss and accuracy."""
    with open(run / "history.csv", newline="") as file:
        return np.array([[float(row[key]) for key in HISTORY_COLUMNS[1:]] for row in csv.DictReader(file)])


def free_ports(count):
    """Ports nothing listens on now, chosen by the system."""
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("localhost", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def start_workers(ports, arguments, logs):
    """`python train.py ARGUMENTS[i] --distribute multiworker` as worker i of len(ports), each with its own
    TF_CONFIG, as a user starts them on two machines; their output goes to the files `logs`."""
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    processes = []
    for index, (argv, log) in enumerate(zip(arguments, logs)):
        environment = dict(
            user_environment(), TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        )
        command = [sys.executable, "train.py", *argv, "--distribute", "multiworker"]
        with open(log, "w") as output:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT))
    return processes


def finish(processes, logs, timeout=240):
    for process, log in zip(processes, logs):
        assert process.wait(timeout=timeout) == 0, f"exit status {process.returncode}\n{log.read_text()[-3000:]}"


@pytest.mark.slow
def test_two_workers_train_as_one_process_does(poses, one_process, tmp_path):
    """Two epochs on two workers, each loading half of every batch, against the same command in one process."""
    chief_run, other_run = tmp_path / "chief", tmp_path / "other"
    common = ["--data", str(poses), "--epochs", "2", *OPTIONS]
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    finish(start_workers(free_ports(2), [[*common, "--run", str(chief_run)], [*common, "--run", str(other_run)]], logs), logs)
    said = logs[1].read_text()
    assert "on 24 clips, validating on 8 of 8; input (9, 34) of keypoints, batch 4 on 2 replicas of 2 workers" in said
    assert "(MultiWorkerMirroredStrategy; this is worker 1)" in said and "the chief saved" in said
    assert not other_run.exists()  # given a folder of its own, the other worker wrote nothing anywhere
    both = losses(chief_run)
    assert both.shape == one_process.shape == (2, 5)
    np.testing.assert_allclose(both, one_process, rtol=1e-3)  # measured: within 3e-5
    model = keras.saving.load_model(chief_run / "model.keras", safe_mode=True)
    assert all(layer.synchronized for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert json.loads((chief_run / "config.json").read_text())["batch_size"] == 4


@pytest.mark.slow
def test_a_lost_worker_stops_the_other_and_both_resume(poses, one_process, tmp_path):
    """Worker 1 killed in epoch 2 of 2: worker 0 stops with a message naming it; the same command on both
    then finishes the run with the history of one uninterrupted process."""
    run, ports = tmp_path / "run", free_ports(2)
    command = ["--data", str(poses), "--run", str(run), "--epochs", "2", *OPTIONS]
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    workers = start_workers(ports, [command] * 2, logs)
    state, deadline = run / "checkpoint" / "state.json", time.monotonic() + 180
    while not state.is_file() and time.monotonic() < deadline and workers[0].poll() is None:
        time.sleep(0.02)
    workers[1].send_signal(signal.SIGKILL)  # worker 0 has committed epoch 1: both are in epoch 2
    killed = time.monotonic()
    assert workers[0].wait(timeout=60) == 1
    stopped_after = time.monotonic() - killed
    said = logs[0].read_text()
    assert f"train.py: Lost worker 1 (localhost:{ports[1]}) during epoch 2 of 2" in said, said[-2000:]
    assert "Start the same command again on every worker: it resumes from the last completed epoch (epoch 1 here)" in said
    assert stopped_after < 30, stopped_after  # measured: 1-2 s, 8 s on a loaded machine
    assert json.loads(state.read_text())["epoch"] == 1
    finish(start_workers(ports, [command] * 2, logs), logs)
    assert "epochs 2-2 (resuming the interrupted invocation)" in logs[0].read_text()
    np.testing.assert_allclose(losses(run), one_process, rtol=1e-3)


def test_the_loop_gives_one_device_the_history_fit_gives(poses, tmp_path):
    """train.py keeps fit on one machine; the loop, given the same callbacks, data and weights, keeps the same history."""
    classes = read_classes(poses)
    config = {**RUN_DEFAULTS, "model": "pose_lstm", "modality": "keypoints", "data": str(poses), "input_shape": [9, 34]}
    config.update(batch_size=4, dropout=0.0)
    schedule = lr_schedule.make_schedule([[2e-3, 2]], decay="cosine")
    histories = []
    for use_loop in (False, True):
        model = train.new_model(config, classes)
        train.compile_model(model)
        train.build_training_state(model, config["input_shape"])
        state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "history": []}
        counters = lr_schedule.fresh_counters()
        callbacks = [lr_schedule.LearningRateControl(schedule, 0, counters), RunCheckpoint(tmp_path, state, write=False)]
        data, validation = run_dataset(config, "train", workers=1), run_dataset(config, "validation", workers=1)
        if use_loop:
            strategy = distribute.make_strategy("none")
            loop.fit_across_workers(model, strategy, data, validation, 2, 0, callbacks, verbose=0)
        else:
            model.fit(data, validation_data=validation, epochs=2, callbacks=callbacks, shuffle=False, verbose=0)
        histories.append(
            [[row[key] for key in ("lr", "loss", "accuracy", "val_loss", "val_accuracy")] for row in state["history"]]
        )
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
    assert not os.listdir(tmp_path)  # write=False: nothing written
