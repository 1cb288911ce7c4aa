import json

import pytest
from conftest import TINY

import compare


@pytest.mark.slow
def test_compare_trains_each_model_with_one_recipe_and_writes_a_table_and_chart(prepared_dir, tmp_path, capsys):
    out = tmp_path / "comparison"
    argv = ["--data", str(prepared_dir), "--models", "slowfast,c3d", "--out", str(out), "--calls", "2", "--epochs", "2", *TINY]
    rows = compare.main(argv)
    assert [row["model"] for row in rows] == ["slowfast", "c3d"]
    for row in rows:
        assert row["epochs"] == 2 and row["input"] == [8, 32, 32, 1]
        assert 0 <= row["top1"] <= 1 and row["parameters"] > 0.1 and row["gflops"] > 0
        assert row["train_clips_per_second"] > 0 and row["inference_ms"] > 0
    assert rows[1]["gflops"] > 10 * rows[0]["gflops"]  # C3D's 3x3x3 convolutions at full width cost far more
    table = (out / "comparison.md").read_text()
    assert "| `slowfast` | 8x32x32x1 | 2 |" in table and "| `c3d` |" in table and "--epochs 2" in table
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "comparison.json").read_text()) == rows
    history = (out / "c3d" / "history.csv").read_text()
    capsys.readouterr()
    again = compare.main(argv)  # the same command again measures, but does not train again
    assert "trained already" in capsys.readouterr().out and (out / "c3d" / "history.csv").read_text() == history
    assert [row["top1"] for row in again] == [row["top1"] for row in rows]


def test_options_compare_sets_itself_are_refused(prepared_dir, tmp_path):
    with pytest.raises(SystemExit):
        compare.main(["--data", str(prepared_dir), "--out", str(tmp_path), "--models", "slowfast", "--run", "elsewhere"])
    with pytest.raises(SystemExit):
        compare.main(["--data", str(prepared_dir), "--out", str(tmp_path), "--models", "slowfats"])
