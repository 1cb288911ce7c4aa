"""pytorchvideo's SlowFast R50 and ours on the same weights and the same clip: the largest logit difference.

    python bench/reference_slowfast.py                                        # torch and pytorchvideo in this venv
    python bench/reference_slowfast.py --torch-python ~/venvs/torch/bin/python  # or in another one
    python bench/reference_slowfast.py --configs 8x8 --size 224 --frames 32

Requirements (not the project's; never run by CI): torch and pytorchvideo (`pip install torch pytorchvideo`;
pytorchvideo 0.1.5 also imports torchvision, for detection heads this bench does not use). The torch side
runs in a process of its own, so the interpreter that has them need not have TensorFlow: it builds
pytorchvideo's network with pytorchvideo's own builder (`create_slowfast` in the 4x16 configuration, the hub's
`slowfast_r50` for 8x8), random weights and random batch norm statistics, eval mode, feeds it a random clip
(its slow frames taken as pytorchvideo's PackPathway takes them), and saves its state dict with torch.save
as pytorchvideo's checkpoints hold it ({"model_state": ...}), its logits and each stage's output. This side
converts that file with convert_weights.py (the project's reader, no torch), loads it as train.py does
(`weights=`), feeds the same clip, and prints the parameter counts, each stage's largest difference and
the largest logit difference (goal: at most 1e-4).
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"4x16": ("slowfast_r50_4x16", 8), "8x8": ("slowfast_r50_8x8", 4)}  # variant, alpha
# pytorchvideo's blocks 0-4 (stem, res2-res5, each with its fusion) -> our layers of the same tensors
STAGES = (
    ("stem", "lateral_stem_concat", "fast_stem_pool"),
    ("res2", "lateral_res2_concat", "fast_res2_block3_out"),
    ("res3", "lateral_res3_concat", "fast_res3_block4_out"),
    ("res4", "lateral_res4_concat", "fast_res4_block6_out"),
    ("res5", "slow_res5_block3_out", "fast_res5_block3_out"),
)


def reference_side(config, frames, size, out):
    """In the torch interpreter: pytorchvideo's network, its checkpoint file, logits and stage outputs."""
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(1)
    if config == "8x8":
        from pytorchvideo.models.hub import slowfast_r50

        model = slowfast_r50(pretrained=False)
    else:
        from pytorchvideo.models.slowfast import create_slowfast

        model = create_slowfast(
            slowfast_fusion_conv_kernel_size=(5, 1, 1),
            slowfast_fusion_conv_stride=(8, 1, 1),
            head_pool_kernel_sizes=((4, 7, 7), (32, 7, 7)),
        )
    with torch.no_grad():  # statistics and scales as after training; pytorchvideo zeroes each block's last scale
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.weight.uniform_(0.05, 0.25) if name.endswith("norm_c") else module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            elif isinstance(module, torch.nn.Linear):
                module.weight.normal_(0, 0.05)
                module.bias.normal_(0, 0.05)
    model.eval()
    torch.save({"model_state": model.state_dict()}, out / "pytorchvideo.pyth")
    alpha = CONFIGS[config][1]
    fast = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, frames, size, size)).astype(np.float32))
    slow = torch.index_select(fast, 2, torch.linspace(0, frames - 1, frames // alpha).long())  # PackPathway's frames
    stages = {}
    for index, (stage, _, _) in enumerate(STAGES):
        hook = lambda module, inputs, output, stage=stage: stages.update({f"{stage}_slow": output[0], f"{stage}_fast": output[1]})  # noqa: E731
        model.blocks[index].register_forward_hook(hook)
    with torch.no_grad():
        start = time.perf_counter()
        logits = model([slow, fast])
        seconds = time.perf_counter() - start
    arrays = {name: value.numpy() for name, value in stages.items()}
    parameters = sum(parameter.numel() for parameter in model.parameters())
    np.savez(out / "reference.npz", clip=fast.numpy(), logits=logits.numpy(), parameters=parameters, seconds=seconds, **arrays)


def compare(config, frames, size, folder):
    """In this interpreter: convert, load, run and compare; returns the largest logit difference."""
    sys.path.insert(0, str(ROOT))
    from common import quiet  # noqa: F401  # isort: skip

    import keras

    import convert_weights
    import network

    reference = np.load(folder / "reference.npz")
    out = folder / "converted.weights.h5"
    convert_weights.main([str(folder / "pytorchvideo.pyth"), "--model", "slowfast_r50", "--out", str(out)])
    variant = CONFIGS[config][0]
    model = network.build_model(variant, input_shape=(frames, size, size, 3), num_classes=400, weights=str(out))
    outputs = [model.get_layer(name).output for _, slow, fast in STAGES for name in (slow, fast)]
    probe = keras.Model(model.input, [*outputs, model.get_layer(network.SLOWFAST_BACKBONE_OUTPUT).output])
    clip = np.transpose(reference["clip"], (0, 2, 3, 4, 1))  # (batch, channels, time, h, w) -> (batch, time, h, w, channels)
    start = time.perf_counter()
    *activations, features = [keras.ops.convert_to_numpy(value) for value in probe(clip, training=False)]
    seconds = time.perf_counter() - start
    kernel, bias = model.get_layer("predictions").get_weights()
    logits = features @ kernel + bias  # the softmax's input
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    print(f"\n{config}: pytorchvideo {int(reference['parameters']):,} parameters, {variant} {trainable:,} trainable")
    for (stage, _, _), slow, fast in zip(STAGES, activations[::2], activations[1::2]):
        for pathway, ours in (("slow", slow), ("fast", fast)):
            theirs = np.transpose(reference[f"{stage}_{pathway}"], (0, 2, 3, 4, 1))
            difference, largest = np.abs(ours - theirs).max(), np.abs(theirs).max()
            print(f"  {stage:4} {pathway}: {ours.shape[1:]}, largest difference {difference:.2e} (largest value {largest:.2f})")
    difference = float(np.abs(logits - reference["logits"]).max())
    same_top = int(logits.argmax()) == int(reference["logits"].argmax())
    print(
        f"  logits: largest difference {difference:.2e} (largest logit {np.abs(reference['logits']).max():.2f}, top-1 "
        f"{'the same' if same_top else 'DIFFERENT'}); goal 1e-4: {'met' if difference <= 1e-4 else 'NOT met'}"
    )
    print(f"  forward pass: pytorchvideo {float(reference['seconds']):.1f} s, Keras {seconds:.1f} s (1 clip, first call)")
    if config == "4x16":  # the same weights in slowfast_r50 as it is: TensorFlow's padding, every alpha-th frame
        from pretrained import placing

        plain = network.build_model("slowfast_r50", input_shape=(frames, size, size, 3), num_classes=400)
        placing.place(plain, placing.read_checkpoint(folder / "pytorchvideo.pyth"))
        features = keras.Model(plain.input, plain.get_layer(network.SLOWFAST_BACKBONE_OUTPUT).output)(clip, training=False)
        plain_logits = keras.ops.convert_to_numpy(features) @ kernel + bias
        top = "the same" if int(plain_logits.argmax()) == int(reference["logits"].argmax()) else "different"
        plain_difference = np.abs(plain_logits - reference["logits"]).max()
        print(f"  slowfast_r50 as it is, same weights: largest logit difference {plain_difference:.2e}, top-1 {top}")
    return difference


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch-python", default=sys.executable, help="a Python with torch and pytorchvideo (default: this one)")
    parser.add_argument(
        "--configs",
        default="4x16,8x8",
        help="comma-separated: 4x16 (create_slowfast), 8x8 (the hub's slowfast_r50) (default: both)",
    )
    parser.add_argument("--frames", type=int, default=32, help="frames of the fast pathway (default: 32)")
    parser.add_argument(
        "--size", type=int, default=224, help="frame height and width; pytorchvideo's head pools 7x7, so 224 (default: 224)"
    )
    parser.add_argument("--reference-side", metavar="FOLDER", help=argparse.SUPPRESS)  # the torch process's part
    args = parser.parse_args(argv)
    configs = args.configs.split(",")
    if args.reference_side:
        return reference_side(configs[0], args.frames, args.size, Path(args.reference_side))
    differences = {}
    for config in configs:
        with tempfile.TemporaryDirectory() as folder:
            command = [
                args.torch_python,
                __file__,
                "--reference-side",
                folder,
                "--configs",
                config,
                "--frames",
                str(args.frames),
                "--size",
                str(args.size),
            ]
            subprocess.run(command, check=True)
            differences[config] = compare(config, args.frames, args.size, Path(folder))
    print("\nlargest logit difference: " + ", ".join(f"{config} {value:.2e}" for config, value in differences.items()))
    return differences


if __name__ == "__main__":
    main()
