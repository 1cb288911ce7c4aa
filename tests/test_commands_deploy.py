"""The README's deployment commands as a user types them, each a fresh process, on the run that
test_commands.py's `readme_run` trained: export.py to LiteRT and ONNX, evaluate.py and app.py on an
export, and app.py headless on a video."""

import json

import cv2
import pytest
from conftest import check_export, run_command

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("export_format, file", [("litert", "model.tflite"), ("onnx", "model.onnx")])
def test_export(readme_run, export_format, file):
    printed = run_command("export.py", "--run", readme_run / "model", "--format", export_format)
    exports = json.loads((readme_run / "model" / "export" / "exports.json").read_text())
    assert (readme_run / "model" / "export" / file).is_file() and exports[file]["agreement"] >= 0.99
    assert "top-1 agrees with the Keras model" in printed
    assert (
        check_export(readme_run / "model", export_format, "none").name == file
    )  # the numbers, as test_export.py checks its exports


def test_evaluate_and_app_take_an_export(readme_run, tmp_path):
    export = readme_run / "model" / "export" / "model.tflite"
    if not export.is_file():  # test_export made it, unless only this test runs
        run_command("export.py", "--run", readme_run / "model", "--format", "litert")
    printed = run_command("evaluate.py", "--model", export)
    assert "top-1" in printed and (export.parent / "model.tflite.metrics.json").is_file()
    # make demo's check: --expect exits 1 when a gesture is missed; after three epochs, no score reaches 1
    log, video = tmp_path / "predictions.jsonl", readme_run / "gestures.mp4"
    done = run_command(
        "app.py", "--model", export, "--source", video, "--no-display", "--sync", "--log", log,
        "--expect", f"{video}.json", "--threshold", "1", expect_status=1,
    )  # fmt: skip
    assert "Recognised 0 of" in done and "were not recognised" in done
    assert sum('"label"' in line for line in log.read_text().splitlines()) > 5


def test_app_headless_on_a_video(readme_run, tmp_path):
    log, output = tmp_path / "predictions.jsonl", tmp_path / "annotated.mp4"
    video = readme_run / "gestures.mp4"
    # the README's command as typed plays the video in real time; --duration stops it after 8 of its 46 s
    printed = run_command(
        "app.py", "--run", readme_run / "model", "--source", video, "--no-display", "--log", log, "--output", output,
        "--duration", "8",
    )  # fmt: skip
    assert log.read_text().count("\n") > 5 and f"wrote {output}" in printed
    written = cv2.VideoCapture(str(output))
    assert written.isOpened() and written.get(cv2.CAP_PROP_FRAME_COUNT) > 30
