"""convert_weights.py and pretrained/: checkpoints written here in each project's format (names, shapes, layouts
and bookkeeping as those projects write them) are converted, and every tensor must land in its own layer.

Each checkpoint is exported from a model of the project with random weights, through tests/checkpoint_files.py's
naming rules, and converted back: every weight must come back where it was. Weights do not depend on the
input size, so the models here are built for tiny clips; the converter builds them at the checkpoints' own.
"""

import keras
import numpy as np
import pytest
from checkpoint_files import (
    deepmind_variables,
    export_slowfast,
    keras_kinetics_weights,
    write_caffe2,
    write_keras2_h5,
    write_tf_checkpoint,
    write_torch,
)
from conftest import run_command

import convert_weights
import network
from pretrained import placing
from pretrained.torch_files import CheckpointError

TINY = (8, 32, 32, 3)


def randomised(name, shape=TINY, num_classes=400, seed=0):
    model = network.build_model(name, input_shape=shape, num_classes=num_classes)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()])  # distinct, positive
    return model


def assert_same_weights(model, reference):
    """Every weighted layer of `model` holds what the layer of that name in `reference` holds."""
    layers = [layer for layer in model.layers if layer.weights]
    for layer in layers:
        expected = reference.get_layer(layer.name).get_weights()
        for got, want in zip(layer.get_weights(), expected, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=layer.name)
    return len(layers)


@pytest.fixture(scope="module")
def reference_4x16():
    return randomised("slowfast_r50_4x16", seed=1)


@pytest.fixture(scope="module")
def pytorchvideo_8x8(tmp_path_factory):
    """pytorchvideo's hub checkpoint of slowfast_r50 (8x8): {"model_state": state dict}, with its counters."""
    reference = randomised("slowfast_r50_8x8", seed=2)
    path = tmp_path_factory.mktemp("checkpoints") / "SLOWFAST_8x8_R50.pyth"
    write_torch(path, {"model_state": export_slowfast(reference, "pytorchvideo")})
    return path, reference


def test_a_pytorchvideo_checkpoint_converts_and_loads_as_train_py_loads_it(pytorchvideo_8x8, tmp_path, capsys):
    path, reference = pytorchvideo_8x8
    out = tmp_path / "sf.weights.h5"
    model, found, placement = convert_weights.main([str(path), "--model", "slowfast_r50", "--out", str(out)])
    printed = capsys.readouterr().out
    assert found.model == "slowfast_r50_8x8" and "7-frame laterals" in found.reason
    assert assert_same_weights(model, reference) == 221 and len(placement.placed) == 552
    assert len(placement.unused) == 110 and all(name.endswith("num_batches_tracked") for name, _ in placement.unused)
    assert "Not weights, not used (110): 110 x num_batches_tracked" in printed
    assert f"python train.py --model slowfast_r50_8x8 --weights {out} --frames 32 --size 224 --channels 3" in printed

    # Kinetics' 400 classes into a model of 27: the backbone loads, the head is new, and both say so
    loaded = network.build_model("slowfast_r50_8x8", input_shape=TINY, num_classes=27, weights=str(out))
    assert "Loaded the backbone" in capsys.readouterr().out
    kernel = loaded.get_layer("predictions").get_weights()[0]
    assert kernel.shape == (2304, 27) and not np.allclose(kernel, reference.get_layer("predictions").get_weights()[0][:, :27])
    np.testing.assert_array_equal(
        loaded.get_layer("lateral_res4_conv").get_weights()[0], reference.get_layer("lateral_res4_conv").get_weights()[0]
    )
    with pytest.raises(ValueError, match="holds weights of slowfast_r50_8x8.*train.py --model slowfast_r50_8x8"):
        network.build_model("slowfast_r50", input_shape=TINY, num_classes=400, weights=str(out))


