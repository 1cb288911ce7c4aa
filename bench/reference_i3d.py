"""keras-kinetics-i3d's I3D and ours on the same weights and clip, converted from a DeepMind checkpoint and a Keras 2 file.

    python bench/reference_i3d.py [--frames 64] [--size 224]

No requirement beyond the project's. DeepMind's kinetics-i3d network needs Sonnet 1 and TensorFlow 1, so the
reference here is keras-kinetics-i3d's port of it (dlpbc/keras-kinetics-i3d, `i3d_inception.py`), rebuilt layer
by layer in Keras 3 with its names, padding and head (logits, averaged over time). Random weights and batch
norm statistics are drawn in DeepMind's variable layout (`RGB/inception_i3d/Mixed_4b/Branch_1/Conv3d_0b_3x3/
conv_3d/w`, ...) and written twice: as a TensorFlow checkpoint with exactly those variables, and as the Keras 2
`.h5` file keras-kinetics-i3d's port made of them (`Conv3d_4b_1b_3x3_conv/kernel:0`, ...), which the
reference network loads by name. convert_weights.py converts both; ours loads each as train.py does
(`weights=`). Prints the parameter counts, each Mixed block's largest difference and the largest logit difference.
"""

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import quiet  # noqa: E402, F401  # isort: skip  (before TensorFlow: without its C++ start-up lines)

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

import convert_weights  # noqa: E402
import network  # noqa: E402
from nets.i3d import MIXED_WIDTHS  # noqa: E402

BLOCKS = ("Mixed_3c", "Mixed_4f", "Mixed_5c")  # compared on the way to the logits


