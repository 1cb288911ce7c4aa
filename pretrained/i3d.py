"""I3D checkpoints as keras-kinetics-i3d and DeepMind's kinetics-i3d publish them, mapped onto nets/i3d.py's layers.

nets/i3d.py keeps DeepMind's unit names with "_" for "/", so both map by renaming; no tensor needs
transposing, since TensorFlow and Keras both store a kernel as (t, h, w, in, out):

    nets/i3d.py                              DeepMind (RGB/inception_i3d/... or Flow/...)    keras-kinetics-i3d (.h5)
    Conv3d_1a_7x7_conv kernel                Conv3d_1a_7x7/conv_3d/w                         Conv3d_1a_7x7_conv/kernel:0
    Conv3d_1a_7x7_bn beta                    Conv3d_1a_7x7/batch_norm/beta                   Conv3d_1a_7x7_bn/beta:0
    Mixed_4b_Branch_1_Conv3d_0b_3x3_conv     Mixed_4b/Branch_1/Conv3d_0b_3x3/conv_3d/w       Conv3d_4b_1b_3x3_conv/kernel:0
    head_logits kernel, bias                 Logits/Conv3d_0c_1x1/conv_3d/w, b               Conv3d_6a_1x1_conv/kernel:0, bias:0

Batch norm has no scale (gamma) in either, as in nets/i3d.py. DeepMind's checkpoints name the 3x3 of
Mixed_5b's Branch_2 `Conv3d_0a_3x3` (every other module: `Conv3d_0b_3x3`), and its Kinetics-600 checkpoint
stores batch norm vectors as (1, 1, 1, 1, C).
"""

import re
from pathlib import Path

import numpy as np

from pretrained.torch_files import CheckpointError

HEAD_LAYERS = {"head_logits"}
INPUT_FRAMES, INPUT_SIZE = 64, 224  # the paper's clip, the converted model's input (weights fit any)
# keras-kinetics-i3d's branch units (branch, a/b) -> DeepMind's unit names within a Mixed module
KERAS_KINETICS_BRANCHES = {
    ("0", "a"): "Conv3d_0a_1x1",
    ("1", "a"): "Conv3d_0a_1x1",
    ("1", "b"): "Conv3d_0b_3x3",
    ("2", "a"): "Conv3d_0a_1x1",
    ("2", "b"): "Conv3d_0b_3x3",
    ("3", "b"): "Conv3d_0b_1x1",
}
DEEPMIND_QUIRKS = {"Mixed_5b/Branch_2/Conv3d_0a_3x3": "Mixed_5b/Branch_2/Conv3d_0b_3x3"}


def vector(value):
    return np.ravel(value)  # (C,), also from Kinetics-600's (1, 1, 1, 1, C)


def as_is(value):
    return np.asarray(value)


def read_keras_h5(path):
    """A Keras 2 weights file (model.save_weights, or model.save's `model_weights`): {dataset path: array}."""
    import h5py

    tensors = {}
    with h5py.File(path, "r") as file:
        group = file["model_weights"] if "model_weights" in file else file
        if "layer_names" not in group.attrs:
            project = "layers" in group and "vars" in group
            raise CheckpointError(
                f"{path} is "
                + (
                    "already a Keras 3 weights file: give it to train.py --weights as it is"
                    if project
                    else "not a Keras 2 weights file (it has no layer_names)"
                )
            )
        for layer in group.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else str(layer)
            for weight in group[layer].attrs.get("weight_names", []):
                weight = weight.decode() if isinstance(weight, bytes) else str(weight)
                dataset = group[layer][weight]
                tensors[dataset.name.removeprefix("/").removeprefix("model_weights/")] = np.asarray(dataset)
    return tensors


def checkpoint_prefix(path):
    """A TensorFlow checkpoint's prefix from the folder, the prefix, or its `.index` or `.data-*` file."""
    import tensorflow as tf

    path = Path(path)
    if path.is_dir():
        prefix = tf.train.latest_checkpoint(str(path))
        if prefix is None:
            indexes = sorted(path.glob("*.index"))
            prefix = str(indexes[0].with_suffix("")) if indexes else None
        if prefix is None:
            raise CheckpointError(f"{path} holds no TensorFlow checkpoint (no .index file)")
        return prefix
    if path.suffix == ".index" or ".data-" in path.name:
        return str(path.parent / path.name.split(".index")[0].split(".data-")[0])
    return str(path)


