"""A prepared DATA_DIR's index: what `prepare.py` wrote and every later stage reads.

index.csv      clip,label,split,num_frames,num_flow (one row per prepared clip)
classes.json   class names; a label's position is its class index (a run folder has one too)
"""

import csv
import json
from pathlib import Path

INDEX_COLUMNS = ["clip", "label", "split", "num_frames", "num_flow"]


def read_index(data_dir, split=None):
    """Rows of index.csv as dicts (num_frames and num_flow as int), optionally of one split."""
    path = Path(data_dir) / "index.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python prepare.py SOURCE --out {data_dir}` first.")
    with open(path, newline="", encoding="utf-8") as file:
        rows = [
            dict(row, num_frames=int(row["num_frames"]), num_flow=int(row.get("num_flow") or 0)) for row in csv.DictReader(file)
        ]
    return [row for row in rows if split is None or row["split"] == split]


def read_classes(folder):
    path = Path(folder) / "classes.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {folder} a folder written by prepare.py or train.py?")
    return json.loads(path.read_text(encoding="utf-8"))
