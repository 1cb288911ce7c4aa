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
