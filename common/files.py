"""Writing files whole: a reader never sees half a file, whatever stops the writer.

    with atomic_path("scores.npz") as temporary:   # np.savez, savefig and Keras go by the suffix
        np.savez(temporary, ...)
    write_atomic("config.json", text)
    write_csv("history.csv", columns, rows)
    index = StreamedCsv("index.csv", columns)      # row by row; commit() renames it into place

Imports nothing of the project: every stage writes its files through these.
"""

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """A temporary name beside `path` to write a file to (same suffix, as np.savez, savefig and Keras go
    by it); renamed to `path` when the block ends, removed if it fails: a reader never sees half a file."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(path, text):
    """Writes a whole file or nothing: a reader never sees half of it."""
    temporary = Path(f"{path}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_csv(path, columns, rows):
    lines = [",".join(columns)] + [csv_line(row, columns) for row in rows]
    write_atomic(path, "\n".join(lines) + "\n")


def csv_line(row, columns):
    return ",".join(_csv_field(row[c]) for c in columns)


def _csv_field(value):
    value = str(value)
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value


class StreamedCsv:
    """A CSV written row by row into a temporary file and renamed into place when complete."""

    def __init__(self, path, columns):
        self.path, self.columns = Path(path), columns
        self.temporary = Path(f"{path}.tmp-{os.getpid()}")
        self.file = open(self.temporary, "w", encoding="utf-8", newline="")
        self.file.write(",".join(columns) + "\n")
        self.count = 0

    def write(self, row):
        self.file.write(csv_line(row, self.columns) + "\n")
        self.count += 1

    def commit(self):
        self.file.close()
        os.replace(self.temporary, self.path)

    def discard(self):
        self.file.close()
        self.temporary.unlink()
