"""Weights files of the project's own models: what a builder's `weights=` loads, and what convert_weights.py writes.

A file is a Keras `.weights.h5` (or a `.keras` model) of the same builder. Keras matches a weights file to a
model by the order of its layers, not by their names, so a file only fits the variant it was saved from;
convert_weights.py therefore records the variant, the number of classes and the checkpoint it came from in
the file's attributes, and a file of another variant is refused with the model to build instead. When only
the head differs (Kinetics' 400 classes for a model of 27), the backbone is loaded, and that is said.
"""

import os
import warnings

import keras

ABOUT = ("model", "num_classes", "source")  # the attributes convert_weights.py writes into a file


def write_weights(model, path, about):
    """`model.save_weights(path)`, with `about` ({"model": ..., "num_classes": ..., "source": ...}) in the file's attributes."""
    import h5py

    model.save_weights(path)
    with h5py.File(path, "a") as file:
        for key, value in about.items():
            file.attrs[key] = value


def read_about(path):
    """The attributes write_weights recorded in a `.weights.h5` file; {} for any other file."""
    if not str(path).endswith(".h5"):
        return {}
    import h5py

    try:
        with h5py.File(path, "r") as file:
            return {
                key: file.attrs[key].item() if hasattr(file.attrs[key], "item") else file.attrs[key]
                for key in ABOUT
                if key in file.attrs
            }
    except OSError:  # not an HDF5 file: loading says so
        return {}


def load_weights(model, path, backbone_output, family):
    """Loads the whole `model` from `path`, or only its backbone (up to the layer `backbone_output`) when
    the file's head has another number of classes. `family` names the model in messages ("I3D")."""
    if str(path) in ("imagenet", "kinetics"):
        raise ValueError(
            f"There are no Keras-hosted {path} weights for {family}. Pass the path of a converted weights file "
            "(a .weights.h5 saved from this builder, or written by convert_weights.py), or weights=None to train from scratch."
        )
    if not os.path.isfile(path):
        raise ValueError(f"{family} weights file {str(path)!r} does not exist. Pass an existing .weights.h5 file, or none.")
    about = read_about(path)
    if about.get("model", model.name) != model.name:
        raise ValueError(
            f"{str(path)!r} holds weights of {about['model']} (converted from {about.get('source', 'a checkpoint')}), "
            f"not of {model.name}: build {about['model']} to load it (train.py --model {about['model']})."
        )
    # A model of the backbone alone shares its layers with `model`, so loading it fills `model`. Its layers
    # come in the same order as in the whole model, the order Keras matches a file's weights by, and the
    # file's head weights are left unread.
    backbone_model = keras.Model(model.input, model.get_layer(backbone_output).output)
    # Keras warns about each layer it could not fill before it raises; the error below says it all.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.load_weights(path)
            return "whole"
        except Exception:  # most often a head for another number of classes: load the backbone alone
            pass
        try:
            backbone_model.load_weights(path)
        except Exception as error:
            # Keras's message ends in the variable's values; the layer and the two shapes come first.
            reason = " ".join(str(error).split("Target variable:")[0].split())[:400].rstrip(".")
            raise ValueError(
                f"Could not load {family} weights from {str(path)!r} into {model.name} with input {model.input_shape[1:]}, "
                f"not even its backbone: {type(error).__name__}: {reason}. The file must be a .weights.h5 (or .keras) "
                f"saved from {model.name} with the same number of channels (3 for RGB, 2 for flow)."
            ) from error
    classes = f"{about['num_classes']} classes" if "num_classes" in about else "another number of classes"
    print(
        f"Loaded the backbone of {path} into {model.name}: the file's head has {classes}, this model "
        f"{model.output_shape[-1]}, so the head starts from random weights."
    )
    return "backbone"
