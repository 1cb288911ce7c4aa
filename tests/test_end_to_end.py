"""The user's path: prepare a dataset path -> train -> continue training -> evaluate -> app."""

import csv
import json

import pytest
from conftest import TINY

import app
import evaluate
import prepare
import train


@pytest.mark.slow
def test_prepare_train_evaluate_app(jester_dir, gesture_video, tmp_path, capsys):
    data, run = tmp_path / "data", tmp_path / "model"
    prepare.main([str(jester_dir), "--out", str(data), "--size", "40", "--gray", "--workers", "2"])
    train.main(["--data", str(data), "--run", str(run), "--epochs", "1", *TINY])
    train.main(["--run", str(run), "--epochs", "1", "--lr", "1e-4", "--workers", "1"])
    with open(run / "history.csv", newline="") as file:
        assert [float(row["lr"]) for row in csv.DictReader(file)] == [2e-3, 1e-4]
    metrics = evaluate.main(["--run", str(run)])
    assert metrics["num_clips"] == 9
    log = tmp_path / "predictions.jsonl"
    app.main(
        [
            "--run",
            str(run),
            "--source",
            str(gesture_video),
            "--no-display",
            "--sync",
            "--log",
            str(log),
            "--output",
            str(tmp_path / "annotated.mp4"),
            "--expect",
            f"{gesture_video}.json",
        ]
    )
    assert log.read_text().count("\n") > 5
    printed = capsys.readouterr().out
    assert "Prepared 36 clips" in printed and "top-1" in printed and "Recognised" in printed
    assert json.loads((run / "metrics.json").read_text())["top1"] == metrics["top1"]
