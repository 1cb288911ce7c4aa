"""A published checkpoint read and placed, tensor by tensor, into the project's model that it fits.

`read_checkpoint` tells the format by the file and the names in it; `plan` picks the registered model
(and variant) the checkpoint's network is; `place` puts every tensor into its layer, or fails naming the
first one it cannot place and its shape, and lists the tensors that are no weights. convert_weights.py
runs the three and saves the model's weights.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pretrained import i3d, slowfast
from pretrained.torch_files import CheckpointError, load_torch, read_caffe2

FAMILIES = {"slowfast_r50": "SlowFast R50", "i3d": "I3D"}


@dataclass
class Checkpoint:
    path: str
    family: str  # a key of FAMILIES
    layout: str  # pytorchvideo, pyslowfast, caffe2, mmaction2, deepmind, keras-kinetics-i3d
    tensors: dict  # name -> array, in the file's order


@dataclass
class Plan:
    model: str  # the registered model to build
    input_shape: tuple
    num_classes: int | None  # the checkpoint's, None without a head
    reason: str  # what in the checkpoint chose the model


@dataclass
class Placement:
    placed: list = field(default_factory=list)  # (tensor, its shape, layer, weight)
    unused: list = field(default_factory=list)  # (tensor, its shape): batch norm counters, optimizer slots, ...
    head: list = field(default_factory=list)  # (tensor, its shape): a head of another size, not loaded
    missing: list = field(default_factory=list)  # "layer/weight" the checkpoint has nothing for (only the head may be)


def read_checkpoint(path):
    """A Checkpoint from a `.pyth`/`.pth`/`.pt` (torch.save), `.pkl` (Caffe2), `.h5` (Keras 2) file or a
    TensorFlow checkpoint (its folder, prefix or `.index` file)."""
    path = str(path)
    if i3d.is_tf_checkpoint(path):
        tensors = i3d.read_tf_checkpoint(path)
    elif not Path(path).is_file():
        raise CheckpointError(f"{path} does not exist. Give a downloaded checkpoint file (or a TensorFlow checkpoint's folder).")
    elif path.endswith(".h5") or path.endswith(".hdf5"):
        tensors = i3d.read_keras_h5(path)
    elif path.endswith(".pkl"):
        tensors = read_caffe2(path)
    else:
        tensors = slowfast.state_dict(load_torch(path))
    layout = slowfast.layout_of(tensors)
    if layout is not None:
        return Checkpoint(path, "slowfast_r50", layout, tensors)
    layout = i3d.layout_of(tensors)
    if layout is not None:
        return Checkpoint(path, "i3d", layout, tensors)
    first = ", ".join(f"{name} {tuple(np.shape(value))}" for name, value in list(tensors.items())[:3]) or "no tensors"
    raise CheckpointError(
        f"{path} is no SlowFast R50 or I3D checkpoint this converter knows ({first}, ...). It reads PySlowFast, "
        "pytorchvideo and MMAction2 SlowFast R50 files and keras-kinetics-i3d and DeepMind kinetics-i3d I3D files."
    )


def plan(checkpoint, model=None):
    """The Plan of a checkpoint; `model` (a family or a registered variant) must agree with it."""
    if checkpoint.family == "slowfast_r50":
        variant, num_classes, reason = slowfast.describe(checkpoint.tensors, checkpoint.layout)
        found = Plan(variant, (32, 224, 224, 3), num_classes, reason)
    else:
        channels, num_classes, reason = i3d.describe(checkpoint.tensors, checkpoint.layout)
        found = Plan("i3d", i3d.input_shape(channels), num_classes, reason)
    if model not in (None, checkpoint.family, found.model):
        if not model.startswith(checkpoint.family):
            raise CheckpointError(
                f"{checkpoint.path} is a {FAMILIES[checkpoint.family]} checkpoint ({checkpoint.layout}), not one for {model}."
            )
        found.model, found.reason = model, f"--model {model}"  # a variant asked for: placing checks that it fits
    return found


def target_of(checkpoint):
    """name -> (layer, Keras weight, transform) or None, for the checkpoint's layout."""
    if checkpoint.family == "slowfast_r50":
        return slowfast.expected_tensors(checkpoint.layout).get
    return i3d.TARGETS[checkpoint.layout]


def is_bookkeeping(checkpoint, name):
    return (slowfast if checkpoint.family == "slowfast_r50" else i3d).is_bookkeeping(name)


def place(model, checkpoint, keep_head=True):
    """Assigns every weight tensor of `checkpoint` to its variable in `model` (built by `plan`), transposed as
    needed. keep_head=False leaves the head (a checkpoint's 400 classes for a model of 27) unread."""
    target, result = target_of(checkpoint), Placement()
    head_layers = slowfast.HEAD_LAYERS if checkpoint.family == "slowfast_r50" else i3d.HEAD_LAYERS
    variables = {(layer.name, weight.name): weight for layer in model.layers for weight in layer.weights}
    filled = set()
    for name, value in checkpoint.tensors.items():
        shape = tuple(np.shape(value))
        goal = target(name)
        if goal is None and is_bookkeeping(checkpoint, name):
            result.unused.append((name, shape))
            continue
        if goal is None or (goal[0], goal[1]) not in variables:
            where = "no layer of the network takes it" if goal is None else f"{model.name} has no {goal[0]}/{goal[1]}"
            raise CheckpointError(
                f"Cannot place {name} {shape} from {checkpoint.path}: {where}. Is the checkpoint a {FAMILIES[checkpoint.family]} "
                f"of the layout {checkpoint.layout} for {model.name}?"
            )
        layer, weight, transform = goal
        if layer in head_layers and not keep_head:
            result.head.append((name, shape))
            continue
        variable = variables[layer, weight]
        array = transform(np.asarray(value)).astype("float32")
        if (layer, weight) in filled:
            raise CheckpointError(
                f"Cannot place {name} {shape}: {layer}/{weight} already holds another tensor of the checkpoint."
            )
        if array.shape != tuple(variable.shape):
            raise CheckpointError(
                f"Cannot place {name} {shape} from {checkpoint.path} into {layer}/{weight} of {model.name}, "
                f"which takes {tuple(variable.shape)}{' once transposed' if array.shape != shape else ''}; "
                f"it became {array.shape}. Is the checkpoint for another variant?"
            )
        variable.assign(array)
        filled.add((layer, weight))
        result.placed.append((name, shape, layer, weight))
    result.missing = [f"{layer}/{weight}" for layer, weight in variables if (layer, weight) not in filled]
    backbone_missing = [name for name in result.missing if name.split("/")[0] not in head_layers]
    if backbone_missing:
        raise CheckpointError(
            f"{checkpoint.path} has no tensor for {backbone_missing[0]} of {model.name} "
            f"({len(backbone_missing)} weights in all): it is not a whole {FAMILIES[checkpoint.family]} checkpoint."
        )
    return result
