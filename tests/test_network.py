"""Every registered model: forward pass, .keras round trip, a training step; published sizes."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ROOT

import network
from evaluation.fusion import recurrent_fusion
from nets import backbones
from nets.layers import EveryNthFrame, FrameMaxPool, FramesAsBatch, FrameStackConv3D, FusedBatchNormalization

# Tiny inputs per model: enough frames for the model's temporal stride, small frames.
TINY_INPUT = {
    "slowfast": (8, 32, 32, 1),
    "slowfast_r50": (8, 32, 32, 3),
    "slowfast_r50_4x16": (8, 32, 32, 3),
    "slowfast_r50_8x8": (8, 32, 32, 3),
    "slowfast_r50_4x16_mmaction": (8, 32, 32, 3),
    "slowfast_r50_8x8_mmaction": (8, 32, 32, 3),
    "c3d": (8, 32, 32, 3),
    "mobilenet_lstm": (4, 32, 32, 1),
    "mobilenet_gru": (4, 32, 32, 3),
    "i3d": (8, 32, 32, 3),
    "two_stream": (2, 71, 71, 4),  # Xception's smallest input; a motion stream of 2 flow pairs
    "pose_lstm": (9, 34),  # 9 samples of 17 joints
    "tsm_mobilenet": (4, 32, 32, 1),
}


# The published checkpoints' variants are slowfast_r50 with other options (padding, laterals, slow frames):
# their tiny tests run those options on the small slowfast, since an R50 training step alone costs 20 s;
# test_the_published_checkpoints_variants_have_their_parameter_counts builds them whole. slowfast_r50 itself
# is tested with all its blocks at an eighth of its widths: the same layers, 0.54 M parameters instead of 34 M
# to save, load and train.
CHECKPOINT_OPTIONS = ("alpha", "fusion_kernel", "lateral_norm", "padding", "slow_frames")
NARROW_R50 = dict(widths=(8, 16, 32, 64), stem_width=8)


def build_tiny(name, shape, num_classes):
    if name.startswith("slowfast_r50_"):
        options = {key: value for key, value in network.SLOWFAST_VARIANTS[name].items() if key in CHECKPOINT_OPTIONS}
        return network.build_model("slowfast", input_shape=shape, num_classes=num_classes, **options)
    options = NARROW_R50 if name == "slowfast_r50" else {}
    return network.build_model(name, input_shape=shape, num_classes=num_classes, **options)


@pytest.fixture(params=sorted(network.MODELS))
def tiny_model(request):
    keras.utils.set_random_seed(0)
    name = request.param
    shape = TINY_INPUT.get(name, (8, 32, 32, 3))
    return name, shape, build_tiny(name, shape, num_classes=3)


def test_every_model_has_a_tiny_input():
    assert set(TINY_INPUT) == set(network.MODELS)


def test_forward_pass(tiny_model):
    _, shape, model = tiny_model
    clips = np.random.default_rng(0).uniform(-1, 1, (2, *shape)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(model(clips, training=False))
    assert probabilities.shape == (2, 3) and not np.isnan(probabilities).any()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


LOAD_IN_A_FRESH_INTERPRETER = """
import sys
import numpy as np
from nets.layers import load_model

for path in sys.argv[1:]:
    saved = np.load(path + ".npz")
    outputs = np.asarray(load_model(path)(saved["inputs"], training=False))
    np.testing.assert_allclose(outputs, saved["outputs"], atol=1e-5, err_msg=path)
