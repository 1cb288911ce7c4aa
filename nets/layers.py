"""The project's own Keras layers, and `load_model`, the one way a saved model is read back.

Every layer a registered model uses beyond Keras's own is defined here and registered for `.keras`
files, so a file reloads with `safe_mode=True` in any interpreter that imports this module, whatever
else it imported: `load_model` lives beside the layers for that reason. The registered packages keep
the names they were saved under (`network>EveryNthFrame`, `streaming>TemporalShift`), so run folders
trained before the layers moved here still load.
"""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="network")
class EveryNthFrame(layers.Layer):
    """Frames 0, step, 2 * step, ... of a clip (batch, time, ...): SlowFast's slow pathway input."""

    def __init__(self, step, **kwargs):
        super().__init__(**kwargs)
        self.step = step

    def call(self, clip):
        return clip[:, :: self.step]

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        return (input_shape[0], None if frames is None else -(-frames // self.step), *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "step": self.step}


@keras.saving.register_keras_serializable(package="nets")
class FrameStackConv3D(layers.Conv3D):
    """`keras.layers.Conv3D`, computed as one 2D convolution: each output frame's `kt` input frames
    are stacked along the channels and convolved with the kernel reshaped to (kh, kw, kt * C, F).

    Same kernel (kt, kh, kw, C, F), bias, config and outputs as Conv3D (a Conv3D's weights load
    as they are). TensorFlow's CPU gradients of a 3D convolution are slow for thin, strided or
    (1, k, k) kernels, so SlowFast and I3D train several times faster this way (`bench/conv_speed.py`);
    C3D's wide 3 x 3 x 3 convolutions are a little faster as Conv3D, so C3D keeps those. Needs a
    known number of frames; dilation or groups fall back to Conv3D's own computation.
    """

    def convolution_op(self, inputs, kernel):
        frames = inputs.shape[1]
        if frames is None or self.data_format != "channels_last" or max(self.dilation_rate) > 1 or self.groups > 1:
            return super().convolution_op(inputs, kernel)
        kt, kh, kw, channels, filters = kernel.shape
        stride = self.strides[0]
        if self.padding == "same":
            out_frames = -(-frames // stride)
            pad = max((out_frames - 1) * stride + kt - frames, 0)
            inputs = ops.pad(inputs, [[0, 0], [pad // 2, pad - pad // 2], [0, 0], [0, 0], [0, 0]])
        else:
            out_frames = (frames - kt) // stride + 1
        last = (out_frames - 1) * stride + 1
        stacked = ops.concatenate([inputs[:, start : start + last : stride] for start in range(kt)], axis=-1)
        kernel2d = ops.reshape(ops.transpose(kernel, (1, 2, 0, 3, 4)), (kh, kw, kt * channels, filters))
        images = ops.reshape(stacked, (-1, *stacked.shape[2:]))  # (batch * out_frames, height, width, kt * C)
        outputs = ops.conv(images, kernel2d, strides=list(self.strides[1:]), padding=self.padding)
        return ops.reshape(outputs, (-1, out_frames, *outputs.shape[1:]))


@keras.saving.register_keras_serializable(package="network")
class FrameMaxPool(layers.Layer):
    """Max pooling of each frame of a clip (batch, time, height, width, channels) over `pool_size`
    squares, `strides` apart, "same" padding: a (1, 3, 3) 3D pooling done as the 2D pooling it is."""

    def __init__(self, pool_size=3, strides=2, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = pool_size, strides

    def call(self, clip):
        frames = ops.reshape(clip, (-1, *clip.shape[2:]))  # (batch * time, height, width, channels)
        pooled = ops.max_pool(frames, self.pool_size, self.strides, padding="same")
        return ops.reshape(pooled, (-1, clip.shape[1], *pooled.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch, frames, height, width, channels = input_shape
        return (batch, frames, -(-height // self.strides), -(-width // self.strides), channels)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}


@keras.saving.register_keras_serializable(package="network")
class TwoClassProbabilities(layers.Layer):
    """p -> (1 - p, p): a sigmoid output read like a softmax, so every model gives class probabilities."""

    def call(self, probability):
        return ops.concatenate([1.0 - probability, probability], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2)


@keras.saving.register_keras_serializable(package="streaming")
class MergeFrames(layers.Layer):
    """(batch, time, height, width, channels) -> (batch * time, height, width, channels): frames one by one."""

    def call(self, clip):
        return ops.reshape(clip, (-1, *clip.shape[2:]))

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[2:])


@keras.saving.register_keras_serializable(package="streaming")
class SplitFrames(layers.Layer):
    """(batch * frames, ...) -> (batch, frames, ...): the frames of each clip together again."""

    def __init__(self, frames, **kwargs):
        super().__init__(**kwargs)
        self.frames = frames

    def call(self, x):
        return ops.reshape(x, (-1, self.frames, *x.shape[1:]))

    def compute_output_shape(self, input_shape):
        return (None, self.frames, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "frames": self.frames}


@keras.saving.register_keras_serializable(package="streaming")
class TemporalShift(layers.Layer):
    """Online temporal shift on (batch * frames, height, width, channels): the first `channels // shift_div`
    channels of each frame are replaced by the previous frame's (zeros for the first frame)."""

    def __init__(self, frames, shift_div=8, **kwargs):
        super().__init__(**kwargs)
        self.frames, self.shift_div = frames, shift_div

    def call(self, x):
        moved = x.shape[-1] // self.shift_div
        clip = ops.reshape(x, (-1, self.frames, *x.shape[1:]))
        past = ops.pad(clip[:, :-1, :, :, :moved], [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0]])
        return ops.reshape(ops.concatenate([past, clip[:, :, :, :, moved:]], axis=-1), (-1, *x.shape[1:]))

    def get_config(self):
        return {**super().get_config(), "frames": self.frames, "shift_div": self.shift_div}


def load_model(path, compile=False):
    """A saved `.keras` model (a run's model or checkpoint, fusion.keras), in safe mode: nothing in
    the file runs as code. `compile=True` also restores its optimizer, to continue training."""
    return keras.models.load_model(path, compile=compile, safe_mode=True)
