"""The models, built by name: `build_model("slowfast", input_shape=(16, 112, 112, 1), num_classes=27)`.

Every builder takes a clip `(time, height, width, channels)` (or, for `pose_lstm`, keypoints
`(frames, joints * 2)`) and returns a Keras functional model ending in class probabilities.
Models are registered in `MODELS`. Layers whose names start with `head_`, and `predictions`, are
the classifier head; everything else is the backbone, which `train.py --freeze-backbone-epochs`
keeps frozen at first. I3D is big enough for its own file, `nets/i3d.py`, and so is the streaming
TSM MobileNetV2, `nets/streaming.py`; the frame models here and the streaming one share the ImageNet
backbones of `nets/backbones.py`. The project's own layers live in `nets/layers.py`, beside
`load_model`, which reads any saved model back without this module.
"""

import keras
from keras import layers

from nets import weights as weights_file
from nets.backbones import imagenet_backbone
from nets.i3d import i3d
from nets.layers import (
    EveryNthFrame,
    FrameMaxPool,
    FramesAsBatch,
    FrameStackConv3D,
    FusedBatchNormalization,
    TwoClassProbabilities,
)
from nets.streaming import tsm_mobilenet

# SlowFast variants as data. Stage widths are the slow pathway's bottleneck widths (the block
# output is 4x wider); the fast pathway has `beta` of every width. `temporal` is the temporal
# kernel of each stage's first convolution in the slow pathway (1 = no temporal mixing; the
# paper keeps res2 and res3 spatial), the fast pathway always uses 3.
SLOWFAST_R50 = dict(
    depths=(3, 4, 6, 3), widths=(64, 128, 256, 512), stem_width=64, temporal=(1, 1, 3, 3), beta=1 / 8, dropout=0.5
)
SLOWFAST_VARIANTS = {
    # Small enough to train on a laptop CPU at 16x112x112x1 in minutes.
    "slowfast": dict(
        depths=(1, 1, 1, 1),
        widths=(16, 32, 64, 128),
        stem_width=16,
        temporal=(1, 1, 3, 3),
        alpha=4,
        beta=1 / 4,
        dropout=0.3,
    ),
    # The paper's SlowFast 4x16, R50: 34,480,216 trainable parameters at 32x224x224x3 and 400 classes.
    "slowfast_r50": dict(SLOWFAST_R50, alpha=8),
    # The networks of the published Kinetics-400 checkpoints, to start from them (convert_weights.py): the
    # same R50, padded as PyTorch pads, so converted weights give the checkpoint's own outputs. PySlowFast's
    # and pytorchvideo's 4x16 (34,480,216 parameters) and 8x8 (the pytorchvideo hub's slowfast_r50: alpha 4,
    # 7-frame laterals, 34,566,488) spread the slow frames over the clip as their loaders do; MMAction2's take
    # every alpha-th frame, and their laterals have no batch norm and ReLU (928 parameters fewer).
    "slowfast_r50_4x16": dict(SLOWFAST_R50, alpha=8, padding="torch", slow_frames="spread"),
    "slowfast_r50_8x8": dict(SLOWFAST_R50, alpha=4, fusion_kernel=7, padding="torch", slow_frames="spread"),
    "slowfast_r50_4x16_mmaction": dict(SLOWFAST_R50, alpha=8, padding="torch", lateral_norm=False),
    "slowfast_r50_8x8_mmaction": dict(SLOWFAST_R50, alpha=4, fusion_kernel=7, padding="torch", lateral_norm=False),
}
FUSION_CHANNEL_RATIO = 2  # a lateral connection outputs 2 * beta * C channels
SLOWFAST_BACKBONE_OUTPUT = "pathways"  # the pooled pathways, concatenated; dropout and `predictions` are the head


def triple(size):
    return (size,) * 3 if isinstance(size, int) else tuple(size)


