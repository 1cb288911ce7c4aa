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


def test_the_epochs_that_fit_the_budget_are_as_many_as_fit_and_no_more():
    # a probe of 3 epochs ending 20, 28 and 36 s after its start, the run over at 40 s: a start-up and first
    # epoch of 20 s, then 8 s an epoch, and 4 s after the last one
    probe = (40.0, (20.0, 28.0, 36.0))
    for budget in (60, 299.9, 300, 301, 303.9, 304):
        epochs = recipe.epochs_within(budget, probe)
        assert 28 + 8 * (epochs - 2) + 4 <= budget < 28 + 8 * (epochs - 1) + 4, (budget, epochs)
    assert recipe.epochs_within(300, probe) == 35
    assert recipe.epochs_within(10, probe) == 1  # less than the probe's own epochs: one, never none
