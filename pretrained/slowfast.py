"""SlowFast R50 checkpoints as PySlowFast, pytorchvideo and MMAction2 publish them, mapped onto network.py's layers.

The four layouts name the same 221 weighted layers differently (the project's names follow the paper). Four
of them, in pytorchvideo, PySlowFast (`.pyth`), its Caffe2 files (`.pkl`) and MMAction2 (`.pth`):

    slow_stem_conv          blocks.0.multipathway_blocks.0.conv, s1.pathway0_stem.conv, conv1_w,
                            backbone.slow_path.conv1.conv
    fast_res3_block1_b_bn   blocks.2.multipathway_blocks.1.res_blocks.0.branch2.norm_b, s3.pathway1_res0.branch2.b_bn,
                            t_res3_0_branch2b_bn_{s,b,rm,riv}, backbone.fast_path.layer2.0.conv2.bn
    lateral_res2_conv       blocks.1.multipathway_fusion.conv_fast_to_slow, s2_fuse.conv_f2s,
                            t_res2_2_branch2c_bn_subsample_w, backbone.slow_path.layer1_lateral.conv
    predictions             blocks.6.proj, head.projection, pred_{w,b}, cls_head.fc_cls

PyTorch and Caffe2 store a convolution's kernel as (out, in, t, h, w), Keras as (t, h, w, in, out); a linear
layer's as (out, in), Keras's Dense as (in, out); batch norm's weight, bias, running mean and variance are
Keras's gamma, beta, moving mean and moving variance (Caffe2's `_s`, `_b`, `_rm`, `_riv`). MMAction2's
classifier reads [fast | slow] features, the project's [slow | fast], so its columns are swapped.
"""

import numpy as np

from network import SLOWFAST_R50

FORMATS = ("pytorchvideo", "pyslowfast", "caffe2", "mmaction2")
SLOW_FEATURES = 4 * SLOWFAST_R50["widths"][-1]  # 2048 pooled slow features enter the classifier first
HEAD_LAYERS = {"predictions"}
# (fusion kernel, lateral batch norm) -> the variant of network.py that the checkpoint's network is. The
# published checkpoints pair 5-frame laterals with alpha 8 (4x16) and 7-frame ones with alpha 4 (8x8).
VARIANTS = {
    (5, True): "slowfast_r50_4x16",
    (7, True): "slowfast_r50_8x8",
    (5, False): "slowfast_r50_4x16_mmaction",
    (7, False): "slowfast_r50_8x8_mmaction",
}
KERAS_WEIGHTS = {
    "conv": ("kernel",),
    "bn": ("gamma", "beta", "moving_mean", "moving_variance"),
    "fc": ("kernel", "bias"),
}
SUFFIXES = {  # how each layout names a layer's tensors, in the order of KERAS_WEIGHTS
    "torch": {"conv": (".weight",), "bn": (".weight", ".bias", ".running_mean", ".running_var"), "fc": (".weight", ".bias")},
    "caffe2": {"conv": ("_w",), "bn": ("_s", "_b", "_rm", "_riv"), "fc": ("_w", "_b")},
}
# a bottleneck's parts: (network.py, pytorchvideo conv and norm, PySlowFast, Caffe2, MMAction2)
BLOCK_PARTS = (
    ("a", "branch2.conv_a", "branch2.norm_a", "branch2.a", "branch2.a_bn", "branch2a", "conv1"),
    ("b", "branch2.conv_b", "branch2.norm_b", "branch2.b", "branch2.b_bn", "branch2b", "conv2"),
    ("c", "branch2.conv_c", "branch2.norm_c", "branch2.c", "branch2.c_bn", "branch2c", "conv3"),
    ("shortcut", "branch1_conv", "branch1_norm", "branch1", "branch1_bn", "branch1", "downsample"),
)


