"""bench/recipe.py's recipes without their minutes of training: each is options train.py takes and
layers that are swapped in for its run and back after it. The bench itself is run by hand."""

import sys

import pytest
from conftest import ROOT

import train
from nets.layers import FramesAsBatch, FrameStackConv3D, FusedBatchNormalization

sys.path.insert(0, str(ROOT / "bench"))
import recipe  # noqa: E402  # isort: skip  (from bench/, as `python bench/recipe.py` finds it)


def computed_by():
    return FrameStackConv3D.convolution_op, FusedBatchNormalization.call, FramesAsBatch.call


@pytest.mark.parametrize("name", sorted(recipe.RECIPES))
def test_each_recipe_is_a_train_command_with_layers_put_back(name):
    options, layers = recipe.RECIPES[name]
    args = train.make_parser().parse_args(["--data", "data", *options])
    assert args.data == "data"
    own = computed_by()
    with layers():
        inside = computed_by()
    assert computed_by() == own
    if name == "before":  # every 3D kernel as stacked frames, and Keras's own batch norm
        assert inside[:2] != own[:2] and inside[2] == own[2]
    else:
        assert inside == own
