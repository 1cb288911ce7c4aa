"""Every registered model: forward pass, .keras round trip, a training step; published sizes."""

import keras
import numpy as np
import pytest

import network

# Tiny inputs per model: enough frames for the model's temporal stride, small frames.
TINY_INPUT = {
    "slowfast": (8, 32, 32, 1),
    "slowfast_r50": (8, 32, 32, 3),
    "c3d": (8, 32, 32, 3),
    "mobilenet_lstm": (4, 32, 32, 1),
    "mobilenet_gru": (4, 32, 32, 3),
}


@pytest.fixture(params=sorted(network.MODELS))
def tiny_model(request):
    keras.utils.set_random_seed(0)
    name = request.param
    shape = TINY_INPUT.get(name, (8, 32, 32, 3))
    return name, shape, network.build_model(name, input_shape=shape, num_classes=3)


def test_every_model_has_a_tiny_input():
    assert set(TINY_INPUT) == set(network.MODELS)


def test_forward_pass(tiny_model):
    _, shape, model = tiny_model
    clips = np.random.default_rng(0).uniform(-1, 1, (2, *shape)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(model(clips, training=False))
    assert probabilities.shape == (2, 3) and not np.isnan(probabilities).any()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_keras_file_round_trip_in_safe_mode(tiny_model, tmp_path):
    _, shape, model = tiny_model
    clips = np.random.default_rng(1).uniform(-1, 1, (2, *shape)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    expected = keras.ops.convert_to_numpy(model(clips, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(clips, training=False)), expected, atol=1e-5)


def test_training_lowers_the_loss_on_a_fixed_batch(tiny_model):
    _, shape, model = tiny_model
    rng = np.random.default_rng(2)
    clips = rng.uniform(-1, 1, (6, *shape)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 2])
    # eager steps: tracing a training graph of the larger models costs more than a few steps
    model.compile(keras.optimizers.Adam(1e-3, amsgrad=True), "sparse_categorical_crossentropy", run_eagerly=True)
    losses = [float(model.train_on_batch(clips, labels)) for _ in range(4)]
    assert losses[-1] < losses[0] and not np.isnan(losses).any()


def test_slowfast_r50_has_the_papers_parameter_count():
    """SlowFast 4x16 R50: 34.48 M parameters at 32x224x224x3 and 400 classes (PySlowFast's count)."""
    model = network.build_model("slowfast_r50", input_shape=(32, 224, 224, 3), num_classes=400)
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    assert trainable == pytest.approx(34.48e6, rel=0.01)


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
    backbone = network.mobilenet_backbone((224, 224, 3), weights=None)
    assert backbone.count_params() == 3_228_864
    model = network.build_model("mobilenet_gru", input_shape=(8, 96, 96, 1), num_classes=5)
    assert model.get_layer("gru").units == 128 and model.output.shape == (None, 5)


def test_imagenet_weights_that_cannot_be_fetched_fail_clearly(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr(keras.src.applications.mobilenet.file_utils, "get_file", offline)
    with pytest.raises(ValueError, match="--weights none"):
        network.build_model("mobilenet_lstm", input_shape=(4, 128, 128, 1), num_classes=3, weights="imagenet")


def test_a_local_weights_file_is_loaded(tmp_path):
    source = network.mobilenet_backbone((64, 64, 1), weights=None)
    path = tmp_path / "mobilenet.weights.h5"
    source.save_weights(path)
    loaded = network.mobilenet_backbone((64, 64, 1), weights=str(path))
    np.testing.assert_array_equal(loaded.get_weights()[0], source.get_weights()[0])