@pytest.mark.parametrize(
    "layout, file_name, variant",
    [
        ("pyslowfast", "SLOWFAST_4x16_R50.pyth", "slowfast_r50_4x16"),  # torch's legacy format, as older files are
        ("caffe2", "SLOWFAST_4x16_R50.pkl", "slowfast_r50_4x16"),
        ("mmaction2", "slowfast_r50_4x16x1_kinetics400-rgb.pth", "slowfast_r50_4x16_mmaction"),
    ],
)
def test_every_slowfast_format_lands_tensor_by_tensor(layout, file_name, variant, reference_4x16, tmp_path):
    tensors = export_slowfast(reference_4x16, layout)
    path = tmp_path / file_name
    if layout == "caffe2":
        write_caffe2(path, tensors)
    elif layout == "pyslowfast":
        checkpoint = {
            "epoch": 196,
            "model_state": tensors,
            "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.1}]},
            "cfg": "MODEL:\n  ARCH: slowfast\n",
        }
        write_torch(path, checkpoint, legacy=True)
    else:  # MMAction2's laterals are convolutions alone; its file keeps meta beside the state dict
        tensors = {name: value for name, value in tensors.items() if "_lateral.bn" not in name}
        tensors["data_preprocessor.mean"] = np.array([123.675, 116.28, 103.53], np.float32)
        write_torch(
            path, {"meta": {"epoch": 256, "seed": np.int64(0)}, "state_dict": {f"module.{k}": v for k, v in tensors.items()}}
        )
    checkpoint = placing.read_checkpoint(path)
    found = placing.plan(checkpoint, "slowfast_r50")
    assert (checkpoint.layout, found.model, found.num_classes) == (layout, variant, 400)
    model = network.build_model(found.model, input_shape=TINY, num_classes=400)
    placement = placing.place(model, checkpoint)
    assert assert_same_weights(model, reference_4x16) == (217 if layout == "mmaction2" else 221)
    assert not placement.missing and not placement.head
    unused = {name for name, _ in placement.unused}
    if layout == "caffe2":
        assert unused == {"lr", "model_iter", "conv1_w_momentum", "t_conv1_w_momentum", "t_pool1_subsample_w_momentum"}
    else:  # a counter per batch norm (MMAction2: none in the laterals), and MMAction2's preprocessing constants
        assert len(unused) == (110 if layout == "pyslowfast" else 106 + 1)


def test_a_mismatched_checkpoint_fails_with_the_named_tensor(pytorchvideo_8x8, tmp_path):
    path, _ = pytorchvideo_8x8
    out = tmp_path / "x.weights.h5"
    with pytest.raises(
        SystemExit, match=r"blocks\.0\.multipathway_fusion\.conv_fast_to_slow\.weight \(16, 8, 7, 1, 1\).*\(5, 1, 1, 8, 16\)"
    ):
        convert_weights.main([str(path), "--model", "slowfast_r50_4x16", "--out", str(out)])
    assert not out.exists()

    lateral = {
        "s1.pathway0_stem.conv.weight": np.zeros((64, 3, 1, 7, 7), np.float32),
        "s1_fuse.conv_f2s.weight": np.zeros((16, 8, 5, 1, 1), np.float32),
    }
    extra = tmp_path / "nonlocal.pyth"  # a non-local network's tensor has no layer here
    write_torch(
        extra, {"model_state": {**lateral, "s4.pathway0_nonlocal2.conv_theta.weight": np.zeros((512, 1024, 1, 1, 1), np.float32)}}
    )
    with pytest.raises(
        SystemExit, match=r"Cannot place s4\.pathway0_nonlocal2\.conv_theta\.weight \(512, 1024, 1, 1, 1\).*no layer"
    ):
        convert_weights.main([str(extra), "--model", "slowfast_r50", "--out", str(out)])
    partial = tmp_path / "partial.pyth"
    write_torch(partial, {"model_state": lateral})
    with pytest.raises(SystemExit, match=r"has no tensor for fast_stem_conv/kernel of slowfast_r50_4x16 \(548 weights in all\)"):
        convert_weights.main([str(partial), "--model", "slowfast_r50", "--out", str(out)])


@pytest.fixture(scope="module")
def reference_i3d():
    return {channels: randomised("i3d", shape=(8, 32, 32, channels), seed=channels) for channels in (3, 2)}


@pytest.mark.parametrize("kinetics_600", [False, True], ids=["rgb_imagenet", "rgb_scratch_kin600"])
def test_a_deepmind_checkpoint_lands_tensor_by_tensor(reference_i3d, tmp_path, kinetics_600):
    reference = reference_i3d[3]
    variables = deepmind_variables(reference, scope="" if kinetics_600 else "RGB/inception_i3d/")
    if kinetics_600:  # its batch norm vectors are (1, 1, 1, 1, C), and it keeps optimizer slots
        variables = {
            name: value.reshape(1, 1, 1, 1, -1) if "/batch_norm/" in name else value for name, value in variables.items()
        }
        variables["Conv3d_1a_7x7/conv_3d/w/Momentum"] = np.zeros((7, 7, 7, 3, 64), np.float32)
    variables["global_step"] = np.array(0, np.int64)
    assert len(variables) == 230 + 1 + kinetics_600
    assert any(name.endswith("Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w") for name in variables)  # DeepMind's name
    write_tf_checkpoint(tmp_path / "model.ckpt", variables)
    checkpoint = placing.read_checkpoint(tmp_path)  # the folder, as the release has it
    found = placing.plan(checkpoint, "i3d")
    assert (checkpoint.layout, found.model, found.input_shape, found.num_classes) == ("deepmind", "i3d", (64, 224, 224, 3), 400)
    model = network.build_model("i3d", input_shape=found.input_shape, num_classes=400)
    placement = placing.place(model, checkpoint)
    assert assert_same_weights(model, reference) == 115 and len(placement.placed) == 230
    assert {name for name, _ in placement.unused} == {"global_step"} | (
        {"Conv3d_1a_7x7/conv_3d/w/Momentum"} if kinetics_600 else set()
    )


