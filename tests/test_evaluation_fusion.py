"""Two-stream runs (spatial on frames, motion on flow) trained through train.py, fused by evaluate.py."""

import json
import shutil

import keras
import numpy as np
import pytest

import evaluate
import train
from training import runs

# Xception's smallest input; one frame or one stack of 2 flow pairs per clip
STREAM = ["--model", "two_stream", "--size", "71", "--frames", "1", "--batch-size", "10", "--workers", "1", "--weights", "none"]


@pytest.fixture(scope="module")
def stream_runs(prepared_dir, flow_prepared_dir, tmp_path_factory):
    """A spatial run on frames prepared without flow, a motion run on the same clips prepared with it: the
    fusion scores each on its own data."""
    root = tmp_path_factory.mktemp("streams")
    train.main(["--data", str(prepared_dir), "--epochs", "1", *STREAM, "--run", str(root / "spatial"), "--channels", "3"])
    motion = ["--modality", "flow", "--flow-pairs", "2"]
    train.main(["--data", str(flow_prepared_dir), "--epochs", "1", *STREAM, "--run", str(root / "motion"), *motion])
    return root / "spatial", root / "motion"


def test_each_stream_trains_as_its_own_run(stream_runs):
    spatial, motion = (json.loads((run / "config.json").read_text()) for run in stream_runs)
    assert spatial["input_shape"] == [1, 71, 71, 3] and spatial["modality"] == "frames"
    assert motion["input_shape"] == [1, 71, 71, 4] and motion["modality"] == "flow" and motion["flow_pairs"] == 2
    metrics = evaluate.main(["--run", str(stream_runs[1]), "--workers", "1"])
    assert metrics["num_clips"] == 10


def test_evaluate_fuses_two_streams(stream_runs, capsys, monkeypatch):
    from evaluation import fusion

    splits, learned_from = [], []  # what the recurrent fusion is trained on: the training clips only
    stream_outputs, recurrent_fusion = fusion.stream_outputs, fusion.recurrent_fusion

    def recording_outputs(model, config, split, *args, **kwargs):
        splits.append(split)
        return stream_outputs(model, config, split, *args, **kwargs)

    def recording_fusion(features, labels, *args, **kwargs):
        learned_from.append(labels)
        return recurrent_fusion(features, labels, *args, **kwargs)

    monkeypatch.setattr(fusion, "stream_outputs", recording_outputs)
    monkeypatch.setattr(fusion, "recurrent_fusion", recording_fusion)
    spatial, motion = stream_runs
    results = evaluate.main(["--fuse", str(spatial), str(motion), "--positions", "3", "--workers", "1"])
    assert splits == ["validation", "validation", "train", "train"] and len(learned_from[0]) == 30  # the 30 training clips
    assert set(results) >= {"streams", "average_fusion", "recurrent_fusion"} and results["num_clips"] == 10
    assert all(0 <= accuracy <= 1 for accuracy in [*results["streams"].values(), results["recurrent_fusion"]])
    assert json.loads((spatial / "fusion.json").read_text()) == results
    fused = keras.models.load_model(spatial / "fusion.keras", safe_mode=True)
    assert fused.input_shape == (None, 3, 2 * 2048)  # both streams' features at 3 positions
    assert "recurrent fusion (GRU)" in capsys.readouterr().out


def test_fusion_refuses_runs_of_other_classes(stream_runs, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(stream_runs[1], other)
    classes = json.loads((other / "classes.json").read_text())
    (other / "classes.json").write_text(json.dumps(classes[::-1]))
    with pytest.raises(SystemExit, match="different classes"):
        evaluate.main(["--fuse", str(stream_runs[0]), str(other)])
    with pytest.raises(SystemExit) as exit:
        evaluate.main(["--fuse", *map(str, stream_runs), "--weights", "1"])
    assert exit.value.code == 2 and "two non-negative numbers" in capsys.readouterr().err


def test_runs_on_data_of_other_clips_are_not_fused(stream_runs, prepared_dir, tmp_path):
    spatial, data = tmp_path / "spatial", tmp_path / "data"
    shutil.copytree(stream_runs[0], spatial)
    config = json.loads((spatial / "config.json").read_text())
    shutil.copytree(prepared_dir, data)
    index = (data / "index.csv").read_text().splitlines()
    (data / "index.csv").write_text("\n".join(index[:-1]) + "\n")  # one validation clip fewer
    (spatial / "config.json").write_text(json.dumps({**config, "data": str(data)}))
    with pytest.raises(SystemExit, match="hold different validation clips"):
        evaluate.main(["--fuse", str(spatial), str(stream_runs[1])])


def test_stream_scores_are_the_per_position_scores_averaged(stream_runs):
    from evaluation import fusion

    config, _, model = runs.load_run(stream_runs[0])
    scores, features, labels = fusion.stream_outputs(model, config, "validation", config["data"], positions=3)
    assert features.shape == (10, 3, 2048) and scores.shape == (10, 10)
    data = runs.run_dataset(config, "validation", num_frames=3, stride=fusion.SPREAD, batch_size=10)
    clips, _ = data[0]
    one_position = keras.ops.convert_to_numpy(model(clips[:, 1:2], training=False))  # the model on one frame
    per_position = keras.ops.convert_to_numpy(model.get_layer("head_scores")(features))
    np.testing.assert_allclose(per_position[:, 1], one_position, atol=1e-5)


def test_the_app_runs_a_motion_stream_on_flow_it_computes(stream_runs, gesture_video, tmp_path):
    import app

    log = tmp_path / "predictions.jsonl"
    app.main(["--run", str(stream_runs[1]), "--source", str(gesture_video), "--no-display", "--sync", "--log", str(log)])
    predictions = [line for line in map(json.loads, log.read_text().splitlines()) if "top" in line]
    classes = json.loads((stream_runs[1] / "classes.json").read_text())
    assert len(predictions) > 10 and all(prediction["top"][0][0] in classes for prediction in predictions)
