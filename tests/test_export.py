"""export.py: every format and quantisation on a trained run, checked; app.py and evaluate.py take exports."""

import json
import shutil

import keras
import numpy as np
import pytest
from conftest import check_export, validation_clips

import app
import evaluate
import export
from live.exported import load_export
from nets.streaming import Stream
from training.runs import load_run

# The quantised exports take a calibration each, so they count as slow. LiteRT and ONNX in float32 are
# exported as the README's command, a process, in test_commands_deploy.py, and checked there the same way.
EXPORTS = [
    (fmt, quantize) if quantize == "none" else pytest.param(fmt, quantize, marks=pytest.mark.slow)
    for fmt, kinds in export.QUANTIZE.items()
    for quantize in kinds
    if (fmt, quantize) not in {("litert", "none"), ("onnx", "none")}
]


@pytest.mark.parametrize("fmt,quantize", EXPORTS)
def test_each_export_matches_the_keras_model(trained_run, fmt, quantize, capsys):
    result = export.main(["--run", str(trained_run), "--format", fmt, "--quantize", quantize])
    assert "top-1 agrees with the Keras model" in capsys.readouterr().out
    assert result["path"] == str(check_export(trained_run, fmt, quantize))


def test_a_streaming_run_exports_its_step_model_with_the_state(stream_run):
    export.main(["--run", str(stream_run), "--format", "litert"])
    config, _, stream = load_export(stream_run / "export" / "model.tflite")
    assert isinstance(stream, Stream) and stream.frames == config["frames"] == 8
    assert [name for name, _ in stream.shapes][-1] == "history_state" and len(stream.shapes) == 12
    clips = validation_clips(stream_run)[:3]
    keras_stream = Stream(load_run(stream_run)[2])
    for clip in clips:  # frame by frame, the state going out of the file and back in
        stream.reset(), keras_stream.reset()
        for frame in clip:
            got, expected = stream.step(frame), keras_stream.step(frame)
            assert (got is None) == (expected is None)
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_an_export_that_disagrees_fails_and_is_not_kept(trained_run, stream_run, monkeypatch, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("export"))
    before = sorted(p.name for p in run.iterdir())
    other = load_run(stream_run)[2]  # another model's file where the run's should be
    convert = export.convert_litert
    monkeypatch.setattr(export, "convert_litert", lambda model, quantize, calibration: convert(other, quantize, calibration))
    with pytest.raises(ValueError, match="agrees with the Keras model on only"):
        export.export(run, "litert")
    assert sorted(p.name for p in run.iterdir()) == before  # no export/, no scratch folder


def test_operations_litert_lacks_are_a_clear_error():
    clip = keras.Input((4, 8, 8, 1))
    model = keras.Model(clip, keras.layers.MaxPooling3D(2)(clip), name="pooled")
    with pytest.raises(ValueError, match=r"pooled uses operations LiteRT has no kernel for \(MaxPool3D\)"):
        export.convert_litert(model, "none", None)


def test_a_recurrent_layer_is_a_clear_error_for_litert(tmp_path):
    clip = keras.Input((4, 8))
    model = keras.Model(clip, keras.layers.Dense(3)(keras.layers.GRU(4)(clip)), name="recurrent")
    with pytest.raises(ValueError, match="recurrent's recurrent layer has no LiteRT form .* --format onnx"):
        export.convert_litert(model, "none", None)


def test_quantisations_that_do_not_apply_are_refused(trained_run):
    with pytest.raises(SystemExit, match="does not apply to savedmodel"):
        export.main(["--run", str(trained_run), "--format", "savedmodel", "--quantize", "int8"])


def test_app_and_evaluate_take_an_exported_file(trained_run, gesture_video, tmp_path):
    path = trained_run / "export" / "model_float16.tflite"
    if not path.exists():
        export.main(["--run", str(trained_run), "--format", "litert", "--quantize", "float16"])
    metrics = evaluate.main(["--model", str(path)])
    assert metrics["top1"] == pytest.approx(evaluate.evaluate(trained_run)["top1"])
    assert (path.parent / "model_float16.tflite.metrics.json").is_file()
    logs = []
    for source in (["--run", str(trained_run)], ["--model", str(path)]):
        log = tmp_path / f"{len(logs)}.jsonl"
        app.main([*source, "--source", str(gesture_video), "--no-display", "--sync", "--threshold", "0", "--log", str(log)])
        logs.append([json.loads(line) for line in log.read_text().splitlines() if "event" not in line])
    assert [p["frame"] for p in logs[0]] == [p["frame"] for p in logs[1]]
    np.testing.assert_allclose([p["score"] for p in logs[0]], [p["score"] for p in logs[1]], atol=2e-3)
