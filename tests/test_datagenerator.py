import cv2
import numpy as np
import pytest

from clips.index import read_index
from datagenerator import ClipDataset, augment_clip, mirror_labels, preprocess_frame, random_transform, sample_indices


def dataset(prepared_dir, split="train", **options):
    settings = dict(batch_size=4, num_frames=8, size=(32, 32), channels=1, seed=3)
    return ClipDataset(prepared_dir, split, **{**settings, **options})


def test_batches_have_the_clip_shape(prepared_dir):
    data = dataset(prepared_dir)
    clips, labels = data[0]
    assert clips.shape == (4, 8, 32, 32, 1) and clips.dtype == np.float32
    assert labels.dtype == np.int32 and labels.shape == (4,)
    assert -1.0 <= clips.min() and clips.max() <= 1.0 and clips.std() > 0.05
    assert len(data) == 8  # 30 clips in batches of 4
    assert data[7][0].shape[0] == 2  # the last batch holds the rest
    with pytest.raises(IndexError):
        data[8]
    colour = dataset(prepared_dir, channels=3, num_frames=4, size=(24, 40))
    assert colour[0][0].shape == (4, 4, 24, 40, 3)


def test_a_batch_is_reproducible_for_seed_epoch_and_index(prepared_dir):
    first, again = dataset(prepared_dir), dataset(prepared_dir)
    np.testing.assert_array_equal(first[1][0], again[1][0])
    later = dataset(prepared_dir, epoch=1)
    assert not np.array_equal(first[1][0], later[1][0])
    first.on_epoch_end()  # moves to epoch 1: new order and new transforms
    np.testing.assert_array_equal(first[1][0], later[1][0])
    np.testing.assert_array_equal(first[1][1], later[1][1])


def test_every_clip_is_seen_once_per_epoch(prepared_dir):
    data = dataset(prepared_dir)
    seen = np.concatenate([data.order()[i * 4 : (i + 1) * 4] for i in range(len(data))])
    assert sorted(seen) == list(range(30))


def test_a_multiple_of_the_replicas_leaves_the_last_few_clips_for_another_epoch(prepared_dir):
    data = ClipDataset(prepared_dir, "train", batch_size=4, num_frames=4, size=(32, 32), multiple=4)
    assert data.num_clips == 28 and len(data) == 7  # of 30
    assert [len(data[i][1]) for i in range(len(data))] == [4] * 7
    left_out = set(range(30)) - {int(i) for i in data.order()[:28]}
    data.on_epoch_end()
    assert len(left_out) == 2 and left_out != set(range(30)) - {int(i) for i in data.order()[:28]}  # new ones each epoch
    with pytest.raises(ValueError, match="fewer than the 11 replicas"):
        ClipDataset(prepared_dir, "validation", multiple=11)


