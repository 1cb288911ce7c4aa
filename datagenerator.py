"""Batches of clips from a prepared DATA_DIR, as a `keras.utils.PyDataset`.

    data = ClipDataset("data", "train", batch_size=16, num_frames=16, size=(112, 112), channels=1)
    clips, labels = data[0]  # (16, 16, 112, 112, 1) float32 in [-1, 1], (16,) int32

    flow = ClipDataset("data", "train", modality="flow", num_frames=1, flow_pairs=10, size=(112, 112))
    stacks, labels = flow[0]  # (16, 1, 112, 112, 20): x, y of 10 consecutive flow frames, [-1, 1] = +-20 px

    poses = ClipDataset("data", "train", modality="keypoints")  # written by prepare.py keypoints (or synthetic.py --keypoints)
    keypoints, labels = poses[0]  # (16, 9, joints * 2): x, y per joint in [0, 1], -1 where missing

Training sampling jitters the temporal start and stride and applies one random transform per
clip (rotation, zoom, shift, brightness, contrast) to all its frames alike; the randomness comes
from a generator seeded by (seed, epoch, batch, place in the batch), so any batch, or any part of one,
can be reproduced: a worker of a multi-machine run (`shard`) loads only its own clips of every batch. Validation
sampling is centred and deterministic, without augmentation. A flow clip has `num_frames` stacks
(1 for a two-stream motion stream, 16 of 1 pair for I3D on flow), each of `flow_pairs` consecutive
flow images; a keypoint clip is moved and scaled at random as a whole. With `flip=True` half the
training clips are mirrored, and a mirror pair's label goes with it: a mirrored "Swiping Left" is a
"Swiping Right", "Clockwise" becomes "Counterclockwise" (see `mirror_labels`); a class named for a
side without its partner in the set is never mirrored. A mirrored flow stack has its x-flow negated,
since motion to the right becomes motion to the left; a mirrored skeleton's left and right joints
trade places (`clips.keypoints.mirror_keypoints`).

`preprocess_frame` is the one function that turns a camera or dataset frame into model input, and
`preprocess_flow` the one for flow images; `app.py` uses them too, so training and inference see
the same pixels.
"""

import re
from collections import Counter

import cv2
import keras
import numpy as np

from clips.frames import FLOW_NAME, FRAME_NAME, clip_folder
from clips.index import read_classes, read_index
from clips.keypoints import keypoint_features, keypoints_path, load_keypoints, mirror_keypoints, mirror_order

MAX_ROTATION = 10.0  # degrees, either way
MAX_ZOOM = 0.1  # zoom in or out by up to 10 %
MAX_SHIFT = 0.1  # of the frame size
MAX_BRIGHTNESS = 0.2  # on the [-1, 1] scale
MAX_CONTRAST = 0.2  # factor 0.8 .. 1.2
KEYPOINT_NOISE = 0.005  # jitter of each keypoint, in frame widths
MODALITIES = ("frames", "flow", "keypoints")
MIRROR_WORDS = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise"}


def mirror_labels(classes):
    """Each class's label in a mirror image: its own for a class without a side ("Swiping Up", "Shaking
    Hand"), its partner's for a mirror pair ("Swiping Left" and "Swiping Right"), -1 for a class named for
    a side whose partner is not among `classes` (its mirror image would be mislabelled)."""
    index = {name.lower(): i for i, name in enumerate(classes)}
    mirrored = []
    for i, name in enumerate(classes):
        words = re.split(r"([^a-z]+)", name.lower())  # keeps the separators, so the name can be put back together
        partner = "".join(MIRROR_WORDS.get(word, word) for word in words)
        mirrored.append(i if partner == name.lower() else index.get(partner, -1))
    return np.array(mirrored, dtype=np.int32)


def names_say_mirror_pairs(classes):
    """Whether the class names can say what a mirror image shows: not where they are numbers (IsoGD's ids),
    whose mirror pairs no name gives away."""
    return any(re.search("[a-z]", name.lower()) for name in classes)


def preprocess_frame(frame, size=(112, 112), channels=1):
    """A BGR or gray uint8 frame -> float32 (height, width, channels) in [-1, 1]."""
    return to_unit(resize_frame(frame, size, channels))


def resize_frame(frame, size=(112, 112), channels=1):
    """A BGR or gray uint8 frame -> uint8 (height, width, channels): gray or RGB at the model's size."""
    height, width = size
    if frame.ndim == 3 and frame.shape[2] == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB)
    elif channels == 3:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[:2] != (height, width):
        frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    return frame.reshape(height, width, channels)


def to_unit(images):
    """uint8 pixels or flow levels -> float32 in [-1, 1] (128 -> 0.0 within 1/255)."""
    return images.astype(np.float32) / 127.5 - 1.0