assert not {"network", "nets.streaming", "nets.i3d"} & set(sys.modules), "the loader imported the models"
print("loaded", len(sys.argv) - 1)
"""


def test_every_saved_model_loads_in_safe_mode_in_a_fresh_interpreter(tmp_path):
    """A .keras file of every registered model, and of the recurrent fusion, loads in safe mode and gives the
    same outputs in an interpreter that imported only the loader: loading never depends on what else was
    imported (the way a fresh `python evaluate.py` meets a run)."""
    rng = np.random.default_rng(1)
    paths = []
    for name in sorted(network.MODELS):
        keras.utils.set_random_seed(0)
        shape = TINY_INPUT[name]
        model = build_tiny(name, shape, num_classes=3)
        inputs = rng.uniform(-1, 1, (2, *shape)).astype("float32")
        paths.append(tmp_path / f"{name}.keras")
        model.save(paths[-1])
        np.savez(f"{paths[-1]}.npz", inputs=inputs, outputs=keras.ops.convert_to_numpy(model(inputs, training=False)))
    features = rng.normal(size=(6, 5, 8)).astype("float32")  # (clips, positions, features of both streams)
    fusion = recurrent_fusion(features, np.array([0, 1, 2, 0, 1, 2]), num_classes=3, units=4, epochs=1)
    paths.append(tmp_path / "fusion.keras")
    fusion.save(paths[-1])
    np.savez(f"{paths[-1]}.npz", inputs=features[:2], outputs=keras.ops.convert_to_numpy(fusion(features[:2])))
    command = [sys.executable, "-c", LOAD_IN_A_FRESH_INTERPRETER, *map(str, paths)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"loaded {len(network.MODELS) + 1}" in done.stdout


def test_training_lowers_the_loss_on_a_fixed_batch(tiny_model):
    _, shape, model = tiny_model
    rng = np.random.default_rng(2)
    clips = rng.uniform(-1, 1, (6, *shape)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 2])
    # eager steps: tracing a training graph of the larger models costs more than a few steps
    model.compile(keras.optimizers.Adam(1e-3, amsgrad=True), "sparse_categorical_crossentropy", run_eagerly=True)
    losses = [float(model.train_on_batch(clips, labels)) for _ in range(4)]
    assert losses[-1] < losses[0] and not np.isnan(losses).any()


@pytest.mark.parametrize(
    "name, count",
    [
        ("slowfast_r50", 34_480_216),  # PySlowFast's SLOWFAST_4x16_R50
        ("slowfast_r50_4x16", 34_480_216),
        (
            "slowfast_r50_8x8",
            34_566_488,
        ),  # pytorchvideo's hub slowfast_r50: 7-frame laterals, 2 * 2 * (8^2 + 32^2 + 64^2 + 128^2) more
        (
            "slowfast_r50_4x16_mmaction",
            34_479_288,
        ),  # MMAction2's model card: no lateral batch norm, 2 * (16 + 64 + 128 + 256) fewer
        ("slowfast_r50_8x8_mmaction", 34_565_560),
    ],
)
def test_the_published_checkpoints_variants_have_their_parameter_counts(name, count):
    """SlowFast R50 at 32x224x224x3 and 400 classes, as PySlowFast, pytorchvideo and MMAction2 count them."""
    model = network.build_model(name, input_shape=(32, 224, 224, 3), num_classes=400)
    assert sum(int(np.prod(weight.shape)) for weight in model.trainable_weights) == count
    torch_padded = name != "slowfast_r50"
    assert any(layer.name == "slow_res3_block1_b_pad" for layer in model.layers) == torch_padded
    assert ("lateral_stem_bn" in [layer.name for layer in model.layers]) == (not name.endswith("_mmaction"))


def test_slow_frames_are_taken_as_the_checkpoints_loaders_take_them():
    """PySlowFast's and pytorchvideo's loaders spread the slow frames (torch.linspace(0, T - 1, T // alpha).long())."""
    assert EveryNthFrame(8, spread=True).frames(32) == [0, 10, 20, 31]
    assert EveryNthFrame(4, spread=True).frames(32) == [0, 4, 8, 13, 17, 22, 26, 31]
    assert EveryNthFrame(8).frames(32) == [0, 8, 16, 24]  # MMAction2's and the project's own
    clip = np.arange(32, dtype="float32").reshape(1, 32, 1, 1, 1)
    assert keras.ops.convert_to_numpy(EveryNthFrame(8, spread=True)(clip)).ravel().tolist() == [0, 10, 20, 31]
    model = network.build_model("slowfast_r50_8x8", input_shape=(16, 32, 32, 3), num_classes=5)
    assert model.get_layer("slow_frames").output.shape[1] == model.get_layer("lateral_stem_conv").output.shape[1] == 4
    with pytest.raises(ValueError, match="a multiple of alpha=4"):
        network.build_model("slowfast_r50_8x8", input_shape=(18, 32, 32, 3), num_classes=5)


def test_layers_saved_before_their_new_options_load_as_they_were_built():
    """A .keras file written before FrameMaxPool's padding and EveryNthFrame's spread has neither in its config."""
    assert FrameMaxPool.from_config({"name": "pool", "pool_size": 3, "strides": 2}).padding == "same"
    assert EveryNthFrame.from_config({"name": "slow_frames", "step": 4}).spread is False
    pooled = FrameMaxPool(padding="valid")(np.ones((1, 2, 9, 9, 1), "float32"))
    assert tuple(pooled.shape) == FrameMaxPool(padding="valid").compute_output_shape((1, 2, 9, 9, 1)) == (1, 2, 4, 4, 1)


def test_torch_padding_pads_strided_convolutions_evenly():
    """TensorFlow's "same" pads a 3x3 of stride 2 on an even size 0 before and 1 after, PyTorch 1 and 1: with a
    kernel that reads only its top-left tap, output (i, j) is pixel (2i, 2j) in one and (2i - 1, 2j - 1) in the other."""
    x = keras.Input((2, 8, 8, 1))
    same = network.conv_bn(x, 1, (1, 3, 3), (1, 2, 2), relu=False, norm=False, name="same")
    torch = network.conv_bn(x, 1, (1, 3, 3), (1, 2, 2), relu=False, norm=False, padding="torch", name="torch")
    model = keras.Model(x, [same, torch])
    top_left = np.zeros((1, 3, 3, 1, 1), "float32")
    top_left[0, 0, 0] = 1.0
    model.get_layer("same_conv").set_weights([top_left])
    model.get_layer("torch_conv").set_weights([top_left])
    image = np.arange(64, dtype="float32").reshape(1, 1, 8, 8, 1).repeat(2, axis=1)  # pixel (r, c) = 8r + c
    same_out, torch_out = (keras.ops.convert_to_numpy(value)[0, 0, :, :, 0] for value in model(image))
    assert (same_out[1, 1], same_out[0, 1]) == (18, 2)
    assert (torch_out[1, 1], torch_out[0, 1], torch_out[2, 3]) == (9, 0, 8 * 3 + 5)  # (1, 1), padding, (3, 5)


def test_slowfast_has_two_pathways_with_lateral_connections():
    model = network.build_model("slowfast", input_shape=(16, 64, 64, 1), num_classes=5)
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith("lateral") and n.endswith("_concat")] == [
        "lateral_stem_concat",
        "lateral_res2_concat",
        "lateral_res3_concat",
        "lateral_res4_concat",
    ]
    alpha = network.SLOWFAST_VARIANTS["slowfast"]["alpha"]
    assert model.get_layer("slow_frames").output.shape[1] == 16 // alpha
    assert model.get_layer("fast_stem_conv").output.shape[1] == 16
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    slow_stem = model.get_layer("slow_stem_conv").output.shape[-1]
    fast_stem = model.get_layer("fast_stem_conv").output.shape[-1]
    assert fast_stem == round(slow_stem * network.SLOWFAST_VARIANTS["slowfast"]["beta"])


@pytest.mark.parametrize(
    "frames, kernel, strides, padding",
    [
        (16, (5, 7, 7), (1, 2, 2), "same"),  # SlowFast's fast stem
        (16, (5, 1, 1), (4, 1, 1), "same"),  # a lateral connection: time as an image's rows
        (16, (3, 1, 1), (1, 1, 1), "same"),  # a bottleneck's temporal convolution
        (15, (3, 1, 1), (2, 1, 1), "valid"),
        (8, (1, 1, 1), (1, 1, 1), "same"),  # pointwise
        (8, (1, 3, 3), (1, 2, 2), "same"),  # spatial only: the frames unsliced
        (15, (3, 3, 3), (2, 2, 2), "same"),  # odd frames, strided in time: uneven padding
        (8, (2, 3, 3), (1, 1, 1), "same"),  # an even temporal kernel
        (15, (3, 3, 3), (2, 1, 1), "valid"),
    ],
)
def test_frame_stack_convolution_is_a_conv3d_with_the_same_weights(frames, kernel, strides, padding):
    clip = np.random.default_rng(0).normal(size=(2, frames, 9, 9, 3)).astype("float32")
    options = dict(kernel_size=kernel, strides=strides, padding=padding, activation="relu")
    reference, stacked = keras.layers.Conv3D(4, **options), FrameStackConv3D(4, **options)
    reference.build(clip.shape)
    weights, bias = reference.get_weights()
    reference.set_weights([weights, bias + 0.1])  # a bias that counts
    expected = reference(clip)
    stacked.build(clip.shape)
    stacked.set_weights(reference.get_weights())  # a Conv3D's kernel and bias, as they are
    np.testing.assert_allclose(stacked(clip), expected, atol=1e-5)
    assert stacked.compute_output_shape(clip.shape) == tuple(expected.shape)


@pytest.mark.parametrize("shape, scale", [((2, 4, 6, 6, 3), True), ((2, 4, 6, 6, 3), False), ((3, 5, 4), True)])
def test_fused_batch_normalization_trains_as_keras_batch_normalization(shape, scale):
    import tensorflow as tf

    clip = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, size=shape).astype("float32"))
    options = dict(epsilon=1e-3, momentum=0.8, scale=scale)
    reference, fused = keras.layers.BatchNormalization(**options), FusedBatchNormalization(**options)
    reference.build(shape), fused.build(shape)
    weights = [w + 0.5 * (i + 1) for i, w in enumerate(reference.get_weights())]  # gamma, beta, statistics that count
    reference.set_weights(weights), fused.set_weights(weights)
    results = []
    for layer in (reference, fused):
        with tf.GradientTape() as tape:
            tape.watch(clip)
            outputs = layer(clip, training=True)
            loss = tf.reduce_sum(outputs * tf.range(outputs.shape[-1], dtype="float32"))  # a gradient that is not zero
        gradients = tape.gradient(loss, [clip, *layer.trainable_weights])
        results.append((outputs, gradients, layer.get_weights(), layer(clip, training=False)))
    (outputs, gradients, weights, inferred), (fused_outputs, fused_gradients, fused_weights, fused_inferred) = results
    np.testing.assert_allclose(fused_outputs, outputs, atol=1e-4)
    for expected, got in zip(gradients, fused_gradients):
        np.testing.assert_allclose(got, expected, atol=1e-3)
    for expected, got in zip(weights, fused_weights):  # the moving mean and variance move alike
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(fused_inferred, inferred, atol=1e-4)


