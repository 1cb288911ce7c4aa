"""The README's commands as a user types them: each a fresh `python script.py ...` process.

One interpreter that imported everything hides a missing import (a model that cannot be loaded
by the script that needs it), so here every command starts from nothing, with the venv's Python
and without TF_CPP_MIN_LOG_LEVEL, at a tiny size, and must print no CUDA error (conftest's
`run_command`). The `readme_run` fixture walks synthetic.py -> prepare.py -> prepare.py check ->
train.py -> train.py again; these tests check what each step wrote and go on from there.
Deployment (export.py, and the app and evaluate.py on exports) is in test_commands_deploy.py.
"""

import csv
import json
import subprocess
import sys

import keras
import pytest
from conftest import ROOT, TINY, run_command, user_environment

pytestmark = pytest.mark.slow


def test_synthetic_prepare_and_check(readme_run):
    assert len((readme_run / "synthetic" / "jester-v1-train.csv").read_text().splitlines()) == 30
    assert json.loads((readme_run / "gestures.mp4.json").read_text())["gestures"]
    assert "Prepared 40 clips" in (readme_run / "prepare.out").read_text()
    # steady flow by default, and the default model trains on it
    assert json.loads((readme_run / "data" / "dataset.json").read_text())["flow"] == "farneback-steady"
    with open(readme_run / "data" / "index.csv", newline="") as file:
        assert all(int(row["num_flow"]) == int(row["num_frames"]) - 1 for row in csv.DictReader(file))
    config = json.loads((readme_run / "model" / "config.json").read_text())
    assert (config["modality"], config["flip"], config["input_shape"]) == ("flow", True, [8, 32, 32, 4])
    checked = (readme_run / "check.out").read_text()
    assert "validation" in checked and "10" in checked