def layer_table(depths=SLOWFAST_R50["depths"]):
    """[(network.py layer, kind, {format: the layer's name there})] for every weighted layer."""
    rows = []
    for pathway, index, caffe2, mmaction in (("slow", 0, "", "slow_path"), ("fast", 1, "t_", "fast_path")):
        stem = f"blocks.0.multipathway_blocks.{index}"
        names = dict(pytorchvideo=f"{stem}.conv", pyslowfast=f"s1.pathway{index}_stem.conv")
        rows.append(
            (f"{pathway}_stem_conv", "conv", dict(names, caffe2=f"{caffe2}conv1", mmaction2=f"backbone.{mmaction}.conv1.conv"))
        )
        names = dict(pytorchvideo=f"{stem}.norm", pyslowfast=f"s1.pathway{index}_stem.bn")
        rows.append(
            (f"{pathway}_stem_bn", "bn", dict(names, caffe2=f"{caffe2}res_conv1_bn", mmaction2=f"backbone.{mmaction}.conv1.bn"))
        )
        for stage, depth in enumerate(depths, start=2):
            for block in range(depth):
                ours = f"{pathway}_res{stage}_block{block + 1}"
                ptv = f"blocks.{stage - 1}.multipathway_blocks.{index}.res_blocks.{block}"
                pysf, c2, mm = (
                    f"s{stage}.pathway{index}_res{block}",
                    f"{caffe2}res{stage}_{block}",
                    f"backbone.{mmaction}.layer{stage - 1}.{block}",
                )
                for part, ptv_conv, ptv_norm, pysf_conv, pysf_norm, c2_part, mm_part in BLOCK_PARTS:
                    if part == "shortcut" and block > 0:
                        continue
                    conv = dict(pytorchvideo=f"{ptv}.{ptv_conv}", pyslowfast=f"{pysf}.{pysf_conv}", caffe2=f"{c2}_{c2_part}")
                    rows.append((f"{ours}_{part}_conv", "conv", dict(conv, mmaction2=f"{mm}.{mm_part}.conv")))
                    norm = dict(pytorchvideo=f"{ptv}.{ptv_norm}", pyslowfast=f"{pysf}.{pysf_norm}", caffe2=f"{c2}_{c2_part}_bn")
                    rows.append((f"{ours}_{part}_bn", "bn", dict(norm, mmaction2=f"{mm}.{mm_part}.bn")))
    for index, place in enumerate(("stem", *(f"res{stage}" for stage in range(2, 2 + len(depths) - 1)))):
        ptv, pysf = f"blocks.{index}.multipathway_fusion", f"s{index + 1}_fuse"
        # Caffe2 names a lateral after the fast layer it reads: the pool of the stem, the last block of a stage
        c2 = "t_pool1_subsample" if index == 0 else f"t_res{index + 1}_{depths[index - 1] - 1}_branch2c_bn_subsample"
        mm = "backbone.slow_path.conv1_lateral" if index == 0 else f"backbone.slow_path.layer{index}_lateral"
        conv = dict(pytorchvideo=f"{ptv}.conv_fast_to_slow", pyslowfast=f"{pysf}.conv_f2s", caffe2=c2, mmaction2=f"{mm}.conv")
        rows.append((f"lateral_{place}_conv", "conv", conv))
        norm = dict(pytorchvideo=f"{ptv}.norm", pyslowfast=f"{pysf}.bn", caffe2=f"{c2}_bn", mmaction2=f"{mm}.bn")
        rows.append((f"lateral_{place}_bn", "bn", norm))
    head = dict(pytorchvideo="blocks.6.proj", pyslowfast="head.projection", caffe2="pred", mmaction2="cls_head.fc_cls")
    rows.append(("predictions", "fc", head))
    return rows


def tensor_names(layout, prefix, kind):
    return [prefix + suffix for suffix in SUFFIXES["caffe2" if layout == "caffe2" else "torch"][kind]]


