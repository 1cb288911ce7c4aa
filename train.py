"""Train a model on prepared clips; run it again to continue where it stopped.

    python train.py --data data --epochs 20 --lr 2e-3      # first run: 1 warm-up epoch, a cosine from 2e-3 to ~0
    python train.py --data data --epochs 10 --lr 1e-4      # continues: epochs 21-30, a cosine from 1e-4
    python train.py --data data --lr-schedule 2e-3:20,1e-4:10   # both phases in one process
    python train.py --data data --epochs 30 --decay constant --plateau 3 --early-stopping 6   # the rate cut on a plateau
    python train.py --data data --distribute auto --mixed-precision   # every local GPU (see training/distribute.py)
    python train.py --data data --distribute multiworker   # on every machine TF_CONFIG names (see training/loop.py)

Writes the run folder (default `model/`; see training/runs.py): config.json, classes.json, model.keras (the
best epoch), checkpoint/, history.csv (every epoch's learning rate and losses) and chart.png.
On data prepared with steady flow (prepare.py's default) the default model trains on it: 48x48, two
flow fields at each position, mirrored (training/settings.py's STEADY_FLOW); `--modality frames` trains
on the frames instead.
Every file is written under a temporary name and renamed, so a run killed at any moment resumes
from its last completed epoch: the same command again finishes the interrupted invocation along the
same schedule, with the same data order and random state; another command starts a new one.
`--fresh` starts over.
"""

from common import quiet  # noqa: F401  # isort: skip  (first: TensorFlow starts without its C++ start-up lines)

import argparse
import json
import shutil
import sys
from pathlib import Path

import keras
import numpy as np

from common.files import write_atomic, write_csv
from network import DEFAULT_MODEL, MODELS, PRETRAINED, build_model, set_backbone_trainable
from training import distribute, loop, lr_schedule, xla
from training.runs import (
    HISTORY_COLUMNS,
    RUN_FILES,
    RunCheckpoint,
    load_checkpoint,
    read_state,
    recover_checkpoint,
    run_dataset,
)
from training.settings import resolve_config


