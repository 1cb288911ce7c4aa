"""The streaming model: frame by frame it computes exactly what the clip model computes."""

import json

import keras
import numpy as np

import app
import network
from live import buffers
from live.recognizer import Recognizer
from nets import streaming
from nets.streaming import Stream, stream_model

SHAPE = (6, 32, 32, 1)


def clip_model_with_statistics(frames=SHAPE[0], seed=0):
    """A tsm_mobilenet whose batch-norm statistics are not the identity, as after training."""
    keras.utils.set_random_seed(seed)
    model = network.build_model("tsm_mobilenet", (frames, *SHAPE[1:]), num_classes=4)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.2, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape))
    return model


def test_frame_by_frame_equals_the_clip_model_on_the_same_frames():
    model = clip_model_with_statistics()
    frames = np.random.default_rng(1).uniform(-1, 1, (1, *SHAPE)).astype("float32")
    stream = Stream(model)
    outputs = [stream.step(frame) for frame in frames[0]]
    assert all(output is None for output in outputs[:-1])  # nothing before a whole clip
    np.testing.assert_allclose(outputs[-1], model(frames, training=False)[0], atol=1e-6)
    np.testing.assert_allclose(stream.predict(frames), model.predict(frames, verbose=0), atol=1e-6)  # again, from a reset


def test_every_frame_of_a_long_stream_matches_the_clip_model_over_the_whole_stream():
    """Past the first clip the stream carries real past frames, as a longer clip does: each frame's
    features equal a 3-clip-long model's, and each output is the classifier on the last 6 of them."""
    model, long_model = clip_model_with_statistics(), clip_model_with_statistics(3 * SHAPE[0], seed=5)
    long_model.set_weights(model.get_weights())
    frames = np.random.default_rng(2).uniform(-1, 1, (1, 3 * SHAPE[0], *SHAPE[1:])).astype("float32")
    features = keras.Model(long_model.input, long_model.get_layer("split_frames").output)(frames)[0].numpy()
    head = model.get_layer("predictions")
    stream = Stream(model)
    for t, frame in enumerate(frames[0]):
        output = stream.step(frame)
        if t >= SHAPE[0] - 1:
            window = features[t - SHAPE[0] + 1 : t + 1].mean(axis=0, keepdims=True)
            np.testing.assert_allclose(output, head(window)[0], atol=1e-5)
    shifted = [name for name, _ in streaming.state_shapes(stream_model(model)) if name.endswith("_shift_state")]
    assert len(shifted) == 11  # the input (for the frame difference) and every inverted residual block with a shortcut


def test_the_shift_moves_an_eighth_of_the_channels_one_frame_forward():
    x = np.arange(2 * 3 * 16, dtype="float32").reshape(2 * 3, 1, 1, 16)  # 2 clips of 3 frames, 16 channels
    shifted = streaming.TemporalShift(frames=3)(x).numpy().reshape(2, 3, 16)
    clips = x.reshape(2, 3, 16)
    np.testing.assert_array_equal(shifted[:, 0, :2], 0)  # the first frame has no past
    np.testing.assert_array_equal(shifted[:, 1:, :2], clips[:, :-1, :2])
    np.testing.assert_array_equal(shifted[:, :, 2:], clips[:, :, 2:])


def test_the_app_steps_a_streaming_run_on_every_frame_it_takes(stream_run, gesture_video, tmp_path):
    """Every due frame reaches the model in order, in the background thread as in --sync."""
    counts = []
    for mode in (["--sync"], ["--fast"]):
        log = tmp_path / f"{mode[0][2:]}.jsonl"
        common = ["--run", str(stream_run), "--source", str(gesture_video), "--no-display", "--log", str(log)]
        recognizer = app.main([*common, "--threshold", "0", "--background", "", *mode])
        predictions = [json.loads(line) for line in log.read_text().splitlines() if "event" not in line]
        counts.append((recognizer.num_predictions, [p["frame"] for p in predictions]))
    sidecar = json.loads(gesture_video.with_name("gestures.mp4.json").read_text())
    # 12 fps source, stride 2: every other frame is due; 8 frames make the first clip, then one prediction per frame
    expected = list(range(14, sidecar["num_frames"], 2))
    assert counts[0] == counts[1] == (len(expected), expected)


def test_mobilenet_v2_weights_load_by_layer_name(tmp_path):
    source = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.5, include_top=False, weights=None)
    path = tmp_path / "mobilenet_v2.weights.h5"
    source.save_weights(path)
    model = network.build_model("tsm_mobilenet", SHAPE, num_classes=4, weights=str(path))
    for name in ("block_5_expand", "block_16_project_BN", "Conv_1"):
        for got, expected in zip(model.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, expected)
    # gray frame and its difference: the RGB kernel averaged over the colours, for each of the 2 channels
    kernel = source.get_layer("Conv1").get_weights()[0]
    np.testing.assert_allclose(model.get_layer("Conv1").get_weights()[0], np.repeat(kernel.mean(2, keepdims=True), 2, 2))


class RecordingStream:
    """Stands in for streaming.Stream: notes each step and reset."""

    def __init__(self):
        self.calls = []

    def reset(self):
        self.calls.append("reset")

    def step(self, frame):
        self.calls.append(frame.shape)
        return np.full(4, 0.25)


def test_a_stream_starts_afresh_after_the_source_stalls():
    config = {"size": 16, "channels": 1, "stride": 2, "fps": 12, "frames": 6}  # a frame every 1/6 s
    stream = RecordingStream()
    buffer = buffers.make_buffer(config, stream=True)
    recognizer = Recognizer(None, config, ["a", "b", "c", "d"], background=False, buffer=buffer, stream=stream)
    frame = np.zeros((48, 64, 3), np.uint8)
    for index, timestamp in enumerate([0.0, 1 / 12, 2 / 12, 4 / 12, 2.0, 2 + 2 / 12]):  # a stall before 2.0 s
        recognizer.add(frame, index, timestamp)
    assert stream.calls == [(16, 16, 1)] * 3 + ["reset", (16, 16, 1), (16, 16, 1)]
    assert recognizer.num_predictions == 5