def conv_bn(x, filters, kernel, strides=(1, 1, 1), relu=True, norm=True, padding="same", name=None):
    """Convolution without bias, batch norm, ReLU. With padding="torch" a strided convolution pads
    `kernel // 2` frames and pixels on both sides, as PyTorch does, where TensorFlow's "same" pads unevenly
    (0 before and 1 after a 3x3 of stride 2 on an even size); unstrided odd kernels pad alike either way."""
    kernel, strides = triple(kernel), triple(strides)
    if padding == "torch" and any(k > 1 and s > 1 for k, s in zip(kernel, strides)):
        x = layers.ZeroPadding3D([(k // 2, k // 2) for k in kernel], name=f"{name}_pad")(x)
        padding = "valid"
    x = FrameStackConv3D(
        filters, kernel, strides=strides, padding="same" if padding == "torch" else padding, use_bias=False, name=f"{name}_conv"
    )(x)
    if not norm:
        return x
    x = FusedBatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def bottleneck(x, width, temporal_kernel, spatial_stride, padding, name):
    """ResNet bottleneck: (t x 1 x 1, width), (1 x 3 x 3, width), (1 x 1 x 1, 4 * width)."""
    out_channels = 4 * width
    strides = (1, spatial_stride, spatial_stride)
    shortcut = x
    if x.shape[-1] != out_channels or spatial_stride != 1:
        shortcut = conv_bn(x, out_channels, 1, strides, relu=False, name=f"{name}_shortcut")
    x = conv_bn(x, width, (temporal_kernel, 1, 1), padding=padding, name=f"{name}_a")
    x = conv_bn(x, width, (1, 3, 3), strides, padding=padding, name=f"{name}_b")
    x = conv_bn(x, out_channels, 1, relu=False, name=f"{name}_c")
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_out")(x)


def lateral(slow, fast, alpha, kernel, norm, padding, name):
    """Fuses fast into slow: a time-strided convolution (kernel x 1 x 1, stride alpha), concatenated.
    With norm=False (MMAction2's laterals) the convolution alone, without batch norm and ReLU."""
    fused = conv_bn(
        fast, FUSION_CHANNEL_RATIO * fast.shape[-1], (kernel, 1, 1), (alpha, 1, 1), norm=norm, padding=padding, name=name
    )
    return layers.Concatenate(name=f"{name}_concat")([slow, fused])


def stem_pool(x, padding, name):
    """3x3 max pooling of stride 2 on every frame. PyTorch pads one pixel on each side; zeros do that here,
    since the pooled values come out of a ReLU."""
    if padding == "torch":
        x = layers.ZeroPadding3D(((0, 0), (1, 1), (1, 1)), name=f"{name}_pad")(x)
        return FrameMaxPool(padding="valid", name=name)(x)
    return FrameMaxPool(name=name)(x)


def slowfast(
    input_shape,
    num_classes,
    depths,
    widths,
    stem_width,
    temporal,
    alpha,
    beta,
    dropout=0.5,
    fusion_kernel=5,
    lateral_norm=True,
    padding="same",
    slow_frames="strided",
    fast_stem_frames=5,
    weights=None,
    name="slowfast",
):
    """SlowFast networks (Feichtenhofer, Fan, Malik and He, ICCV 2019, arXiv:1812.03982).

    A slow pathway sees every alpha-th frame with full channel width; a fast pathway sees all
    frames with beta of the channels. Lateral connections (a `fusion_kernel` x 1 x 1 convolution of
    stride alpha, then batch norm and ReLU unless lateral_norm=False) fuse the fast pathway into the
    slow one after the stem and after res2, res3 and res4; both are pooled and concatenated before
    the classifier. The clip input holds the fast pathway's frames: the model takes the slow pathway's
    from them itself, every alpha-th (slow_frames="strided": 0, 8, 16, 24 of 32 for alpha 8, as MMAction2)
    or spread from the first to the last ("spread": 0, 10, 20, 31, as PySlowFast). Every operation is one LiteRT
    runs natively (export.py), so the stem pools each frame in 2D rather than with a 3D pooling.
    `padding` is "same" (TensorFlow's) or "torch" (PyTorch's, for converted checkpoints; see conv_bn).
    `fast_stem_frames` is the temporal kernel of the fast pathway's stem: 5 as in the paper, where it finds
    the motion between frames; on optical flow, where each frame holds its motion, 1 trains as well per
    epoch at two thirds of the step (training/settings.py).
    `weights` is None or a `.weights.h5` file of the same variant (convert_weights.py writes them);
    a file with another number of classes loads the backbone.
    """
    if padding not in ("same", "torch") or slow_frames not in ("strided", "spread"):
        raise ValueError(
            f"{name} takes padding 'same' or 'torch' and slow_frames 'strided' or 'spread', got {padding!r}, {slow_frames!r}."
        )
    num_frames = input_shape[0]
    if num_frames < alpha or (slow_frames == "spread" and num_frames % alpha):
        needs = "a multiple of" if slow_frames == "spread" else "at least"
        raise ValueError(f"{name} needs {needs} alpha={alpha} frames per clip, got input_shape={input_shape}.")
    clip = keras.Input(shape=input_shape, name="clip")  # (batch, time, height, width, channels)
    slow = EveryNthFrame(alpha, spread=slow_frames == "spread", name="slow_frames")(clip)
    fast_width = lambda width: max(1, int(round(width * beta)))  # noqa: E731
    fuse = dict(alpha=alpha, kernel=fusion_kernel, norm=lateral_norm, padding=padding)

    slow = conv_bn(slow, stem_width, (1, 7, 7), (1, 2, 2), padding=padding, name="slow_stem")
    fast = conv_bn(clip, fast_width(stem_width), (fast_stem_frames, 7, 7), (1, 2, 2), padding=padding, name="fast_stem")
    slow = stem_pool(slow, padding, name="slow_stem_pool")
    fast = stem_pool(fast, padding, name="fast_stem_pool")
    slow = lateral(slow, fast, name="lateral_stem", **fuse)

    for stage, (depth, width, slow_temporal) in enumerate(zip(depths, widths, temporal), start=2):
        for block in range(depth):
            stride = 2 if stage > 2 and block == 0 else 1
            slow = bottleneck(slow, width, slow_temporal, stride, padding, name=f"slow_res{stage}_block{block + 1}")
            fast = bottleneck(fast, fast_width(width), 3, stride, padding, name=f"fast_res{stage}_block{block + 1}")
        if stage < 2 + len(depths) - 1:
            slow = lateral(slow, fast, name=f"lateral_res{stage}", **fuse)

    slow = layers.GlobalAveragePooling3D(name="slow_pool")(slow)
    fast = layers.GlobalAveragePooling3D(name="fast_pool")(fast)
    x = layers.Concatenate(name=SLOWFAST_BACKBONE_OUTPUT)([slow, fast])
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(clip, outputs, name=name)
    if weights is not None:
        weights_file.load_weights(model, weights, SLOWFAST_BACKBONE_OUTPUT, family="SlowFast")
    return model


def _slowfast_builder(variant):
    def build(input_shape, num_classes, **options):
        settings = {**SLOWFAST_VARIANTS[variant], **options}
        return slowfast(input_shape, num_classes, name=variant, **settings)

    build.__doc__ = slowfast.__doc__
    return build


# C3D as in the paper: eight 3x3x3 convolutions, pooled after 1, 2, 4, 6 and 8.
C3D_STAGES = ((64, 1), (128, 1), (256, 2), (512, 2), (512, 2))  # (filters, convolutions) per pooling


def c3d(input_shape, num_classes, dropout=0.5, fc_units=4096, name="c3d"):
    """C3D (Tran, Bourdev, Fergus, Torresani and Paluri, ICCV 2015, arXiv:1412.0767).

    3x3x3 convolutions with stride 1 throughout; pool1 is 1x2x2 so early motion is kept, the
    other poolings 2x2x2; fc6 and fc7 of 4096 units with dropout. At 16x112x112x3 and 101
    classes it has 78.4 M parameters, most of them in fc6.
    """
    clip = keras.Input(shape=input_shape, name="clip")  # (batch, time, height, width, channels)
    x = clip
    for stage, (filters, count) in enumerate(C3D_STAGES, start=1):
        for index in range(count):
            suffix = "abcdefgh"[index] if count > 1 else "a"
            x = layers.Conv3D(filters, 3, padding="same", activation="relu", name=f"conv{stage}{suffix}")(x)
        pool = (1, 2, 2) if stage == 1 else (2, 2, 2)
        x = layers.MaxPooling3D(pool, pool, padding="same", name=f"pool{stage}")(x)
    x = layers.Flatten(name="flatten")(x)
    for layer in ("fc6", "fc7"):
        x = layers.Dense(fc_units, activation="relu", name=layer)(x)
        x = layers.Dropout(dropout, name=f"{layer}_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(clip, outputs, name=name)


def frame_classifier(input_shape, num_classes, application, head, weights=None, name=None):
    """A 2D ImageNet backbone shared across the clip's frames, then `head` on its per-frame features."""
    clip = keras.Input(shape=input_shape, name="clip")  # (batch, time, height, width, channels)
    backbone = imagenet_backbone(application, input_shape[1:], weights)
    features = FramesAsBatch(backbone, name="frame_features")(clip)  # (batch, time, features)
    return keras.Model(clip, head(features, num_classes), name=name)


def mobilenet_rnn(input_shape, num_classes, cell="lstm", units=128, dropout=0.5, weights=None, name=None):
    """MobileNet on every frame, its pooled features through an LSTM or GRU, then softmax.

    The sign-language and TV-control projects' model: a 2D ImageNet backbone (Howard et al.
    2017, arXiv:1704.04861) shared across time, and a recurrent layer over the frame features.
    """

    def head(features, num_classes):
        x = {"lstm": layers.LSTM, "gru": layers.GRU}[cell](units, name=f"head_{cell}")(features)
        x = layers.Dropout(dropout, name="head_dropout")(x)
        return layers.Dense(num_classes, activation="softmax", name="predictions")(x)

    return frame_classifier(input_shape, num_classes, keras.applications.MobileNet, head, weights, name or f"mobilenet_{cell}")


def two_stream(input_shape, num_classes, dropout=0.5, weights=None, name="two_stream"):
    """One stream of a two-stream network (Simonyan and Zisserman 2014, arXiv:1406.2199) on Xception.

    The spatial stream sees RGB frames (3 channels), the motion stream stacks of optical flow
    (x, y of 10 consecutive pairs: 20 channels; its first convolution gets the cross-modality
    initialisation from ImageNet). Each frame or stack is scored on its own and the scores are
    averaged over the clip's time axis, so a clip of 1 trains on one random frame and a clip of
    many tests on evenly spread ones. The streams train as separate runs; `evaluation/fusion.py` fuses them.
    Xception (Chollet 2017, arXiv:1610.02357) with its head at 1000 classes: 22.9 M parameters.
    """

    def head(features, num_classes):
        x = layers.Dropout(dropout, name="head_dropout")(features)
        x = layers.Dense(num_classes, activation="softmax", name="head_scores")(x)  # (batch, time, classes)
        return layers.GlobalAveragePooling1D(name="predictions")(x)

    return frame_classifier(input_shape, num_classes, keras.applications.Xception, head, weights, name)


def pose_lstm(input_shape, num_classes, units=128, depth=3, dense_units=32, dropout=0.2, name="pose_lstm"):
    """The lite pose project's keypoint classifier: keypoints per frame `(frames, joints * 2)` through
    three LSTM(128) layers, each followed by dropout and batch normalisation, then Dense(32) and one
    sigmoid output for 2 classes (the probability of the second) or a softmax for more.
    """
    keypoints = keras.Input(shape=input_shape, name="keypoints")  # (batch, frames, joints * 2)
    x = keypoints
    for index in range(depth):
        x = layers.LSTM(units, return_sequences=index < depth - 1, name=f"lstm{index + 1}")(x)
        x = layers.Dropout(dropout, name=f"lstm{index + 1}_dropout")(x)
        x = layers.BatchNormalization(name=f"lstm{index + 1}_bn")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    if num_classes == 2:  # one sigmoid unit, as the original; TwoClassProbabilities makes it (p0, p1)
        x = layers.Dense(1, activation="sigmoid", name="sigmoid")(x)
        outputs = TwoClassProbabilities(name="predictions")(x)
    else:
        outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(keypoints, outputs, name=name)


MODELS = {name: _slowfast_builder(name) for name in SLOWFAST_VARIANTS}
MODELS["c3d"] = c3d
MODELS["mobilenet_lstm"] = lambda input_shape, num_classes, **options: mobilenet_rnn(input_shape, num_classes, "lstm", **options)
MODELS["mobilenet_gru"] = lambda input_shape, num_classes, **options: mobilenet_rnn(input_shape, num_classes, "gru", **options)
MODELS["i3d"] = i3d
MODELS["two_stream"] = two_stream
MODELS["pose_lstm"] = pose_lstm
MODELS["tsm_mobilenet"] = tsm_mobilenet
PRETRAINED = {"mobilenet_lstm", "mobilenet_gru", "two_stream", "i3d", "tsm_mobilenet"}  # the models that take weights=
PRETRAINED |= {name for name in SLOWFAST_VARIANTS if name.startswith("slowfast_r50")}  # files of convert_weights.py
IMAGENET = {"mobilenet_lstm", "mobilenet_gru", "two_stream", "tsm_mobilenet"}  # of those, with ImageNet weights in Keras
STREAMING = {"tsm_mobilenet"}  # also run frame by frame (nets/streaming.py)
KEYPOINT_MODELS = {"pose_lstm"}  # input (frames, joints * 2) instead of a clip
DEFAULT_MODEL = "slowfast"


def build_model(name, input_shape, num_classes, **options):
    """Builds a registered model; `options` override the variant's settings."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Known models: {', '.join(sorted(MODELS))}.")
    expected = 2 if name in KEYPOINT_MODELS else 4
    if len(input_shape) != expected:
        shape = "(frames, joints * 2)" if expected == 2 else "(frames, height, width, channels)"
        raise ValueError(f"{name} takes input_shape {shape}, got {tuple(input_shape)}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    return MODELS[name](input_shape=tuple(input_shape), num_classes=num_classes, **options)


def is_head(layer):
    """Whether a layer belongs to the classifier head (trained while the backbone is frozen)."""
    return layer.name.startswith("head_") or layer.name == "predictions"


def set_backbone_trainable(model, trainable):
    """Freezes or unfreezes every layer outside the head; returns how many layers changed."""
    changed = [layer for layer in model.layers if layer.weights and not is_head(layer) and layer.trainable != trainable]
    for layer in changed:
        layer.trainable = trainable
    return len(changed)
