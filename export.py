"""Export a trained run for deployment, checked against the Keras model before it is put in place.

    python export.py --run model --format litert                    # model/export/model.tflite
    python export.py --run model --format litert --quantize int8    # model/export/model_int8.tflite
    python export.py --run model --format onnx                      # model/export/model.onnx
    python export.py --run model --format savedmodel                # model/export/saved_model/

LiteRT (formerly TensorFlow Lite) runs on phones, a Raspberry Pi and laptop CPUs with only the
`ai-edge-litert` package; ONNX under ONNX Runtime; a SavedModel under TensorFlow or TF Serving.
`--quantize float16` (LiteRT) halves the file; `int8` (LiteRT, ONNX) quarters it and computes in
8-bit integers where the operations allow, its scales calibrated on clips of the training split.
A streaming run (tsm_mobilenet) exports to LiteRT as its step model: one frame and the state in,
the probabilities and the next state out (nets/streaming.py).

Every export goes through the validation clips beside the Keras model (a stream export frame by
frame), and their top-1 agreement and largest probability difference are printed. A float export
(none, float16) below 99 % agreement fails and is not kept. The export folder also gets the run's
config.json and classes.json, and exports.json says what each file is: the folder is all a device needs:
`python app.py --model model/export/model.tflite`, `python evaluate.py --model model/export/model.onnx`.
"""

from common import quiet  # noqa: F401  # isort: skip  (first: TensorFlow starts without its C++ start-up lines)

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from common.files import write_atomic
from live.exported import EXPORTS_FILE, open_model
from nets.streaming import Stream
from network import STREAMING
from training.runs import load_run, run_dataset

FORMATS = ("savedmodel", "litert", "onnx")
QUANTIZE = {"savedmodel": ("none",), "litert": ("none", "float16", "int8"), "onnx": ("none", "int8")}
FLOAT_AGREEMENT = 0.99  # the least top-1 agreement of a float export with the Keras model


def export_name(fmt, quantize):
    suffix = "" if quantize == "none" else f"_{quantize}"
    return {"savedmodel": f"saved_model{suffix}", "litert": f"model{suffix}.tflite", "onnx": f"model{suffix}.onnx"}[fmt]


def clips_of(config, split, data_dir, count):
    """Up to `count` clips of a split, unaugmented, taken evenly through it: (clips, labels)."""
    data = run_dataset(config, split, data_dir, batch_size=1, augment=False, shuffle=False, workers=1)
    chosen = np.unique(np.linspace(0, data.num_clips - 1, min(count, data.num_clips)).round().astype(int))
    return np.stack([data.load_clip(i) for i in chosen]), data.labels[chosen]


def stream_inputs(stream, clips):
    """Every step's inputs {name: array} as a streaming.Stream sees them over `clips`, each from an empty state."""
    names = [tensor.name for tensor in stream.model.inputs]
    for clip in clips:
        stream.reset()
        for frame in clip:
            yield dict(zip(names, [frame[None], *stream.state]))
            stream.step(frame)


def convert_litert(model, quantize, calibration):
    """A LiteRT flatbuffer of a Keras model, of LiteRT's own operations only: the runtimes from pip
    (ai-edge-litert, and TensorFlow's own) cannot run TensorFlow ops. `calibration()` yields
    {input name: array}, for int8."""
    import tensorflow as tf

    convert = tf.lite.TFLiteConverter.from_keras_model(model)
    convert.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        convert.optimizations = [tf.lite.Optimize.DEFAULT]
        convert.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        convert.optimizations = [tf.lite.Optimize.DEFAULT]
        convert.representative_dataset = calibration
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras lists every signature of the SavedModel it goes through
            return convert.convert()
    except Exception as error:  # noqa: BLE001 - the converter raises ConverterError and others
        if "tensor list ops" in str(error):  # the loop over time of a GRU or an LSTM (a TensorList)
            raise ValueError(
                f"{model.name}'s recurrent layer has no LiteRT form without TensorFlow's own ops; export it with "
                "--format onnx or savedmodel."
            ) from None
        missing = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", str(error))))
        if not missing:
            raise
        raise ValueError(
            f"{model.name} uses operations LiteRT has no kernel for ({', '.join(missing)}); export it with --format onnx "
            "or savedmodel. (A slowfast run trained before export.py had 3D pooling there: train it again for LiteRT.)"
        ) from None


