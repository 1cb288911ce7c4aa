"""training/xla.py: XLA or not, timed before the run's first step and remembered for the machine."""

import csv
import json

import keras
import numpy as np
import pytest
from conftest import TINY

import train
from training import runs, xla

KEY = "a CPU, TF x, slowfast 16x112x112x1, batch 16, float32"
RNG = np.random.default_rng(0)
DATA, LABELS = RNG.normal(size=(64, 8)).astype("float32"), np.arange(64) % 3


def tiny_model():
    keras.utils.set_random_seed(0)
    layers = [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dropout(0.3), keras.layers.Dense(3)]
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def choice_of(tmp_path, durations=None, mode="auto", steps=1000, **options):
    """A choice whose clock makes each timed step take the next of `durations` seconds."""
    options = {"avx512": False, **options}  # as on a CPU without AVX-512, whatever this one has
    choice = xla.XlaChoice(mode, KEY, steps, batch=lambda: (DATA[:8], LABELS[:8]), path=tmp_path / "xla.json", **options)
    if durations:
        clock = iter(np.cumsum([0.0] + [d for duration in durations for d in (duration, 0.0)]))
        choice.clock = lambda: float(next(clock))
    return choice


def fit(model, choice, epochs=2):
    keras.utils.set_random_seed(1)
    history = model.fit(DATA, LABELS, batch_size=8, epochs=epochs, callbacks=[choice], verbose=0, shuffle=False)
    return history.history


def test_xla_is_kept_where_its_steps_are_faster_and_remembered(tmp_path, capsys):
    model, choice = tiny_model(), choice_of(tmp_path, [1.0] * 5 + [0.8] * 5)
    assert choice.describe(model).startswith("XLA or not: timed")
    fit(model, choice)
    assert choice.decided is True and model.jit_compile is True
    assert json.loads((tmp_path / "xla.json").read_text())[KEY] == {"xla": True, "xla_s": 0.8, "plain_s": 1.0}
    assert "XLA on (0.800 s a step with it, 1.000 s without, measured before training); remembered in" in capsys.readouterr().out
    again = choice_of(tmp_path)  # the next run on this machine measures nothing
    assert again.decided is True and not again.measuring and "measured here before" in again.describe(model)


def test_xla_no_faster_stays_off(tmp_path):
    model, choice = tiny_model(), choice_of(tmp_path, [1.0] * 5 + [0.97] * 5)  # 3% faster is not enough
    fit(model, choice)
    assert choice.decided is False and model.jit_compile is False
    assert json.loads((tmp_path / "xla.json").read_text())[KEY]["xla"] is False


@pytest.mark.parametrize("faster", ["plain", "xla"])
def test_a_run_that_measured_trains_as_one_that_remembered(tmp_path, faster):
    durations = [1.0] * 5 + ([2.0] if faster == "plain" else [0.5]) * 5
    measured = fit(tiny_model(), choice_of(tmp_path, durations))  # its timing steps are undone
    remembered = fit(tiny_model(), choice_of(tmp_path))
    assert measured["loss"] == pytest.approx(remembered["loss"], rel=1e-6)
    assert measured["accuracy"] == remembered["accuracy"]
    asked = fit(tiny_model(), choice_of(tmp_path, mode="on" if faster == "xla" else "off"))
    assert measured["loss"] == pytest.approx(asked["loss"], rel=1e-6)


def test_short_runs_gpus_and_asked_modes_measure_nothing(tmp_path):
    model = tiny_model()
    short = choice_of(tmp_path, steps=100, min_steps=300)
    assert short.decided is False and short.describe(model) == "XLA off (a run of 100 steps, under 300, is too short to time it)"
    asked = choice_of(tmp_path, mode="on", steps=100)
    fit(model, asked, epochs=1)
    assert model.jit_compile is True and asked.describe(model) == "XLA on (--xla on)"
    avx512 = choice_of(tmp_path, avx512=True)
    assert avx512.decided is False and not avx512.measuring and "AVX-512" in avx512.describe(model)
    gpu = choice_of(tmp_path, on_cpu=False)
    assert gpu.describe(tiny_model()).startswith("XLA off (Keras's choice") and not gpu.measuring
    assert not (tmp_path / "xla.json").exists()
    with pytest.raises(ValueError, match="--xla takes one of auto, on, off; got 'maybe'"):
        xla.XlaChoice("maybe", KEY, steps=1)


def test_the_key_names_the_cpu_the_model_and_its_input():
    key = xla.machine_key({"model": "slowfast", "input_shape": [16, 64, 64, 4]}, 16, "float32", 1234)
    assert "slowfast 16x64x64x4, 1,234 trainable, batch 16, float32" in key and "TF " in key


def test_a_cache_unreadable_in_part_or_whole_is_measured_again(tmp_path):
    path, good = tmp_path / "xla.json", {"xla": True, "xla_s": 0.5, "plain_s": 1.0}
    path.write_text(json.dumps({KEY: good, "other": {"xla": True}, "third": [1]}))
    assert xla.read_cache(path) == {KEY: good}
    for text in ("[]", "{not json", ""):
        path.write_text(text)
        assert xla.read_cache(path) == {} and choice_of(tmp_path).measuring


def test_a_step_xla_cannot_compile_trains_without_it_and_changes_nothing(tmp_path, monkeypatch, capsys):
    model, choice = tiny_model(), choice_of(tmp_path)
    expected = fit(tiny_model(), choice_of(tmp_path, mode="off"))
    made = model.make_train_function

    def failing(force=False):
        made(force=force)
        if model.jit_compile:

            def compile_error(iterator):
                raise xla.tf.errors.InvalidArgumentError(None, None, "no XLA kernel for this op\nmore")

            model.train_function = compile_error

    monkeypatch.setattr(model, "make_train_function", failing)
    assert fit(model, choice)["loss"] == pytest.approx(expected["loss"], rel=1e-6)  # the plain steps were undone
    assert choice.decided is False and model.jit_compile is False
    assert "XLA off (it failed to compile the training step: no XLA kernel for this op)" in capsys.readouterr().out
    assert not (tmp_path / "xla.json").exists()


def test_train_py_times_its_own_batch_and_trains_as_if_it_had_not(trained_run, prepared_dir, tmp_path, monkeypatch, capsys):
    """On a CPU without AVX-512, a long enough run times XLA before its first epoch; XLA made no faster
    here, the run's history is the shared run's (the same command, never timed) to the last digit."""
    monkeypatch.setattr(xla, "cpu_info", lambda: ("a CPU", {"avx2"}))
    monkeypatch.setattr(xla, "MIN_STEPS", 1)
    monkeypatch.setattr(xla, "MIN_GAIN", 1e9)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    train.main(["--data", str(prepared_dir), "--run", str(tmp_path / "run"), "--epochs", "2", *TINY])
    said = capsys.readouterr().out
    assert "XLA or not: timed over 5 steps each before training" in said
    assert "measured before training); remembered in" in said
    (entry,) = json.loads((tmp_path / "cache" / "video-gestures" / "xla.json").read_text()).values()
    assert entry["xla"] is False and entry["xla_s"] > 0 and entry["plain_s"] > 0
    np.testing.assert_array_equal(numbers(tmp_path / "run"), numbers(trained_run))


def numbers(run):
    with open(run / "history.csv", newline="") as file:
        return np.array([[float(row[key]) for key in runs.HISTORY_COLUMNS] for row in csv.DictReader(file)])