def test_frames_as_batch_is_time_distributed_with_one_call_over_every_frame():
    """FramesAsBatch gives TimeDistributed's outputs with the same weights; in training its batch norm
    normalises over every frame of the batch at once, where TimeDistributed normalises frame by frame."""
    frame = keras.Input((6, 6, 2))
    x = keras.layers.BatchNormalization(momentum=0.0, name="norm")(keras.layers.Conv2D(3, 3, name="conv")(frame))
    backbone = keras.Model(frame, keras.layers.GlobalAveragePooling2D()(x))
    clips = np.random.default_rng(3).normal(size=(2, 5, 6, 6, 2)).astype("float32")
    clips += np.arange(5, dtype="float32")[None, :, None, None, None]  # each frame its own mean
    expected = keras.layers.TimeDistributed(backbone)(clips)
    folded = FramesAsBatch(backbone)
    np.testing.assert_allclose(folded(clips), expected, atol=1e-5)
    assert folded.compute_output_shape(clips.shape) == (2, 5, 3)
    folded(clips, training=True)  # momentum 0: the moving mean becomes this batch's mean
    convolved = keras.ops.convert_to_numpy(backbone.get_layer("conv")(clips.reshape(10, 6, 6, 2)))
    np.testing.assert_allclose(backbone.get_layer("norm").moving_mean, convolved.mean(axis=(0, 1, 2)), rtol=1e-4)
    restored = FramesAsBatch.from_config(folded.get_config())
    assert isinstance(restored.layer, keras.Model) and restored.name == folded.name


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError, match="slowfast, slowfast_r50"):
        network.build_model("slowfats", input_shape=(16, 112, 112, 1), num_classes=5)
    with pytest.raises(ValueError, match="at least alpha"):
        network.build_model("slowfast_r50", input_shape=(4, 64, 64, 3), num_classes=5)