def test_train_then_train_again_with_a_new_rate(readme_run):
    run = readme_run / "model"
    with open(run / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [float(row["lr"]) for row in rows] == pytest.approx([3e-3, 5e-4, 1e-4])  # two phases, then the new rate
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    with open(readme_run / "history_before.csv", newline="") as file:
        assert rows[:2] == list(csv.DictReader(file))  # the earlier epochs are kept as they were
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 3 and json.loads((readme_run / "state_before.json").read_text())["epoch"] == 2
    optimizer = keras.models.load_model(run / "checkpoint" / "model.keras").optimizer
    assert int(optimizer.iterations.numpy()) == 3 * 4  # 30 clips in batches of 8, 3 epochs: state carried over
    runs = json.loads((run / "config.json").read_text())["runs"]
    assert [(r["from_epoch"], r["to_epoch"]) for r in runs] == [(1, 2), (3, 3)]
    assert (run / "chart.png").is_file() and "Best validation accuracy" in (readme_run / "train_again.out").read_text()


def test_evaluate_a_run_that_train_wrote(readme_run):
    run = readme_run / "model"
    printed = run_command("evaluate.py", "--run", run, "--clips", "2", "--crops", "3")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_clips"] == 10 and metrics["views"] == {"clips": 2, "crops": 3}
    assert f"top-1 {metrics['top1']:.4f}" in printed


def test_evaluate_the_events_on_a_stream(readme_run, tmp_path):
    run, video = readme_run / "model", readme_run / "gestures.mp4"
    printed = run_command("evaluate.py", "--run", run, "--stream", video)
    report = json.loads((run / "streams.json").read_text())
    figures, truth = report["streams"][str(video)], json.loads((readme_run / "gestures.mp4.json").read_text())
    assert figures["gestures"] == len(truth["gestures"]) == 8 and figures["hits"] + len(figures["missed"]) == 8
    assert figures["events"] == figures["hits"] + figures["false"] and report["events"]["threshold"] > 0
    assert f"Levenshtein accuracy {figures['levenshtein_accuracy']:.3f}" in printed
    alone = tmp_path / "alone.mp4"  # a video without its truth beside it
    alone.write_bytes(video.read_bytes())
    missing = run_command("evaluate.py", "--run", run, "--stream", alone, expect_status=1)
    assert "No truth file" in missing and "Traceback" not in missing


def test_compare_two_small_models_then_fuse_two_runs(readme_run, tmp_path):
    """compare.py trains and evaluates each model through train.py and evaluate.py: the default model's family
    and the 2D backbone over frames (C3D and I3D train and reload in test_network.py and the freeze test)."""
    out = tmp_path / "comparison"
    command = ["compare.py", "--data", readme_run / "data", "--models", "slowfast,mobilenet_gru", "--out", out]
    command += ["--calls", "2", "--epochs", "1", *TINY]
    run_command(*command)
    rows = json.loads((out / "comparison.json").read_text())
    assert [row["model"] for row in rows] == ["slowfast", "mobilenet_gru"]
    for row in rows:
        assert row["epochs"] == 1 and row["input"] == [8, 32, 32, 4 if row["model"] == "slowfast" else 1]
        assert 0 <= row["top1"] <= 1 and row["parameters"] > 0.1 and row["gflops"] > 0
        assert row["train_clips_per_second"] > 0 and row["inference_ms"] > 0
        config = json.loads((out / row["model"] / "config.json").read_text())
        assert config["model"] == row["model"] and len((out / row["model"] / "history.csv").read_text().splitlines()) == 2
        assert json.loads((out / row["model"] / "metrics.json").read_text())["num_clips"] == 10
    assert json.loads((out / "mobilenet_gru" / "config.json").read_text())["weights"] == "none"  # gray: no ImageNet
    assert rows[1]["gflops"] > 4 * rows[0]["gflops"]  # a MobileNet on every frame costs more than the small SlowFast
    table = (out / "comparison.md").read_text()
    assert "| `slowfast` | 8x32x32x4 | 1 |" in table and "| `mobilenet_gru` |" in table and "--epochs 1" in table
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    history = (out / "mobilenet_gru" / "history.csv").read_text()
    printed = run_command(*command)  # the same command again measures, but does not train again
    assert "trained already" in printed and (out / "mobilenet_gru" / "history.csv").read_text() == history
    assert [row["top1"] for row in json.loads((out / "comparison.json").read_text())] == [row["top1"] for row in rows]
    # The README fuses a two-stream pair (spatial and motion); two clip runs (the comparison's slowfast
    # and the README's run, both on data/) walk the same command
    printed = run_command("evaluate.py", "--fuse", out / "slowfast", readme_run / "model")
    fused = json.loads((out / "slowfast" / "fusion.json").read_text())
    assert fused["num_clips"] == 10 and set(fused["streams"]) == {str(out / "slowfast"), str(readme_run / "model")}
    assert "average fusion" in printed


def test_synthetic_keypoints_write_a_keypoint_set(tmp_path):
    # the README's keypoint extraction needs MediaPipe's model file; synthetic.py --keypoints runs without it
    run_command("synthetic.py", tmp_path / "poses_demo", "--keypoints", "--clips-per-class", "4")
    with open(tmp_path / "poses_demo" / "index.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) >= 8 and all((tmp_path / "poses_demo" / "keypoints" / f"{row['clip']}.npy").is_file() for row in rows)


COMMANDS = ["prepare.py", "synthetic.py", "train.py", "evaluate.py", "app.py", "export.py", "compare.py", "convert_weights.py"]
BENCHES = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "bench").glob("*.py"))

# The benches' --help in one interpreter, each run as its own __main__ from bench/ (as `python bench/x.py`
# runs it): one TensorFlow start-up instead of one per bench
HELP_OF_EACH = """
import contextlib, io, runpy, sys
sys.path.insert(0, "bench")
for script in sys.argv[1:]:
    sys.argv, printed = [script, "--help"], io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as done:
            assert done.code in (0, None), f"{script} --help exited with {done.code}"
    assert printed.getvalue().startswith("usage:") and "--" in printed.getvalue(), script
    print("answered", script)
"""


def test_every_script_answers_help():
    def start(*command):
        command = [sys.executable, *command]
        return subprocess.Popen(
            command, cwd=ROOT, env=user_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    running = {script: start(script, "--help") for script in COMMANDS}  # at once: each mostly waits for its imports
    running["bench/"] = start("-c", HELP_OF_EACH, *BENCHES)
    for script, process in running.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"{script} --help failed:\n{err[-3000:]}"
        assert "cuInit" not in err, script
        if script == "bench/":
            assert out.split() == [word for bench in BENCHES for word in ("answered", bench)]
        else:
            assert out.startswith("usage:") and "--" in out, script