def compile_model(model):
    """Adam with AMSGrad; its learning rate is set at the start of every epoch by training/lr_schedule.py."""
    model.compile(
        optimizer=keras.optimizers.Adam(amsgrad=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def build_training_state(model, input_shape):
    """Makes the optimizer's and the metrics' variables now, as Keras does itself under a distribution
    strategy, rather than inside the first traced training step: TensorFlow makes variables there slowly
    and then traces the step a second time. The first epoch of a small model starts about 10 s sooner."""
    example = (np.zeros((1, *input_shape), np.float32), np.zeros((1,), np.int64))  # only their shapes are used
    model._symbolic_build(data_batch=example)


def schedule_of(args):
    """This invocation's learning-rate schedule (see training/lr_schedule.py). `--epochs N` alone anneals:
    a warm-up epoch (of 5 or more) and a cosine from `--lr` to near zero, so the last epochs are the best."""
    if args.lr_schedule:  # phases given rate by rate: no warm-up or decay unless asked
        phases, warmup, decay = lr_schedule.parse_phases(args.lr_schedule), args.warmup or 0, args.decay or "constant"
    else:
        epochs = args.epochs or lr_schedule.DEFAULT_EPOCHS
        phases = [[lr_schedule.DEFAULT_LR if args.lr is None else args.lr, epochs]]
        warmup = lr_schedule.default_warmup(epochs) if args.warmup is None else args.warmup
        decay = args.decay or "cosine"
    return lr_schedule.make_schedule(
        phases,
        warmup=warmup,
        decay=lr_schedule.parse_decay(decay),
        plateau=lr_schedule.parse_plateau(args.plateau) if args.plateau else None,
        early_stopping=args.early_stopping,
    )


def invocation_of(schedule, state, config):
    """(invocation, resumed): the interrupted invocation when this command is the same one, else a new one.
    Keeps config["runs"] to what happened: an invocation killed before its first epoch counted is
    dropped, and one left early (stopped, or for another command) records where it ended."""
    runs = config["runs"]
    while runs and runs[-1]["from_epoch"] > state["epoch"]:
        runs.pop()
    earlier = state.get("invocation")
    if earlier and not earlier["done"] and state["epoch"] < earlier["to_epoch"]:
        if earlier["schedule"] == schedule:
            if runs:
                runs[-1].pop("ended_at", None)
            return earlier, True
        epochs = f"epochs {earlier['from_epoch']}-{earlier['to_epoch']}"
        print(f"The interrupted invocation ({epochs}) had another schedule; it ends at epoch {state['epoch']}")
    elif earlier and earlier["schedule"] == schedule:
        epochs = f"epochs {earlier['from_epoch']}-{earlier['to_epoch']}"
        print(f"The invocation of {epochs} with this schedule is over; this one is new")
    if runs and state["epoch"] < runs[-1]["to_epoch"]:
        runs[-1]["ended_at"] = state["epoch"]
    first = state["epoch"] + 1
    invocation = {"from_epoch": first, "to_epoch": first - 1 + lr_schedule.num_epochs(schedule), "schedule": schedule}
    runs.append(dict(invocation))
    state["lr_counters"] = lr_schedule.fresh_counters()
    return dict(invocation, done=False), False


def new_model(config, classes):
    keras.utils.set_random_seed(config["seed"])
    options = {"weights": None if config["weights"] == "none" else config["weights"]} if "weights" in config else {}
    if config["dropout"] is not None:
        options["dropout"] = config["dropout"]
    options.update(config.get("model_options", {}))  # a run's own architecture (training/settings.py)
    model = build_model(config["model"], input_shape=config["input_shape"], num_classes=len(classes), **options)
    if config["freeze_backbone_epochs"]:
        set_backbone_trainable(model, False)
    return model


def train(args):
    schedule = schedule_of(args)
    strategy = distribute.make_strategy(args.distribute)  # first: a multi-worker strategy must precede other TF work
    chief = distribute.is_chief(strategy)  # the one process that writes the run folder
    across_machines = distribute.across_machines(strategy)
    run_dir = Path(args.run)
    if chief:
        run_dir.mkdir(parents=True, exist_ok=True)
        if args.fresh:  # the run's own files only: the folder may hold the user's
            for name in RUN_FILES:
                path = run_dir / name
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        state = recover_checkpoint(run_dir)
    distribute.wait_for_all_workers(strategy)  # the other workers read the run folder once the chief has recovered it
    if not chief:
        state = read_state(run_dir)
    distribute.agree_across_workers(strategy, state["epoch"] if state else 0)
    config, classes = resolve_config(args, run_dir, state)
    batch_size, note = distribute.global_batch(config["batch_size"], strategy)  # the config keeps the one asked
    if note:
        print(note)
    precision = distribute.set_precision(config["mixed_precision"])
    with strategy.scope():  # the model's variables are made on every replica
        if state is None:
            state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": 0, "history": []}
            model = new_model(config, classes)
            compile_model(model)
        else:
            model = load_checkpoint(run_dir, state)
        distribute.adapt_model(model, strategy)
        build_training_state(model, config["input_shape"])
    invocation, resumed = invocation_of(schedule, state, config)
    state["invocation"] = invocation
    if chief:
        write_atomic(run_dir / "config.json", json.dumps(config, indent=1) + "\n")
        write_atomic(run_dir / "classes.json", json.dumps(classes, indent=1) + "\n")
        write_csv(run_dir / "history.csv", HISTORY_COLUMNS, state["history"])  # a kill may have come before its update
    initial_epoch, final_epoch, first = state["epoch"], invocation["to_epoch"], invocation["from_epoch"] - 1

    replicas = strategy.num_replicas_in_sync
    loading = dict(
        batch_size=batch_size,
        workers=args.workers,
        multiple=replicas,
        shard=distribute.worker_shard(strategy),
        cache_mb=args.cache_mb,
    )
    train_data = run_dataset(config, "train", epoch=initial_epoch, **loading)
    validation_data = run_dataset(config, "validation", **loading)
    where = f"{replicas} replicas ({type(strategy).__name__})" if replicas > 1 else "1 device"
    if across_machines:
        index, workers = distribute.worker_shard(strategy)
        where = f"{replicas} replicas of {workers} workers (MultiWorkerMirroredStrategy; this is worker {index})"
    resuming = " (resuming the interrupted invocation)" if resumed else ""
    print(
        f"Training {config['model']} ({model.count_params():,} parameters) on {train_data.num_clips} clips, "
        f"validating on {validation_data.num_clips} of {len(validation_data.rows)}; input {tuple(config['input_shape'])} "
        f"of {config['modality']}, "
        f"batch {batch_size} on {where}, {precision}; mirroring {'on' if train_data.flip else 'off'}; "
        f"epochs {initial_epoch + 1}-{final_epoch}{resuming}; "
        f"lr {lr_schedule.describe(invocation['schedule'])}; run folder {run_dir}"
    )
    if across_machines:
        model.jit_compile, xla_said = False, "XLA off (across machines the loop's steps are compiled by tf.function alone)"
    else:
        steps = len(train_data) * (final_epoch - initial_epoch)
        trainable = sum(int(np.prod(variable.shape)) for variable in model.trainable_variables)
        key = xla.machine_key(config, batch_size, precision, trainable)
        on_cpu = distribute.on_cpu() and replicas == 1  # elsewhere Keras chooses
        choice = xla.XlaChoice(args.xla, key, steps, batch=lambda: train_data[0], on_cpu=on_cpu)
        xla_said = choice.describe(model)
    print(f"Computed with {distribute.describe_speed(model, precision, xla_said)}")
    callbacks = [
        *([] if across_machines else [choice]),
        lr_schedule.LearningRateControl(invocation["schedule"], first, state["lr_counters"]),
        RunCheckpoint(run_dir, state, write=chief),  # after the schedule's counters change: it saves them
    ]
    # With --freeze-backbone-epochs the head trains alone first, then the whole network with a new optimizer
    unfreeze = config["freeze_backbone_epochs"]
    bounds = [initial_epoch, *([unfreeze] if initial_epoch < unfreeze < final_epoch else []), final_epoch]
    for start, end in zip(bounds, bounds[1:]):
        if start >= end or invocation["done"]:
            break
        if start >= unfreeze and set_backbone_trainable(model, True):
            print(f"Epoch {start + 1}: the backbone joins the training, with a new optimizer")
            with strategy.scope():
                compile_model(model)
                build_training_state(model, config["input_shape"])
        # fit (and the loop, alike) moves the data on by one epoch before its first: epoch k sees the clips of data
        # epoch k + 1 in every segment, so a run resumed after the backbone joined sees those of an uninterrupted one
        train_data.epoch = start
        epochs = dict(epochs=end, initial_epoch=start, callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)
        if across_machines:  # Keras's fit cannot run there; the loop drives the same callbacks
            loop.fit_across_workers(model, strategy, train_data, validation_data, **epochs)
        else:
            model.fit(train_data, validation_data=validation_data, shuffle=False, **epochs)
    if chief and state["epoch"] < final_epoch:  # stopped early: the config says where
        config["runs"][-1]["ended_at"] = state["epoch"]
        write_atomic(run_dir / "config.json", json.dumps(config, indent=1) + "\n")
    print(
        f"Best validation accuracy {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']}; "
        f"{'saved' if chief else 'the chief saved'} {run_dir / 'model.keras'}, history and chart in {run_dir}"
    )
    return state


def make_parser():
    """train.py's options; compare.py reads a recipe with them too."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
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
        help="what the model sees: frames, optical flow stacks (prepare.py --flow) or keypoints (prepare.py keypoints) "
        "(default: flow for slowfast on data with steady flow, as prepare.py writes by default, else frames; "
        "keypoints for pose_lstm)",
    )
    parser.add_argument("--flow-pairs", type=int, help="x/y flow images per stack on flow (default: 10; 2 on steady flow)")
    parser.add_argument("--epochs", type=int, help=f"epochs to train in this invocation (default: {lr_schedule.DEFAULT_EPOCHS})")
    parser.add_argument("--lr", type=float, help=f"peak learning rate of this invocation (default: {lr_schedule.DEFAULT_LR:g})")
    parser.add_argument("--lr-schedule", help="phases LR:EPOCHS,LR:EPOCHS run in one go, instead of --lr/--epochs")
    parser.add_argument(
        "--warmup",
        type=int,
        help="epochs of linear warm-up at the start of this invocation "
        f"(default: {lr_schedule.default_warmup(5)} for 5 epochs or more, else 0; 0 with --lr-schedule)",
    )
    parser.add_argument(
        "--decay",
        help="within each phase: constant, cosine, or step:EVERY[:FACTOR] (x FACTOR, default 0.1, every EVERY epochs) "
        "(default: cosine; constant with --lr-schedule)",
    )
    parser.add_argument(
        "--plateau",
        help="PATIENCE[:FACTOR]: multiply the rate by FACTOR (default 0.1) after PATIENCE epochs without a lower validation loss",
    )
    parser.add_argument("--early-stopping", type=int, help="end this invocation after N epochs without a lower validation loss")
    parser.add_argument("--batch-size", type=int, help="clips per batch, over all replicas (default: 16)")
    parser.add_argument("--dropout", type=float, help="dropout rate of the model's head (default: the model's own)")
    parser.add_argument(
        "--distribute",
        default="auto",
        choices=distribute.STRATEGIES,
        help="auto: every local GPU, else one device; mirrored; multiworker (the machines TF_CONFIG names, "
        "the same command on each); none (default: auto)",
    )
    parser.add_argument(
        "--mixed-precision",
        action="store_true",
        default=None,
        help="compute in float16 on GPUs (bfloat16 on CPUs), keep weights in float32; set for the run's life",
    )
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        help="mirror half the training clips, swapping the labels of mirror pairs (Left/Right, Clockwise/"
        "Counterclockwise); set for the run's life (default: on for slowfast on steady flow, else off; off where "
        "the classes are numbers, as IsoGD's, which do not say which is a mirror image of which)",
    )
    parser.add_argument("--run", default="model", help="run folder to write into and continue from (default: model)")
    parser.add_argument("--frames", type=int, help="frames (or flow stacks) per clip (default: 16; 1 for two_stream)")
    parser.add_argument("--size", type=int, help="frame height and width fed to the model (default: 112; 48 on steady flow)")
    parser.add_argument("--channels", type=int, choices=(1, 3), help="1 gray, 3 colour (default: 1; 3 for two_stream)")
    parser.add_argument("--stride", type=int, help="source frames between sampled frames (default: 2)")
    parser.add_argument(
        "--xla",
        choices=xla.CHOICES,
        default="auto",
        help="compile training steps with XLA: auto is off on a CPU with AVX-512; on others a run of 300 steps or more "
        "times both first and the machine remembers the faster (default: auto; see training/xla.py)",
    )
    parser.add_argument("--workers", type=int, default=2, help="data-loading threads (default: 2)")
    parser.add_argument(
        "--cache-mb",
        type=int,
        default=1024,
        help="megabytes of decoded frames (or flow) each split keeps in memory after reading them once, so later epochs "
        "read no files (default: 1024; 0: none)",
    )
    parser.add_argument("--seed", type=int, help="seed of data order, augmentation and weights (default: 0)")
    parser.add_argument("--fresh", action="store_true", help="delete the run's files and start over (other files stay)")
    return parser


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.freeze_backbone_epochs is not None and args.freeze_backbone_epochs < 0:
        parser.error(f"--freeze-backbone-epochs must be 0 or more, got {args.freeze_backbone_epochs}")
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if args.lr_schedule and (args.lr is not None or args.epochs is not None):
        parser.error("--lr-schedule sets the learning rates and epochs; give it without --lr and --epochs")
    if args.batch_size is not None and args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.lr is not None and not 0 < args.lr < float("inf"):
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if args.warmup is not None and args.warmup < 0:
        parser.error(f"--warmup must be 0 or more epochs, got {args.warmup}")
    if args.dropout is not None and not 0 <= args.dropout < 1:
        parser.error(f"--dropout must be at least 0 and below 1, got {args.dropout}")
    run_dir = Path(args.run)
    new_run = not run_dir.exists()
    try:
        return train(args)
    except (FileNotFoundError, ValueError, loop.WorkerLost) as error:
        if new_run and run_dir.is_dir() and not any(run_dir.iterdir()):  # refused before it began
            run_dir.rmdir()
        sys.exit(f"train.py: {error}")
    except KeyboardInterrupt:  # Ctrl-C: a way to stop that the run is made for, not a failure to trace
        again = "the same command without --fresh" if args.fresh else "the same command"
        print(f"\ntrain.py: interrupted; {args.run} keeps its last finished epoch: {again} carries on.", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
