"""Train a model on prepared clips; run it again to continue where it stopped.

    python train.py --data data --epochs 20 --lr 2e-3      # first run
    python train.py --data data --epochs 10 --lr 1e-4      # continues: epochs 21-30
    python train.py --data data --lr-schedule 2e-3:20,1e-4:10   # both phases in one process

The run folder (default `model/`) receives:

    config.json     the resolved settings, and each invocation's learning rates
    classes.json    class names, in the model's output order
    model.keras     the best epoch by validation accuracy (what evaluate.py and app.py load)
    checkpoint/     the last completed epoch: weights, optimizer state, position (to resume)
    history.csv     epoch,lr,loss,accuracy,val_loss,val_accuracy
    chart.png       the training curves

Every file is written under a temporary name and renamed, so a run killed at any moment resumes
from its last completed epoch. `--fresh` starts over.
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import keras

from datagenerator import ClipDataset
from network import DEFAULT_MODEL, IMAGENET, KEYPOINT_MODELS, MODELS, PRETRAINED, build_model, set_backbone_trainable
from prepare import read_classes, read_index, write_atomic, write_csv

HISTORY_COLUMNS = ["epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy"]
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
}
# where a model needs other defaults: a two-stream spatial stream sees one colour frame
MODEL_DEFAULTS = {"two_stream": {"frames": 1, "channels": 3}, "pose_lstm": {"modality": "keypoints"}}


def parse_schedule(text):
    """'2e-3:20,1e-4:10' -> [(0.002, 20), (0.0001, 10)]."""
    phases = []
    for part in text.split(","):
        lr, _, epochs = part.partition(":")
        try:
            phases.append((float(lr), int(epochs)))
        except ValueError:
            raise ValueError(
                f"--lr-schedule expects LR:EPOCHS pairs separated by commas, like 2e-3:20,1e-4:10; got {text!r}."
            ) from None
    return phases


def lr_at(phases, epoch):
    """The learning rate of the epoch-th epoch (0-based) of this invocation."""
    for lr, epochs in phases:
        if epoch < epochs:
            return lr
        epoch -= epochs
    return phases[-1][0]


def load_run(run_dir):
    """(config, classes, model) of a trained run folder, for evaluation and the app."""
    run_dir = Path(run_dir)
    path = run_dir / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: train a model first (python train.py --run {run_dir}).")
    config = read_config(run_dir)
    model = keras.models.load_model(path, compile=False, safe_mode=True)
    return config, read_classes(run_dir), model


def read_config(run_dir):
    """A run's config.json; a setting added since the run started reads as its default then."""
    return {**RUN_DEFAULTS, **json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))}


def best_candidate(run_dir, epoch):
    """Where an improved epoch's model waits until its checkpoint is committed."""
    return run_dir / f".model.epoch{epoch}.tmp.keras"