def is_tf_checkpoint(path):
    path = Path(path)
    return path.is_dir() or path.suffix == ".index" or ".data-" in path.name or Path(f"{path}.index").is_file()


def read_tf_checkpoint(path):
    """A TensorFlow checkpoint (DeepMind's kinetics-i3d): {variable name: array}, read with tf.train.load_checkpoint."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(checkpoint_prefix(path))
    return {name: reader.get_tensor(name) for name in sorted(reader.get_variable_to_shape_map())}


def layout_of(tensors):
    """'deepmind' or 'keras-kinetics-i3d' by the names; None for another network."""
    for name in tensors:
        if re.search(r"(^|/)Conv3d_1a_7x7/conv_3d/w$", name):
            return "deepmind"
        if re.search(r"(^|/)Conv3d_1a_7x7_conv/kernel(:0)?$", name):
            return "keras-kinetics-i3d"
    return None


def is_bookkeeping(name):
    """Variables of a checkpoint that are no weights: optimizer slots and the step counter."""
    return name.endswith("/Momentum") or name.split("/")[-1] in ("global_step", "beta1_power", "beta2_power")


def deepmind_target(name):
    """A DeepMind variable -> (nets/i3d.py layer, Keras weight name, transform), or None."""
    match = re.match(r"^(?:.*?inception_i3d/)?(.+)/(conv_3d|batch_norm)/(w|b|beta|gamma|moving_mean|moving_variance)$", name)
    if not match:
        return None
    unit, kind, variable = match.groups()
    if unit == "Logits/Conv3d_0c_1x1" and kind == "conv_3d":
        return ("head_logits", {"w": "kernel", "b": "bias"}[variable], as_is if variable == "w" else vector)
    layer = DEEPMIND_QUIRKS.get(unit, unit).replace("/", "_")
    if kind == "conv_3d":
        return (f"{layer}_conv", {"w": "kernel", "b": "bias"}[variable], as_is if variable == "w" else vector)
    return (f"{layer}_bn", variable, vector)


def keras_kinetics_target(name):
    """A keras-kinetics-i3d dataset path (`Conv3d_3b_1b_3x3_conv/Conv3d_3b_1b_3x3_conv/kernel:0`) -> target, or None."""
    match = re.match(r"^(?:.*/)?(Conv3d_\w+?)_(conv|bn)/(kernel|bias|beta|gamma|moving_mean|moving_variance)(?::0)?$", name)
    if not match:
        return None
    unit, kind, weight = match.groups()
    transform = as_is if weight == "kernel" else vector
    if unit == "Conv3d_6a_1x1" and kind == "conv":
        return ("head_logits", weight, transform)
    branch = re.match(r"^Conv3d_(\d[a-z])_(\d)([ab])_\dx\d$", unit)
    if branch:
        module, index, step = branch.groups()
        if (index, step) not in KERAS_KINETICS_BRANCHES:
            return None
        unit = f"Mixed_{module}_Branch_{index}_{KERAS_KINETICS_BRANCHES[index, step]}"
    return (f"{unit}_{kind}", weight, transform)


TARGETS = {"deepmind": deepmind_target, "keras-kinetics-i3d": keras_kinetics_target}


def describe(tensors, layout):
    """(input channels, number of classes or None without a head, what tells them)."""
    target = TARGETS[layout]
    stem = next((value for name, value in tensors.items() if target(name) == ("Conv3d_1a_7x7_conv", "kernel", as_is)), None)
    if stem is None or stem.ndim != 5:
        raise CheckpointError("the checkpoint has no Conv3d_1a_7x7 kernel (t, h, w, channels, 64): not an I3D checkpoint")
    head = next((value for name, value in tensors.items() if target(name) == ("head_logits", "kernel", as_is)), None)
    channels = int(stem.shape[3])
    kind = {3: "RGB", 2: "optical flow"}.get(channels, f"{channels} channels")
    return channels, None if head is None else int(head.shape[-1]), f"{kind} input"


def input_shape(channels):
    return (INPUT_FRAMES, INPUT_SIZE, INPUT_SIZE, channels)