def conv3d_bn(x, filters, kernel, strides=(1, 1, 1), use_bias=False, activation=True, batch_norm=True, name=None):
    """keras-kinetics-i3d's conv3d_bn: Conv3D `name_conv`, BatchNormalization(scale=False) `name_bn`, ReLU `name`."""
    x = layers.Conv3D(filters, kernel, strides=strides, padding="same", use_bias=use_bias, name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(axis=4, scale=False, epsilon=1e-3, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=name)(x) if activation else x


def keras_kinetics_i3d(input_shape, classes=400):
    """Inception_Inflated3d(include_top=True, endpoint_logit=True) of keras-kinetics-i3d, in Keras 3."""
    clip = keras.Input(input_shape)
    x = conv3d_bn(clip, 64, 7, strides=(2, 2, 2), name="Conv3d_1a_7x7")
    x = layers.MaxPooling3D((1, 3, 3), strides=(1, 2, 2), padding="same", name="MaxPool2d_2a_3x3")(x)
    x = conv3d_bn(x, 64, 1, name="Conv3d_2b_1x1")
    x = conv3d_bn(x, 192, 3, name="Conv3d_2c_3x3")
    x = layers.MaxPooling3D((1, 3, 3), strides=(1, 2, 2), padding="same", name="MaxPool2d_3a_3x3")(x)
    for mixed, (b0, b1_reduce, b1, b2_reduce, b2, b3) in MIXED_WIDTHS.items():
        if mixed in ("Mixed_4b", "Mixed_5b"):
            pool = ((3, 3, 3), "MaxPool2d_4a_3x3") if mixed == "Mixed_4b" else ((2, 2, 2), "MaxPool2d_5a_2x2")
            x = layers.MaxPooling3D(pool[0], strides=(2, 2, 2), padding="same", name=pool[1])(x)
        s = mixed[-2:]
        branch_0 = conv3d_bn(x, b0, 1, name=f"Conv3d_{s}_0a_1x1")
        branch_1 = conv3d_bn(conv3d_bn(x, b1_reduce, 1, name=f"Conv3d_{s}_1a_1x1"), b1, 3, name=f"Conv3d_{s}_1b_3x3")
        branch_2 = conv3d_bn(conv3d_bn(x, b2_reduce, 1, name=f"Conv3d_{s}_2a_1x1"), b2, 3, name=f"Conv3d_{s}_2b_3x3")
        branch_3 = layers.MaxPooling3D(3, strides=1, padding="same", name=f"MaxPool2d_{s}_3a_3x3")(x)
        branch_3 = conv3d_bn(branch_3, b3, 1, name=f"Conv3d_{s}_3b_1x1")
        x = layers.Concatenate(axis=4, name=mixed)([branch_0, branch_1, branch_2, branch_3])
    x = layers.AveragePooling3D((2, 7, 7), strides=1, padding="valid", name="global_avg_pool")(x)
    x = conv3d_bn(x, classes, 1, use_bias=True, activation=False, batch_norm=False, name="Conv3d_6a_1x1")
    x = layers.Reshape((x.shape[1], classes))(x)
    logits = layers.GlobalAveragePooling1D(name="logits")(x)  # its Lambda: the mean over time
    return keras.Model(clip, logits, name="i3d_inception")


def deepmind_name(layer, weight):
    """keras-kinetics-i3d's layer and weight -> DeepMind's variable (the port's map, reversed)."""
    if layer == "Conv3d_6a_1x1_conv":
        return f"RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/{'w' if weight == 'kernel' else 'b'}"
    unit, kind = layer.rsplit("_", 1)
    match = re.match(r"Conv3d_(\d[a-z])_(\d)([ab])_(\dx\d)$", unit)
    if match:
        module, branch, step, size = match.groups()
        step = "a" if branch == "0" or (branch in "12" and step == "a") or (module, branch) == ("5b", "2") else "b"
        unit = f"Mixed_{module}/Branch_{branch}/Conv3d_0{step}_{size}"  # Mixed_5b's Branch_2 3x3 is 0a in DeepMind's files
    return f"RGB/inception_i3d/{unit}/{'conv_3d' if kind == 'conv' else 'batch_norm'}/{'w' if weight == 'kernel' else weight}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=64, help="frames of the clip (default: 64, the paper's)")
    parser.add_argument(
        "--size", type=int, default=224, help="frame height and width; the reference pools 7x7, so 224 (default: 224)"
    )
    args = parser.parse_args(argv)
    shape = (args.frames, args.size, args.size, 3)
    reference = keras_kinetics_i3d(shape)
    rng = np.random.default_rng(0)
    variables = {}  # DeepMind's layout, drawn at random: kernels He-scaled, statistics as after training
    for layer in reference.layers:
        for weight in layer.weights:
            if weight.name == "moving_variance":
                value = rng.uniform(0.5, 1.5, weight.shape)
            elif weight.name in ("beta", "moving_mean", "bias"):
                value = rng.normal(0, 0.1, weight.shape)
            else:
                value = rng.normal(0, np.sqrt(2 / np.prod(weight.shape[:-1])), weight.shape)
            variables[deepmind_name(layer.name, weight.name)] = value.astype("float32")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        names = list(variables)
        tf.raw_ops.SaveV2(
            prefix=str(folder / "model.ckpt"),
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=list(variables.values()),
        )
        h5 = folder / "rgb_inception_i3d_imagenet_and_kinetics_tf_dim_ordering_tf_kernels.h5"
        with h5py.File(h5, "w") as file:  # Keras 2's save_weights layout, from DeepMind's variables
            weighted = [layer for layer in reference.layers if layer.weights]
            file.attrs["layer_names"] = [layer.name.encode() for layer in weighted]
            for layer in weighted:
                weight_names = [f"{layer.name}/{weight.name}:0" for weight in layer.weights]
                file.create_group(layer.name).attrs["weight_names"] = [name.encode() for name in weight_names]
                for name, weight in zip(weight_names, layer.weights):
                    file[layer.name].create_dataset(name, data=variables[deepmind_name(layer.name, weight.name)])
                layer.set_weights([file[layer.name][name][()] for name in weight_names])  # the reference loads it by name
        outputs = {}
        for source in (h5, folder / "model.ckpt"):
            out = folder / f"{source.stem}.weights.h5"
            convert_weights.main([str(source), "--model", "i3d", "--out", str(out)])
            ours = network.build_model("i3d", input_shape=shape, num_classes=400, weights=str(out))
            probe = keras.Model(ours.input, [ours.get_layer(name).output for name in (*BLOCKS, "head_time_average")])
            outputs[source.name] = probe
        clip = rng.uniform(-1, 1, (1, *shape)).astype("float32")
        reference_probe = keras.Model(reference.input, [reference.get_layer(name).output for name in (*BLOCKS, "logits")])
        start = time.perf_counter()
        expected = [keras.ops.convert_to_numpy(value) for value in reference_probe(clip)]
        reference_seconds = time.perf_counter() - start
        count = lambda model: sum(int(np.prod(w.shape)) for w in model.trainable_weights)  # noqa: E731
        print(f"\nkeras-kinetics-i3d {count(reference):,} trainable parameters, ours {count(ours):,}; clip {shape}")
        for source, probe in outputs.items():
            start = time.perf_counter()
            got = [keras.ops.convert_to_numpy(value) for value in probe(clip)]
            seconds = time.perf_counter() - start
            print(f"converted from {source}:")
            for name, ours_value, theirs in zip((*BLOCKS, "logits"), got, expected):
                difference, largest = np.abs(ours_value - theirs).max(), np.abs(theirs).max()
                print(f"  {name:9}: largest difference {difference:.2e} (largest value {largest:.2f})")
            print(f"  forward pass: keras-kinetics-i3d {reference_seconds:.1f} s, ours {seconds:.1f} s (first call)")


if __name__ == "__main__":
    main()
