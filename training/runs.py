"""A run folder: what train.py writes into it, how a run resumes from it, and how others load it.

    config.json     the resolved settings, and each invocation's learning-rate schedule
    classes.json    class names, in the model's output order
    model.keras     the best epoch by validation accuracy, then loss (what evaluate.py and app.py load)
    checkpoint/     the last completed epoch: weights, optimizer state, random state, schedule position
    history.csv     epoch,lr,loss,accuracy,val_loss,val_accuracy
    chart.png       the training curves

Every file is written under a temporary name and renamed. The checkpoint is the commit point of
an epoch: a run killed at any moment resumes from the last committed epoch, and model.keras is
only ever replaced by an epoch the checkpoint holds.
"""

import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from clips.index import read_classes
from common.files import atomic_path, write_csv
from datagenerator import ClipDataset
from nets.layers import load_model
from training.distribute import all_layers

HISTORY_COLUMNS = ["epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy"]
CHART_SECONDS = 30  # the chart is redrawn after an epoch at most this often (0.3 s a drawing), and when a run ends
RUN_FILES = [
    "config.json",
    "classes.json",
    "model.keras",
    "checkpoint",
    ".checkpoint.tmp",
    ".checkpoint.old",
    "history.csv",
    "chart.png",
    "metrics.json",
    "confusion.png",
    "fusion.json",
    "fusion.keras",
    "scores.npz",
    "streams.json",  # evaluate.py --stream's
    "export",  # export.py's folder
]
# Settings a run keeps for its whole life: given when it starts, checked when it continues.
RUN_DEFAULTS = {
    "frames": 16,
    "size": 112,
    "channels": 1,
    "stride": 2,
    "batch_size": 16,
    "seed": 0,
    "modality": "frames",
    "flow_pairs": 10,
    "freeze_backbone_epochs": 0,
    "dropout": None,  # None: the model's own
    "mixed_precision": False,
    "flip": False,
}


def load_run(run_dir):
    """(config, classes, model) of a trained run folder, for evaluation and the app."""
    run_dir = Path(run_dir)
    path = run_dir / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: train a model first (python train.py --run {run_dir}).")
    config = read_config(run_dir)
    model = load_model(path)
    if config["mixed_precision"] and not tf.config.list_logical_devices("GPU"):
        for layer in all_layers(model):  # float16 on a CPU is slow: compute in float32 with the same weights
            layer.dtype_policy = keras.DTypePolicy("float32")
    return config, read_classes(run_dir), model


def compiled_predictor(model):
    """The model as one compiled graph, for the app, evaluation and benchmarks: much faster per call than eager
    `model(clip)` or `predict`."""
    call = tf.function(lambda clip: model(clip, training=False), reduce_retracing=True)
    return lambda clip: call(tf.constant(clip)).numpy()


def read_config(run_dir):
    """A run's config.json; a setting added since the run started reads as its default then."""
    return {**RUN_DEFAULTS, **json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))}


def best_candidate(run_dir, epoch):
    """Where an improved epoch's model waits until its checkpoint is committed."""
    return run_dir / f".model.epoch{epoch}.tmp.keras"


def recover_checkpoint(run_dir):
    """The state of the last completed epoch (checkpoint/state.json), or None if the run has none.

    Finishes what a killed run left half done: a checkpoint between its two renames, and a best
    model whose epoch was committed but not yet moved into place. Uncommitted ones are dropped,
    so model.keras is never replaced by an epoch the history does not hold.
    """
    checkpoint, previous = run_dir / "checkpoint", run_dir / ".checkpoint.old"
    if not checkpoint.is_dir() and previous.is_dir():  # killed between the two renames
        os.rename(previous, checkpoint)
    shutil.rmtree(previous, ignore_errors=True)  # killed while deleting it
    state = None
    if (checkpoint / "state.json").is_file():
        state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    for candidate in run_dir.glob(".model.epoch*.tmp.keras"):
        if state and candidate == best_candidate(run_dir, state["best_epoch"]):
            os.replace(candidate, run_dir / "model.keras")
        else:
            candidate.unlink()
    return state


def read_state(run_dir):
    """The last committed state, only read: the other workers of a multi-machine run read the chief's
    run folder (on a filesystem they share) while the chief recovers it."""
    for name in ("checkpoint", ".checkpoint.old"):
        path = run_dir / name / "state.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    return None


def load_checkpoint(run_dir, state):
    """The checkpoint's model, compiled, with its optimizer and random state. In a distribution
    strategy's scope, its variables are made on every replica."""
    model = load_model(run_dir / "checkpoint" / "model.keras", compile=True)
    set_random_states(model, state.get("random_states"))
    return model


def random_states(model):
    """The state variables of the model's random generators (dropout masks), in layer order.
    A .keras file does not hold them, so the checkpoint does: a resumed run draws the masks the
    uninterrupted run would have drawn."""
    return [variable for variable in model.variables if variable.path.endswith("seed_generator_state")]


def set_random_states(model, values):
    variables = random_states(model)
    if values is not None and len(values) == len(variables):
        for variable, value in zip(variables, values):
            variable.assign(np.asarray(value, dtype=variable.dtype))


