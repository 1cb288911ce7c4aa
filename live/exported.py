"""An exported model (export.py) loaded for prediction, as the app and evaluation use it.

    config, classes, model = load_export("model/export/model_int8.tflite")
    probabilities = model.predict(clips)        # (clips, classes)
    probabilities = model.step(frame)           # a stream model (streaming.Stream), one frame at a time

A LiteRT file runs with the `ai-edge-litert` runtime where it is installed, else with TensorFlow's
own; ONNX with ONNX Runtime; a SavedModel with TensorFlow. The run's config.json and classes.json
are read from the export's folder, where export.py copies them.
"""

import json
from pathlib import Path

import numpy as np

EXPORTS_FILE = "exports.json"  # what export.py made and measured, by file name


def litert_interpreter(path, threads=None):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own, deprecated in favour of ai-edge-litert but still there
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806
    return Interpreter(model_path=str(path), num_threads=threads)


class LiteRTModel:
    """A LiteRT clip model: input `clip`, output the probabilities."""

    def __init__(self, path, threads=None):
        self.runner = litert_interpreter(path, threads).get_signature_runner()

    def predict(self, clips):
        return np.concatenate([self.runner(clip=clip[None].astype(np.float32))["output_0"] for clip in clips])


def litert_stream(path, stream, threads=None):
    """A LiteRT step model (inputs `frame` and the states named in `stream["states"]`, outputs the
    probabilities and then the next states in that order) as a streaming.Stream."""
    from nets.streaming import Stream

    runner = litert_interpreter(path, threads).get_signature_runner()
    states, details = stream["states"], runner.get_input_details()

    def step(frame, state):
        outputs = runner(frame=frame, **dict(zip(states, state)))
        return outputs["output_0"].copy(), [outputs[f"output_{i + 1}"].copy() for i in range(len(states))]

    shapes = [(name, tuple(details[name]["shape"][1:])) for name in states]
    return Stream(predict=step, shapes=shapes, frames=stream["frames"])


class OnnxModel:
    def __init__(self, path, threads=None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def predict(self, clips):
        return self.session.run(None, {self.input: np.asarray(clips, np.float32)})[0]


class SavedModel:
    def __init__(self, path):
        import tensorflow as tf

        self.loaded = tf.saved_model.load(str(path))  # kept: its variables go with it

    def predict(self, clips):
        return np.asarray(self.loaded.serve(np.asarray(clips, np.float32)))


def load_export(path, threads=None):
    """(config, classes, model) of an exported file or SavedModel folder, with the run's settings
    from the export's folder; `threads` caps the runtime's threads."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: export a run first (python export.py --run RUN --format litert).")
    export_format(path)  # before the files beside it: a model.keras is no export
    folder = path.parent
    for name in ("config.json", "classes.json", EXPORTS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} not found: keep an export in the folder export.py wrote it into.")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    classes = json.loads((folder / "classes.json").read_text(encoding="utf-8"))
    recorded = json.loads((folder / EXPORTS_FILE).read_text(encoding="utf-8"))
    if path.name not in recorded:
        raise ValueError(f"{folder / EXPORTS_FILE} has no record of {path.name}: keep the name export.py gave it.")
    return config, classes, open_model(path, recorded[path.name]["stream"], threads)


def open_model(path, stream=None, threads=None):
    """The runtime's model of an export, with `predict(clips)`; a streaming.Stream for a stream model
    (`stream`: {"frames", "states"})."""
    fmt = export_format(path)
    if fmt == "litert":
        return litert_stream(path, stream, threads) if stream else LiteRTModel(path, threads)
    return OnnxModel(path, threads) if fmt == "onnx" else SavedModel(path)


def export_format(path):
    """ "litert", "onnx" or "savedmodel", by what `path` is; a clear error for anything else."""
    path = Path(path)
    if path.suffix in (".tflite", ".onnx"):
        return "litert" if path.suffix == ".tflite" else "onnx"
    if (path / "saved_model.pb").is_file():
        return "savedmodel"
    raise ValueError(f"{path} is not an export: expected a .tflite or .onnx file or a SavedModel folder (export.py).")
