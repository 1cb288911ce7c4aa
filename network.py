"""The models, built by name: `build_model("slowfast", input_shape=(16, 112, 112, 1), num_classes=27)`.

Every builder takes a clip `(time, height, width, channels)` and returns a Keras functional model
ending in a softmax. Models are registered in `MODELS`; later models join the same table.
"""

import keras
from keras import layers

# SlowFast variants as data. Stage widths are the slow pathway's bottleneck widths (the block
# output is 4x wider); the fast pathway has `beta` of every width. `temporal` is the temporal
# kernel of each stage's first convolution in the slow pathway (1 = no temporal mixing; the
# paper keeps res2 and res3 spatial), the fast pathway always uses 3.
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
    # The paper's SlowFast 4x16, R50: 34.48 M trainable parameters at 32x224x224x3 and 400 classes.
    "slowfast_r50": dict(
        depths=(3, 4, 6, 3),
        widths=(64, 128, 256, 512),
        stem_width=64,
        temporal=(1, 1, 3, 3),
        alpha=8,
        beta=1 / 8,
        dropout=0.5,
    ),
}
FUSION_CHANNEL_RATIO = 2  # a lateral connection outputs 2 * beta * C channels
FUSION_KERNEL = 5  # temporal kernel of the lateral convolution


def conv_bn(x, filters, kernel, strides=(1, 1, 1), relu=True, name=None):
    x = layers.Conv3D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def bottleneck(x, width, temporal_kernel, spatial_stride, name):
    """ResNet bottleneck: (t x 1 x 1, width), (1 x 3 x 3, width), (1 x 1 x 1, 4 * width)."""
    out_channels = 4 * width
    strides = (1, spatial_stride, spatial_stride)
    shortcut = x
    if x.shape[-1] != out_channels or spatial_stride != 1:
        shortcut = conv_bn(x, out_channels, 1, strides, relu=False, name=f"{name}_shortcut")
    x = conv_bn(x, width, (temporal_kernel, 1, 1), name=f"{name}_a")
    x = conv_bn(x, width, (1, 3, 3), strides, name=f"{name}_b")
    x = conv_bn(x, out_channels, 1, relu=False, name=f"{name}_c")
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_out")(x)


def lateral(slow, fast, alpha, name):
    """Fuses fast into slow: a time-strided convolution (5 x 1 x 1, stride alpha), concatenated."""
    fused = conv_bn(fast, FUSION_CHANNEL_RATIO * fast.shape[-1], (FUSION_KERNEL, 1, 1), (alpha, 1, 1), name=name)
    return layers.Concatenate(name=f"{name}_concat")([slow, fused])


def slowfast(input_shape, num_classes, depths, widths, stem_width, temporal, alpha, beta, dropout=0.5, name="slowfast"):
    """SlowFast networks (Feichtenhofer, Fan, Malik and He, ICCV 2019, arXiv:1812.03982).

    A slow pathway sees every alpha-th frame with full channel width; a fast pathway sees all
    frames with beta of the channels. Lateral connections fuse the fast pathway into the slow
    one after the stem and after res2, res3 and res4; both are pooled and concatenated before
    the classifier. The clip input holds the fast pathway's frames: the model takes every
    alpha-th of them for the slow pathway itself, with a strided pooling of size 1.
    """
    num_frames = input_shape[0]
    if num_frames < alpha:
        raise ValueError(f"{name} needs at least alpha={alpha} frames per clip, got input_shape={input_shape}.")
    clip = keras.Input(shape=input_shape, name="clip")  # (batch, time, height, width, channels)
    slow = layers.AveragePooling3D(pool_size=1, strides=(alpha, 1, 1), name="slow_frames")(clip)
    fast_width = lambda width: max(1, int(round(width * beta)))  # noqa: E731

    slow = conv_bn(slow, stem_width, (1, 7, 7), (1, 2, 2), name="slow_stem")
    fast = conv_bn(clip, fast_width(stem_width), (5, 7, 7), (1, 2, 2), name="fast_stem")
    slow = layers.MaxPooling3D((1, 3, 3), (1, 2, 2), padding="same", name="slow_stem_pool")(slow)
    fast = layers.MaxPooling3D((1, 3, 3), (1, 2, 2), padding="same", name="fast_stem_pool")(fast)
    slow = lateral(slow, fast, alpha, name="lateral_stem")

    for stage, (depth, width, slow_temporal) in enumerate(zip(depths, widths, temporal), start=2):
        for block in range(depth):
            stride = 2 if stage > 2 and block == 0 else 1
            slow = bottleneck(slow, width, slow_temporal, stride, name=f"slow_res{stage}_block{block + 1}")
            fast = bottleneck(fast, fast_width(width), 3, stride, name=f"fast_res{stage}_block{block + 1}")
        if stage < 2 + len(depths) - 1:
            slow = lateral(slow, fast, alpha, name=f"lateral_res{stage}")

    slow = layers.GlobalAveragePooling3D(name="slow_pool")(slow)
    fast = layers.GlobalAveragePooling3D(name="fast_pool")(fast)
    x = layers.Concatenate(name="pathways")([slow, fast])
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(clip, outputs, name=name)


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


