"""I3D: Inception-v1 inflated to 3D, `i3d(input_shape=(64, 224, 224, 3), num_classes=400)`.

The layout and layer names follow DeepMind's kinetics-i3d release, so a reader can hold
`model.summary()` next to the paper's figure 3 and a converter can map checkpoints by name.
Keras forbids "/" in layer names, so DeepMind's `Mixed_3b/Branch_1/Conv3d_0b_3x3` is
`Mixed_3b_Branch_1_Conv3d_0b_3x3` here, followed by `_conv`, `_bn` or `_relu` as in network.py.

Every layer of the classifier starts with `head_` and the softmax is `predictions`; everything
else is the backbone, which ends in the concatenation `Mixed_5c`. A trainer freezes the backbone
by name, and `weights=` loads a file whose head has another number of classes.
"""

import keras
from keras import layers

from nets import weights as weights_file
from nets.layers import FrameStackConv3D, FusedBatchNormalization

# Inception module widths, as in GoogLeNet's table 1 (Szegedy et al. 2015), which I3D keeps:
# (Branch_0 1x1, Branch_1 1x1 reduce, Branch_1 3x3, Branch_2 1x1 reduce, Branch_2 3x3, Branch_3 pool projection).
# Branch_2 is GoogLeNet's 5x5 branch; Inception-v1 with batch norm replaced it by a 3x3, and so did I3D.
MIXED_WIDTHS = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

