"""The learning rate of each epoch: phases, warm-up, cosine or step decay, plateau and early stopping.

    train.py --lr 2e-3 --epochs 30 --warmup 2 --decay cosine
    train.py --lr-schedule 2e-3:20,1e-4:10 --decay step:5:0.5   # x0.5 every 5 epochs of each phase
    train.py --plateau 3            # x0.1 after 3 epochs without a lower validation loss (3:0.5 for x0.5)
    train.py --early-stopping 5     # this invocation ends after 5 epochs without a lower validation loss

An invocation of train.py has one schedule: its phases (`--lr`/`--epochs`, or `--lr-schedule`),
a linear warm-up over its first epochs, and a decay within each phase. `--epochs N` alone anneals:
one warm-up epoch (when N >= 5), then a cosine from the peak rate to near zero at the last epoch,
so the model the invocation ends with is its best, not one caught mid-stride by a high rate.
`--lr-schedule` phases stay at their rates unless `--decay` or `--warmup` says otherwise. The rate
is set at the start of each epoch and written into history.csv. Reduce-on-plateau and early stopping watch the
validation loss. The schedule, the invocation's epochs and the plateau's counters are saved with
every checkpoint, so a run killed mid-way and started again with the same command goes on along
the same curve; a different command starts a new invocation from the last completed epoch.
"""

import math

import keras

DEFAULT_LR = 2e-3  # Adam's peak rate for the project's models from scratch
DEFAULT_EPOCHS = 10
PLATEAU_FACTOR = 0.1
MIN_DELTA = 1e-4  # a validation loss lower by less than this is no improvement


def parse_phases(text):
    """'2e-3:20,1e-4:10' -> [[0.002, 20], [0.0001, 10]]."""
    phases = []
    for part in text.split(","):
        lr, _, epochs = part.partition(":")
        try:
            phases.append([float(lr), int(epochs)])
        except ValueError:
            raise ValueError(
                f"--lr-schedule expects LR:EPOCHS pairs separated by commas, like 2e-3:20,1e-4:10; got {text!r}."
            ) from None
        if not 0 < phases[-1][0] < math.inf or phases[-1][1] < 1:
            raise ValueError(f"--lr-schedule needs positive rates and at least 1 epoch per phase; got {part!r}.")
    return phases


def parse_decay(text):
    """'constant', 'cosine' or 'step:EVERY[:FACTOR]' -> the same text, checked and completed."""
    name, *numbers = text.split(":")
    if name in ("constant", "cosine") and not numbers:
        return name
    if name == "step" and 1 <= len(numbers) <= 2:
        try:
            every, factor = int(numbers[0]), float(numbers[1]) if len(numbers) == 2 else 0.1
        except ValueError:
            every = factor = 0
        if every >= 1 and 0 < factor < 1:
            return f"step:{every}:{factor:g}"
    raise ValueError(
        f"--decay takes constant, cosine, or step:EVERY[:FACTOR] (x FACTOR every EVERY epochs, default 0.1); got {text!r}."
    )


def parse_plateau(text):
    """'3' or '3:0.5' -> [patience, factor]."""
    patience, _, factor = text.partition(":")
    try:
        patience, factor = int(patience), float(factor or PLATEAU_FACTOR)
    except ValueError:
        patience = factor = 0
    if patience < 1 or not 0 < factor < 1:
        raise ValueError(f"--plateau takes PATIENCE[:FACTOR], like 3 or 3:0.5; got {text!r}.")
    return [patience, factor]


def default_warmup(epochs):
    """One epoch of warm-up for an invocation of 5 epochs or more: a fresh model's first steps at the
    peak rate can throw it far off; a shorter invocation keeps all its epochs for learning."""
    return 1 if epochs >= 5 else 0


