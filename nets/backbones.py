"""ImageNet backbones from keras.applications, for any number of input channels.

`imagenet_backbone` gives one frame's features for the frame models of `network.py`; the streaming
model (`nets/streaming.py`) loads MobileNetV2's filters through `load_application` and
`cross_modality` too.
"""

import warnings
from pathlib import Path

import numpy as np


def imagenet_backbone(application, input_shape, weights):
    """A keras.applications network without its head, average-pooled: one frame -> its features.

    `weights` is "imagenet" (Keras downloads them once), a path to a weights file of the backbone,
    or None. ImageNet filters expect 3 channels; for any other count the first convolution's
    kernel is carried over by cross-modality initialisation (Wang et al. 2016, arXiv:1608.00859):
    averaged over its RGB channels and repeated for each input channel. A gray frame gets the sum
    instead, which is exactly what the RGB filters compute on a gray picture.
    """
    height, width, channels = input_shape
    with warnings.catch_warnings():  # Keras warns that it "usually expects 1 or 3 input channels": flow has more
        warnings.filterwarnings("ignore", "This model usually expects", UserWarning)
        try:
            backbone = application(input_shape=input_shape, include_top=False, weights=None, pooling="avg")
        except ValueError as error:  # Keras names the smallest size, not the option that sets it
            too_small = f"{application.__name__} cannot take frames of {height}x{width}"
            raise ValueError(f"{too_small}: {error} (train.py --size)") from error
    if weights == "imagenet":
        source = load_application(application, weights, (height, width, 3), pooling="avg")
        for layer, source_layer in zip(backbone.layers, source.layers, strict=True):  # RGB weights pass unchanged
            layer.set_weights([cross_modality(w, s.shape) for w, s in zip(source_layer.get_weights(), layer.weights)])
    elif weights is not None:
        if not Path(weights).is_file():
            raise ValueError(f"Weights file {weights} not found: give the path of a {application.__name__} weights file.")
        backbone.load_weights(weights)
    return backbone


def load_application(application, weights, input_shape, **options):
    """A keras.applications network without its head, with `weights`: "imagenet" (Keras downloads
    them once) or the path of a weights file; a clear error where neither can be had."""
    if weights != "imagenet" and not Path(weights).is_file():
        raise ValueError(f"Weights file {weights} not found: give the path of a {application.__name__} weights file.")
    try:
        with warnings.catch_warnings():  # "`input_shape` is undefined or non-square": ImageNet weights fit any size
            warnings.filterwarnings("ignore", ".*input_shape.*", UserWarning)
            return application(input_shape=input_shape, include_top=False, weights=weights, **options)
    except Exception as error:  # no network, a proxy, a half-downloaded file, a file of another network
        raise ValueError(
            f"Could not load {application.__name__}'s weights from {weights} ({type(error).__name__}: {error}). Without a "
            "network, use --weights none to train from scratch, or --weights PATH for a weights file you have."
        ) from error


def cross_modality(weight, shape):
    """An ImageNet weight for a layer of `shape`: the first convolution's RGB kernel (kh, kw, 3, filters)
    becomes (kh, kw, channels, filters); every other weight is kept as it is."""
    if tuple(weight.shape) == tuple(shape):
        return weight
    channels = shape[2]
    if channels == 1:
        return weight.sum(axis=2, keepdims=True)
    return np.repeat(weight.mean(axis=2, keepdims=True), channels, axis=2)