# The backbone in order, as DeepMind's end points. A convolution is (filters, kernel, strides), a pooling
# is (pool size, strides), and a Mixed_* entry is an Inception module with the widths above. The first two
# poolings keep time: pooling time this early hurts, the paper says, so time is halved only by Conv3d_1a,
# MaxPool3d_4a and MaxPool3d_5a, 8x in all, while space is reduced 32x.
BACKBONE = (
    ("Conv3d_1a_7x7", (64, (7, 7, 7), (2, 2, 2))),
    ("MaxPool3d_2a_3x3", ((1, 3, 3), (1, 2, 2))),
    ("Conv3d_2b_1x1", (64, (1, 1, 1), (1, 1, 1))),
    ("Conv3d_2c_3x3", (192, (3, 3, 3), (1, 1, 1))),
    ("MaxPool3d_3a_3x3", ((1, 3, 3), (1, 2, 2))),
    ("Mixed_3b", None),
    ("Mixed_3c", None),
    ("MaxPool3d_4a_3x3", ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", None),
    ("Mixed_4c", None),
    ("Mixed_4d", None),
    ("Mixed_4e", None),
    ("Mixed_4f", None),
    ("MaxPool3d_5a_2x2", ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", None),
    ("Mixed_5c", None),
)
BACKBONE_OUTPUT = "Mixed_5c"  # (batch, time / 8, height / 32, width / 32, 1024)
HEAD_PREFIX = "head_"  # every classifier layer but the softmax, so a trainer can tell head from backbone
HEAD_TIME_WINDOW = 2  # the paper's 2x7x7 average pooling: 2 of the backbone's time steps, stride 1


def unit3d(x, filters, kernel, strides=(1, 1, 1), name=None):
    """DeepMind's Unit3D: convolution without bias, batch norm, ReLU.

    Batch norm without the learnable scale (scale=False), as in DeepMind's Sonnet BatchNorm, so
    kinetics-i3d checkpoints (beta, moving mean and variance, no gamma) convert one to one. It
    gives 12,689,984 trainable weights at 64x224x224x3 and 400 classes, the published 12.7 M; a
    scale would add 7,280 more, as close, but weights no checkpoint has. epsilon=1e-3 is Sonnet's,
    so converted weights give the same activations; momentum 0.9 as in network.py, so the moving
    statistics settle within a short fine-tuning run.
    """
    x = FrameStackConv3D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = FusedBatchNormalization(epsilon=1e-3, momentum=0.9, scale=False, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def mixed(x, widths, name):
    """An Inception module, inflated: 1x1, 1x1 then 3x3x3, 1x1 then 3x3x3, and 3x3x3 max pool then 1x1."""
    branch_0, branch_1_reduce, branch_1, branch_2_reduce, branch_2, branch_3 = widths
    a = unit3d(x, branch_0, 1, name=f"{name}_Branch_0_Conv3d_0a_1x1")
    b = unit3d(x, branch_1_reduce, 1, name=f"{name}_Branch_1_Conv3d_0a_1x1")
    b = unit3d(b, branch_1, 3, name=f"{name}_Branch_1_Conv3d_0b_3x3")
    c = unit3d(x, branch_2_reduce, 1, name=f"{name}_Branch_2_Conv3d_0a_1x1")
    c = unit3d(c, branch_2, 3, name=f"{name}_Branch_2_Conv3d_0b_3x3")
    d = layers.MaxPooling3D(3, strides=1, padding="same", name=f"{name}_Branch_3_MaxPool3d_0a_3x3")(x)
    d = unit3d(d, branch_3, 1, name=f"{name}_Branch_3_Conv3d_0b_1x1")
    return layers.Concatenate(name=name)([a, b, c, d])


def backbone(clip):
    x = clip
    for name, settings in BACKBONE:
        if name.startswith("Mixed"):
            x = mixed(x, MIXED_WIDTHS[name], name=name)
        elif name.startswith("MaxPool3d"):
            pool_size, strides = settings
            x = layers.MaxPooling3D(pool_size, strides=strides, padding="same", name=name)(x)
        else:
            filters, kernel, strides = settings
            x = unit3d(x, filters, kernel, strides, name=name)
    return x


def head(features, num_classes, dropout):
    """The paper's classifier: average pool, dropout, 1x1x1 convolution to logits, mean over time.

    At 224x224 the backbone's output is 7x7, so pooling the whole frame is the paper's 2x7x7
    pooling; frames of any other size are pooled whole too, and a clip of 8 frames or fewer,
    which leaves the backbone a single time step, is pooled over that one step.
    """
    _, time, height, width, _ = features.shape
    window = (min(HEAD_TIME_WINDOW, time), height, width)
    x = layers.AveragePooling3D(window, strides=1, padding="valid", name=f"{HEAD_PREFIX}pool")(features)
    x = layers.Dropout(dropout, name=f"{HEAD_PREFIX}dropout")(x)
    x = FrameStackConv3D(num_classes, 1, name=f"{HEAD_PREFIX}logits")(x)  # (batch, time', 1, 1, num_classes)
    # Logits, not probabilities, are averaged over time, as in kinetics-i3d.
    x = layers.GlobalAveragePooling3D(name=f"{HEAD_PREFIX}time_average")(x)
    return layers.Softmax(name="predictions")(x)


def i3d(input_shape, num_classes, dropout=0.5, weights=None, name="i3d"):
    """I3D (Carreira and Zisserman, "Quo Vadis, Action Recognition? A New Model and the Kinetics
    Dataset", CVPR 2017, arXiv:1705.07750).

    Inception-v1 with batch norm, every 2D filter inflated to 3D; the paper bootstraps the 3D
    filters from ImageNet ones repeated over time. The clip is `(time, height, width, channels)`:
    3 channels for RGB, 2 for optical flow (x, y), the paper's two streams. At 64x224x224x3 and
    400 classes it has 12,689,984 trainable parameters, the published 12.7 M. Any clip size
    works, down to 1x1x1, because every convolution and pooling pads "same".

    `weights` is None (random initialisation) or the path of a `.weights.h5` (or `.keras`) file
    of this builder's model, e.g. Kinetics weights converted from kinetics-i3d. When the file's
    head has another number of classes, the backbone is loaded and the head keeps its random
    initialisation; the backbone must match, so an RGB file does not load into a flow model.
    """
    if len(input_shape) != 4 or any(size is None for size in input_shape):
        raise ValueError(f"{name} needs a fixed input_shape (frames, height, width, channels), got {tuple(input_shape)}.")
    clip = keras.Input(shape=input_shape, name="clip")  # (batch, time, height, width, channels)
    features = backbone(clip)
    model = keras.Model(clip, head(features, num_classes, dropout), name=name)
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model, path):
    """Loads the whole model from `path`, or only the backbone when the file's head differs."""
    return weights_file.load_weights(model, path, BACKBONE_OUTPUT, family="I3D")