def make_schedule(phases, warmup=0, decay="constant", plateau=None, early_stopping=None):
    """The schedule of one invocation, as recorded in config.json and the checkpoint."""
    if not 0 <= warmup < phases[0][1]:
        raise ValueError(f"--warmup {warmup} must be shorter than the first phase ({phases[0][1]} epochs).")
    if early_stopping is not None and early_stopping < 1:
        raise ValueError(f"--early-stopping takes a patience of at least 1 epoch; got {early_stopping}.")
    return {"phases": phases, "warmup": warmup, "decay": decay, "plateau": plateau, "early_stopping": early_stopping}


def num_epochs(schedule):
    return sum(epochs for _, epochs in schedule["phases"])


def lr_at(schedule, epoch):
    """The learning rate of the epoch-th epoch (0-based) of an invocation, before any plateau."""
    warmup = schedule["warmup"]
    if epoch < warmup:  # linear from a fraction of the first rate up to it
        return schedule["phases"][0][0] * (epoch + 1) / (warmup + 1)
    position = epoch
    for index, (_, epochs) in enumerate(schedule["phases"]):
        if position < epochs or index == len(schedule["phases"]) - 1:
            break
        position -= epochs
    lr = schedule["phases"][index][0]
    start = warmup if index == 0 else 0  # the first phase decays after its warm-up
    position, length = min(position, epochs - 1) - start, epochs - start
    name, *numbers = schedule["decay"].split(":")
    if name == "cosine":
        return lr * 0.5 * (1 + math.cos(math.pi * position / length))
    if name == "step":
        return lr * float(numbers[1]) ** (position // int(numbers[0]))
    return lr


def describe(schedule):
    """One line for the start of training."""
    parts = [", ".join(f"{lr:g} x{epochs}" for lr, epochs in schedule["phases"])]
    if schedule["warmup"]:
        parts.append(f"{schedule['warmup']} warm-up epoch{'s' if schedule['warmup'] != 1 else ''}")
    if schedule["decay"] != "constant":
        parts.append(f"{schedule['decay']} decay")
    if schedule["plateau"]:
        parts.append(f"x{schedule['plateau'][1]:g} after {schedule['plateau'][0]} epochs on a plateau")
    if schedule["early_stopping"]:
        parts.append(f"early stopping after {schedule['early_stopping']}")
    return "; ".join(parts)


def fresh_counters():
    return {"scale": 1.0, "plateau_best": None, "plateau_wait": 0, "stop_best": None, "stop_wait": 0}


class LearningRateControl(keras.callbacks.Callback):
    """Sets each epoch's rate from the schedule and the plateau's scale; stops the invocation early.

    `first_epoch` is the invocation's first epoch (0-based, of the whole run); `counters` is a dict
    kept in the checkpoint (see `fresh_counters`), changed in place.
    """

    def __init__(self, schedule, first_epoch, counters):
        super().__init__()
        self.schedule, self.first_epoch, self.counters = schedule, first_epoch, counters

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = lr_at(self.schedule, epoch - self.first_epoch) * self.counters["scale"]

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("val_loss")
        if loss is None:
            return
        counters = self.counters
        plateau = self.schedule["plateau"]
        if plateau and self.waited_out("plateau", loss, plateau[0]):
            counters["scale"] *= plateau[1]
            print(f"Epoch {epoch + 1}: validation loss on a plateau; the learning rate is multiplied by {plateau[1]:g}")
        if self.schedule["early_stopping"] and self.waited_out("stop", loss, self.schedule["early_stopping"]):
            self.model.stop_training = True
            print(f"Epoch {epoch + 1}: no lower validation loss for {self.schedule['early_stopping']} epochs; stopping early")

    def waited_out(self, name, loss, patience):
        """Counts epochs without improvement; True (and starts counting again) once they reach `patience`."""
        best = self.counters[f"{name}_best"]
        if not math.isnan(loss) and (best is None or loss < best - MIN_DELTA):  # a NaN loss is no improvement
            self.counters[f"{name}_best"], self.counters[f"{name}_wait"] = loss, 0
            return False
        self.counters[f"{name}_wait"] += 1
        if self.counters[f"{name}_wait"] >= patience:
            self.counters[f"{name}_wait"] = 0
            return True
        return False
