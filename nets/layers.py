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
    """Frames 0, step, 2 * step, ... of a clip (batch, time, ...): SlowFast's slow pathway input.

    spread=True takes `time // step` frames spread evenly from the first frame to the last instead
    (0, 10, 20, 31 of 32 for step 8), as PySlowFast's and pytorchvideo's data loaders do."""

    def __init__(self, step, spread=False, **kwargs):
        super().__init__(**kwargs)
        self.step, self.spread = step, spread

    def frames(self, count):
        """The indices of the frames taken from a clip of `count` frames."""
        if not self.spread:
            return list(range(0, count, self.step))
        taken = max(1, count // self.step)
        return [int((count - 1) * index / max(1, taken - 1)) for index in range(taken)]  # torch.linspace(...).long()

    def call(self, clip):
        if not self.spread:
            return clip[:, :: self.step]
        return ops.take(clip, self.frames(clip.shape[1]), axis=1)

    def compute_output_shape(self, input_shape):
        frames = input_shape[1]
        return (input_shape[0], None if frames is None else len(self.frames(frames)), *input_shape[2:])

    def get_config(self):  # files saved before `spread` existed load with False, what they were built with
        return {**super().get_config(), "step": self.step, "spread": self.spread}


@keras.saving.register_keras_serializable(package="nets")
class FrameStackConv3D(layers.Conv3D):
    """`keras.layers.Conv3D`, computed as 2D convolutions, whose CPU gradients are fast.

    A (kt, 1, 1) kernel (a bottleneck's temporal convolution, a SlowFast lateral connection) sees
    each clip as one image of time x pixels and convolves it (kt, 1). Any other kernel stacks each
    output frame's `kt` input frames along the channels and convolves them with the kernel reshaped
    to (kh, kw, kt * C, F). Same kernel (kt, kh, kw, C, F), bias, config and outputs as Conv3D (a
    Conv3D's weights load as they are), in operations LiteRT runs natively (export.py). The gradients
    of frame slices cost more than the convolutions they feed, hence the time x pixels images. With
    TensorFlow 2.21's oneDNN, Conv3D's own computation has caught up (`bench/conv_speed.py` times
    both: I3D trains faster with it); this one is kept for export and older TensorFlow. Needs a
    known number of frames; dilation or groups fall back to Conv3D's own computation.
    """

    def convolution_op(self, inputs, kernel):
        if inputs.shape[1] is None or self.data_format != "channels_last" or max(self.dilation_rate) > 1 or self.groups > 1:
            return super().convolution_op(inputs, kernel)
        if tuple(kernel.shape[1:3]) == (1, 1) and tuple(self.strides[1:]) == (1, 1):
            return self.temporal_op(inputs, kernel)
        return self.stacked_op(inputs, kernel)

    def temporal_op(self, inputs, kernel):
        """A (kt, 1, 1) kernel as a (kt, 1) 2D convolution of (time, height * width) images."""
        _, frames, height, width, channels = inputs.shape
        images = ops.reshape(inputs, (-1, frames, height * width, channels))
        kernel2d = ops.reshape(kernel, (kernel.shape[0], 1, channels, kernel.shape[-1]))
        outputs = ops.conv(images, kernel2d, strides=[self.strides[0], 1], padding=self.padding)
        return ops.reshape(outputs, (-1, outputs.shape[1], height, width, outputs.shape[-1]))

    def stacked_op(self, inputs, kernel):
        """Any kernel as a 2D convolution of each output frame's input frames stacked on the channels."""
        frames = inputs.shape[1]
        kt, kh, kw, channels, filters = kernel.shape
        stride = self.strides[0]
        if self.padding == "same":
            out_frames = -(-frames // stride)
            pad = max((out_frames - 1) * stride + kt - frames, 0)
            if pad:
                inputs = ops.pad(inputs, [[0, 0], [pad // 2, pad - pad // 2], [0, 0], [0, 0], [0, 0]])
        else:
            out_frames = (frames - kt) // stride + 1
        last = (out_frames - 1) * stride + 1
        if kt == 1 and stride == 1:  # a spatial kernel: the frames as they are, no slice to differentiate
            stacked = inputs
        else:
            stacked = ops.concatenate([inputs[:, start : start + last : stride] for start in range(kt)], axis=-1)
        kernel2d = ops.reshape(ops.transpose(kernel, (1, 2, 0, 3, 4)), (kh, kw, kt * channels, filters))
        images = ops.reshape(stacked, (-1, *stacked.shape[2:]))  # (batch * out_frames, height, width, kt * C)
        outputs = ops.conv(images, kernel2d, strides=list(self.strides[1:]), padding=self.padding)
        return ops.reshape(outputs, (-1, out_frames, *outputs.shape[1:]))


@keras.saving.register_keras_serializable(package="network")
class FrameMaxPool(layers.Layer):
    """Max pooling of each frame of a clip (batch, time, height, width, channels) over `pool_size`
    squares, `strides` apart: a (1, 3, 3) 3D pooling done as the 2D pooling it is. `padding` is "same"
    (TensorFlow's: any padding after the frame) or "valid" (none: pad the clip first, as PyTorch does)."""

    def __init__(self, pool_size=3, strides=2, padding="same", **kwargs):
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"FrameMaxPool padding must be 'same' or 'valid', got {padding!r}.")
        self.pool_size, self.strides, self.padding = pool_size, strides, padding

    def call(self, clip):
        frames = ops.reshape(clip, (-1, *clip.shape[2:]))  # (batch * time, height, width, channels)
        pooled = ops.max_pool(frames, self.pool_size, self.strides, padding=self.padding)
        return ops.reshape(pooled, (-1, clip.shape[1], *pooled.shape[1:]))

    def compute_output_shape(self, input_shape):
        batch, frames, height, width, channels = input_shape
        if self.padding == "same":
            return (batch, frames, -(-height // self.strides), -(-width // self.strides), channels)
        return (
            batch,
            frames,
            (height - self.pool_size) // self.strides + 1,
            (width - self.pool_size) // self.strides + 1,
            channels,
        )

    def get_config(self):  # files saved before `padding` existed load with "same", what they were built with
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


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


@keras.saving.register_keras_serializable(package="nets")
class FramesAsBatch(layers.TimeDistributed):
    """`keras.layers.TimeDistributed` that calls the wrapped layer once, on every frame of every clip.

    Keras 3's TimeDistributed calls the layer once per frame when the clip's length is known, so a
    16-frame clip puts 16 copies of a MobileNet in the training graph, each traced, each with its
    own gradient, each normalising its batch on a few frames. This one folds time into the batch
    (batch * time, ...), calls the layer once and unfolds the result, as Keras 2's did: batch norm
    sees every frame of the batch. Same weights and config as TimeDistributed; masks use its call.
    """

    def call(self, inputs, training=None, mask=None):
        if mask is not None or None in inputs.shape[2:]:
            return super().call(inputs, training=training, mask=mask)
        shape = ops.shape(inputs)
        outputs = self.layer(ops.reshape(inputs, (-1, *inputs.shape[2:])), training=training)
        return ops.reshape(outputs, (shape[0], shape[1], *outputs.shape[1:]))


def load_model(path, compile=False):
    """A saved `.keras` model (a run's model or checkpoint, fusion.keras), in safe mode: nothing in
    the file runs as code. `compile=True` also restores its optimizer, to continue training."""
    return keras.models.load_model(path, compile=compile, safe_mode=True)


@keras.saving.register_keras_serializable(package="nets")
class FusedBatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` over the last axis, trained with TensorFlow's fused kernel.

    Keras 3 normalises a batch in several separate operations (mean, variance, scale, shift, and
    their gradients), which cost a CPU more than the convolutions of a small video network; the
    fused kernel does it in one pass. Same weights, config and moving statistics as the layer it
    extends; inference, other backends, masks and synchronised (multi-replica) statistics use the
    layer's own computation.
    """

    def call(self, inputs, training=None, mask=None):
        rank = len(inputs.shape)
        fused = (
            training
            and self.trainable
            and keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.synchronized
            and not self.renorm
            and 3 <= rank <= 5
            and self.axis in (-1, rank - 1)
            and None not in inputs.shape[1:]
        )
        if not fused:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # the fused kernel is TensorFlow's

        shape = ops.shape(inputs)
        images = tf.reshape(tf.cast(inputs, "float32"), (-1, 1, *inputs.shape[-2:]) if rank == 3 else (-1, *inputs.shape[-3:]))
        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones((channels,))
        beta = self.beta if self.center else tf.zeros((channels,))
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(images, gamma, beta, epsilon=self.epsilon, is_training=True)
        count = tf.cast(tf.size(images) // channels, "float32")
        variance = variance * (count - 1.0) / count  # the kernel's is unbiased, Keras's moving variance is not
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return ops.cast(tf.reshape(outputs, shape), self.compute_dtype)
