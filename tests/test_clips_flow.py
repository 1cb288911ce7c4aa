import shutil

import cv2
import miniatures
import numpy as np
import pytest

import prepare
from clips import flow
from clips.index import read_index
from datagenerator import ClipDataset


def moving_pair(speed=3):
    frames = miniatures.moving_frames(2, 60, 80, seed=4, speed=speed)
    return [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in frames]


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_a_pattern_moving_right_has_positive_x_flow(method):
    previous, current = moving_pair(speed=3)
    motion = flow.flow_method(method)(previous, current)
    square = motion[20:40, 8:28]  # where the square is
    assert motion.shape == (60, 80, 2)
    assert 2.0 < np.median(square[..., 0]) < 4.0 and abs(np.median(square[..., 1])) < 0.5
    x_image, y_image = next(flow.clip_flow([previous, current], method))
    assert x_image.dtype == np.uint8 and np.median(x_image[20:40, 8:28]) > 128 + 10


def test_tvl1_needs_contrib_or_works():
    previous, current = moving_pair()
    if hasattr(cv2, "optflow"):
        assert np.median(flow.flow_method("tvl1")(previous, current)[20:40, 8:28, 0]) > 1
    else:
        with pytest.raises(RuntimeError, match="opencv-contrib-python"):
            flow.flow_method("tvl1")
    with pytest.raises(ValueError, match="dis, farneback, tvl1"):
        flow.flow_method("lucas")


def test_steady_flow_takes_out_the_camera_and_keeps_the_hand():
    ys, xs = np.mgrid[0:60, 0:80].astype(np.float32)
    camera = np.stack([1.5 + 0.04 * (xs - 40), -0.8 + 0.04 * (ys - 30)], axis=-1)  # a pan and a zoom
    motion = camera.copy()
    motion[20:35, 30:45] += (4.0, 0.0)  # the hand moves right, across a sixteenth of the picture
    still = flow.steady(motion)
    outside = np.ones((60, 80), bool)
    outside[20:35, 30:45] = False
    assert np.abs(still[outside]).max() < 0.05
    np.testing.assert_allclose(still[20:35, 30:45], np.broadcast_to([4.0, 0.0], (15, 15, 2)), atol=0.05)


def test_dis_steady_measures_the_hand_against_a_panning_camera():
    texture = cv2.GaussianBlur(np.random.default_rng(0).uniform(0, 255, (80, 100)), (0, 0), 1.5).astype(np.uint8)
    patch = cv2.GaussianBlur(np.random.default_rng(1).uniform(0, 255, (16, 16)), (0, 0), 1.0).astype(np.uint8)
    previous, current = texture[10:70, 10:90].copy(), texture[10:70, 8:88].copy()  # the picture pans 2 px right
    previous[22:38, 20:36], current[22:38, 26:42] = patch, patch  # while the hand moves 6 px right
    raw, still = (flow.flow_method(name)(previous, current) for name in ("dis", "dis-steady"))
    assert 1.5 < np.median(raw[5:15, 50:75, 0]) < 2.5 and abs(np.median(still[5:15, 50:75, 0])) < 0.5
    assert 3.0 < np.median(still[26:34, 28:38, 0]) < 5.0  # 6 px, less the camera's 2


def test_encoding_is_the_ucf101_convention():
    motion = np.array([[[0.0, -20.0], [25.0, 10.0]]], np.float32)  # (1, 2, 2)
    x_image, y_image = flow.encode(motion)
    assert x_image.tolist() == [[128, 255]] and y_image.tolist() == [[0, 191]]  # clipped to +-20 px
    np.testing.assert_allclose(flow.decode(x_image), [[0.078, 20.0]], atol=0.01)
    mirrored, _ = flow.encode(-motion)
    assert np.abs(mirrored.astype(int) - (255 - x_image.astype(int))).max() <= 1  # mirroring is 255 - x
    assert flow.rescale(np.array([[168]], np.uint8), 0.5).tolist() == [[148]]
    assert flow.flow_picture(x_image, y_image).shape == (1, 2, 3)


@pytest.fixture(scope="module")
def flow_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow")
    miniatures.folders(root / "src", videos=False, split_level=True)
    prepare.prepare(root / "src", root / "out", size=32, workers=2, min_frames=4, flow_method="dis", progress=False)
    return root / "out"


