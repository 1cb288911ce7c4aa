"""Published checkpoints in miniature: files in each format's structure, written without torch, Caffe2 or Sonnet.

`write_torch` writes what `torch.save` writes (the zip format, or the legacy one), `write_caffe2` a Caffe2
blobs pickle, `write_keras2_h5` a Keras 2 `save_weights` file, `write_tf_checkpoint` a TF1 Saver's
checkpoint. The `*_names` functions give each project's name of a network.py / nets/i3d.py layer, from
each project's naming rules as their state dicts show them; they are written apart from pretrained/, so
a test that exports a model through them and converts it back checks both.
"""

import collections
import io
import pickle
import re
import struct
import zipfile

import numpy as np

STORAGES = {np.dtype("float32"): "FloatStorage", np.dtype("int64"): "LongStorage", np.dtype("float16"): "HalfStorage"}


class Global:
    """A global a pickle names (torch._utils._rebuild_tensor_v2) without importing its module."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle asks a reduce function to be callable
        raise NotImplementedError


class Tensor:
    def __init__(self, array, key):
        self.array, self.key = np.array(array, order="C"), key

    def __reduce__(self):
        storage = Storage(self.array, self.key)
        stride = tuple(step // self.array.itemsize for step in self.array.strides)
        return Global("torch._utils", "_rebuild_tensor_v2"), (
            storage,
            0,
            self.array.shape,
            stride,
            False,
            collections.OrderedDict(),
        )


class Storage:
    def __init__(self, array, key):
        self.array, self.key = array, key


class TorchPickler(pickle._Pickler):  # the Python pickler, whose dispatch table takes Global
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, legacy):
        super().__init__(file, protocol=2)
        self.legacy, self.storages = legacy, []

    def save_global_reference(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())

    dispatch[Global] = save_global_reference

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        self.storages.append(obj)
        reference = ("storage", Global("torch", STORAGES[obj.array.dtype]), obj.key, "cpu", obj.array.size)
        return reference + (None,) if self.legacy else reference


def tensors_of(value, counter):
    """`value` with every array as a Tensor with its own storage key."""
    if isinstance(value, np.ndarray):
        counter.append(0)
        return Tensor(value, str(len(counter) - 1))
    if isinstance(value, dict):
        return type(value)((key, tensors_of(item, counter)) for key, item in value.items())
    return value


def write_torch(path, checkpoint, legacy=False):
    """`torch.save(checkpoint, path)` as torch writes it, NumPy arrays standing for tensors."""
    buffer = io.BytesIO()
    pickler = TorchPickler(buffer, legacy)
    pickler.dump(tensors_of(checkpoint, []))
    if not legacy:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("archive/data.pkl", buffer.getvalue())
            archive.writestr("archive/byteorder", "little")
            for storage in pickler.storages:
                archive.writestr(f"archive/data/{storage.key}", storage.array.tobytes())
            archive.writestr("archive/version", "3\n")
        return
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, file, protocol=2)
        file.write(buffer.getvalue())
        pickle.dump([storage.key for storage in pickler.storages], file, protocol=2)
        for storage in pickler.storages:
            file.write(struct.pack("<q", storage.array.size) + storage.array.tobytes())


def write_caffe2(path, blobs):
    with open(path, "wb") as file:
        pickle.dump({"blobs": blobs}, file, protocol=2)


def write_keras2_h5(path, weights, under_model_weights=False):
    """A Keras 2 weights file: {layer: {weight ("kernel:0"): array}}, in `model_weights` as model.save nests it."""
    import h5py

    with h5py.File(path, "w") as file:
        group = file.create_group("model_weights") if under_model_weights else file
        group.attrs["layer_names"] = [name.encode() for name in weights]
        group.attrs["backend"], group.attrs["keras_version"] = b"tensorflow", b"2.1.2"
        for layer, values in weights.items():
            names = [f"{layer}/{weight}" for weight in values]
            group.create_group(layer).attrs["weight_names"] = [name.encode() for name in names]
            for name, value in zip(names, values.values()):
                group[layer].create_dataset(name, data=value)


def write_tf_checkpoint(prefix, variables):
    """A TensorFlow checkpoint holding exactly `variables` ({name: array}), as TF1's Saver writes one."""
    import tensorflow as tf

    names = list(variables)
    tf.raw_ops.SaveV2(
        prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names), tensors=[variables[n] for n in names]
    )