def test_keras_kinetics_i3d_files_with_and_without_top(reference_i3d, tmp_path, capsys):
    rgb = tmp_path / "rgb_inception_i3d_imagenet_and_kinetics_tf_dim_ordering_tf_kernels.h5"
    write_keras2_h5(rgb, keras_kinetics_weights(reference_i3d[3]))
    model, found, _ = convert_weights.main([str(rgb), "--model", "i3d", "--out", str(tmp_path / "rgb.weights.h5")])
    assert found.num_classes == 400 and assert_same_weights(model, reference_i3d[3]) == 115
    # Kinetics' 400 classes for a model of 27 (Jester): the backbone is converted, the head is new, and it says so
    model, _, placement = convert_weights.main(
        [str(rgb), "--model", "i3d", "--classes", "27", "--out", str(tmp_path / "j.weights.h5")]
    )
    assert "The head is not converted: the checkpoint's has 400 classes, --classes 27" in capsys.readouterr().out
    assert [name for name, _ in placement.head] == [
        "Conv3d_6a_1x1_conv/Conv3d_6a_1x1_conv/kernel:0",
        "Conv3d_6a_1x1_conv/Conv3d_6a_1x1_conv/bias:0",
    ]
    assert (
        model.output_shape == (None, 27)
        and assert_same_weights(keras.Model(model.input, model.get_layer("Mixed_5c").output), reference_i3d[3]) == 114
    )

    flow = tmp_path / "flow_inception_i3d_kinetics_only_tf_dim_ordering_tf_kernels_no_top.h5"
    write_keras2_h5(flow, keras_kinetics_weights(reference_i3d[2], top=False), under_model_weights=True)
    model, found, placement = convert_weights.main(
        [str(flow), "--model", "i3d", "--classes", "27", "--out", str(tmp_path / "f.weights.h5")]
    )
    printed = capsys.readouterr().out
    assert found.input_shape == (64, 224, 224, 2) and found.num_classes is None and "optical flow" in found.reason
    assert "no head: the head (head_logits/kernel, head_logits/bias) starts from random weights" in printed
    assert "--size 224 --modality flow --flow-pairs 1 --freeze" in printed
    assert assert_same_weights(keras.Model(model.input, model.get_layer("Mixed_5c").output), reference_i3d[2]) == 114
    with pytest.raises(SystemExit, match="not one for slowfast_r50"):
        convert_weights.main([str(flow), "--model", "slowfast_r50", "--out", str(tmp_path / "x.weights.h5")])


def test_the_readme_conversion_runs_as_a_command(reference_i3d, tmp_path):
    """A fresh `python convert_weights.py` (its imports on their own), on DeepMind's checkpoint prefix."""
    write_tf_checkpoint(tmp_path / "model.ckpt", deepmind_variables(reference_i3d[3]))
    out = tmp_path / "i3d_rgb.weights.h5"
    printed = run_command("convert_weights.py", tmp_path / "model.ckpt", "--model", "i3d", "--out", out)
    assert "Placed 230 tensors in 115 layers of i3d" in printed and out.is_file()
    loaded = network.build_model("i3d", input_shape=TINY, num_classes=400, weights=str(out))
    assert assert_same_weights(loaded, reference_i3d[3]) == 115
    with pytest.raises(SystemExit, match="missing.pyth does not exist"):
        convert_weights.main([str(tmp_path / "missing.pyth"), "--model", "i3d", "--out", str(out)])


def test_what_is_no_checkpoint_is_refused_clearly(tmp_path):
    keras_3 = tmp_path / "ours.weights.h5"
    network.build_model("slowfast", input_shape=(8, 16, 16, 1), num_classes=3).save_weights(keras_3)
    with pytest.raises(CheckpointError, match="already a Keras 3 weights file"):
        placing.read_checkpoint(keras_3)
    other = tmp_path / "resnet.pth"
    write_torch(other, {"conv1.weight": np.zeros((64, 3, 7, 7), np.float32)})
    with pytest.raises(
        CheckpointError, match=r"no SlowFast R50 or I3D checkpoint this converter knows \(conv1.weight \(64, 3, 7, 7\)"
    ):
        placing.read_checkpoint(other)
