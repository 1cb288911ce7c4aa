import csv
import math
import types

import pytest
from conftest import TINY

import train
from training import lr_schedule


def schedule(**options):
    return lr_schedule.make_schedule(options.pop("phases", [[1.0, 10]]), **options)


def rates(plan, epochs):
    return [lr_schedule.lr_at(plan, epoch) for epoch in range(epochs)]


def test_phases_warm_up_and_decay():
    assert rates(schedule(phases=[[2e-3, 2], [1e-4, 1]]), 4) == [2e-3, 2e-3, 1e-4, 1e-4]  # past the end: the last rate
    assert rates(schedule(warmup=3), 4) == [0.25, 0.5, 0.75, 1.0]  # up to the first rate, which the decay starts from
    cosine = rates(schedule(phases=[[1.0, 4], [0.1, 2]], decay="cosine"), 6)
    assert cosine[:4] == pytest.approx([1.0, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5, 0.5 - 0.5 * math.cos(math.pi / 4)])
    assert cosine[4:] == pytest.approx([0.1, 0.05])  # each phase decays from its own rate
    warm_cosine = rates(schedule(phases=[[1.0, 5]], warmup=1, decay="cosine"), 5)
    assert warm_cosine == pytest.approx([0.5, 1.0, 0.5 + 0.5 * math.cos(math.pi / 4), 0.5, 0.5 - 0.5 * math.cos(math.pi / 4)])
    assert rates(schedule(decay=lr_schedule.parse_decay("step:2:0.5")), 5) == [1.0, 1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (lr_schedule.parse_phases, "2e-3", "LR:EPOCHS"),
        (lr_schedule.parse_phases, "2e-3:0", "at least 1 epoch"),
        (lr_schedule.parse_decay, "linear", "constant, cosine, or step"),
        (lr_schedule.parse_decay, "step:0", "constant, cosine, or step"),
        (lr_schedule.parse_decay, "step:3:2", "constant, cosine, or step"),
        (lr_schedule.parse_plateau, "soon", "PATIENCE"),
        (lr_schedule.parse_plateau, "3:1.5", "PATIENCE"),
    ],
)
def test_bad_schedules_are_explained(parse, text, message):
    with pytest.raises(ValueError, match=message):
        parse(text)


def test_warm_up_longer_than_the_phase_is_refused():
    with pytest.raises(ValueError, match="shorter than the first phase"):
        schedule(phases=[[1e-3, 2]], warmup=2)
    assert lr_schedule.parse_decay("step:5") == "step:5:0.1" and lr_schedule.parse_plateau("3") == [3, 0.1]


def control(plan):
    counters = lr_schedule.fresh_counters()
    callback = lr_schedule.LearningRateControl(plan, first_epoch=10, counters=counters)
    callback.set_model(types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=None), stop_training=False))
    return callback, counters


def test_plateau_scales_the_rate_and_early_stopping_stops():
    callback, counters = control(schedule(phases=[[1.0, 20]], plateau=[2, 0.5], early_stopping=3))
    losses = [1.0, 0.9, 0.95, 0.9, 0.99, 0.8]  # no improvement at epochs 3, 4 (plateau) and 5; better at 6
    seen = []
    for epoch, loss in enumerate(losses, start=10):
        callback.on_epoch_begin(epoch)
        seen.append(callback.model.optimizer.learning_rate)
        callback.on_epoch_end(epoch, {"val_loss": loss})
        if callback.model.stop_training:
            break
    assert seen == [1.0, 1.0, 1.0, 1.0, 0.5]  # halved after two epochs without a lower loss
    assert callback.model.stop_training and len(seen) == 5  # three epochs without: stopped before the sixth
    assert counters["scale"] == 0.5 and counters["plateau_best"] == 0.9


def schedule_of(*argv):
    return train.schedule_of(train.make_parser().parse_args(list(argv)))


def test_epochs_alone_anneal_and_phases_keep_their_rates():
    plan = schedule_of("--epochs", "10", "--lr", "1e-3")
    assert plan["warmup"] == 1 and plan["decay"] == "cosine"
    annealed = rates(plan, 10)
    assert annealed[0] == pytest.approx(5e-4) and annealed[1] == pytest.approx(1e-3)  # the peak is --lr
    assert all(a > b for a, b in zip(annealed[1:], annealed[2:])) and annealed[-1] < 0.05 * 1e-3  # down to near zero
    assert schedule_of("--epochs", "4")["warmup"] == 0  # a short invocation keeps its epochs for learning
    assert rates(schedule_of("--epochs", "3", "--decay", "constant"), 3) == [2e-3] * 3  # the old rate, when asked
    phases = schedule_of("--lr-schedule", "2e-3:2,1e-4:1")
    assert phases["decay"] == "constant" and rates(phases, 3) == [2e-3, 2e-3, 1e-4]
    assert schedule_of("--epochs", "8", "--warmup", "0")["warmup"] == 0


def test_each_epochs_rate_is_in_the_history(prepared_dir, tmp_path):
    run = tmp_path / "run"
    train.main(
        [
            "--data",
            str(prepared_dir),
            "--run",
            str(run),
            "--epochs",
            "3",
            "--lr",
            "1e-3",
            "--warmup",
            "1",
            "--decay",
            "cosine",
            *TINY,
        ]
    )
    with open(run / "history.csv", newline="") as file:
        logged = [float(row["lr"]) for row in csv.DictReader(file)]
    assert logged == pytest.approx([5e-4, 1e-3, 5e-4], rel=1e-6)
    with pytest.raises(SystemExit, match="--decay takes"):
        train.main(["--data", str(prepared_dir), "--run", str(tmp_path / "other"), "--decay", "fast", *TINY])


def test_a_nan_validation_loss_is_no_improvement():
    callback, counters = control(schedule(phases=[[1.0, 20]], plateau=[1, 0.5], early_stopping=2))
    for epoch, loss in enumerate([1.0, float("nan"), float("nan")], start=10):
        callback.on_epoch_end(epoch, {"val_loss": loss})
    assert counters["scale"] == 0.25 and callback.model.stop_training and counters["plateau_best"] == 1.0
