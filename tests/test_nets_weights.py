"""nets/weights.py: a builder's weights= file, whole or backbone only, and a converted file of another variant refused by name."""

import numpy as np
import pytest

import network
from nets.weights import read_about, write_weights

TINY = (8, 16, 16, 1)


def test_a_file_loads_whole_or_its_backbone_and_says_which(tmp_path, capsys):
    source = network.build_model("slowfast", input_shape=TINY, num_classes=5)
    path = tmp_path / "kinetics.weights.h5"
    write_weights(source, path, {"model": "slowfast", "num_classes": 5, "source": "K400.pyth (pytorchvideo)"})
    assert read_about(path) == {"model": "slowfast", "num_classes": 5, "source": "K400.pyth (pytorchvideo)"}
    same = network.build_model("slowfast", input_shape=TINY, num_classes=5, weights=str(path))
    for got, expected in zip(same.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert "backbone" not in capsys.readouterr().out

    other = network.build_model("slowfast", input_shape=TINY, num_classes=3, weights=str(path))
    printed = capsys.readouterr().out
    assert "Loaded the backbone of" in printed and "the file's head has 5 classes, this model 3" in printed
    np.testing.assert_array_equal(
        other.get_layer("lateral_res4_conv").get_weights()[0], source.get_layer("lateral_res4_conv").get_weights()[0]
    )
    assert other.get_layer("predictions").get_weights()[0].shape[-1] == 3


def test_a_file_of_another_variant_names_the_model_to_build(tmp_path):
    source = network.build_model("slowfast", input_shape=TINY, num_classes=3)
    path = tmp_path / "sf.weights.h5"
    write_weights(source, path, {"model": "slowfast_r50_8x8", "num_classes": 3, "source": "SLOWFAST_8x8_R50.pyth (pytorchvideo)"})
    with pytest.raises(
        ValueError, match=r"holds weights of slowfast_r50_8x8 \(converted from SLOWFAST_8x8_R50.pyth.*--model slowfast_r50_8x8"
    ):
        network.build_model("slowfast", input_shape=TINY, num_classes=3, weights=str(path))
    with pytest.raises(ValueError, match="no Keras-hosted imagenet weights for SlowFast"):
        network.build_model("slowfast", input_shape=TINY, num_classes=3, weights="imagenet")