def expected_tensors(layout):
    """{checkpoint tensor name: (network.py layer, Keras weight name, transform)} of a layout."""
    expected = {}
    for layer, kind, names in layer_table():
        for name, weight in zip(tensor_names(layout, names[layout], kind), KERAS_WEIGHTS[kind]):
            transform = {"conv": conv_kernel, "bn": np.ravel, "fc": linear_kernel if weight == "kernel" else np.ravel}[kind]
            if layout == "mmaction2" and kind == "fc" and weight == "kernel":
                transform = mmaction_classifier
            expected[name] = (layer, weight, transform)
    return expected


def conv_kernel(weight):
    """(out, in, t, h, w) -> (t, h, w, in, out)."""
    return np.ascontiguousarray(np.transpose(weight, (2, 3, 4, 1, 0)))


def linear_kernel(weight):
    """(out, in) -> (in, out); a Caffe2 `pred_w` may carry trailing axes of 1."""
    return np.ascontiguousarray(weight.reshape(weight.shape[0], -1).T)


def mmaction_classifier(weight):
    """MMAction2's classifier reads [fast | slow] features: its columns in the project's [slow | fast] order."""
    fast = weight.shape[1] - SLOW_FEATURES
    return linear_kernel(np.concatenate([weight[:, fast:], weight[:, :fast]], axis=1))


def is_bookkeeping(name):
    """Tensors of a checkpoint that are no weights: batch norm's counters, Caffe2's momenta and iteration
    count, MMAction2's preprocessing constants."""
    return (
        name.endswith("num_batches_tracked")
        or name.endswith("_momentum")
        or name in ("lr", "model_iter")
        or name.startswith("data_preprocessor.")
    )


def layout_of(tensors):
    """The layout of a SlowFast state dict, by its names; None for another network."""
    starts = {"blocks.0.multipathway": "pytorchvideo", "s1.pathway0_stem": "pyslowfast", "backbone.slow_path": "mmaction2"}
    for name in tensors:
        if name in ("conv1_w", "t_conv1_w"):
            return "caffe2"
        for start, layout in starts.items():
            if name.startswith(start):
                return layout
    return None


def state_dict(checkpoint):
    """The tensors of a torch checkpoint: its `model_state` (PySlowFast, pytorchvideo), `state_dict`
    (MMAction2) or the dict itself, without a `module.` (DistributedDataParallel) or `model.` prefix
    (PySlowFast's wrappers of pytorchvideo's models)."""
    if isinstance(checkpoint, dict):
        for key in ("model_state", "state_dict", "model"):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict):
        return {}
    tensors = {str(name): value for name, value in checkpoint.items() if isinstance(value, np.ndarray)}
    for prefix in ("module.", "model."):
        if tensors and all(name.startswith(prefix) for name in tensors if not is_bookkeeping(name)):
            tensors = {name.removeprefix(prefix): value for name, value in tensors.items()}
    return tensors


def describe(tensors, layout):
    """(variant, number of classes, what tells them): which network.py variant the checkpoint's network is."""
    expected = {layer: name for name, (layer, weight, _) in expected_tensors(layout).items() if weight in ("kernel", "gamma")}
    lateral = tensors.get(expected["lateral_stem_conv"])
    if lateral is None or lateral.ndim != 5 or lateral.shape[2] not in (5, 7):
        shape = None if lateral is None else tuple(lateral.shape)
        raise ValueError(
            f"{expected['lateral_stem_conv']} {shape}: a SlowFast R50 checkpoint has a lateral convolution of 5 or 7 frames here."
        )
    lateral_norm = layout != "mmaction2" or expected["lateral_stem_bn"] in tensors  # MMAction2's laterals: bare by default
    head = tensors.get(expected["predictions"])
    num_classes = None if head is None else int(head.shape[0])
    variant = VARIANTS[lateral.shape[2], lateral_norm]
    reason = f"{lateral.shape[2]}-frame laterals{'' if lateral_norm else ' without batch norm'}"
    return variant, num_classes, reason
