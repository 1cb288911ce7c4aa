"""A run's settings (config.json): from the arguments and the defaults when it starts; when it continues,
the stored ones, checked against what was asked and against the data it is given.

The settings a run keeps for its life and their defaults are training/runs.py's RUN_DEFAULTS; a model
may have its own (MODEL_DEFAULTS), and the default model has its own on data with steady flow
(STEADY_FLOW), what prepare.py writes by default. The config also records what the app needs to see as training saw:
the data's frame rate, and for flow computed live the prepared size and the flow method.
"""

import json
from pathlib import Path

from clips import flow
from clips.index import read_classes, read_index
from datagenerator import names_say_mirror_pairs
from network import DEFAULT_MODEL, IMAGENET, KEYPOINT_MODELS, PRETRAINED
from training.runs import RUN_DEFAULTS, read_config

# where a model needs other defaults: a two-stream spatial stream sees one colour frame
MODEL_DEFAULTS = {"two_stream": {"frames": 1, "channels": 3}, "pose_lstm": {"modality": "keypoints"}}
# the default model on steady flow (the scene's motion less the camera's): at each of 16 positions the two
# flow fields up to the next, at 48x48, half the clips mirrored; on bench/heldout.py's moving camera it
# learns in five minutes what gray frames do not (docs/five-minutes.md), on the demo's it matches them;
# 48x48 learns as much an epoch as 64x64 at two thirds of the step
STEADY_FLOW = {"modality": "flow", "size": 48, "flow_pairs": 2, "flip": True}
# the default model on flow: a fast stem without a temporal kernel, since each stack holds its own motion (the
# paper's 5 frames find the motion between gray frames); a third less of the step at the same accuracy an epoch
FLOW_SLOWFAST = {"fast_stem_frames": 1}


def resolve_config(args, run_dir, checkpoint_state):
    """The run's settings: stored ones when continuing, else the arguments and defaults."""
    config = read_config(run_dir) if checkpoint_state else None
    data_dir = Path(args.data or (config["data"] if config else "data"))
    classes = read_classes(data_dir)
    if config is not None:
        asked = {"model": args.model, **{k: getattr(args, k) for k in RUN_DEFAULTS}}
        stored = {**RUN_DEFAULTS, **config}  # a setting newer than the run: its default, what the run did
        clashes = [f"{k} {stored[k]} (asked {v})" for k, v in asked.items() if v is not None and v != stored[k]]
        if read_classes(run_dir) != classes:
            clashes.append(f"the classes of {config['data']} ({data_dir} has others)")
        clashes += prepared_differently(config, data_dir)
        if clashes:
            raise ValueError(
                f"{run_dir} holds a run with {', '.join(clashes)}. Continue it with the same settings, "
                f"or start a new one with --fresh or another --run."
            )
        return dict(config, data=str(data_dir.resolve())), classes
    dataset = json.loads((data_dir / "dataset.json").read_text(encoding="utf-8"))
    config = {"model": args.model or DEFAULT_MODEL}
    defaults = {**RUN_DEFAULTS, **MODEL_DEFAULTS.get(config["model"], {})}
    if config["model"] == DEFAULT_MODEL and args.modality in (None, "flow") and has_steady_flow(dataset):
        defaults.update(STEADY_FLOW)
    config.update({k: v if getattr(args, k) is None else getattr(args, k) for k, v in defaults.items()})
    if args.flip is None and not names_say_mirror_pairs(classes):  # numbered classes: a mirror image's class is unknown
        config["flip"] = False
    # the data's absolute path: evaluate.py, export.py and a later train.py may start in another folder
    config.update(data=str(data_dir.resolve()), num_classes=len(classes), runs=[], **recorded_by_data(dataset))
    config["input_shape"] = input_shape(config, dataset, data_dir)
    if config["model"] == DEFAULT_MODEL and config["modality"] == "flow":
        config["model_options"] = dict(FLOW_SLOWFAST)  # a copy: the config is the run's own
    if config["modality"] == "keypoints":  # the app samples live keypoints as far apart as in a typical clip
        rows = read_index(data_dir, "train")
        median_frames = sorted(row["num_frames"] for row in rows)[len(rows) // 2] if rows else 2
        samples = dataset["keypoints"]["samples"]
        config.update(keypoints=dataset["keypoints"], keypoint_spacing=(median_frames - 1) / max(1, samples - 1) / config["fps"])
    if config["model"] in PRETRAINED:  # ImageNet weights by default where they fit: colour frames, or flow
        fits = config["model"] in IMAGENET and (config["channels"] == 3 or config["modality"] == "flow")
        config["weights"] = args.weights or ("imagenet" if fits else "none")
    elif args.weights not in (None, "none"):
        raise ValueError(f"--weights applies to {', '.join(sorted(PRETRAINED))}, not to {config['model']}.")
    if config["freeze_backbone_epochs"] and config.get("weights", "none") == "none":
        raise ValueError(
            "--freeze-backbone-epochs keeps pretrained weights while the head learns; "
            f"{config['model']} has none here. Give --weights imagenet or a weights file, or leave it out."
        )
    return config, classes


def has_steady_flow(dataset):
    """Whether a prepared DATA_DIR's dataset.json records flow less the camera's motion."""
    return (dataset.get("flow") or "").endswith(flow.STEADY)  # a layout's own flow is recorded as "tvl1 (...)"


def input_shape(config, dataset, data_dir):
    """The model's input: a clip of frames or flow stacks, or the keypoints of `prepare.py keypoints`."""
    keypoint_model = config["model"] in KEYPOINT_MODELS
    if keypoint_model != (config["modality"] == "keypoints"):
        models = ", ".join(sorted(KEYPOINT_MODELS))
        raise ValueError(f"{config['model']} cannot take {config['modality']}: keypoints go with {models} only.")
    if keypoint_model:
        if "keypoints" not in dataset:
            raise ValueError(
                f"{data_dir} has no keypoints: extract them with `python prepare.py keypoints {data_dir} --model MODEL.task`."
            )
        return [dataset["keypoints"]["samples"], 2 * dataset["keypoints"]["joints"]]
    if config["modality"] == "flow" and not dataset.get("flow"):  # said before the run folder is written
        raise ValueError(
            f"{data_dir} has no optical flow (prepared with --flow none): prepare the dataset again with flow, "
            "into another --out or with --fresh, or train on --modality frames."
        )
    channels = 2 * config["flow_pairs"] if config["modality"] == "flow" else config["channels"]
    return [config["frames"], config["size"], config["size"], channels]


def prepared_differently(config, data_dir):
    """How `data_dir` was prepared otherwise than the data a run trained on, as clashes to report: its frame
    rate, which the app samples the camera at, and for flow the size and method live flow is computed with."""
    recorded = recorded_by_data(json.loads((Path(data_dir) / "dataset.json").read_text(encoding="utf-8")))
    if config["modality"] != "flow":  # the size and method matter only to flow computed live
        recorded = {"fps": recorded["fps"]}
    return [
        f"{name} {config[name]} (the data {data_dir} has {value})"
        for name, value in recorded.items()
        if config.get(name) is not None and value != config[name]
    ]


def recorded_by_data(dataset):
    """What a run keeps of its data's dataset.json: the frame rate the app samples the camera at, and the
    prepared size and flow method it computes live flow with."""
    return {"fps": dataset.get("fps", 12), "prepared_size": dataset.get("size"), "flow_method": dataset.get("flow")}
