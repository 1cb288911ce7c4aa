import json
import shutil

import numpy as np
import pytest

import evaluate
from datagenerator import crop_view, sample_indices
from evaluation import scoring
from training import runs


def test_metrics_scores_and_confusion_matrix_are_written(trained_run, capsys):
    metrics = evaluate.main(["--run", str(trained_run), "--workers", "1"])
    saved = json.loads((trained_run / "metrics.json").read_text())
    assert saved == metrics and saved["num_clips"] == 10 and saved["views"] == {"clips": 1, "crops": 1}
    assert 0 <= saved["top1"] <= saved["top5"] <= 1
    assert sum(entry["clips"] for entry in saved["per_class"].values()) == 10
    mean_class = np.mean([entry["accuracy"] for entry in saved["per_class"].values()])
    assert saved["mean_class_accuracy"] == pytest.approx(mean_class)
    scores = np.load(trained_run / "scores.npz")
    assert scores["probabilities"].shape == (10, 10) and np.allclose(scores["probabilities"].sum(axis=1), 1, atol=1e-5)
    assert np.mean(scores["probabilities"].argmax(axis=1) == scores["labels"]) == pytest.approx(saved["top1"])
    assert list(scores["classes"]) == json.loads((trained_run / "classes.json").read_text())
    mistakes = sum(confusion["clips"] for confusion in saved["top_confusions"])
    assert mistakes == round(10 * (1 - saved["top1"]))  # 10 classes, so at most 10 pairs: every mistake is listed
    assert (trained_run / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "mean class accuracy" in printed and "Swiping Left" in printed


def test_multi_clip_and_three_crop_scores_are_the_average_of_their_views(trained_run, tmp_path):
    metrics = evaluate.evaluate(trained_run, clips=3, crops=3, workers=1)
    assert metrics["views"] == {"clips": 3, "crops": 3}
    config, _, model = runs.load_run(trained_run)
    views = [
        model.predict(runs.run_dataset(config, "validation", augment=False, shuffle=False, position=p, crop=c), verbose=0)
        for p in (0.0, 0.5, 1.0)
        for c in (0.0, 0.5, 1.0)
    ]
    np.testing.assert_allclose(np.load(trained_run / "scores.npz")["probabilities"], np.mean(views, axis=0), atol=1e-6)
    assert not np.allclose(views[0], views[4])  # the views differ: the first frames on the left, the centre


def test_views_of_a_clip():
    assert list(sample_indices(20, 4, 2, position=0.0)) == [0, 2, 4, 6]
    assert list(sample_indices(20, 4, 2, position=1.0)) == [13, 15, 17, 19]
    assert list(sample_indices(20, 4, 2)) == [6, 8, 10, 12]  # centred
    assert scoring.clip_positions(1) == [0.5] and scoring.clip_positions(3) == [0.0, 0.5, 1.0]
    landscape = np.arange(100 * 176).reshape(100, 176)
    left, right = crop_view(landscape, 0.0), crop_view(landscape, 1.0)
    assert left.shape == right.shape == (91, 160)  # 1 / 1.1 of each side, as training's zoom
    assert left[0, 0] == landscape[4, 0] and right[0, -1] == landscape[4, -1]  # vertically centred, at either end
    top = crop_view(landscape.T, 0.0)  # portrait: along the height
    assert top.shape == (160, 91) and top[0, 0] == landscape.T[0, 4]
    assert crop_view(landscape, None) is landscape


def test_top_k_confusions_and_per_class():
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 0, 1])
    assert scoring.top_k_accuracy(probabilities, labels, 1) == pytest.approx(1 / 4)
    assert scoring.top_k_accuracy(probabilities, labels, 2) == pytest.approx(3 / 4)
    assert scoring.top_k_accuracy(probabilities, labels, 5) == 1.0
    matrix = scoring.confusion_matrix(labels, probabilities.argmax(1), 3)
    np.testing.assert_array_equal(matrix, [[0, 0, 1], [2, 1, 0], [0, 0, 0]])
    classes = ["a", "b", "c"]
    assert scoring.per_class(matrix, classes) == {"a": {"clips": 1, "accuracy": 0.0}, "b": {"clips": 3, "accuracy": 1 / 3}}
    assert scoring.top_confusions(matrix, classes) == [
        {"true": "b", "predicted": "a", "clips": 2},
        {"true": "a", "predicted": "c", "clips": 1},
    ]


def test_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="train a model first"):
        evaluate.main(["--run", str(tmp_path)])


def test_fuse_combines_the_scores_evaluate_saved(trained_run, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for run in (first, second):
        shutil.copytree(trained_run, run)
    evaluate.main(["--run", str(first), "--clips", "2", "--workers", "1"])
    evaluate.main(["--run", str(second), "--crops", "3", "--workers", "1"])
    saved = [np.load(run / "scores.npz")["probabilities"] for run in (first, second)]
    results = evaluate.main(["--fuse", str(first), str(second), "--weights", "1,3", "--workers", "1"])
    assert results["scores"] == {
        str(first): "evaluate.py's scores.npz (2 clips x 1 crops)",
        str(second): "evaluate.py's scores.npz (1 clips x 3 crops)",
    }
    labels = np.load(first / "scores.npz")["labels"]
    assert results["average_fusion"] == pytest.approx(np.mean((saved[0] + 3 * saved[1]).argmax(axis=1) == labels))
    assert "recurrent_fusion" not in results  # slowfast runs have no per-position features