def mobilenet_backbone(input_shape, weights):
    """keras.applications MobileNet without its head, average-pooled: one frame -> 1024 features.

    `weights` is "imagenet" (Keras downloads them once), a path to a weights file, or None.
    ImageNet weights need 3 channels; a gray frame is repeated into three by the caller.
    """
    height, width, channels = input_shape
    imagenet = weights == "imagenet"
    try:
        backbone = keras.applications.MobileNet(
            input_shape=(height, width, 3 if imagenet else channels),
            include_top=False,
            weights="imagenet" if imagenet else None,
            pooling="avg",
        )
    except Exception as error:  # no network, a proxy, a half-downloaded file
        if not imagenet:
            raise
        raise ValueError(
            f"Could not load MobileNet's ImageNet weights ({type(error).__name__}: {error}). Without a network, "
            "use --weights none to train from scratch, or --weights PATH for a weights file you have."
        ) from error
    if weights not in (None, "imagenet"):
        backbone.load_weights(weights)
    return backbone


def mobilenet_rnn(input_shape, num_classes, cell="lstm", units=128, dropout=0.5, weights=None, name=None):
    """MobileNet on every frame, its pooled features through an LSTM or GRU, then softmax.

    The sign-language and TV-control projects' model: a 2D ImageNet backbone (Howard et al.
    2017, arXiv:1704.04861) shared across time, and a recurrent layer over the frame features.
    """
    num_frames, height, width, channels = input_shape
    clip = keras.Input(shape=input_shape, name="clip")  # (batch, time, height, width, channels)
    x = clip
    if weights == "imagenet" and channels == 1:
        x = layers.Concatenate(name="gray_to_rgb")([clip, clip, clip])  # ImageNet filters expect 3 channels
    backbone = mobilenet_backbone(x.shape[2:], weights)
    x = layers.TimeDistributed(backbone, name="frame_features")(x)  # (batch, time, 1024)
    recurrent = {"lstm": layers.LSTM, "gru": layers.GRU}[cell]
    x = recurrent(units, name=cell)(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(clip, outputs, name=name or f"mobilenet_{cell}")


MODELS = {name: _slowfast_builder(name) for name in SLOWFAST_VARIANTS}
MODELS["c3d"] = c3d
MODELS["mobilenet_lstm"] = lambda input_shape, num_classes, **options: mobilenet_rnn(input_shape, num_classes, "lstm", **options)
MODELS["mobilenet_gru"] = lambda input_shape, num_classes, **options: mobilenet_rnn(input_shape, num_classes, "gru", **options)
PRETRAINED = {"mobilenet_lstm", "mobilenet_gru"}  # the models that take weights="imagenet" or a file
DEFAULT_MODEL = "slowfast"


def build_model(name, input_shape, num_classes, **options):
    """Builds a registered model; `options` override the variant's settings."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Known models: {', '.join(sorted(MODELS))}.")
    if len(input_shape) != 4:
        raise ValueError(f"input_shape must be (frames, height, width, channels), got {tuple(input_shape)}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    return MODELS[name](input_shape=tuple(input_shape), num_classes=num_classes, **options)