def test_prepare_writes_flow_between_consecutive_frames(flow_data):
    index = read_index(flow_data)
    assert all(row["num_flow"] == row["num_frames"] - 1 == 8 for row in index)
    x_image = cv2.imread(str(flow_data / "flow" / index[0]["clip"] / "x_00003.jpg"), cv2.IMREAD_GRAYSCALE)
    assert x_image.shape == (32, 43) and x_image.max() > 128 + 5  # the square moves right
    assert prepare.check(flow_data) == 0


def test_check_catches_a_missing_flow_image(flow_data, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(flow_data, out)
    clip = read_index(out)[0]["clip"]
    (out / "flow" / clip / "y_00002.jpg").unlink()
    assert prepare.check(out) == 1
    assert "1 of 16 flow files missing (y_00002.jpg)" in capsys.readouterr().out


def mean_x_motion(stacks):
    return stacks[..., 0::2].mean(axis=(1, 2, 3, 4))


def test_generator_stacks_flow_and_mirrors_its_sign(flow_data):
    options = dict(modality="flow", num_frames=1, flow_pairs=4, size=(32, 32), batch_size=12, seed=1)
    stacks, labels = ClipDataset(flow_data, "train", **options)[0]
    assert stacks.shape == (12, 1, 32, 32, 8) and stacks.dtype == np.float32 and labels.shape == (12,)
    assert (mean_x_motion(stacks) > 0).all() and np.abs(stacks[..., 1::2]).mean() < np.abs(stacks[..., 0::2]).mean()
    flipped = mean_x_motion(ClipDataset(flow_data, "train", flip=True, **options)[0][0])
    assert (flipped < 0).sum() >= 2 and (flipped > 0).sum() >= 2  # about half are mirrored, motion to the left
    validation = ClipDataset(flow_data, "validation", flip=True, **options)
    np.testing.assert_array_equal(validation[0][0], ClipDataset(flow_data, "validation", **options)[0][0])


def test_generator_gives_a_clip_of_flow_frames_for_3d_models(flow_data):
    """I3D on flow: 4 positions of 1 pair each, the same augmentation at every position."""
    data = ClipDataset(flow_data, "train", modality="flow", num_frames=4, flow_pairs=1, stride=2, size=(32, 32), batch_size=6)
    clips, _ = data[0]
    assert clips.shape == (6, 4, 32, 32, 2) and (mean_x_motion(clips) > 0).all()
    assert not np.array_equal(clips[:, 0], clips[:, 1])  # each position has its own flow
    with pytest.raises(ValueError, match="fewer than 9 optical flow frames"):
        ClipDataset(flow_data, "train", modality="flow", flow_pairs=9)


def test_generator_refuses_flow_that_was_not_prepared(prepared_dir):
    with pytest.raises(ValueError, match="prepare it again with flow"):
        ClipDataset(prepared_dir, "train", modality="flow")


def test_cached_flow_gives_the_same_stacks_without_reading_again(flow_data, image_reads):
    options = dict(modality="flow", num_frames=2, flow_pairs=2, size=(16, 16), batch_size=6, seed=1, flip=True)
    plain, cached = ClipDataset(flow_data, "train", **options), ClipDataset(flow_data, "train", cache_mb=8, **options)
    reads = image_reads
    for _ in range(2):  # new windows, mirrors and transforms each epoch: the same stacks either way
        for i in range(len(plain)):
            np.testing.assert_array_equal(cached[i][0], plain[i][0])
        plain.on_epoch_end(), cached.on_epoch_end()
    kept, read = len(cached._cache), len(reads)
    for i in range(len(cached)):
        cached[i]
    assert len(reads) - read == 2 * (len(cached._cache) - kept)  # only the flow frames not seen before (x and y)
    validation = ClipDataset(flow_data, "validation", cache_mb=8, **options)
    validation[0]
    del reads[:]
    np.testing.assert_array_equal(validation[0][0], ClipDataset(flow_data, "validation", **options)[0][0])
    assert len(reads) == 2 * len(validation._cache)  # the uncached one read them all, the cached one none
