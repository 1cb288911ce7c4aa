"""Optical flow between consecutive frames, stored as 8-bit images as UCF101's TV-L1 flow is.

    compute = flow_method("dis")            # or "farneback", "tvl1"; "dis-steady": less the camera's motion
    flow = compute(previous, current)       # (height, width, 2) float32, pixels per frame
    x_image, y_image = encode(flow)         # uint8, 128 = no motion, 0 and 255 = -+20 px

Displacements are clipped to +-BOUND pixels and mapped linearly onto 0..255, so a mirrored x
image is simply 255 - x. `prepare.py --flow` writes the pair for every frame of a clip; the
generator stacks them for a motion stream; the app computes them live with the same method.
A method's "-steady" form (`prepare.py --flow dis-steady`) takes the camera's own pan, zoom and
shake out of every flow field, so what is left is what moves in the scene: the hand.
"""

import functools

import cv2
import numpy as np

BOUND = 20.0  # pixels per frame, either way
METHODS = ("dis", "farneback", "tvl1")
STEADY = "-steady"  # a method's name + STEADY: its flow less the camera's own motion (see `steady`)
CHOICES = (*METHODS, *(method + STEADY for method in METHODS))
DEFAULT = "farneback" + STEADY  # what prepare.py writes unless told otherwise, and the default model trains on


def flow_method(name):
    """A function (previous, current) -> flow for two gray uint8 frames of one size. `name` is a method,
    or a run's record of one: "tvl1 (the dataset's tvl1_flow)" was made by TV-L1."""
    name = name.split()[0]
    if name.endswith(STEADY):
        compute = flow_method(name.removesuffix(STEADY))
        return lambda previous, current: steady(compute(previous, current))
    if name == "dis":
        # DIS (Kroeger et al. 2016): fast dense flow, in OpenCV's main module
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda previous, current: dis.calc(previous, current, None)
    if name == "farneback":
        return lambda previous, current: cv2.calcOpticalFlowFarneback(previous, current, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    if name == "tvl1":
        if not hasattr(cv2, "optflow"):
            raise RuntimeError(
                "TV-L1 flow needs OpenCV's contrib module optflow, which opencv-python lacks. "
                "Install it with: pip uninstall -y opencv-python && pip install 'opencv-contrib-python>=4.10,<5' "
                "(or use --flow dis, which needs nothing extra)."
            )
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda previous, current: tvl1.calc(previous, current, None)
    raise ValueError(f"Unknown flow method {name!r}; known methods: {', '.join(CHOICES)}.")


def steady(flow, step=4, keep=0.8):
    """Flow less the camera's motion: the affine field (a pan, zoom, turn or shear) that best fits
    the flow, by least squares on every `step`-th pixel, fitted twice more on the `keep` part
    that fits it best, so that a hand moving across the picture does not pull the fit its way."""
    places = _places(*flow.shape[:2])
    samples, motion = places[::step, ::step].reshape(-1, 3), flow[::step, ::step].reshape(-1, 2)
    fits = np.ones(len(samples), bool)
    for _ in range(3):
        camera = np.linalg.lstsq(samples[fits], motion[fits], rcond=None)[0]  # (3, 2)
        misfit = np.abs(samples @ camera - motion).sum(axis=1)
        fits = misfit <= np.quantile(misfit, keep)
    return (flow - places @ camera).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _places(height, width):
    """(height, width, 3): each pixel's x and y as fractions from the centre, and 1; made once per frame size
    (a clip's frames, and the app's camera, keep theirs)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    places = np.stack([xs / width - 0.5, ys / height - 0.5, np.ones_like(xs)], axis=-1)
    places.flags.writeable = False
    return places


def to_gray(frame):
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame


def encode(flow, bound=BOUND):
    """(height, width, 2) flow in pixels -> x and y uint8 images (128 = no motion)."""
    scaled = (np.clip(flow, -bound, bound) + bound) * (255.0 / (2 * bound))
    images = np.round(scaled).astype(np.uint8)
    return images[..., 0], images[..., 1]


def decode(image, bound=BOUND):
    """A uint8 flow image -> float32 pixels per frame."""
    return image.astype(np.float32) * (2 * bound / 255.0) - bound


def rescale(image, factor):
    """A flow image resized by `factor` has displacements `factor` times as large."""
    return np.clip(np.round((image.astype(np.float32) - 127.5) * factor + 127.5), 0, 255).astype(np.uint8)


def clip_flow(frames, method="dis"):
    """Flow images between consecutive frames: yields (x image, y image), one fewer than frames."""
    compute = flow_method(method)
    previous = None
    for frame in frames:
        current = to_gray(frame)
        if previous is not None:
            yield encode(compute(previous, current))
        previous = current


def flow_picture(x_image, y_image):
    """A colour picture of flow images for people: hue is the direction, brightness the speed."""
    flow = np.stack([decode(x_image), decode(y_image)], axis=-1)
    magnitude, angle = cv2.cartToPolar(flow[..., 0], flow[..., 1], angleInDegrees=True)
    hsv = np.zeros((*x_image.shape, 3), np.uint8)
    hsv[..., 0] = (angle / 2).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(magnitude * (255.0 / BOUND), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