def convert_onnx(model, path, quantize, calibration):
    """An ONNX file (tf2onnx through Keras); int8 is static quantisation by ONNX Runtime, calibrated."""
    if quantize == "none":
        model.export(str(path), format="onnx", verbose=False)
        return
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    float_path = path.with_name(f"{path.stem}.float.onnx")
    model.export(str(float_path), format="onnx", verbose=False)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.inputs = iter(calibration())

        def get_next(self):
            return next(self.inputs, None)

    quantize_static(str(float_path), str(path), Reader(), weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    float_path.unlink()


def agreement(model, exported, clips, batch_size=8):
    """(top-1 agreement, largest probability difference) of an export with the Keras model on `clips`."""
    expected = model.predict(clips, batch_size=batch_size, verbose=0)
    got = np.concatenate([exported.predict(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)])
    return float(np.mean(got.argmax(1) == expected.argmax(1))), float(np.abs(got - expected).max())


def export(run_dir, fmt="litert", quantize="none", data_dir=None, check_clips=200, calibration_clips=32):
    """Exports a run into RUN/export/, checks it, and returns what the check found."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    if quantize not in QUANTIZE[fmt]:
        raise ValueError(f"--quantize {quantize} does not apply to {fmt}; it takes {', '.join(QUANTIZE[fmt])}.")
    run_dir = Path(run_dir)
    config, classes, model = load_run(run_dir)
    data_dir = data_dir or config["data"]
    streaming = fmt == "litert" and config["model"] in STREAMING
    model.predict(np.zeros((1, *model.input.shape[1:]), np.float32), verbose=0)  # a loaded model is built by a call
    converted, stream = model, None
    if streaming:
        stream = Stream(model)
        converted = stream.model

    def calibration():
        clips, _ = clips_of(config, "train", data_dir, calibration_clips)
        if streaming:
            yield from stream_inputs(stream, clips)
        else:
            yield from ({"clip": clip[None]} for clip in clips)

    out_dir = run_dir / "export"  # made once an export has passed its check: a failed one leaves nothing
    name = export_name(fmt, quantize)
    with tempfile.TemporaryDirectory(dir=run_dir, prefix=".export_tmp_") as scratch:
        temporary = Path(scratch) / name
        if fmt == "litert":
            temporary.write_bytes(convert_litert(converted, quantize, calibration))
        elif fmt == "onnx":
            convert_onnx(converted, temporary, quantize, calibration)
        else:
            converted.export(str(temporary), format="tf_saved_model", verbose=False)
        states = {"frames": stream.frames, "states": [name for name, _ in stream.shapes]} if streaming else None
        clips, _ = clips_of(config, "validation", data_dir, check_clips)
        exported = open_model(temporary, states)
        agree, difference = agreement(model, exported, clips)
        result = dict(format=fmt, quantize=quantize, stream=states, agreement=agree, max_difference=difference, clips=len(clips))
        result["bytes"] = size_of(temporary)
        print(
            f"{name}: top-1 agrees with the Keras model on {agree:.1%} of {len(clips)} validation clips; "
            f"largest probability difference {difference:.2g}; {result['bytes'] / 1e6:.2f} MB"
        )
        if quantize != "int8" and agree < FLOAT_AGREEMENT:
            raise ValueError(
                f"The {fmt} export ({quantize}) agrees with the Keras model on only {agree:.1%} of validation clips "
                f"(a float export needs {FLOAT_AGREEMENT:.0%}): not kept."
            )
        out_dir.mkdir(exist_ok=True)
        write_atomic(out_dir / "config.json", json.dumps(config, indent=1) + "\n")  # with exports.json, all a device needs
        write_atomic(out_dir / "classes.json", json.dumps(classes) + "\n")
        final = out_dir / name
        if final.is_dir():  # a SavedModel folder: the old one moves aside, into the scratch folder that goes
            os.replace(final, Path(scratch) / "previous")
        os.replace(temporary, final)
    record = json.loads((out_dir / EXPORTS_FILE).read_text(encoding="utf-8")) if (out_dir / EXPORTS_FILE).is_file() else {}
    record[name] = result
    write_atomic(out_dir / EXPORTS_FILE, json.dumps(record, indent=1) + "\n")
    return {"path": str(final), **result}


def size_of(path):
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="model", help="run folder written by train.py (default: model)")
    parser.add_argument("--format", default="litert", choices=FORMATS, help="what to export to (default: litert)")
    parser.add_argument(
        "--quantize", default="none", choices=("none", "float16", "int8"), help="weights and arithmetic (default: none, float32)"
    )
    parser.add_argument("--data", help="prepared data folder for the check and calibration (default: the run's)")
    parser.add_argument("--check-clips", type=int, default=200, help="validation clips the export is checked on (default: 200)")
    parser.add_argument("--calibration-clips", type=int, default=32, help="training clips that calibrate int8 (default: 32)")
    args = parser.parse_args(argv)
    try:
        result = export(args.run, args.format, args.quantize, args.data, args.check_clips, args.calibration_clips)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"export.py: {error}")
    print(f"wrote {result['path']}")
    return result


if __name__ == "__main__":
    main()
