"""A drawn hand over a cluttered, noisy background: its gestures and the movements between them.

A hand is a pose per frame, (x, y, scale, angle): centre as fractions of the frame's width and
height, size relative to its own, turn in degrees. The classes differ only in their motion, so
the direction of a gesture is visible only across frames:
- the gestures (`random_motion`): swipes left/right/up/down, zooms in/out, turns either way;
- "No gesture": the hand rests, with a little tremor;
- "Doing other things" (`random_transition`): what a hand does between gestures: it rises into
  view, lowers out of it, moves to where the next gesture starts (dipping on the way), comes
  closer or backs off, drifts.
Everything else (start position, speed, timing, hand size, colours, background, noise) varies.
"""

import cv2
import numpy as np

CLASSES = [
    "Swiping Left",
    "Swiping Right",
    "Swiping Up",
    "Swiping Down",
    "Zooming In With Full Hand",
    "Zooming Out With Full Hand",
    "Turning Hand Clockwise",
    "Turning Hand Counterclockwise",
    "No gesture",
    "Doing other things",
]
GESTURES = CLASSES[:8]
BACKGROUND_CLASSES = CLASSES[8:]  # what a live app must stay quiet on
FRAME_HEIGHT, FRAME_WIDTH = 100, 132  # Jester frames are 100 px high
FPS = 12  # Jester's frame rate


def random_scene(rng):
    """Everything about a clip that does not depend on its gesture."""
    return {
        "base": rng.uniform(20, 110, size=3),  # darker than any hand, also in gray
        "gradient": rng.uniform(-40, 40, size=(2, 3)),
        "clutter": [
            (rng.uniform(0, 1, 2), rng.uniform(0.05, 0.3, 2), rng.uniform(20, 235, 3)) for _ in range(rng.integers(1, 4))
        ],
        "noise": rng.uniform(2.0, 6.0),
        "skin": np.array([rng.uniform(90, 160), rng.uniform(130, 200), rng.uniform(180, 250)]),  # BGR
        "radius": rng.uniform(0.11, 0.16),  # palm radius, a fraction of the frame height
        "angle": rng.uniform(-20, 20),  # finger direction in degrees, 0 = up
        "noise_seed": int(rng.integers(2**31)),
    }


def random_motion(rng, label, num_frames):
    """Per-frame hand poses (num_frames, 4) of one gesture clip, and the frames (begin, end) it moves in."""
    begin = rng.uniform(0.15, 0.35) * num_frames
    duration = rng.uniform(0.35, 0.6) * num_frames
    t = np.clip((np.arange(num_frames) - begin) / duration, 0.0, 1.0)
    return gesture_path(rng, label, ease(t)), (int(begin), int(begin + duration))


def ease(t):
    """0 to 1 as t goes 0 to 1, slow at both ends, as a hand moves."""
    return 0.5 - 0.5 * np.cos(np.pi * np.asarray(t, dtype=float))


def gesture_path(rng, label, progress):
    """Poses (len(progress), 4) of a gesture done `progress` (0 to 1) of the way at each frame."""
    num_frames = len(progress)
    x = np.full(num_frames, rng.uniform(0.3, 0.7))
    y = np.full(num_frames, rng.uniform(0.35, 0.65))
    scale = np.ones(num_frames)
    angle = np.zeros(num_frames)
    # Swipes start anywhere their path fits, so start positions of opposite swipes overlap.
    distance = rng.uniform(0.22, 0.38)
    if label in ("Swiping Left", "Swiping Right"):
        sign = -1 if label == "Swiping Left" else 1
        start = rng.uniform(0.1, 0.9 - distance)
        x = (start if sign > 0 else 1 - start) + sign * distance * progress
    elif label in ("Swiping Up", "Swiping Down"):
        sign = -1 if label == "Swiping Up" else 1
        start = rng.uniform(0.15, 0.85 - distance)
        y = (start if sign > 0 else 1 - start) + sign * distance * progress
    elif label.startswith("Zooming"):
        factor = rng.uniform(2.0, 2.6)
        grow = label.startswith("Zooming In")
        scale = factor**progress if grow else factor ** (1 - progress) / factor * 1.3
    elif label.startswith("Turning"):
        sweep = rng.uniform(150, 240)
        angle = (sweep if label == "Turning Hand Clockwise" else -sweep) * progress
    else:  # No gesture: the hand rests, with a little tremor
        x = x + rng.normal(0, 0.002, num_frames)
        y = y + rng.normal(0, 0.002, num_frames)
    return np.stack([x, y, scale, angle], axis=1)


def rest_pose(rng):
    """Where a hand waits between gestures: below the picture, or low in it, at its side."""
    low = rng.random() < 0.5
    return np.array([rng.uniform(0.15, 0.85), rng.uniform(0.88, 1.0) if low else rng.uniform(1.25, 1.4), 1.0, 0.0])


def ready_pose(rng):
    """A pose a gesture could start from."""
    return np.array([rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.7), rng.uniform(0.9, 1.3), rng.uniform(-10, 10)])


def gesture_end(rng, progress=1.0):
    """The pose of a random gesture at its end (or at `progress`)."""
    return gesture_path(rng, GESTURES[rng.integers(len(GESTURES))], np.array([progress]))[0]


