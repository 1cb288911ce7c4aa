import json

import numpy as np
import pytest

import evaluate


def test_metrics_and_confusion_matrix_are_written(trained_run):
    metrics = evaluate.main(["--run", str(trained_run), "--workers", "1"])
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert saved == metrics and saved["num_clips"] == 9
    assert 0 <= saved["top1"] <= saved["top5"] <= 1
    assert (trained_run / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_top_k_and_confusion():
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    labels = np.array([1, 1, 0])
    assert evaluate.top_k_accuracy(probabilities, labels, 1) == pytest.approx(1 / 3)
    assert evaluate.top_k_accuracy(probabilities, labels, 2) == pytest.approx(2 / 3)
    assert evaluate.top_k_accuracy(probabilities, labels, 5) == 1.0
    matrix = evaluate.confusion_matrix(labels, probabilities.argmax(1), 3)
    np.testing.assert_array_equal(matrix, [[0, 0, 1], [1, 1, 0], [0, 0, 0]])


def test_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="train a model first"):
        evaluate.main(["--run", str(tmp_path)])