# SlowFast: network.py's layer -> each project's name, from each project's naming rules
SLOWFAST_PART = re.compile(r"(slow|fast)_res(\d)_block(\d+)_(a|b|c|shortcut)$")
R50_DEPTHS = (3, 4, 6, 3)
LATERALS = ("stem", "res2", "res3", "res4")


def pytorchvideo_name(layer, kind):
    unit = layer.rsplit("_", 1)[0]
    if unit.endswith("_stem") and not unit.startswith("lateral"):
        return f"blocks.0.multipathway_blocks.{int(unit.startswith('fast'))}.{'conv' if kind == 'conv' else 'norm'}"
    if unit.startswith("lateral"):
        return f"blocks.{LATERALS.index(unit[8:])}.multipathway_fusion.{'conv_fast_to_slow' if kind == 'conv' else 'norm'}"
    pathway, stage, block, part = SLOWFAST_PART.match(unit).groups()
    within = (
        f"branch1_{'conv' if kind == 'conv' else 'norm'}"
        if part == "shortcut"
        else f"branch2.{kind if kind == 'conv' else 'norm'}_{part}"
    )
    return f"blocks.{int(stage) - 1}.multipathway_blocks.{int(pathway == 'fast')}.res_blocks.{int(block) - 1}.{within}"


def pyslowfast_name(layer, kind):
    unit = layer.rsplit("_", 1)[0]
    if unit.endswith("_stem") and not unit.startswith("lateral"):
        return f"s1.pathway{int(unit.startswith('fast'))}_stem.{'conv' if kind == 'conv' else 'bn'}"
    if unit.startswith("lateral"):
        return f"s{LATERALS.index(unit[8:]) + 1}_fuse.{'conv_f2s' if kind == 'conv' else 'bn'}"
    pathway, stage, block, part = SLOWFAST_PART.match(unit).groups()
    branch = "branch1" if part == "shortcut" else f"branch2.{part}"
    return f"s{stage}.pathway{int(pathway == 'fast')}_res{int(block) - 1}.{branch}{'' if kind == 'conv' else '_bn'}"


def caffe2_name(layer, kind):
    """Without the last part (_w, or _s, _b, _rm, _riv of batch norm)."""
    unit = layer.rsplit("_", 1)[0]
    t = "t_" if unit.startswith("fast") else ""
    if unit.endswith("_stem") and not unit.startswith("lateral"):
        return f"{t}conv1" if kind == "conv" else f"{t}res_conv1_bn"
    if unit.startswith("lateral"):
        index = LATERALS.index(unit[8:])
        name = "t_pool1_subsample" if index == 0 else f"t_res{index + 1}_{R50_DEPTHS[index - 1] - 1}_branch2c_bn_subsample"
        return name if kind == "conv" else f"{name}_bn"
    pathway, stage, block, part = SLOWFAST_PART.match(unit).groups()
    name = f"{t}res{stage}_{int(block) - 1}_{'branch1' if part == 'shortcut' else 'branch2' + part}"
    return name if kind == "conv" else f"{name}_bn"


def mmaction2_name(layer, kind):
    unit = layer.rsplit("_", 1)[0]
    if unit.endswith("_stem") and not unit.startswith("lateral"):
        return f"backbone.{unit[:4]}_path.conv1.{'conv' if kind == 'conv' else 'bn'}"
    if unit.startswith("lateral"):
        index = LATERALS.index(unit[8:])
        return f"backbone.slow_path.{'conv1' if index == 0 else f'layer{index}'}_lateral.{'conv' if kind == 'conv' else 'bn'}"
    pathway, stage, block, part = SLOWFAST_PART.match(unit).groups()
    within = "downsample" if part == "shortcut" else f"conv{'abc'.index(part) + 1}"
    return f"backbone.{pathway}_path.layer{int(stage) - 1}.{int(block) - 1}.{within}.{'conv' if kind == 'conv' else 'bn'}"