def preprocess_flow(x_image, y_image, size=(112, 112)):
    """8-bit x and y flow images (clips/flow.py's convention) -> float32 (height, width, 2) in [-1, 1], 0 px = 0.0
    within 1/255. Squashed to the model's size like the frames; the displacements are not rescaled."""
    return to_unit(resize_flow(x_image, y_image, size))


def resize_flow(x_image, y_image, size=(112, 112)):
    """8-bit x and y flow images -> uint8 (height, width, 2) at the model's size."""
    return np.stack([cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA) for image in (x_image, y_image)], axis=-1)


def sample_indices(num_available, num_frames, stride, rng=None, jitter=True, position=0.5):
    """Which frames of a clip to use: `num_frames` indices `stride` apart.

    With `rng` (training) the start is random and, with `jitter`, the stride moves by one either
    way; without `rng` the window starts at `position` of the way through the clip (0.5: centred).
    A clip too short for the stride gets the largest stride that fits; one shorter than `num_frames`
    is spread over its length, repeating frames.
    """
    if rng is not None and jitter:
        stride = int(rng.integers(max(1, stride - 1), stride + 2))
    stride = max(1, min(stride, (num_available - 1) // max(1, num_frames - 1)))
    span = (num_frames - 1) * stride + 1
    if num_available >= span:
        start = int(rng.integers(0, num_available - span + 1)) if rng is not None else int((num_available - span) * position)
        return start + stride * np.arange(num_frames)
    return np.round(np.linspace(0, num_available - 1, num_frames)).astype(int)


def crop_view(image, crop):
    """A view 1 / (1 + MAX_ZOOM) of the frame's size, `crop` of the way along its long side (0.5: centred),
    as zoomed in as training's augmentation goes; None: the whole frame."""
    if crop is None:
        return image
    height, width = image.shape[:2]
    keep_height, keep_width = round(height / (1 + MAX_ZOOM)), round(width / (1 + MAX_ZOOM))
    along = (crop, 0.5) if width >= height else (0.5, crop)
    left, top = round((width - keep_width) * along[0]), round((height - keep_height) * along[1])
    return image[top : top + keep_height, left : left + keep_width]


def random_transform(rng, size):
    """One clip's augmentation: an affine matrix and a brightness/contrast pair."""
    height, width = size
    angle = rng.uniform(-MAX_ROTATION, MAX_ROTATION)
    zoom = rng.uniform(1 - MAX_ZOOM, 1 + MAX_ZOOM)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
    matrix[:, 2] += rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2) * (width, height)
    brightness = rng.uniform(-MAX_BRIGHTNESS, MAX_BRIGHTNESS)
    contrast = rng.uniform(1 - MAX_CONTRAST, 1 + MAX_CONTRAST)
    return matrix, brightness, contrast


def augment_clip(clip, transform):
    """Applies one transform to every frame of a (time, height, width, channels) clip."""
    matrix, brightness, contrast = transform
    frames, height, width, channels = clip.shape
    out = np.empty_like(clip)
    for t in range(frames):
        warped = cv2.warpAffine(clip[t], matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out[t] = warped.reshape(height, width, channels)
    mean = out.mean()
    return np.clip((out - mean) * contrast + mean + brightness, -1.0, 1.0)


class ClipDataset(keras.utils.PyDataset):
    """Clips and integer labels of one split of a prepared DATA_DIR.

    Args:
        data_dir: folder written by `prepare.py`.
        split: "train", "validation" or "test".
        batch_size: clips per batch.
        num_frames, size, channels: the clip shape, (num_frames, *size, channels).
        stride: frames skipped between sampled frames (2 at Jester's 12 fps covers 2.6 s).
        modality: "frames"; "flow" for `num_frames` stacks of `flow_pairs` consecutive x/y flow
            images (written by `prepare.py --flow`), shaped (num_frames, height, width, 2 * flow_pairs);
            or "keypoints" (written by `prepare.py keypoints`), shaped (samples, joints * 2).
        flip: mirror a random half of the training clips, giving mirror pairs each other's label.
        augment: random sampling and transforms; default True for "train" only.
        shuffle: a new clip order every epoch; default True for "train" only.
        seed, epoch: where the randomness starts; `epoch` moves on after each epoch.
        position, crop: the view of an unaugmented clip: where its window starts (0 first frames,
            0.5 centred, 1 last frames) and which part of the frame it sees (see `crop_view`).
        multiple: each epoch uses a multiple of this many clips, so every batch splits evenly over this
            many tf.distribute replicas; the few left over are the last of the epoch's order.
        shard: (index, count): this process loads only the index-th of `count` equal parts of every
            batch (a worker's share of the global batch); `multiple` must be a multiple of `count`.
        cache_mb: megabytes of decoded images (frames or flow, at the model's size) kept in memory, so
            that later epochs read no files; the first images read are kept up to the budget (0: none).
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` for `PyDataset`.
    """

    def __init__(
        self,
        data_dir,
        split="train",
        batch_size=16,
        num_frames=16,
        size=(112, 112),
        channels=1,
        stride=2,
        modality="frames",
        flow_pairs=10,
        flip=False,
        augment=None,
        shuffle=None,
        seed=0,
        epoch=0,
        position=0.5,
        crop=None,
        multiple=1,
        shard=(0, 1),
        cache_mb=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_dir, self.split = data_dir, split
        self.rows = read_index(data_dir, split)
        if not self.rows:
            held = Counter(row["split"] for row in read_index(data_dir))
            holds = ", ".join(f"{n} {name}" for name, n in sorted(held.items())) or "none"
            how = " prepare.py makes it from a labelled validation list, a val/ folder, or --val-fraction of a folder per class."
            raise ValueError(
                f"No clips of split {split!r} in {data_dir}/index.csv (it holds {holds}).{how if split == 'validation' else ''}"
            )
        self.classes = read_classes(data_dir)
        class_index = {name: i for i, name in enumerate(self.classes)}
        self.labels = np.array([class_index.get(row["label"], -1) for row in self.rows], dtype=np.int32)
        self.batch_size, self.num_frames, self.size = batch_size, num_frames, tuple(size)
        self.channels, self.stride = channels, stride
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, not {modality!r}.")
        if modality == "flow" and not all(row["num_flow"] >= flow_pairs for row in self.rows):
            raise ValueError(
                f"{data_dir} has clips with fewer than {flow_pairs} optical flow frames: prepare it again with flow "
                "(prepare.py's default), or ask for fewer --flow-pairs."
            )
        if modality == "keypoints":
            missing = [row["clip"] for row in self.rows if not keypoints_path(data_dir, row["clip"]).is_file()]
            if missing:
                raise ValueError(
                    f"{len(missing)} of {len(self.rows)} {split} clips of {data_dir} have no keypoints (first: {missing[0]}): "
                    "run `prepare.py keypoints` on it, and see its report for clips whose frames could not be read."
                )
            if flip and split == "train" and self.rows:  # a layout it cannot mirror, said before training starts
                first = self.rows[0]["clip"]
                mirror_order(load_keypoints(data_dir, first).shape[-2], keypoints_path(data_dir, first))
        self.modality, self.flow_pairs, self.flip = modality, flow_pairs, flip
        self.mirrored = mirror_labels(self.classes)
        self.augment = split == "train" if augment is None else augment
        self.shuffle = split == "train" if shuffle is None else shuffle
        self.seed, self.epoch, self.position, self.crop = seed, epoch, position, crop
        self.num_clips = len(self.rows) - len(self.rows) % multiple
        if not self.num_clips:
            raise ValueError(f"Split {split!r} of {data_dir} has {len(self.rows)} clips, fewer than the {multiple} replicas.")
        if not 0 <= shard[0] < shard[1] or batch_size % shard[1] or multiple % shard[1]:
            raise ValueError(
                f"shard {tuple(shard)} must be (index, count) with 0 <= index < count, and count must divide the "
                f"batch size ({batch_size}) and the multiple ({multiple}) so that every batch splits evenly."
            )
        self.shard = tuple(shard)
        self.cache_bytes, self._cache, self._cached_bytes = cache_mb * 2**20, {}, 0

    def __len__(self):
        return -(-self.num_clips // self.batch_size)

    def order(self):
        """Clip order of the current epoch, the same for the same (seed, epoch); made once per epoch."""
        key = (self.seed, self.epoch, self.shuffle)
        if getattr(self, "_order_key", None) != key:  # a whole epoch's permutation, not one per batch
            count = len(self.rows)
            order = np.random.default_rng([self.seed, self.epoch]).permutation(count) if self.shuffle else np.arange(count)
            self._order, self._order_key = order, key
        return self._order

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} out of range for {len(self)} batches.")
        members = self.order()[index * self.batch_size : min(self.num_clips, (index + 1) * self.batch_size)]
        part, parts = self.shard
        share = len(members) // parts
        places = range(part * share, (part + 1) * share)  # the whole batch unless sharded
        clips, labels = [], self.labels[members[places.start : places.stop]].copy()
        for n, place in enumerate(places):
            rng = self.clip_rng(index, place)
            usable = self.flip and rng is not None and labels[n] >= 0 and self.mirrored[labels[n]] >= 0
            mirror = usable and rng.spawn(1)[0].random() < 0.5  # a child's coin: the clip's own draws stay as they are
            clips.append(self.load_clip(members[place], rng, mirror))
            if mirror:
                labels[n] = self.mirrored[labels[n]]
        return np.stack(clips), labels

    def clip_rng(self, index, place):
        """The generator of one clip's augmentation, or None without; each clip has its own, so that a
        worker's share of a batch is drawn exactly as in the whole batch."""
        return np.random.default_rng([self.seed, self.epoch, index, place]) if self.augment else None

    def load_clip(self, i, rng=None, mirror=False):
        """(num_frames, height, width, channels) float32 of clip number i, or its flow or keypoints;
        `mirror`: seen in a mirror."""
        if self.modality == "flow":
            return self.load_flow(i, rng, mirror)
        if self.modality == "keypoints":
            return self.load_keypoints(i, rng, mirror)
        row = self.rows[i]
        folder = clip_folder(self.data_dir, row["clip"])
        flag = cv2.IMREAD_GRAYSCALE if self.channels == 1 else cv2.IMREAD_COLOR

        def read(t):
            path = folder / FRAME_NAME.format(t + 1)
            frame = cv2.imread(str(path), flag)
            if frame is None:
                raise OSError(f"Cannot read {path}: delete {folder} and run prepare.py again to redo the clip.")
            return resize_frame(crop_view(frame, self.crop), self.size, self.channels)

        indices = sample_indices(row["num_frames"], self.num_frames, self.stride, rng, position=self.position)
        clip = to_unit(np.stack([self.cached(i, t, read) for t in indices]))
        if rng is not None:
            clip = augment_clip(clip, random_transform(rng, self.size))
        return clip[:, :, ::-1] if mirror else clip

    def load_flow(self, i, rng=None, mirror=False):
        """(num_frames, height, width, 2 * flow_pairs) float32: x, y, x, y ... of consecutive flow frames."""
        row = self.rows[i]
        folder = clip_folder(self.data_dir, row["clip"], "flow")
        starts = sample_indices(row["num_flow"] - self.flow_pairs + 1, self.num_frames, self.stride, rng, position=self.position)
        windows = [range(start, start + self.flow_pairs) for start in starts]

        def read(t):
            images = []
            for axis in "xy":
                path = folder / FLOW_NAME.format(axis=axis, number=t + 1)
                images.append(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
                if images[-1] is None:
                    redo = clip_folder(self.data_dir, row["clip"])
                    raise OSError(f"Cannot read {path}: delete {redo} and run prepare.py again.")
            return resize_flow(*(crop_view(image, self.crop) for image in images), self.size)

        flows = {t: self.cached(i, t, read) for window in windows for t in window}  # each read once, though windows overlap
        clip = to_unit(np.stack([np.concatenate([flows[t] for t in window], axis=-1) for window in windows]))
        if rng is not None:
            matrix, _, _ = random_transform(rng, self.size)  # moves the pixels; flow is not brightened
            for t, stack in enumerate(clip):
                warped = cv2.warpAffine(stack, matrix, self.size[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                clip[t] = warped.reshape(clip.shape[1:])
        if mirror:
            clip = clip[:, :, ::-1].copy()
            clip[..., 0::2] *= -1  # mirrored motion to the right is motion to the left
        return clip

    def cached(self, i, t, read):
        """`read(t)`, image t of clip number i, kept in memory while the cache is within `cache_mb`: after the
        first epoch a clip's images come decoded and resized from memory instead of from disk."""
        image = self._cache.get((i, t))
        if image is None:
            image = read(t)
            if self._cached_bytes + image.nbytes <= self.cache_bytes:
                self._cache[i, t] = image  # a dict store is atomic: the loading threads share the cache safely
                self._cached_bytes += image.nbytes
        return image

    def load_keypoints(self, i, rng=None, mirror=False):
        """(samples, joints * 2) float32 keypoints of clip number i; -1 marks a missing joint."""
        points = load_keypoints(self.data_dir, self.rows[i]["clip"])  # (samples, joints, 3): x, y, presence
        if rng is not None:  # the whole skeleton moved and scaled at once, each joint jittered
            present = points[..., 2] > 0
            scale = rng.uniform(1 - MAX_ZOOM, 1 + MAX_ZOOM)
            shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2)
            moved = (points[..., :2] - 0.5) * scale + 0.5 + shift + rng.normal(0, KEYPOINT_NOISE, points[..., :2].shape)
            points = points.copy()
            points[..., :2] = np.where(present[..., None], moved, points[..., :2])
            if mirror:  # x mirrored, and the left joints take the right ones' places
                points = mirror_keypoints(points, keypoints_path(self.data_dir, self.rows[i]["clip"]))
        return keypoint_features(points)

    def on_epoch_end(self):
        # Keras stops the workers before calling this, so no batch sees a half-changed epoch.
        self.epoch += 1
