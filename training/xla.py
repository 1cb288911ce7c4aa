"""Whether to train with XLA (`jit_compile`), chosen by timing the run's own steps on this machine.

    train.py --xla auto     on a CPU without AVX-512: time steps with and without XLA, keep the faster (default)
    train.py --xla on|off   as asked

XLA's speed on a CPU depends on the CPU. On the CPUs with AVX-512 measured, a step took twice as
long with it as with TensorFlow's own kernels; on one with AVX2 and no AVX-512 it was 1.25 x faster
(docs/five-minutes.md). So `auto` leaves XLA off on a CPU with AVX-512, and on other CPUs measures
before the first epoch: `TIMED_STEPS` training steps on one batch as Keras built them, then as XLA
compiled them (after a step that traces, or compiles); it keeps XLA where its median step is at
least `MIN_GAIN` faster and puts back every weight, optimizer slot and seed the steps changed. The
answer is remembered for this CPU, TensorFlow version, model, input and batch in
`~/.cache/video-gestures/xla.json` (`$XDG_CACHE_HOME` if set; delete it to time again), so the
timing is paid once per machine (a run with XLA still compiles its steps, and its validation step,
at its start). A run too short to pay for the timing (under `MIN_STEPS` training steps) measures
nothing and stays without XLA; one that unfreezes its backbone keeps the answer for the frozen
steps. Where XLA cannot compile a step, the run trains without it. On GPUs Keras's own choice
stands (XLA where every layer supports it); across machines XLA stays off.
"""

import hashlib
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common.files import write_atomic
from common.timing import median_seconds
from training.distribute import cpu_info

CHOICES = ("auto", "on", "off")
TIMED_STEPS = 5  # each way; the step before them (tracing, compiling) is not timed
MIN_GAIN = 1.05  # XLA's median step at least 5% faster
MIN_STEPS = 300  # training steps of an invocation below which the compile is not worth a measurement


def cache_file():
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "video-gestures" / "xla.json"


def machine_key(config, batch_size, precision, trainable):
    """What a step's speed depends on: the CPU (its name and features), TensorFlow, the model (and how much
    of it trains: a frozen backbone's steps are others), its input and batch."""
    name, flags = cpu_info()
    cpu = f"{name or platform.machine()} {hashlib.sha1(' '.join(sorted(flags)).encode()).hexdigest()[:8]}"
    shape = "x".join(str(size) for size in config["input_shape"])
    model = f"{config['model']} {shape}, {trainable:,} trainable, batch {batch_size}, {precision}"
    return f"{cpu}, {os.cpu_count()} cores, TF {tf.__version__}, {model}"


def read_cache(path):
    """The answers remembered, {key: {"xla", "xla_s", "plain_s"}}; an unreadable file or entry is measured again."""
    try:
        cache = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    fields = {"xla": bool, "xla_s": float, "plain_s": float}
    valid = lambda entry: isinstance(entry, dict) and all(isinstance(entry.get(f), t) for f, t in fields.items())  # noqa: E731
    return {key: entry for key, entry in cache.items() if valid(entry)} if isinstance(cache, dict) else {}


class XlaChoice(keras.callbacks.Callback):
    """Sets `model.jit_compile` for the run: as asked, as remembered for this machine, or as measured.

    `decided` is True or False once known (None where Keras chooses); `describe(model)` says why.
    `batch()` gives a training batch to time the steps on; the timing trains on it and then puts back
    every weight, optimizer slot, metric and random seed, so the run goes on as if it never happened:
    a run that measured and one that remembered train the same.
    """

    def __init__(self, mode, key, steps, batch=None, on_cpu=True, avx512=None, path=None, min_steps=None):
        super().__init__()
        if mode not in CHOICES:
            raise ValueError(f"--xla takes one of {', '.join(CHOICES)}; got {mode!r}.")
        self.key, self.batch, self.path = key, batch, Path(path or cache_file())
        self.decided, self.measuring, self.clock = None, False, time.perf_counter
        known, min_steps = read_cache(self.path).get(key), min_steps or MIN_STEPS
        avx512 = "avx512f" in cpu_info()[1] if avx512 is None else avx512
        if mode != "auto":
            self.decided, self.reason = mode == "on", f"--xla {mode}"
        elif not on_cpu:
            self.reason = "Keras's choice on GPUs and over several replicas"
        elif avx512:
            self.decided, self.reason = False, "the CPU has AVX-512, where a step took twice as long with XLA"
        elif known:
            self.decided = known["xla"]
            self.reason = f"{known['xla_s']:.3f} s a step with it, {known['plain_s']:.3f} s without, measured here before"
        elif steps < min_steps:
            self.decided, self.reason = False, f"a run of {steps} steps, under {min_steps}, is too short to time it"
        elif batch is None:
            raise ValueError("XlaChoice needs `batch`, a function giving a training batch, to time the steps on.")
        else:
            self.measuring, self.reason = True, f"timed over {TIMED_STEPS} steps each before training"

    def describe(self, model):
        """For the line training prints at its start, and once measured."""
        if self.measuring:
            return f"XLA or not: {self.reason}"
        xla = model.jit_compile if self.decided is None else self.decided
        return f"XLA {'on' if xla else 'off'} ({self.reason})"

    def on_train_begin(self, logs=None):  # fit has made its training step, not yet traced it
        if self.measuring:
            self.measure()
        if self.decided is not None and bool(self.model.jit_compile) != self.decided:
            self.model.jit_compile = self.decided
            self.model.make_train_function(force=True)

    def measure(self):
        model = self.model
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        state = model.variables + model.optimizer.variables + model.metrics_variables
        saved = [variable.numpy() for variable in state]
        batches = tf.data.Dataset.from_tensors(tuple(self.batch())).repeat()
        seconds, functions = {}, {}
        self.measuring, self.decided = False, False
        try:
            for xla in (False, True):
                model.jit_compile = xla
                if bool(model.jit_compile) != xla:  # Keras refuses XLA for a layer that does not support it
                    self.reason = "a layer of the model does not support it"
                    return print(self.describe(model))
                model.make_train_function(force=True)
                functions[xla] = model.train_function
                seconds[xla] = self.time_steps(functions[xla], iter(batches))
        except tf.errors.OpError as error:  # XLA cannot compile the step: train without it
            self.reason = f"it failed to compile the training step: {str(error).splitlines()[0]}"
            return print(self.describe(model))
        finally:
            for variable, value in zip(state, saved):
                variable.assign(value)
            model.jit_compile = False
            model.train_function = functions.get(False)  # traced: fit uses it as is (None: fit makes one)
        xla, plain = seconds[True], seconds[False]
        self.decided = plain >= MIN_GAIN * xla
        model.jit_compile, model.train_function = self.decided, functions[self.decided]
        self.reason = f"{xla:.3f} s a step with it, {plain:.3f} s without, measured before training"
        self.remember({"xla": self.decided, "xla_s": round(xla, 4), "plain_s": round(plain, 4)})

    def time_steps(self, function, batches):
        """The median seconds of `TIMED_STEPS` steps, after one that traces (and compiles) the function."""

        def step():
            tf.nest.map_structure(np.asarray, function(batches))  # waits for the step's results

        return float(median_seconds(step, TIMED_STEPS, self.clock))

    def remember(self, entry):
        cache = read_cache(self.path)
        cache[self.key] = entry
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(cache, indent=1) + "\n")
            where = f"remembered in {self.path}"
        except OSError as error:
            where = f"not remembered ({error})"
        print(f"{self.describe(self.model)}; {where}")