def improves_on_best(row, state):
    """Whether an epoch's history row beats the best epoch so far: a higher validation accuracy, or the
    same with a lower validation loss (a small validation set reaches 1.0 early, and later epochs that
    keep it and lower the loss generalise better)."""
    if row["val_accuracy"] != state["best_val_accuracy"]:
        return row["val_accuracy"] > state["best_val_accuracy"]
    best = state["history"][state["best_epoch"] - 1] if state["best_epoch"] else None
    return best is not None and row["val_loss"] < best["val_loss"]


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: history, best model and a resumable checkpoint, all atomically; the chart too,
    unless it was drawn less than CHART_SECONDS ago, and when the run ends.

    `state` is the checkpoint's state.json: epochs, history, best epoch, and what other callbacks
    keep in it (the learning-rate control's counters), so it goes after them in the callback list.
    """

    def __init__(self, run_dir, state, write=True):
        super().__init__()
        self.run_dir, self.state, self.write = run_dir, state, write  # write: False on a multi-machine run's other workers
        self.charted_at, self.charted_epochs = -float("inf"), None  # when the chart was last drawn, and of how many epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.started = self.trained = time.perf_counter()

    def on_test_begin(self, logs=None):  # validation starts: the epoch's training is over
        self.trained = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, "lr": float(f"{learning_rate:.7g}")}  # the float32 variable, as the user wrote it
        row.update({key: float(logs.get(key, float("nan"))) for key in HISTORY_COLUMNS[2:]})
        row["train_seconds"] = round(self.trained - self.started, 3)  # kept in state.json, for compare.py
        self.state["history"].append(row)
        self.state["epoch"] = epoch + 1
        self.state["random_states"] = [keras.ops.convert_to_numpy(v).tolist() for v in random_states(self.model)]
        invocation = self.state.get("invocation")
        if invocation:  # finished at its last epoch, or stopped early: a rerun starts a new one
            invocation["done"] = epoch + 1 >= invocation["to_epoch"] or bool(self.model.stop_training)
        improved = improves_on_best(row, self.state)
        if improved:
            self.state["best_val_accuracy"], self.state["best_epoch"] = row["val_accuracy"], epoch + 1
        if not self.write:
            return
        self.save_checkpoint(best_candidate(self.run_dir, epoch + 1) if improved else None)  # the epoch counts from here
        if improved:
            os.replace(best_candidate(self.run_dir, epoch + 1), self.run_dir / "model.keras")
        write_csv(self.run_dir / "history.csv", HISTORY_COLUMNS, self.state["history"])
        if time.perf_counter() - self.charted_at >= CHART_SECONDS:
            self.write_chart()

    def on_train_end(self, logs=None):  # the last epochs, unless the chart already shows them
        if self.write and self.state["history"] and self.charted_epochs != len(self.state["history"]):
            self.write_chart()

    def write_chart(self):
        plot_history(self.state["history"], self.run_dir / "chart.png")
        self.charted_at, self.charted_epochs = time.perf_counter(), len(self.state["history"])

    def save_checkpoint(self, best=None):
        """Writes the checkpoint and commits it by renaming its folder; `best`, a path the same model is
        copied to before the commit (saving a model takes 0.3-0.7 s, copying its file a hundredth of it)."""
        temporary, checkpoint, previous = (self.run_dir / name for name in (".checkpoint.tmp", "checkpoint", ".checkpoint.old"))
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        self.model.save(temporary / "model.keras")
        if best is not None:
            shutil.copyfile(temporary / "model.keras", best)
        (temporary / "state.json").write_text(json.dumps(self.state, indent=1), encoding="utf-8")
        shutil.rmtree(previous, ignore_errors=True)
        if checkpoint.is_dir():
            os.rename(checkpoint, previous)
        os.rename(temporary, checkpoint)
        shutil.rmtree(previous, ignore_errors=True)


def run_dataset(config, split, data_dir=None, **options):
    """The ClipDataset of a split, shaped as the run's config says; `options` override."""
    settings = dict(
        batch_size=config["batch_size"],
        num_frames=config["frames"],
        size=(config["size"],) * 2,
        channels=config["channels"],
        stride=config["stride"],
        seed=config["seed"],
        modality=config["modality"],
        flow_pairs=config["flow_pairs"],
        flip=config.get("flip", RUN_DEFAULTS["flip"]),  # a run from before --flip did not flip
    )
    return ClipDataset(data_dir or config["data"], split, **{**settings, **options})


def save_figure(figure, path):
    """Writes a matplotlib figure as PNG under a temporary name, then renames it, and closes it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)


def plot_history(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        axis.plot(epochs, [row[key] for row in history], "o-", label=f"training {key}")
        axis.plot(epochs, [row[f"val_{key}"] for row in history], "o-", label=f"validation {key}")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axis.set_title(key)
        axis.grid(alpha=0.3)
        axis.legend()
    for previous, row in zip(history, history[1:]):  # mark learning-rate changes
        if row["lr"] != previous["lr"]:
            for axis in (loss_axis, accuracy_axis):
                axis.axvline(row["epoch"] - 0.5, color="gray", linestyle=":")
            accuracy_axis.annotate(
                f"lr {row['lr']:g}", (row["epoch"] - 0.5, 0.02), xycoords=("data", "axes fraction"), fontsize=8
            )
    figure.suptitle(f"lr {history[0]['lr']:g} from epoch 1")
    figure.tight_layout()
    save_figure(figure, path)
