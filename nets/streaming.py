"""A streaming recognizer: MobileNetV2 with an online temporal shift (TSM), one new frame at a time.

    model = build_model("tsm_mobilenet", (16, 112, 112, 1), num_classes=27)   # trains as a clip model
    stream = Stream(model)                 # the same weights, frame by frame
    probabilities = stream.step(frame)     # (classes,), a constant cost per frame

Temporal Shift Module (Lin, Gan and Han, ICCV 2019, arXiv:1811.08383) on MobileNetV2 (Sandler
et al., CVPR 2018, arXiv:1801.04381). Each frame goes through a 2D network; in every inverted
residual block with a shortcut, the first `1 / shift_div` of the channels entering the block come
from the previous frame (online shift: only from the past, zeros for a clip's first frame). The
clip's class is the average of the last `frames` frames' pooled features through the classifier.

In clip mode (training, evaluation) the whole clip goes through at once. In stream mode each new
frame goes through once: the state is, for every shift, the channels the last frame handed on,
and the pooled features of the last `frames - 1` frames. From an empty state, the stream's output
after `frames` frames equals the clip model's output on those frames, and every frame's features
equal the clip model's features of that frame within any longer clip from the same start.
"""

import keras
import numpy as np
from keras import layers, ops

from nets.backbones import cross_modality, load_application
from nets.layers import MergeFrames, SplitFrames, TemporalShift

# MobileNetV2's table: (expansion, output channels, blocks, first block's stride) per stage.
INVERTED_RESIDUALS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
FEATURES = 1280  # the last 1x1 convolution's channels (for alpha up to 1)


def make_divisible(value, divisor=8):
    """MobileNet's rounding of channel counts to a multiple of 8, never more than 10 % down."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def inverted_residual(x, expansion, filters, stride, name, layer, shift):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise, 1x1 linear projection; a shortcut when the
    shape allows, and then the temporal shift on the way into the residual branch (TSM's residual shift).
    `layer(name, make)` gives the block's layers and `shift(x, name, every_channel)` shifts, for clip
    or stream mode; `filters` is a function of nothing, as a stream takes the clip model's layers as they are."""
    project = layer(f"{name}_project", lambda n: layers.Conv2D(filters(), 1, use_bias=False, name=n))
    shortcut, channels = x, x.shape[-1]
    residual = stride == 1 and channels == project.filters
    if residual:
        x = shift(x, f"{name}_shift", every_channel=False)
    if expansion != 1:
        x = layer(f"{name}_expand", lambda n: layers.Conv2D(expansion * channels, 1, use_bias=False, name=n))(x)
        x = layer(f"{name}_expand_BN", batch_norm)(x)
        x = layer(f"{name}_expand_relu", lambda n: layers.ReLU(6.0, name=n))(x)
    if stride == 2:
        x = layer(f"{name}_pad", lambda n: layers.ZeroPadding2D(((0, 1), (0, 1)), name=n))(x)
    padding = "valid" if stride == 2 else "same"
    x = layer(f"{name}_depthwise", lambda n: layers.DepthwiseConv2D(3, stride, padding, use_bias=False, name=n))(x)
    x = layer(f"{name}_depthwise_BN", batch_norm)(x)
    x = layer(f"{name}_depthwise_relu", lambda n: layers.ReLU(6.0, name=n))(x)
    x = layer(f"{name}_project_BN", batch_norm)(project(x))
    if residual:
        x = layer(f"{name}_add", lambda n: layers.Add(name=n))([shortcut, x])
    return x


def batch_norm(name):
    """MobileNetV2's batch normalisation, but with momentum 0.9 (Keras's is 0.999): its statistics
    then settle within an epoch of a small dataset."""
    return layers.BatchNormalization(epsilon=1e-3, momentum=0.9, name=name)


def frame_features(x, alpha, layer, shift, motion=True):
    """MobileNetV2 on frames (batch, height, width, channels) -> pooled features (batch, 1280), with
    keras.applications.MobileNetV2's layer names, so its ImageNet weights fit. With `motion`, each
    frame comes with its difference from the previous one (TSN's RGB difference, Wang et al. 2016,
    arXiv:1608.00859): what moved, at full resolution, where the shifts see it only deep down."""
    if motion:
        previous = shift(x, "input_shift", every_channel=True)  # the previous frame (zeros for the first)
        difference = layer("input_difference", lambda n: layers.Subtract(name=n))([x, previous])
        x = layer("input_motion", lambda n: layers.Concatenate(name=n))([x, difference])
    x = layer("Conv1", lambda n: layers.Conv2D(make_divisible(32 * alpha), 3, 2, padding="same", use_bias=False, name=n))(x)
    x = layer("bn_Conv1", batch_norm)(x)
    x = layer("Conv1_relu", lambda n: layers.ReLU(6.0, name=n))(x)
    block = 0
    for expansion, channels, count, first_stride in INVERTED_RESIDUALS:
        for index in range(count):
            name = f"block_{block}" if block else "expanded_conv"
            stride = first_stride if index == 0 else 1
            filters = lambda channels=channels: make_divisible(channels * alpha)  # noqa: E731
            x = inverted_residual(x, expansion, filters, stride, name, layer, shift)
            block += 1
    x = layer("Conv_1", lambda n: layers.Conv2D(FEATURES, 1, use_bias=False, name=n))(x)
    x = layer("Conv_1_bn", batch_norm)(x)
    x = layer("out_relu", lambda n: layers.ReLU(6.0, name=n))(x)
    return layer("frame_pool", lambda n: layers.GlobalAveragePooling2D(name=n))(x)