def parameters(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def test_c3d_has_the_papers_parameter_count():
    """C3D: 78.4 M parameters at 16x112x112x3 and 101 classes (UCF101)."""
    model = network.build_model("c3d", input_shape=(16, 112, 112, 3), num_classes=101)
    assert parameters(model) == pytest.approx(78.4e6, rel=0.01)
    assert model.get_layer("pool5").output.shape[1:] == (1, 4, 4, 512)


def test_mobilenet_backbone_is_keras_mobilenet():
    """keras.applications MobileNet without its head: 3,228,864 parameters."""
    backbone = backbones.imagenet_backbone(keras.applications.MobileNet, (224, 224, 3), weights=None)
    assert backbone.count_params() == 3_228_864
    model = network.build_model("mobilenet_gru", input_shape=(8, 96, 96, 1), num_classes=5)
    assert model.get_layer("head_gru").units == 128 and model.output.shape == (None, 5)


def test_imagenet_weights_that_cannot_be_fetched_fail_clearly(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr(keras.src.applications.mobilenet.file_utils, "get_file", offline)
    with pytest.raises(ValueError, match="--weights none"):
        network.build_model("mobilenet_lstm", input_shape=(4, 128, 128, 1), num_classes=3, weights="imagenet")


def test_a_local_weights_file_is_loaded(tmp_path):
    source = backbones.imagenet_backbone(keras.applications.MobileNet, (64, 64, 1), weights=None)
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)
    loaded = backbones.imagenet_backbone(keras.applications.MobileNet, (64, 64, 1), weights=str(path))
    np.testing.assert_array_equal(loaded.get_weights()[0], source.get_weights()[0])


def imagenet_stand_in(weights=None, **options):
    """MobileNet with seeded weights standing in for ImageNet's, which cannot be downloaded here."""
    model = keras.applications.MobileNet(weights=None, **options)
    if weights == "imagenet":
        rng = np.random.default_rng(7)
        model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


imagenet_stand_in.__name__ = "MobileNet"


def test_cross_modality_initialisation_of_flow_and_gray_inputs():
    """The RGB kernel averaged over its channels and repeated for 20 flow channels (summed for gray)."""
    rgb = backbones.imagenet_backbone(imagenet_stand_in, (64, 64, 3), "imagenet")
    flow = backbones.imagenet_backbone(imagenet_stand_in, (64, 64, 20), "imagenet")
    gray = backbones.imagenet_backbone(imagenet_stand_in, (64, 64, 1), "imagenet")
    kernel = rgb.get_layer("conv1").get_weights()[0]  # (3, 3, 3, 32)
    flow_kernel = flow.get_layer("conv1").get_weights()[0]
    assert flow_kernel.shape == (3, 3, 20, 32)
    np.testing.assert_allclose(flow_kernel, np.repeat(kernel.mean(axis=2, keepdims=True), 20, axis=2), rtol=1e-6)
    for a, b in zip(rgb.get_weights()[1:], flow.get_weights()[1:]):
        np.testing.assert_array_equal(a, b)  # every other weight is ImageNet's
    picture = np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(gray(picture), rgb(np.repeat(picture, 3, axis=-1)), rtol=1e-3, atol=1e-4)


def test_two_stream_xception_has_the_papers_parameter_count():
    """Xception with a 1000-class head: 22.9 M per stream, spatial (RGB) and motion (10 flow pairs)."""
    spatial = network.build_model("two_stream", input_shape=(1, 299, 299, 3), num_classes=1000)
    motion = network.build_model("two_stream", input_shape=(1, 224, 224, 20), num_classes=1000)
    assert spatial.count_params() == pytest.approx(22.9e6, rel=0.005)
    assert spatial.count_params() == 20_861_480 + 2048 * 1000 + 1000
    assert motion.count_params() - spatial.count_params() == 3 * 3 * (20 - 3) * 32  # only the first kernel grows


def test_frames_too_small_for_an_imagenet_backbone_name_the_option_that_sets_them():
    with pytest.raises(ValueError, match=r"Xception cannot take frames of 32x32: .*71x71.*\(train.py --size\)"):
        network.build_model("two_stream", input_shape=(2, 32, 32, 3), num_classes=3, weights=None)


def test_pose_lstm_is_the_lite_pose_model():
    binary = network.build_model("pose_lstm", input_shape=(9, 34), num_classes=2)
    assert [layer.units for layer in binary.layers if isinstance(layer, keras.layers.LSTM)] == [128, 128, 128]
    assert binary.get_layer("sigmoid").units == 1 and binary.get_layer("dense").units == 32
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in binary.layers) == 3
    keypoints = np.random.default_rng(0).uniform(0, 1, (3, 9, 34)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(binary(keypoints))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    many = network.build_model("pose_lstm", input_shape=(9, 34), num_classes=5)
    assert many.output_shape == (None, 5) and "sigmoid" not in [layer.name for layer in many.layers]
    with pytest.raises(ValueError, match=r"\(frames, joints \* 2\)"):
        network.build_model("pose_lstm", input_shape=(9, 32, 32, 1), num_classes=2)


@pytest.mark.parametrize("name", ["mobilenet_lstm", "two_stream", "i3d"])
def test_freezing_the_backbone_leaves_the_head_trainable(name):
    model = network.build_model(name, input_shape=TINY_INPUT[name], num_classes=3)
    everything = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert network.set_backbone_trainable(model, False) > 0
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    assert trainable and all(name.startswith("head_") or name == "predictions" for name in trainable)
    head_weights = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert 0 < head_weights < everything / 4
    network.set_backbone_trainable(model, True)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == everything
