import json
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from conftest import ROOT, user_environment

import app
from clips.index import read_classes
from live import buffers
from live.events import GestureEvents
from live.recognizer import Recognizer
from scenes.hands import GESTURES
from scenes.streams import write_stream
from training.runs import compiled_predictor


def count_frames(path):
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def test_headless_run_on_a_video_writes_annotated_video_and_log(trained_run, gesture_video, tmp_path):
    output, log = tmp_path / "annotated.mp4", tmp_path / "predictions.jsonl"
    app.main(
        [
            "--run",
            str(trained_run),
            "--source",
            str(gesture_video),
            "--no-display",
            "--sync",
            "--threshold",
            "0",
            "--background",
            "",
            "--output",
            str(output),
            "--log",
            str(log),
        ]
    )
    sidecar = json.loads(gesture_video.with_name("gestures.mp4.json").read_text())
    assert count_frames(output) == sidecar["num_frames"]
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    events = [line for line in lines if "event" not in line]  # the predictions; gesture events are their own lines
    classes = read_classes(trained_run)
    # 12 fps source, stride 2: the model takes every other frame; 8 frames fill the buffer first
    assert len(events) == (sidecar["num_frames"] + 1) // 2 - 7
    assert [e["frame"] for e in events] == list(range(14, sidecar["num_frames"], 2))
    for event in events:
        assert set(event) == {"frame", "time", "label", "score", "top"}
        assert event["label"] in classes and len(event["top"]) == 3
        assert event["score"] == event["top"][0][1]
        assert event["time"] == pytest.approx(event["frame"] / 12, abs=1e-3)
    # the drawing is in the written video: the top-left panel differs from the source
    source, annotated = cv2.VideoCapture(str(gesture_video)), cv2.VideoCapture(str(output))
    for _ in range(20):
        frame, drawn = source.read()[1], annotated.read()[1]
    assert np.abs(frame[:40, :120].astype(int) - drawn[:40, :120]).mean() > 10


def test_a_stopped_app_finishes_its_video_and_an_unwritable_one_is_refused(trained_run, gesture_video, tmp_path, capsys):
    """A service stop (SIGTERM) in the middle of a looping video: the annotated video is whole and playable,
    and the summary printed, as after q. An output OpenCV cannot write fails before the first frame."""
    output, log = tmp_path / "annotated.mp4", tmp_path / "log.jsonl"
    command = [sys.executable, "app.py", "--run", trained_run, "--source", gesture_video, "--no-display", "--loop"]
    command += ["--output", output, "--log", log]
    app_process = subprocess.Popen(list(map(str, command)), cwd=ROOT, env=user_environment(), stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.stat().st_size) and time.monotonic() < deadline and app_process.poll() is None:
        time.sleep(0.2)
    time.sleep(1)
    app_process.send_signal(signal.SIGTERM)
    printed = app_process.communicate(timeout=60)[0]
    assert app_process.returncode == 0 and "Stopped." in printed and f"wrote {output}" in printed
    assert count_frames(output) > 10 and sorted(p.name for p in tmp_path.iterdir()) == ["annotated.mp4", "log.jsonl"]
    headless = ["--run", str(trained_run), "--source", str(gesture_video), "--no-display"]
    with pytest.raises(SystemExit, match="no writer for that name"):
        app.main([*headless, "--output", str(tmp_path / "out")])
    with pytest.raises(SystemExit):
        app.main([*headless, "--output", str(tmp_path / "no" / "a.mp4")])
    assert f"the folder {tmp_path / 'no'} does not exist" in capsys.readouterr().err


def test_sync_predictions_are_repeatable(trained_run, gesture_video, tmp_path):
    logs = []
    for name in ("a", "b"):
        log = tmp_path / f"{name}.jsonl"
        app.main(["--run", str(trained_run), "--source", str(gesture_video), "--no-display", "--sync", "--log", str(log)])
        logs.append(log.read_text())
    assert logs[0] == logs[1] and logs[0]


def test_background_thread_keeps_the_picture_going(trained_run, gesture_video, tmp_path):
    log = tmp_path / "log.jsonl"
    app.main(["--run", str(trained_run), "--source", str(gesture_video), "--no-display", "--fast", "--log", str(log)])
    predictions = [line for line in map(json.loads, log.read_text().splitlines()) if "label" in line]
    frames = [p["frame"] for p in predictions]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)