def tsm_mobilenet(input_shape, num_classes, alpha=0.5, shift_div=8, motion=True, dropout=0.2, weights=None, name="tsm_mobilenet"):
    """The clip model: (batch, frames, height, width, channels) -> class probabilities (batch, classes).
    `alpha` scales MobileNetV2's widths; `shift_div`: 1 / the share of channels shifted in a block."""
    frames = input_shape[0]
    clip = keras.Input(shape=input_shape, name="clip")
    x = MergeFrames(name="merge_frames")(clip)

    def shift(x, name, every_channel):
        return TemporalShift(frames, 1 if every_channel else shift_div, name=name)(x)

    features = frame_features(x, alpha, lambda n, make: make(n), shift, motion)
    x = SplitFrames(frames, name="split_frames")(features)  # (batch, frames, features)
    x = layers.GlobalAveragePooling1D(name="head_pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(clip, outputs, name=name)
    if weights is not None:
        load_backbone_weights(model, input_shape[1:], alpha, weights)
    return model


def load_backbone_weights(model, frame_shape, alpha, weights):
    """ImageNet weights ("imagenet", through Keras) or a MobileNetV2 weights file, by layer name; the
    first convolution gets the cross-modality initialisation for channels other than 3 (nets/backbones.py)."""
    source = load_application(keras.applications.MobileNetV2, weights, (*frame_shape[:2], 3), alpha=alpha)
    for source_layer in source.layers:  # the first convolution of a `motion` model takes twice the channels
        if source_layer.weights:
            target = model.get_layer(source_layer.name)
            target.set_weights([cross_modality(w, t.shape) for w, t in zip(source_layer.get_weights(), target.weights)])


def stream_model(model):
    """The step model of a trained clip model, sharing its layers: inputs the new frame and the state,
    outputs the probabilities and the next state. `state_shapes(step)` gives the state's shapes."""
    frames = model.get_layer("split_frames").frames
    frame = keras.Input(shape=model.input.shape[2:], name="frame")
    states, next_states = [], []

    def shift(x, name, every_channel):  # the clip model's layer knows how many channels it moved
        moved = x.shape[-1] // model.get_layer(name).shift_div
        state = keras.Input(shape=(*x.shape[1:-1], moved), name=f"{name}_state")
        states.append(state)
        next_states.append(x[:, :, :, :moved] if moved < x.shape[-1] else x)
        return ops.concatenate([state, x[:, :, :, moved:]], axis=-1) if moved < x.shape[-1] else state

    motion = any(layer.name == "input_shift" for layer in model.layers)
    features = frame_features(frame, None, lambda n, make: model.get_layer(n), shift, motion)
    history = keras.Input(shape=(frames - 1, features.shape[-1]), name="history_state")
    window = ops.concatenate([history, ops.expand_dims(features, 1)], axis=1)  # the last `frames` frames' features
    probabilities = model.get_layer("predictions")(ops.mean(window, axis=1))
    return keras.Model([frame, *states, history], [probabilities, *next_states, window[:, 1:]], name=f"{model.name}_stream")


def state_shapes(step):
    """(name, shape without batch) of each state input of a step model, in its input order."""
    return [(tensor.name, tuple(tensor.shape[1:])) for tensor in step.inputs[1:]]


class Stream:
    """Runs a clip model frame by frame, carrying the state between calls.

    `Stream(model)` takes a Keras clip model; `Stream(predict=..., shapes=..., frames=...)` an exported
    step model (live/exported.py), whose `predict(frame, state)` gives (probabilities, next state).
    """

    def __init__(self, model=None, predict=None, shapes=None, frames=None):
        if model is not None:
            import tensorflow as tf

            self.model = step = stream_model(model)  # what export.py converts
            call = tf.function(lambda inputs: step(inputs, training=False), reduce_retracing=True)

            def predict(frame, state):
                outputs = call([tf.constant(frame), *map(tf.constant, state)])
                return outputs[0].numpy(), [tensor.numpy() for tensor in outputs[1:]]

            shapes, frames = state_shapes(step), model.get_layer("split_frames").frames
        self.call, self.shapes, self.frames = predict, shapes, frames
        self.reset()

    def reset(self):
        """Forgets every frame: the next `frames` frames make the first clip again."""
        self.state = [np.zeros((1, *shape), np.float32) for _, shape in self.shapes]
        self.seen = 0

    def step(self, frame):
        """One preprocessed frame (height, width, channels) in; the class probabilities (classes,) out,
        or None until `frames` frames have gone in since the last reset."""
        probabilities, self.state = self.call(frame[None].astype(np.float32), self.state)
        self.seen += 1
        return probabilities[0] if self.seen >= self.frames else None

    def predict(self, clips):
        """Clips (batch, frames, height, width, channels) -> probabilities (batch, classes), each clip
        frame by frame from an empty state: what the clip model gives, at a stream's cost."""
        results = []
        for clip in clips:
            self.reset()
            for frame in clip:
                probabilities = self.step(frame)
            results.append(probabilities)
        return np.stack(results)