HEADS = {"pytorchvideo": "blocks.6.proj", "pyslowfast": "head.projection", "caffe2": "pred", "mmaction2": "cls_head.fc_cls"}
NAMES = {"pytorchvideo": pytorchvideo_name, "pyslowfast": pyslowfast_name, "caffe2": caffe2_name, "mmaction2": mmaction2_name}


def export_slowfast(model, layout):
    """A SlowFast R50 model's weights as `layout`'s state dict (Caffe2: blobs), with its bookkeeping tensors."""
    tensors, caffe2 = {}, layout == "caffe2"
    for layer in model.layers:
        values = [np.asarray(weight) for weight in layer.weights]
        if not values:
            continue
        if layer.name == "predictions":
            kernel, bias = values
            if layout == "mmaction2":  # MMAction2's classifier reads [fast | slow]
                kernel = np.concatenate([kernel[2048:], kernel[:2048]])
            head = HEADS[layout]
            tensors.update(
                {f"{head}{'_w' if caffe2 else '.weight'}": kernel.T.copy(), f"{head}{'_b' if caffe2 else '.bias'}": bias}
            )
            continue
        kind = "conv" if layer.name.endswith("_conv") else "bn"
        name = NAMES[layout](layer.name, kind)
        if kind == "conv":
            tensors[name + ("_w" if caffe2 else ".weight")] = np.transpose(values[0], (4, 3, 0, 1, 2)).copy()
            if caffe2 and layer.name.endswith("stem_conv"):  # every blob has a momentum in a real file; the stems say it here
                tensors[f"{name}_w_momentum"] = np.zeros_like(tensors[f"{name}_w"])
            continue
        suffixes = ("_s", "_b", "_rm", "_riv") if caffe2 else (".weight", ".bias", ".running_mean", ".running_var")
        tensors.update({name + suffix: value for suffix, value in zip(suffixes, values)})
        if not caffe2:
            tensors[f"{name}.num_batches_tracked"] = np.array(1000, np.int64)
    if caffe2:
        tensors.update(lr=np.array([0.1], np.float32), model_iter=np.array([196000], np.int64))
    return tensors


# I3D: nets/i3d.py's layer -> DeepMind's variable scope and keras-kinetics-i3d's layer
MIXED_BRANCH = re.compile(r"Mixed_(\w\w)_Branch_(\d)_Conv3d_0(a|b)_(\dx\d)_(conv|bn)$")


def deepmind_variables(model, scope="RGB/inception_i3d/"):
    variables = {}
    for layer in model.layers:
        for weight in layer.weights:
            if layer.name == "head_logits":
                unit, name = "Logits/Conv3d_0c_1x1/conv_3d", {"kernel": "w", "bias": "b"}[weight.name]
            else:
                unit = layer.name.rsplit("_", 1)[0]
                unit = re.sub(r"^(Mixed_\w\w)_(Branch_\d)_", r"\1/\2/", unit)
                unit = {"Mixed_5b/Branch_2/Conv3d_0b_3x3": "Mixed_5b/Branch_2/Conv3d_0a_3x3"}.get(unit, unit)  # DeepMind's name
                unit += "/conv_3d" if layer.name.endswith("_conv") else "/batch_norm"
                name = "w" if weight.name == "kernel" else weight.name
            variables[f"{scope}{unit}/{name}"] = np.asarray(weight)
    return variables


def keras_kinetics_layer(name):
    if name == "head_logits":
        return "Conv3d_6a_1x1_conv"
    match = MIXED_BRANCH.match(name)
    if not match:
        return name
    module, branch, step, size, kind = match.groups()
    step = "b" if branch == "3" else step  # Branch_3's 1x1 follows the pool: Conv3d_X_3b_1x1
    return f"Conv3d_{module}_{branch}{step}_{size}_{kind}"


def keras_kinetics_weights(model, top=True):
    weights = {}
    for layer in model.layers:
        if layer.weights and (top or layer.name != "head_logits"):
            weights[keras_kinetics_layer(layer.name)] = {f"{w.name}:0": np.asarray(w) for w in layer.weights}
    return weights