def move(start, end, num_frames, rng=None, dip=0.0):
    """Poses (num_frames, 4) of a hand going from pose `start` to `end`, easing in and out; `dip`
    lowers it on the way (fractions of the height), as a hand dropping while it repositions."""
    progress = ease(np.linspace(0, 1, num_frames))[:, None]
    poses = start + (end - start) * progress
    poses[:, 1] += dip * np.sin(np.pi * progress[:, 0])
    if rng is not None:  # a little wobble: a hand never moves in a straight line
        poses[:, :2] += rng.normal(0, 0.004, (num_frames, 2)).cumsum(axis=0) / np.sqrt(num_frames)
    return poses


def drift(pose, num_frames, rng, amount=0.04):
    """A hand idling around `pose`: slow wandering and tremor."""
    steps = rng.normal(0, amount / np.sqrt(max(num_frames, 1)), (num_frames, 2)).cumsum(axis=0)
    poses = np.repeat(pose[None], num_frames, axis=0)
    poses[:, :2] += steps + rng.normal(0, 0.002, (num_frames, 2))
    return poses


def transition(rng, kind, start, end, num_frames):
    """Poses of one movement between gestures (`kind` of TRANSITIONS) from `start` to `end`."""
    if kind == "reposition":
        return move(start, end, num_frames, rng, dip=rng.uniform(0.12, 0.3))
    if kind == "drift":
        return drift(start, num_frames, rng, amount=rng.uniform(0.03, 0.08))
    return move(start, end, num_frames, rng)


TRANSITIONS = ("rise", "lower", "reposition", "approach", "drift")


def random_transition(rng, num_frames, fps=12):
    """Poses (num_frames, 4) of a "Doing other things" clip: one movement between gestures, taking
    0.6-1.5 s, with the hand still (or idling) before and after it."""
    kind = TRANSITIONS[rng.integers(len(TRANSITIONS))]
    ready, rest = ready_pose(rng), rest_pose(rng)
    done = gesture_end(rng) if rng.random() < 0.6 else ready  # where a gesture left the hand: big, turned, aside
    begin = gesture_end(rng, 0.0) if rng.random() < 0.6 else ready_pose(rng)  # where the next one starts
    start, end = {
        "rise": (rest, begin),
        "lower": (done, rest),
        "reposition": (done, begin),
        "approach": (ready, ready * [1, 1, rng.choice([0.75, 1.35]), 1]),
        "drift": (ready, ready),
    }[kind]
    length = min(num_frames, max(2, int(rng.uniform(0.6, 1.5) * fps)))
    if kind == "drift":
        length = num_frames
    before = int(rng.integers(0, num_frames - length + 1))
    moving = transition(rng, kind, start, end, length)
    after = num_frames - length - before
    return np.concatenate([drift(moving[0], before, rng, 0.01), moving, drift(moving[-1], after, rng, 0.01)])


def render_background(scene, height, width):
    rows = np.linspace(0, 1, height)[:, None, None]
    cols = np.linspace(0, 1, width)[None, :, None]
    image = scene["base"] + rows * scene["gradient"][0] + cols * scene["gradient"][1]
    image = np.clip(image, 0, 255).astype(np.uint8)
    for (cx, cy), (sx, sy), color in scene["clutter"]:
        top_left = (int((cx - sx / 2) * width), int((cy - sy / 2) * height))
        bottom_right = (int((cx + sx / 2) * width), int((cy + sy / 2) * height))
        cv2.rectangle(image, top_left, bottom_right, color.tolist(), -1)
    return image


def draw_hand(image, scene, x, y, scale, angle):
    """A palm, four fingers and a thumb; the thumb shows which way the hand is turned."""
    height, width = image.shape[:2]
    centre = np.array([x * width, y * height])
    radius = scene["radius"] * height * scale
    skin = scene["skin"].tolist()
    direction = np.deg2rad(scene["angle"] + angle)
    for offset in (-0.5, -0.17, 0.17, 0.5):  # fingers, spread around "up"
        a = direction + offset * 0.6
        tip = centre + 2.1 * radius * np.array([np.sin(a), -np.cos(a)])
        cv2.line(image, _point(centre), _point(tip), skin, max(1, int(radius * 0.45)), cv2.LINE_AA)
    thumb = direction - 1.6
    tip = centre + 1.6 * radius * np.array([np.sin(thumb), -np.cos(thumb)])
    cv2.line(image, _point(centre), _point(tip), skin, max(1, int(radius * 0.5)), cv2.LINE_AA)
    cv2.circle(image, _point(centre), max(2, int(radius)), skin, -1, cv2.LINE_AA)


def _point(xy):
    return int(round(xy[0])), int(round(xy[1]))


def render_clip(scene, motion, height=FRAME_HEIGHT, width=FRAME_WIDTH):
    """Frames (time, height, width, 3) uint8 BGR of one clip."""
    background = render_background(scene, height, width)
    noise_rng = np.random.default_rng(scene["noise_seed"])
    frames = []
    for x, y, scale, angle in motion:
        frame = background.copy()
        draw_hand(frame, scene, x, y, scale, angle)
        noise = noise_rng.normal(0, scene["noise"], frame.shape)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
    return np.stack(frames)
