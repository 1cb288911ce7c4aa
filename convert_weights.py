"""Convert a published Kinetics-400 checkpoint into a weights file of the project's model, to fine-tune from.

    python convert_weights.py SLOWFAST_8x8_R50.pyth --model slowfast_r50 --out slowfast_r50_8x8.weights.h5
    python convert_weights.py SLOWFAST_4x16_R50.pkl --model slowfast_r50 --out slowfast_r50_4x16.weights.h5
    python convert_weights.py slowfast_r50_..._20220901-701b0f6f.pth --model slowfast_r50 --classes 27 --out sf.weights.h5
    python convert_weights.py kinetics-i3d/data/checkpoints/rgb_imagenet --model i3d --out i3d_rgb.weights.h5
    python convert_weights.py flow_inception_i3d_kinetics_only_tf_dim_ordering_tf_kernels_no_top.h5 --model i3d --out f.weights.h5

SlowFast R50 (4x16 and 8x8): PySlowFast's `.pyth` and Caffe2 `.pkl` files, pytorchvideo's (`model_state` or a bare
state dict) and MMAction2's `.pth`. I3D: keras-kinetics-i3d's Keras 2 `.h5` files (RGB or flow, with or without
the top) and DeepMind's kinetics-i3d TensorFlow checkpoints (the folder, the prefix or its `.index` file).
PyTorch files are read without torch, and nothing in them runs (pretrained/torch_files.py).

Every tensor is placed in its layer, transposed where the layouts differ, or the command fails naming the
first tensor it could not place and its shape; tensors that are no weights (batch norm counters, optimizer
slots) are listed. The checkpoints' networks pad as PyTorch does, so a SlowFast checkpoint becomes a weights
file of the variant that does too (slowfast_r50_4x16, slowfast_r50_8x8, or their _mmaction twins, whose
laterals have no batch norm); the command prints the `train.py --model` that loads it. With `--classes N`
other than the checkpoint's, the backbone is converted and the head starts from random weights.
"""

from common import quiet  # noqa: F401  # isort: skip  (first: TensorFlow starts without its C++ start-up lines)

import argparse
import sys
from collections import Counter
from pathlib import Path

import keras

from nets.weights import write_weights
from network import MODELS, build_model
from pretrained.placing import FAMILIES, place, plan, read_checkpoint
from pretrained.torch_files import CheckpointError

# slowfast_r50: the variant the checkpoint says; a slowfast_r50_* variant: that one, or fail
MODEL_CHOICES = ["i3d", *sorted(name for name in MODELS if name.startswith("slowfast_r50"))]


def listed(tensors, limit=8):
    """Tensor names for a message: those sharing a last part (`num_batches_tracked`) counted together."""
    endings = Counter(name.rsplit(".", 1)[-1].rsplit("/", 1)[-1] for name, _ in tensors)
    parts = [f"{count} x {ending}" for ending, count in endings.items() if count > 3]
    parts += [f"{name} {shape}" for name, shape in tensors if endings[name.rsplit(".", 1)[-1].rsplit("/", 1)[-1]] <= 3]
    return ", ".join(parts[:limit]) + (f" and {len(parts) - limit} more" if len(parts) > limit else "")


def convert(checkpoint_path, model, out, classes=None, seed=0):
    """Converts a checkpoint; returns (the model built, its Plan, the Placement)."""
    checkpoint = read_checkpoint(checkpoint_path)
    found = plan(checkpoint, model)
    num_classes = classes or found.num_classes or 400
    heads = "no head" if found.num_classes is None else f"a head of {found.num_classes} classes"
    family = FAMILIES[checkpoint.family]
    print(f"Read {checkpoint_path}: {len(checkpoint.tensors)} tensors of {family}, as {checkpoint.layout} writes them, {heads}")
    print(f"Its network is {found.model} ({found.reason}); building it for {num_classes} classes")
    keras.utils.set_random_seed(seed)  # the head's initialisation, when it is not converted
    built = build_model(found.model, input_shape=found.input_shape, num_classes=num_classes)
    placement = place(built, checkpoint, keep_head=found.num_classes == num_classes)
    layers = len({layer for _, _, layer, _ in placement.placed})
    print(f"Placed {len(placement.placed)} tensors in {layers} layers of {found.model}")
    if placement.unused:
        print(f"Not weights, not used ({len(placement.unused)}): {listed(placement.unused)}")
    if placement.head:
        print(
            f"The head is not converted: the checkpoint's has {found.num_classes} classes, --classes {num_classes}; "
            f"the backbone is loaded and the head starts from random weights ({listed(placement.head)})"
        )
    elif placement.missing:
        print(f"The checkpoint has no head: the head ({', '.join(placement.missing)}) starts from random weights")
    about = {"model": found.model, "num_classes": num_classes, "source": f"{Path(checkpoint_path).name} ({checkpoint.layout})"}
    write_weights(built, out, about)
    frames, size, _, channels = found.input_shape
    print(f"Saved {out}. Fine-tune from it at the checkpoint's input size, e.g.:")
    print(
        f"  python train.py --model {found.model} --weights {out} --frames {frames} --size {size} "
        + ("--modality flow --flow-pairs 1" if channels == 2 else f"--channels {channels}")
        + " --freeze-backbone-epochs 2 --data DATA"
    )
    return built, found, placement


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False
    )
    parser.add_argument("checkpoint", help="the downloaded checkpoint: a file, or a TensorFlow checkpoint's folder or prefix")
    parser.add_argument(
        "--model",
        required=True,
        choices=MODEL_CHOICES,
        help="slowfast_r50 or i3d: the variant is read from the checkpoint (or name a slowfast_r50_* variant to insist on it)",
    )
    parser.add_argument("--classes", type=int, help="classes of the model's head (default: the checkpoint's; 400 without one)")
    parser.add_argument("--out", required=True, help="the weights file to write, FILE.weights.h5 (train.py --weights FILE)")
    parser.add_argument("--seed", type=int, default=0, help="seed of a head that is not converted (default: 0)")
    args = parser.parse_args(argv)
    if not args.out.endswith(".weights.h5"):
        parser.error(f"--out must end in .weights.h5 (Keras's weights file), got {args.out!r}")
    if args.classes is not None and args.classes < 2:
        parser.error(f"--classes must be at least 2, got {args.classes}")
    try:
        return convert(args.checkpoint, args.model, args.out, args.classes, args.seed)
    except (CheckpointError, ValueError, OSError) as error:
        sys.exit(f"convert_weights.py: {error}")


if __name__ == "__main__":
    main()
