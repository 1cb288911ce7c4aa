"""Where training runs, through tf.distribute: one device, every local GPU, or several machines.

    train.py --distribute auto          several GPUs: all of them; else one device
    train.py --distribute mirrored      MirroredStrategy over the local GPUs
    train.py --distribute multiworker   MultiWorkerMirroredStrategy over the machines TF_CONFIG names,
                                        trained by training/loop.py (Keras's fit cannot run there)
    train.py --mixed-precision          float16 on GPUs (bfloat16 on CPUs); weights and outputs stay float32

`--batch-size` is the global batch: each of N replicas gets batch/N clips of every batch, and the
gradients are summed across them, so a run trains the same way on 1 GPU or 8. Batch normalisation
then averages its statistics over the global batch too (synchronised), so the result does not
depend on how many devices computed it. Across machines, each worker loads its own share of every
global batch (`worker_shard`), and worker 0 (the chief) alone writes the run folder (`is_chief`).
"""

import json
import os
from pathlib import Path

import keras
import tensorflow as tf

from nets.layers import FrameStackConv3D, FusedBatchNormalization

STRATEGIES = ("auto", "mirrored", "multiworker", "none")


def make_strategy(name):
    """The tf.distribute strategy `name` asks for on this machine."""
    if name not in STRATEGIES:
        raise ValueError(f"--distribute takes one of {', '.join(STRATEGIES)}; got {name!r}.")
    if name == "auto":  # several machines only when asked, with TF_CONFIG
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "none"
    if name == "none":
        return tf.distribute.get_strategy()  # the default: one device
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError(
                "--distribute multiworker needs TF_CONFIG, the JSON that names every worker and this one's "
                'index, e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    # the GPUs, or, on a machine without any, the CPU devices (one unless configured as several)
    devices = [device.name for device in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def global_batch(batch_size, strategy):
    """The batch size rounded to a multiple of the replicas (at least one clip each), and a note if it moved."""
    replicas = strategy.num_replicas_in_sync
    rounded = max(replicas, round(batch_size / replicas) * replicas)
    if rounded == batch_size:
        return rounded, None
    return rounded, f"--batch-size {batch_size} does not split evenly over {replicas} replicas; using {rounded}"


def across_machines(strategy):
    """Whether the strategy spans several machines (MultiWorkerMirroredStrategy), which training/loop.py trains."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy):
    """Whether this process writes the run folder: always, except on the other workers of a multi-machine run
    (the chief, or worker 0 where there is no chief)."""
    if not across_machines(strategy):
        return True
    config = json.loads(os.environ["TF_CONFIG"])
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and task.get("index", 0) == 0


def worker_shard(strategy):
    """(this worker's index, the number of workers) of a multi-machine run, (0, 1) otherwise: which share of
    every global batch this process loads (the chief first, then the workers in TF_CONFIG's order)."""
    if not across_machines(strategy):
        return 0, 1
    config = json.loads(os.environ["TF_CONFIG"])
    cluster, task = config["cluster"], config.get("task", {})
    chiefs = len(cluster.get("chief", []))
    index = 0 if task.get("type") == "chief" else chiefs + task.get("index", 0)
    return index, chiefs + len(cluster.get("worker", []))


def wait_for_all_workers(strategy):
    """Returns once every worker of a multi-machine run has come this far: the others read the run folder
    only after the chief has recovered it (or cleared it for --fresh)."""
    if across_machines(strategy):
        sum_over_workers(strategy, [0.0])


def agree_across_workers(strategy, epoch):
    """Checks that every worker resumes from the same epoch: the others read the chief's run folder."""
    if not across_machines(strategy):
        return
    workers, total, squares = sum_over_workers(strategy, [1.0, epoch, epoch**2])
    if squares * workers != total**2:  # all equal, or else every worker sees that they are not
        raise ValueError(
            f"The workers found different runs in the run folder: this one at epoch {epoch}, their mean "
            f"{total / workers:g}. Every worker must read the chief's run folder: put it on a filesystem they "
            "share, and give every worker the same --run."
        )


def sum_over_workers(strategy, numbers):
    """Numbers summed over the workers (one value per worker), by one all-reduce that waits for all of them."""
    local = len(strategy.extended.worker_devices)
    values = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(numbers, tf.float64) / local  # each of a worker's devices holds a part
    )
    return strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None).numpy().tolist()


def set_precision(mixed):
    """The global dtype policy for models built from here on: mixed float16 on GPUs, bfloat16 on CPUs."""
    name = ("mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16") if mixed else "float32"
    keras.mixed_precision.set_global_policy(name)
    return name


def adapt_model(model, strategy):
    """Readies a built or loaded model for the strategy and precision: batch-norm statistics over all
    replicas, and class probabilities computed in float32 under mixed precision (as Keras advises)."""
    replicas = strategy.num_replicas_in_sync
    mixed = keras.mixed_precision.global_policy().name.startswith("mixed")
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = replicas > 1
        if mixed and layer.name in ("predictions", "head_scores"):
            layer.dtype_policy = keras.DTypePolicy("float32")
    return model


def describe_speed(model, precision, xla=None):
    """How this machine computes the model, for the line training prints at its start: the 3D convolutions,
    the batch norm, the precision, the threads and XLA (`xla`, as training/xla.py chose it), each with the
    reason it was chosen or fell back."""
    layers = list(all_layers(model))
    parts = []
    if any(isinstance(layer, FrameStackConv3D) for layer in layers):
        parts.append("3D convolutions as 2D frame stacks")
    norms = [layer for layer in layers if isinstance(layer, FusedBatchNormalization)]
    if norms:
        if keras.backend.backend() != "tensorflow":
            parts.append(f"Keras's batch norm (the fused kernel needs TensorFlow, not {keras.backend.backend()})")
        elif any(layer.synchronized for layer in norms):
            parts.append("Keras's synchronised batch norm (statistics over all replicas)")
        else:
            parts.append("TensorFlow's fused batch norm")
    cpu = on_cpu()
    if precision == "float32" and cpu and cpu_has_bfloat16():
        parts.append("float32 (the CPU has bfloat16, measured no faster: --mixed-precision to use it)")
    else:
        parts.append(precision)
    if cpu:
        parts.append(f"{tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} CPU threads")
    parts.append(xla or f"XLA {'on' if getattr(model, 'jit_compile', False) else 'off'}")
    return ", ".join(parts)


def on_cpu():
    """Whether TensorFlow computes on the CPU here (no GPU)."""
    return not tf.config.list_logical_devices("GPU")


def cpu_has_bfloat16():
    """Whether the CPU computes bfloat16 natively (AMX or AVX-512 BF16), as Linux reports it."""
    return bool(cpu_info()[1] & {"amx_bf16", "avx512_bf16"})


def cpu_info():
    """The CPU's name and its feature flags, as Linux reports them (empty where it does not)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "", set()
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return name, set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))


def all_layers(layer):
    """A layer and every layer inside it: nested models, and the model a TimeDistributed wraps."""
    yield layer
    inner = [layer.layer] if isinstance(layer, keras.layers.Wrapper) else getattr(layer, "layers", [])
    for sublayer in inner:
        yield from all_layers(sublayer)
