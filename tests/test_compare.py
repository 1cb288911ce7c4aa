"""compare.py's refusals; a whole comparison runs as the README's command in test_commands.py."""

import pytest

import compare


def test_options_compare_sets_itself_are_refused(prepared_dir, tmp_path):
    with pytest.raises(SystemExit):
        compare.main(["--data", str(prepared_dir), "--out", str(tmp_path), "--models", "slowfast", "--run", "elsewhere"])
    with pytest.raises(SystemExit):
        compare.main(["--data", str(prepared_dir), "--out", str(tmp_path), "--models", "slowfats"])