def test_threshold_and_smoothing():
    outputs = iter([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    config = {"size": 8, "channels": 1, "stride": 1, "fps": 10, "frames": 2}
    predict = lambda clip: np.array([next(outputs)])  # noqa: E731
    detector = GestureEvents(["a", "b", "c"], threshold=0.45, smoothing=0.2)
    recognizer = Recognizer(predict, config, ["a", "b", "c"], detector, background=False)
    frame = np.zeros((20, 20, 3), np.uint8)
    for index in range(3):
        recognizer.add(frame, index, index / 10)
    label, score, top = recognizer.state()
    assert [p["label"] for p in recognizer.predictions] == ["a", "b"]  # mean of both: b 0.5 > a 0.4
    assert label == "b" and score == pytest.approx(0.5) and top[0][0] == "b"
    detector.threshold = 0.6
    assert recognizer.state()[0] is None  # below the threshold nothing is shown


def test_frames_are_seen_at_the_training_rate_and_one_stride_less_their_scores_averaged():
    config = {"size": 4, "channels": 1, "stride": 2, "fps": 12, "frames": 4}
    seen = []

    def predict(clips):  # the frames' numbers, per view; a score per view
        seen.append(np.round((clips[:, :, 0, 0, 0] + 1) * 127.5).astype(int).tolist())
        return np.array([[0.2, 0.8], [0.6, 0.4]])

    recognizer = Recognizer(predict, config, ["a", "b"], background=False)
    for index in range(60):  # two seconds of a 30 fps camera, frame n showing the value n
        recognizer.add(np.full((8, 8, 3), index, np.uint8), index, index / 30)
    assert len(seen) == 9  # from 0.5 s, when the longer view is full, 6 a second as in training
    assert seen[0] == [[7, 10, 12, 15], [0, 5, 10, 15]]  # 1/12 s and 1/6 s apart, both ending at the newest frame
    assert seen[-1] == [[47, 50, 52, 55], [40, 45, 50, 55]]
    np.testing.assert_allclose(recognizer.latest[2], [0.4, 0.6])


def test_a_camera_that_cannot_be_opened_suggests_a_file(trained_run):
    with pytest.raises(SystemExit, match="try --source FILE"):
        app.main(["--run", str(trained_run), "--source", "7", "--no-display"])
    with pytest.raises(SystemExit, match="No video file"):
        app.main(["--run", str(trained_run), "--source", "missing.mp4", "--no-display"])


def test_score_gestures_counts_labels_shown_in_time():
    sidecar = {"fps": 10, "gestures": [{"label": "a", "start": 10, "end": 20}, {"label": "b", "start": 40, "end": 50}]}
    events = [{"frame": 25, "label": "a"}, {"frame": 70, "label": "b"}, {"frame": 45, "label": None}]
    assert app.score_gestures(events, sidecar) == [True, False]  # b only 2 s after its end


def test_no_display_is_a_clear_error(trained_run, gesture_video, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SystemExit, match="use --no-display"):
        app.main(["--run", str(trained_run), "--source", str(gesture_video)])


def test_an_error_in_the_model_thread_reaches_the_main_loop():
    def broken(clip):
        raise RuntimeError("model failed")

    config = {"size": 8, "channels": 1, "stride": 1, "fps": 10, "frames": 2}
    recognizer = Recognizer(broken, config, ["a", "b"])
    frame = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(RuntimeError, match="model failed"):
        for index in range(200):
            recognizer.add(frame, index, index / 10)
            time.sleep(0.01)
    recognizer.close()


def test_flow_buffer_stacks_live_flow_as_the_generator_does():
    """3 positions, 2 apart, of 2 flow pairs each, from a square moving right: (3, 32, 32, 4), x-flow positive."""
    import miniatures

    config = {"flow_method": "dis", "prepared_size": 60, "size": 32, "fps": 12, "flow_pairs": 2, "stride": 2, "frames": 3}
    buffer = buffers.FlowBuffer(config)
    clips = [buffer.clip() if buffer.add(frame) else None for frame in miniatures.moving_frames(8, 60, 80, seed=4, speed=3)]
    assert all(clip is None for clip in clips[:6]) and clips[6].shape == (3, 32, 32, 4)  # 6 flows make the first clip
    assert clips[7][..., 0::2].mean() > 0.02 and abs(clips[7][..., 1::2].mean()) < 0.02
    np.testing.assert_array_equal(clips[7][0, ..., :2], clips[6][0, ..., 2:])  # the window moved by one flow
    assert buffers.FrameBuffer({"size": 32, "channels": 1, "stride": 2, "fps": 12, "frames": 3}).period == pytest.approx(1 / 6)
    assert buffer.period == pytest.approx(1 / 12)  # flow is between consecutive frames


def test_flow_views_at_each_stride_end_at_the_newest_flow():
    """--strides 1,2 on flow: one view per stride, each ending at the newest flow; ready once the longer is full."""
    import miniatures

    config = {"flow_method": "dis", "prepared_size": 60, "size": 32, "fps": 12, "flow_pairs": 2, "stride": 2, "frames": 3}
    config["modality"] = "flow"
    alone, both = buffers.make_buffer(config), buffers.make_buffer(config, strides=[1, 2])
    for frame in miniatures.moving_frames(9, 60, 80, seed=4, speed=3):  # 8 flows: both are full
        ready = both.add(frame), alone.add(frame)
    assert ready == (True, True) and alone.views().shape == (1, 3, 32, 32, 4)
    views, flows = both.views(), list(both.flows)
    assert views.shape == (2, 3, 32, 32, 4)
    np.testing.assert_array_equal(views[1], alone.views()[0])  # the run's stride: the view it sees alone
    np.testing.assert_array_equal(views[0][2], np.concatenate(flows[-2:], axis=-1))  # the newest two flows
    np.testing.assert_array_equal(views[0][0], np.concatenate(flows[-4:-2], axis=-1))  # 1 apart, not 2
    for stream, kind in ((True, "a streaming model"), (False, "a keypoint model")):
        with pytest.raises(ValueError, match=f"--strides sets the views of a clip of frames or flow; this run is {kind}"):
            buffers.make_buffer({**config, "modality": "keypoints"}, "model.task", stream=stream, strides=[1, 2])


def test_a_steady_flow_run_takes_the_camera_out_of_live_flow():
    """A picture panning right 2 px a frame: DIS sees it move (+2 px = +0.1), its -steady form sees it still."""
    texture = cv2.GaussianBlur(np.random.default_rng(0).uniform(0, 255, (80, 120)), (0, 0), 1.5).astype(np.uint8)
    frames = [texture[10:70, 30 - 2 * t : 110 - 2 * t] for t in range(7)]  # 7 frames, 6 flows: the first clip
    config = {"prepared_size": 60, "size": 32, "fps": 12, "flow_pairs": 2, "stride": 2, "frames": 3}
    for method, expected in (("dis", 0.1), ("dis-steady", 0.0)):
        buffer = buffers.FlowBuffer({**config, "flow_method": method})
        clip = [buffer.clip() for frame in frames if buffer.add(frame)][-1]
        assert abs(clip[..., 0::2].mean() - expected) < 0.02 and abs(clip[..., 1::2].mean()) < 0.02


def test_a_keypoint_run_takes_live_keypoints_from_its_landmarker(tmp_path, gesture_video):
    import synthetic
    import train
    from clips import landmarks
    from training import runs

    data, run = tmp_path / "poses", tmp_path / "run"
    synthetic.write_keypoint_dataset(data, clips_per_class=4, seed=1)
    train.main(["--data", str(data), "--run", str(run), "--model", "pose_lstm", "--epochs", "1", "--workers", "1"])
    with pytest.raises(SystemExit, match="give that model file with --keypoints"):
        app.main(["--run", str(run), "--source", str(gesture_video), "--no-display"])
    config, classes, model = runs.load_run(run)
    assert config["keypoint_spacing"] > 0
    seen = []

    def detect(rgb):  # a stand-in for MediaPipe: 17 joints, in pixels, moving right frame by frame
        seen.append(rgb.shape)
        points = np.zeros((17, 3))
        points[:, 0], points[:, 1], points[:, 2] = 10 + len(seen), np.arange(17) * 5, 0.9
        return points

    buffer = buffers.KeypointBuffer(config, landmarks.Landmarker.from_function(detect, joints=17))
    recognizer = Recognizer(compiled_predictor(model), config, classes, background=False, buffer=buffer)
    for index in range(120):
        recognizer.add(np.zeros((120, 160, 3), np.uint8), index, index / 30)
    assert len(seen) == pytest.approx(120 / 30 / config["keypoint_spacing"], abs=1)  # one sample per spacing
    assert recognizer.predictions and recognizer.latest[2].shape == (2,)


def test_a_whole_stream_fires_each_bound_gesture_once(trained_run, tmp_path, monkeypatch, capsys):
    """The app's whole path from frames to event lines and bound commands, over a stream of all eight
    gestures, with a stand-in model that knows the stream's truth and behaves as a trained one does:
    sure from shortly before a gesture's end until a second after it, unsure now and then, and now
    and then sure of a wrong gesture for one prediction while the hand moves between gestures."""
    video = tmp_path / "stream.mp4"
    truth = write_stream(video, seed=11, height=120, width=160)
    classes = read_classes(trained_run)
    now = {}
    original_add = Recognizer.add

    def add(self, frame, index, timestamp):
        now["frame"] = index  # with --sync the model is called inside add(), on this frame's clip
        return original_add(self, frame, index, timestamp)

    def oracle(model):
        rng = np.random.default_rng(0)

        def predict(clip):
            sure = [g for g in truth["gestures"] if g["end"] - 4 <= now["frame"] <= g["end"] + 12]
            scores = rng.uniform(0, 0.02, len(classes))
            if sure:
                true = classes.index(sure[0]["label"])
                scores[true] += 0.9 if rng.random() > 0.2 else 0.3  # one prediction in five unsure
            elif rng.random() < 0.1:
                scores[rng.integers(len(classes))] += 0.9  # a moment's wrong guess
            else:
                scores[classes.index("Doing other things")] += 0.9
            return (scores / scores.sum())[None]

        return predict

    monkeypatch.setattr(Recognizer, "add", add)
    monkeypatch.setattr("live.recognizer.compiled_predictor", oracle)
    ran = tmp_path / "ran.txt"
    record = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"
    bound = {label: {"command": [sys.executable, "-c", record, str(ran), label]} for label in GESTURES}
    (tmp_path / "bindings.json").write_text(json.dumps({"bindings": bound}))
    log = tmp_path / "log.jsonl"
    argv = ["--run", str(trained_run), "--source", str(video), "--no-display", "--sync", "--log", str(log)]
    app.main([*argv, "--bindings", str(tmp_path / "bindings.json"), "--expect", f"{video}.json"])
    performed = [g["label"] for g in truth["gestures"]]
    events = [line for line in map(json.loads, log.read_text().splitlines()) if "event" in line]
    assert [e["event"] for e in events] == performed and len(performed) == 8
    for event, gesture in zip(events, truth["gestures"]):
        assert gesture["start"] <= event["frame"] <= gesture["end"] + 6 and event["score"] >= 0.5
    assert ran.read_text().splitlines() == performed  # each event ran its command once, and nothing else ran one
    assert "Events match the gestures performed" in capsys.readouterr().out


def test_record_mode_counts_down_records_and_shows_the_top_three(trained_run, gesture_video, tmp_path, monkeypatch, capsys):
    presses = {24: ord(" "), 110: ord(" "), 190: ord("q")}  # space at 2 s, again once the first result is shown; quit
    frames = iter(range(10_000))
    monkeypatch.setattr(app, "read_key", lambda args: presses.get(next(frames), -1))
    seen = []
    original_clip = app.Recorder.clip

    def clip(self):
        seen.append((len(self.recorded), self.since))
        return original_clip(self)

    monkeypatch.setattr(app.Recorder, "clip", clip)
    log, output = tmp_path / "log.jsonl", tmp_path / "record.mp4"
    argv = ["--run", str(trained_run), "--source", str(gesture_video), "--no-display", "--fast", "--loop", "--mode", "record"]
    app.main([*argv, "--seconds", "2", "--show-flow", "--log", str(log), "--output", str(output)])
    results = [line for line in map(json.loads, log.read_text().splitlines()) if "recording" in line]
    # space at frame 24 (2 s at 12 fps), 3 s of countdown, then 2 s of recording: classified at 7 s; space again
    # at frame 110 (9.17 s), while the first result is shown: a second recording, classified at 14.17 s
    assert [r["recording"] for r in results] == [1, 2] and results[0]["time"] == pytest.approx(7.0, abs=0.1)
    assert results[1]["time"] == pytest.approx(110 / 12 + 5, abs=0.1)
    assert seen[0] == (12, pytest.approx(5.0, abs=0.1))  # 2 s at the run's 6 frames per second, from 5 s
    assert len(results[0]["top"]) == 3 and all(name in read_classes(trained_run) for name, _ in results[0]["top"])
    assert "Recording 1:" in capsys.readouterr().out
    capture = cv2.VideoCapture(str(output))  # the red marker while recording, at the top right
    capture.set(cv2.CAP_PROP_POS_FRAMES, 70)
    marked = capture.read()[1]
    assert marked[20, -20, 2] > 200 and marked[20, -20, 0] < 80


def test_a_live_clip_can_end_at_any_camera_frame():
    buffer = buffers.FrameBuffer({"size": 4, "channels": 1, "stride": 2, "fps": 12, "frames": 4})  # 6 per second
    ready = [buffer.add(np.full((8, 8), index, np.uint8), index / 30) for index in range(40)]  # 30 fps camera
    assert ready.index(True) == 15  # three periods of 1/6 s: frames 0, 5, 10, 15
    values = [round((frame[0, 0, 0] + 1) * 127.5) for frame in buffer.clip()]
    assert values == [24, 29, 34, 39]  # period apart, ending at the newest frame
    assert len(buffer.timed) <= 21  # only the last clip's span (and a period) is kept


def test_live_predictions_start_on_any_frame_when_the_model_is_free():
    config = {"size": 8, "channels": 1, "stride": 2, "fps": 12, "frames": 4}
    recognizer = Recognizer(lambda clip: np.array([[0.5, 0.5]]), config, ["a", "b"])  # a model of no time
    frame = np.zeros((20, 20, 3), np.uint8)
    for index in range(90):  # 3 s of a 30 fps camera, in real time
        recognizer.add(frame, index, index / 30)
        time.sleep(1 / 30)
    recognizer.close()
    assert recognizer.num_predictions > 3 * 6 * 2  # far more than the 6 clips per second the frame rate gives
