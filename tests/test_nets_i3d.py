"""I3D: published size, tiny forward passes for RGB and flow, .keras round trip, weights files, head names."""

import keras
import numpy as np
import pytest

from nets import i3d

# 8 frames of 32x32 leave the backbone a 1x1x1 output, the case the head must still handle.
TINY_RGB = (8, 32, 32, 3)
TINY_FLOW = (8, 32, 32, 2)


def clips(shape, seed=0, batch=2):
    return np.random.default_rng(seed).uniform(-1, 1, (batch, *shape)).astype("float32")


def predict(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def kernel(model, layer_name):
    return keras.ops.convert_to_numpy(model.get_layer(layer_name).kernel)


@pytest.fixture(scope="module")
def tiny_rgb():
    keras.utils.set_random_seed(0)
    return i3d.i3d(TINY_RGB, num_classes=3)


def test_i3d_has_the_published_parameter_count():
    """About 12.7 M at 64x224x224x3 and 400 classes (DATASETS.md); building is symbolic, nothing runs."""
    model = i3d.i3d((64, 224, 224, 3), num_classes=400)
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    assert trainable == pytest.approx(12.7e6, rel=0.03)
    # The paper's head: 8 time steps of 7x7 left, pooled 2x7x7, so 7 logits are averaged over time.
    assert model.get_layer(i3d.BACKBONE_OUTPUT).output.shape[1:] == (8, 7, 7, 1024)
    assert model.get_layer("head_logits").output.shape[1:] == (7, 1, 1, 400)


@pytest.mark.parametrize("shape", [TINY_RGB, TINY_FLOW], ids=["rgb", "flow"])
def test_forward_pass(shape):
    keras.utils.set_random_seed(0)
    model = i3d.i3d(shape, num_classes=3)
    probabilities = predict(model, clips(shape))
    assert probabilities.shape == (2, 3) and not np.isnan(probabilities).any()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_the_smallest_clip_works():
    shape = (1, 1, 1, 3)
    probabilities = predict(i3d.i3d(shape, num_classes=2), clips(shape))
    assert probabilities.shape == (2, 2) and not np.isnan(probabilities).any()


def test_keras_file_round_trip_in_safe_mode(tiny_rgb, tmp_path):
    inputs = clips(TINY_RGB, seed=1)
    path = tmp_path / "i3d.keras"
    tiny_rgb.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(predict(loaded, inputs), predict(tiny_rgb, inputs), atol=1e-5)


def test_a_weights_file_with_another_head_loads_the_backbone(tiny_rgb, tmp_path):
    keras.utils.set_random_seed(1)
    source = i3d.i3d(TINY_RGB, num_classes=5)
    path = tmp_path / "kinetics.weights.h5"
    source.save_weights(path)

    keras.utils.set_random_seed(2)
    model = i3d.i3d(TINY_RGB, num_classes=3, weights=str(path))
    for layer in ("Conv3d_1a_7x7_conv", "Mixed_4d_Branch_1_Conv3d_0b_3x3_conv", "Mixed_5c_Branch_3_Conv3d_0b_1x1_conv"):
        np.testing.assert_array_equal(kernel(model, layer), kernel(source, layer))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.get_layer("Mixed_5c_Branch_0_Conv3d_0a_1x1_bn").moving_variance),
        keras.ops.convert_to_numpy(source.get_layer("Mixed_5c_Branch_0_Conv3d_0a_1x1_bn").moving_variance),
    )
    assert kernel(model, "head_logits").shape[-1] == 3 and kernel(source, "head_logits").shape[-1] == 5

    # With the same head the whole model loads, so the outputs match.
    same = i3d.i3d(TINY_RGB, num_classes=5, weights=path)
    inputs = clips(TINY_RGB, seed=3)
    np.testing.assert_allclose(predict(same, inputs), predict(source, inputs), atol=1e-6)


def test_an_rgb_weights_file_does_not_load_into_a_flow_model(tiny_rgb, tmp_path):
    path = tmp_path / "rgb.weights.h5"
    tiny_rgb.save_weights(path)
    with pytest.raises(ValueError, match="rgb.weights.h5.*Conv3d_1a_7x7_conv.*channels"):
        i3d.i3d(TINY_FLOW, num_classes=3, weights=path)


def test_weights_errors_are_clear(tmp_path):
    missing = tmp_path / "missing.weights.h5"
    with pytest.raises(ValueError, match="missing.weights.h5.*does not exist"):
        i3d.i3d(TINY_RGB, num_classes=3, weights=missing)
    broken = tmp_path / "broken.weights.h5"
    broken.write_text("not an HDF5 file")
    with pytest.raises(ValueError, match="Could not load I3D weights from .*broken.weights.h5"):
        i3d.i3d(TINY_RGB, num_classes=3, weights=broken)
    with pytest.raises(ValueError, match="no Keras-hosted imagenet weights.*converted weights file.*weights=None"):
        i3d.i3d(TINY_RGB, num_classes=3, weights="imagenet")


def test_head_and_backbone_are_told_apart_by_name(tiny_rgb):
    """A trainer freezes every layer but the head_* ones and `predictions`."""
    names = [layer.name for layer in tiny_rgb.layers]
    head = names[names.index(i3d.BACKBONE_OUTPUT) + 1 :]
    assert head == ["head_pool", "head_dropout", "head_logits", "head_time_average", "predictions"]
    assert [name for name in names if name.startswith(i3d.HEAD_PREFIX) or name == "predictions"] == head
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in tiny_rgb.layers)
    assert names[0] == "clip"