def load_checkpoint(run_dir):
    """(state, model) of the last completed epoch, or None if the run has none.

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
    if state is None:
        return None
    return state, keras.models.load_model(checkpoint / "model.keras", safe_mode=True)


class RunCheckpoint(keras.callbacks.Callback):
    """After each epoch: history, chart, best model and a resumable checkpoint, all atomically."""

    def __init__(self, run_dir, state):
        super().__init__()
        self.run_dir, self.state = run_dir, state

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, "lr": float(f"{learning_rate:.7g}")}  # the float32 variable, as the user wrote it
        row.update({key: float(logs.get(key, float("nan"))) for key in HISTORY_COLUMNS[2:]})
        self.state["history"].append(row)
        self.state["epoch"] = epoch + 1
        improved = row["val_accuracy"] > self.state["best_val_accuracy"]
        if improved:
            self.state["best_val_accuracy"], self.state["best_epoch"] = row["val_accuracy"], epoch + 1
            self.model.save(best_candidate(self.run_dir, epoch + 1))
        self.save_checkpoint()  # the commit point: from here on the epoch counts
        if improved:
            os.replace(best_candidate(self.run_dir, epoch + 1), self.run_dir / "model.keras")
        write_csv(self.run_dir / "history.csv", HISTORY_COLUMNS, self.state["history"])
        plot_history(self.state["history"], self.run_dir / "chart.png")

    def save_checkpoint(self):
        temporary, checkpoint, previous = (self.run_dir / name for name in (".checkpoint.tmp", "checkpoint", ".checkpoint.old"))
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        self.model.save(temporary / "model.keras")
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
    )
    return ClipDataset(data_dir or config["data"], split, **{**settings, **options})


def save_figure(figure, path):
    """Writes a matplotlib figure as PNG under a temporary name, then renames it, and closes it."""
    import matplotlib.pyplot as plt

    temporary = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    os.replace(temporary, path)


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


def resolve_config(args, run_dir, checkpoint_state):
    """The run's settings: stored ones when continuing, else the arguments and defaults."""
    config = read_config(run_dir) if checkpoint_state else None
    data_dir = Path(args.data or (config["data"] if config else "data"))
    classes = read_classes(data_dir)
    if config is not None:
        asked = {"model": args.model, **{k: getattr(args, k) for k in RUN_DEFAULTS}}
        clashes = [f"{k} {config[k]} (asked {v})" for k, v in asked.items() if v is not None and v != config[k]]
        if read_classes(run_dir) != classes:
            clashes.append(f"the classes of {config['data']} ({data_dir} has others)")
        if clashes:
            raise ValueError(
                f"{run_dir} holds a run with {', '.join(clashes)}. Continue it with the same settings, "
                f"or start a new one with --fresh or another --run."
            )
        return dict(config, data=str(data_dir)), classes
    dataset = json.loads((data_dir / "dataset.json").read_text(encoding="utf-8"))
    config = {"model": args.model or DEFAULT_MODEL}
    defaults = {**RUN_DEFAULTS, **MODEL_DEFAULTS.get(config["model"], {})}
    config.update({k: v if getattr(args, k) is None else getattr(args, k) for k, v in defaults.items()})
    config.update(data=str(data_dir), num_classes=len(classes), fps=dataset.get("fps", 12), runs=[])
    config.update(prepared_size=dataset.get("size"), flow_method=dataset.get("flow"))  # for flow computed live
    config["input_shape"] = input_shape(config, dataset, data_dir)
    if config["modality"] == "keypoints":  # the app samples live keypoints as far apart as in a typical clip
        rows = read_index(data_dir, "train")
        median_frames = sorted(row["num_frames"] for row in rows)[len(rows) // 2] if rows else 2
        samples = dataset["keypoints"]["samples"]
        config.update(keypoints=dataset["keypoints"], keypoint_spacing=(median_frames - 1) / max(1, samples - 1) / config["fps"])
    if config["model"] in PRETRAINED:  # ImageNet weights by default where they fit: colour frames, or flow
        fits = config["model"] in IMAGENET and (config["channels"] == 3 or config["modality"] == "flow")
        config["weights"] = args.weights or ("imagenet" if fits else "none")
    elif args.weights not in (None, "none"):
        raise ValueError(f"--weights applies to {', '.join(sorted(PRETRAINED))}, not to {config['model']}.")
    if config["freeze_backbone_epochs"] and config.get("weights", "none") == "none":
        raise ValueError(
            "--freeze-backbone-epochs keeps pretrained weights while the head learns; "
            f"{config['model']} has none here. Give --weights imagenet or a weights file, or leave it out."
        )
    return config, classes


def input_shape(config, dataset, data_dir):
    """The model's input: a clip of frames or flow stacks, or the keypoints of `pose.py`."""
    keypoint_model = config["model"] in KEYPOINT_MODELS
    if keypoint_model != (config["modality"] == "keypoints"):
        models = ", ".join(sorted(KEYPOINT_MODELS))
        raise ValueError(f"{config['model']} cannot take {config['modality']}: keypoints go with {models} only.")
    if keypoint_model:
        if "keypoints" not in dataset:
            raise ValueError(f"{data_dir} has no keypoints: extract them with `python pose.py {data_dir} --model MODEL.task`.")
        return [dataset["keypoints"]["samples"], 2 * dataset["keypoints"]["joints"]]
    channels = 2 * config["flow_pairs"] if config["modality"] == "flow" else config["channels"]
    return [config["frames"], config["size"], config["size"], channels]


def compile_model(model, learning_rate):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, amsgrad=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def train(args):
    run_dir = Path(args.run)
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.fresh:  # the run's own files only: the folder may hold the user's
        for name in RUN_FILES:
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    loaded = load_checkpoint(run_dir)
    state, model = loaded if loaded else (None, None)
    config, classes = resolve_config(args, run_dir, state)
    phases = parse_schedule(args.lr_schedule) if args.lr_schedule else [(args.lr or 2e-3, args.epochs or 10)]
    if model is None:
        state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "history": []}
        keras.utils.set_random_seed(config["seed"])
        options = {"weights": None if config["weights"] == "none" else config["weights"]} if "weights" in config else {}
        model = build_model(config["model"], input_shape=config["input_shape"], num_classes=len(classes), **options)
        if config["freeze_backbone_epochs"]:
            set_backbone_trainable(model, False)
        compile_model(model, phases[0][0])
    else:  # history and chart of the committed epochs (a kill may have come before their update)
        write_csv(run_dir / "history.csv", HISTORY_COLUMNS, state["history"])
    initial_epoch = state["epoch"]
    final_epoch = initial_epoch + sum(epochs for _, epochs in phases)
    config["runs"].append({"from_epoch": initial_epoch + 1, "to_epoch": final_epoch, "lr_schedule": phases})
    write_atomic(run_dir / "config.json", json.dumps(config, indent=1) + "\n")
    write_atomic(run_dir / "classes.json", json.dumps(classes, indent=1) + "\n")

    train_data = run_dataset(config, "train", epoch=initial_epoch, workers=args.workers)
    validation_data = run_dataset(config, "validation", workers=args.workers)
    print(
        f"Training {config['model']} ({model.count_params():,} parameters) on {len(train_data.rows)} clips, "
        f"validating on {len(validation_data.rows)}; input {tuple(config['input_shape'])}; "
        f"epochs {initial_epoch + 1}-{final_epoch}; lr {', '.join(f'{lr:g} x{n}' for lr, n in phases)}; run folder {run_dir}"
    )
    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda epoch: lr_at(phases, epoch - initial_epoch)),
        RunCheckpoint(run_dir, state),
    ]
    # With --freeze-backbone-epochs the head trains alone first, then the whole network with a new optimizer
    unfreeze = config["freeze_backbone_epochs"]
    bounds = [initial_epoch, *([unfreeze] if initial_epoch < unfreeze < final_epoch else []), final_epoch]
    for start, end in zip(bounds, bounds[1:]):
        if start >= unfreeze and set_backbone_trainable(model, True):
            print(f"Epoch {start + 1}: the backbone joins the training, with a new optimizer")
            compile_model(model, lr_at(phases, start - initial_epoch))
        model.fit(
            train_data,
            validation_data=validation_data,
            epochs=end,
            initial_epoch=start,
            callbacks=callbacks,
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    print(
        f"Best validation accuracy {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']}; "
        f"saved {run_dir / 'model.keras'}, history and chart in {run_dir}"
    )
    return state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="prepared data folder from prepare.py (default: data, or the run's when continuing)")
    parser.add_argument("--model", choices=sorted(MODELS), help=f"model to train (default: {DEFAULT_MODEL})")
    parser.add_argument(
        "--weights",
        help=f"{', '.join(sorted(PRETRAINED))}: imagenet (not i3d), none, or a weights file "
        "(default: imagenet for --channels 3 or flow where Keras has it, else none)",
    )
    parser.add_argument(
        "--freeze-backbone-epochs",
        type=int,
        help="train only the head for the first N epochs of the run, then the whole network (default: 0)",
    )
    parser.add_argument(
        "--modality",
        choices=("frames", "flow", "keypoints"),
        help="what the model sees: frames, optical flow stacks (prepare.py --flow) or keypoints (pose.py) "
        "(default: frames; keypoints for pose_lstm)",
    )
    parser.add_argument("--flow-pairs", type=int, help="consecutive x/y flow images per stack with --modality flow (default: 10)")
    parser.add_argument("--epochs", type=int, help="epochs to train in this invocation (default: 10)")
    parser.add_argument("--lr", type=float, help="learning rate of this invocation (default: 2e-3)")
    parser.add_argument("--lr-schedule", help="phases LR:EPOCHS,LR:EPOCHS run in one go, instead of --lr/--epochs")
    parser.add_argument("--batch-size", type=int, help="clips per batch (default: 16)")
    parser.add_argument("--run", default="model", help="run folder to write into and continue from (default: model)")
    parser.add_argument("--frames", type=int, help="frames (or flow stacks) per clip (default: 16; 1 for two_stream)")
    parser.add_argument("--size", type=int, help="frame height and width fed to the model (default: 112)")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="1 gray, 3 colour (default: 1; 3 for two_stream)")
    parser.add_argument("--stride", type=int, help="source frames between sampled frames (default: 2)")
    parser.add_argument("--workers", type=int, default=2, help="data-loading threads (default: 2)")
    parser.add_argument("--seed", type=int, help="seed of data order, augmentation and weights (default: 0)")
    parser.add_argument("--fresh", action="store_true", help="delete the run's files and start over (other files stay)")
    args = parser.parse_args(argv)
    if args.freeze_backbone_epochs is not None and args.freeze_backbone_epochs < 0:
        parser.error(f"--freeze-backbone-epochs must be 0 or more, got {args.freeze_backbone_epochs}")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.lr_schedule and (args.lr is not None or args.epochs is not None):
        parser.error("--lr-schedule sets the learning rates and epochs; give it without --lr and --epochs")
    try:
        return train(args)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"train.py: {error}")


if __name__ == "__main__":
    main()