def test_the_shards_of_a_batch_put_together_are_the_batch(prepared_dir):
    whole = dataset(prepared_dir, multiple=2)  # 30 clips: batches of 4, the last of 2
    halves = [dataset(prepared_dir, multiple=2, shard=(part, 2)) for part in range(2)]
    for index in (0, len(whole) - 1):
        clips, labels = whole[index]
        shares = [half[index] for half in halves]
        assert [len(share[1]) for share in shares] == [len(labels) // 2] * 2
        np.testing.assert_array_equal(np.concatenate([share[0] for share in shares]), clips)  # augmented alike
        np.testing.assert_array_equal(np.concatenate([share[1] for share in shares]), labels)
    with pytest.raises(ValueError, match="must divide the batch size"):
        dataset(prepared_dir, multiple=3, batch_size=3, shard=(0, 2))


def test_validation_is_deterministic_centred_and_unaugmented(prepared_dir):
    data = dataset(prepared_dir, "validation", epoch=0)
    other = dataset(prepared_dir, "validation", epoch=5, seed=9)
    np.testing.assert_array_equal(data[0][0], other[0][0])
    assert not data.augment and not data.shuffle
    row = data.rows[0]
    indices = sample_indices(row["num_frames"], 8, 2)
    frame = cv2.imread(str(prepared_dir / "frames" / row["clip"] / f"{indices[0] + 1:05d}.jpg"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_allclose(data[0][0][0, 0], preprocess_frame(frame, (32, 32), 1))


def test_sample_indices():
    np.testing.assert_array_equal(sample_indices(40, 4, 2), [16, 18, 20, 22])  # centred
    np.testing.assert_array_equal(sample_indices(8, 4, 3), [0, 2, 4, 6])  # the largest stride that fits
    np.testing.assert_array_equal(sample_indices(3, 5, 2), [0, 0, 1, 2, 2])  # shorter than the clip: spread out
    rng = np.random.default_rng(0)
    for _ in range(50):
        indices = sample_indices(37, 16, 2, rng)
        strides = set(np.diff(indices))
        assert len(strides) == 1 and strides <= {1, 2, 3}
        assert indices[0] >= 0 and indices[-1] < 37
    starts = {sample_indices(37, 16, 2, np.random.default_rng(i))[0] for i in range(50)}
    assert len(starts) > 3  # the start is jittered


def test_one_transform_for_all_frames_of_a_clip():
    rng = np.random.default_rng(0)
    frame = rng.uniform(-1, 1, (32, 32, 1)).astype(np.float32)
    clip = np.stack([frame] * 6)
    transform = random_transform(np.random.default_rng(7), (32, 32))
    out = augment_clip(clip, transform)
    assert out.shape == clip.shape
    for t in range(1, 6):
        np.testing.assert_array_equal(out[t], out[0])
    assert np.abs(out - clip).mean() > 0.01  # it did change the clip
    angles = [np.degrees(np.arctan2(*random_transform(np.random.default_rng(i), (32, 32))[0][[1, 0], 0])) for i in range(200)]
    assert max(angles) <= 10.01 and min(angles) >= -10.01 and max(angles) > 8 and min(angles) < -8


def test_preprocess_frame_is_the_shared_pixel_path():
    bgr = np.zeros((100, 176, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in BGR
    gray = preprocess_frame(bgr, (112, 112), 1)
    rgb = preprocess_frame(bgr, (64, 80), 3)
    assert gray.shape == (112, 112, 1) and rgb.shape == (64, 80, 3)
    np.testing.assert_allclose(rgb[0, 0], [1.0, -1.0, -1.0])
    assert gray.dtype == np.float32 and -1 <= gray.min() <= gray.max() <= 1
    assert preprocess_frame(np.full((10, 10), 255, np.uint8), (8, 8), 3).shape == (8, 8, 3)


def test_missing_split_and_data_give_clear_errors(prepared_dir, tmp_path):
    with pytest.raises(ValueError, match=r"No clips of split 'test' in .* \(it holds 30 train, 10 validation\)"):
        dataset(prepared_dir, "test")
    with pytest.raises(FileNotFoundError, match="run `python prepare.py"):
        dataset(tmp_path)


def test_keypoint_clips_without_their_file_are_refused_up_front(tmp_path):
    import synthetic
    from clips.keypoints import keypoints_path

    synthetic.write_keypoint_dataset(tmp_path, clips_per_class=4, seed=2)
    keypoints, labels = ClipDataset(tmp_path, "train", modality="keypoints", batch_size=6)[0]
    assert keypoints.shape == (6, 9, 34) and labels.shape == (6,)
    first = read_index(tmp_path, "train")[0]["clip"]
    keypoints_path(tmp_path, first).unlink()
    with pytest.raises(ValueError, match=f"1 of 6 train clips .* have no keypoints \\(first: {first}\\)"):
        ClipDataset(tmp_path, "train", modality="keypoints")


def test_a_mirrored_skeleton_trades_its_left_and_right_joints():
    from clips.keypoints import MIRRORED_JOINTS, mirror_keypoints

    points = np.random.default_rng(0).uniform(0, 1, (9, 17, 3)).astype(np.float32)
    points[:, 9] = 0.2, 0.5, 1.0  # COCO's left wrist, on the left of the picture
    points[:, 3] = -1, -1, 0  # the left ear not found
    mirrored = mirror_keypoints(points)
    np.testing.assert_allclose(mirrored[:, 10], np.tile([0.8, 0.5, 1.0], (9, 1)))  # now the right wrist, on the right
    np.testing.assert_array_equal(mirrored[:, 4], points[:, 3])  # the right ear, still missing
    np.testing.assert_allclose(mirrored[:, 0, 0], 1 - points[:, 0, 0])  # the nose has no side
    np.testing.assert_allclose(mirror_keypoints(mirrored), points, atol=1e-6)  # twice is the same skeleton
    assert MIRRORED_JOINTS[33][[11, 12, 15, 16, 1, 4]].tolist() == [12, 11, 16, 15, 4, 1]  # MediaPipe's pose
    assert MIRRORED_JOINTS[42][:3].tolist() == [21, 22, 23]  # two hands: the left hand's joints become the right's
    with pytest.raises(ValueError, match="clip7.npy: 25 joints is not a layout --flip knows"):
        mirror_keypoints(np.zeros((9, 25, 3)), "clip7.npy")


def test_flip_mirrors_keypoint_clips_as_whole_skeletons(tmp_path):
    import synthetic
    from clips.keypoints import MIRRORED_JOINTS, keypoints_path

    synthetic.write_keypoint_dataset(tmp_path, clips_per_class=12, seed=2)
    plain = ClipDataset(tmp_path, "train", modality="keypoints", batch_size=18)[0][0].reshape(18, 9, 17, 2)
    flipped = ClipDataset(tmp_path, "train", modality="keypoints", batch_size=18, flip=True)[0][0].reshape(18, 9, 17, 2)
    swapped = plain[:, :, MIRRORED_JOINTS[17]]
    expected = np.where(swapped >= 0, np.stack([1 - swapped[..., 0], swapped[..., 1]], axis=-1), swapped)
    mirrored = np.all(np.isclose(flipped, expected, atol=1e-6), axis=(1, 2, 3))
    assert 3 <= mirrored.sum() <= 15  # about half, each the whole skeleton mirrored
    np.testing.assert_array_equal(flipped[~mirrored], plain[~mirrored])
    first = read_index(tmp_path, "train")[0]["clip"]
    np.save(keypoints_path(tmp_path, first), np.zeros((9, 25, 3), np.float32))  # a layout of 25 joints
    with pytest.raises(ValueError, match=f"{first}.npy: 25 joints is not a layout --flip knows"):
        ClipDataset(tmp_path, "train", modality="keypoints", flip=True)


def test_mirror_pairs_swap_their_labels_and_one_sided_classes_are_not_mirrored():
    classes = ["Swiping Left", "Swiping Right", "Swiping Up", "Turning Hand Clockwise", "Turning Hand Counterclockwise"]
    assert mirror_labels(classes).tolist() == [1, 0, 2, 4, 3]
    assert mirror_labels(["left_swipe", "right_swipe", "Sliding Two Fingers Left", "Stop"]).tolist() == [1, 0, -1, 3]


def test_a_mirrored_clip_is_the_same_clip_mirrored_with_its_partners_label(prepared_dir):
    plain, flipped = dataset(prepared_dir, batch_size=30), dataset(prepared_dir, batch_size=30, flip=True)
    (clips, labels), (mirror_clips, mirror_labels_) = plain[0], flipped[0]
    partner = mirror_labels(plain.classes)
    mirrored = (mirror_labels_ != labels) | ((partner[labels] == labels) & ~np.all(mirror_clips == clips, axis=(1, 2, 3, 4)))
    assert 5 <= mirrored.sum() <= 25  # about half
    np.testing.assert_array_equal(mirror_clips[mirrored], clips[mirrored][:, :, :, ::-1])  # nothing else changed
    np.testing.assert_array_equal(mirror_clips[~mirrored], clips[~mirrored])
    np.testing.assert_array_equal(mirror_labels_, np.where(mirrored, partner[labels], labels))
    swapped = [plain.classes[i] for i in labels[mirror_labels_ != labels]]
    assert swapped and all(("Left" in name) != ("Right" in name) or "lockwise" in name for name in swapped)
    validation = dataset(prepared_dir, "validation", flip=True)
    np.testing.assert_array_equal(validation[0][0], dataset(prepared_dir, "validation")[0][0])


def test_the_cache_gives_the_same_batches_and_later_epochs_read_no_files(prepared_dir, image_reads):
    reads = image_reads
    validation, cached = dataset(prepared_dir, "validation"), dataset(prepared_dir, "validation", cache_mb=64)
    first = [cached[i] for i in range(len(cached))]
    assert reads and cached._cached_bytes == len(reads) * 32 * 32  # every frame read was kept
    del reads[:]
    for i, (clips, labels) in enumerate(first):
        np.testing.assert_array_equal(cached[i][0], clips)
        again, again_labels = validation[i]
        np.testing.assert_array_equal(again, clips)
        np.testing.assert_array_equal(again_labels, labels)
    assert len(reads) == len(validation.rows) * 8  # only the uncached one read, 8 frames a clip
    train, cached = dataset(prepared_dir, flip=True), dataset(prepared_dir, flip=True, cache_mb=64)
    for _ in range(2):  # augmented, mirrored, new windows each epoch: the same pixels and labels either way
        for i in range(len(train)):
            (clips, labels), (expected, expected_labels) = cached[i], train[i]
            np.testing.assert_array_equal(clips, expected)
            np.testing.assert_array_equal(labels, expected_labels)
        train.on_epoch_end(), cached.on_epoch_end()
    small = dataset(prepared_dir, cache_mb=0.01)  # 10 KB: ten frames of 32x32
    small[0]
    assert small._cached_bytes == 10 * 32 * 32 and len(small._cache) == 10
