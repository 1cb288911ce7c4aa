"""PyTorch and Caffe2 checkpoint files read into NumPy arrays, without torch and without running their code.

`torch.save` writes a pickle whose tensors point into separate storages: in a zip archive since torch 1.6
(`archive/data.pkl` beside `archive/data/0`, `archive/data/1`, ...), and before that in one stream (the
pickle, then the storages' keys, then each storage's length and bytes). PySlowFast's Caffe2 model zoo files
(`.pkl`) are Python 2 pickles of a dict `{"blobs": {name: numpy array}}`. A pickle can name any function
to call, so these readers rebuild only what a checkpoint holds (tensors, NumPy arrays, dicts, lists,
numbers, strings); anything else becomes an inert `Opaque` object, and nothing in the file runs.
"""

import collections
import io
import pickle
import struct
import tarfile
import zipfile

import numpy as np

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": np.uint16,  # widened to float32 when the tensor is rebuilt
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_RECONSTRUCT, _SCALAR = np.zeros(1).__reduce__()[0], np.float32(0).__reduce__()[0]  # without NumPy's private modules
NUMPY_GLOBALS = {  # what a pickled NumPy array, dtype or scalar names, in NumPy 1 and 2
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _SCALAR,
    ("numpy._core.multiarray", "scalar"): _SCALAR,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "OrderedDict"): collections.OrderedDict,
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or placed; the message says which file or tensor, and why."""


class Opaque:
    """Whatever a pickle builds that is not data (an optimizer's class, a config object): kept inert."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


def _opaque_class(module, name):
    return type(name, (Opaque,), {"__module__": f"opaque.{module}"})


class _Storage:
    """A torch storage: its element type, and its elements once read (later, in the legacy format)."""

    def __init__(self, dtype):
        self.dtype, self.data = dtype, None


class _Tensor:
    """A tensor as `torch._utils._rebuild_tensor_v2` describes it: a view into a storage."""

    def __init__(self, storage, offset, size, stride, *unused):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        data = self.storage.data
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(data[self.offset :], self.size, tuple(s * itemsize for s in self.stride))
        array = np.array(view)  # a copy, in C order
        if self.storage.dtype == "bfloat16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _rebuild_parameter(data, *unused):
    return data


class _TorchUnpickler(pickle.Unpickler):
    def __init__(self, file, storages):
        super().__init__(file, encoding="latin1")
        self.storages = storages  # key -> _Storage, filled by the reader

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _Tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in STORAGE_DTYPES:
            return name  # a storage type: only its name is used
        if module == "_codecs" and name == "encode":  # bytes in protocol 2 pickles
            import codecs

            return codecs.encode
        if (module, name) in NUMPY_GLOBALS:
            return NUMPY_GLOBALS[module, name]
        return _opaque_class(module, name)

    def persistent_load(self, pid):
        # zip: ('storage', type, key, location, numel); legacy: the same and a view (None for whole storages)
        if pid[0] != "storage" or (len(pid) > 5 and pid[5] is not None):
            raise CheckpointError(f"an unsupported storage reference {pid[:3]}")
        kind, key = pid[1], str(pid[2])
        if key not in self.storages:
            self.storages[key] = _Storage("bfloat16" if kind == "BFloat16Storage" else STORAGE_DTYPES[kind])
        return self.storages[key]


def _arrays(value):
    """The unpickled checkpoint with every tensor as a NumPy array."""
    if isinstance(value, _Tensor):
        return value.array()
    if isinstance(value, dict):
        return type(value)((key, _arrays(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_arrays(item) for item in value)
    return value


def _element_type(storage):
    return np.dtype(np.uint16 if storage.dtype == "bfloat16" else storage.dtype)


def read_torch(path):
    """A `torch.save` file (zip or legacy format) as Python objects, its tensors as NumPy arrays."""
    storages = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pickled = next((name for name in names if name.endswith("/data.pkl") or name == "data.pkl"), None)
            if pickled is None:
                raise CheckpointError(f"{path} is a zip archive without data.pkl: not a torch.save file")
            root = pickled[: -len("data.pkl")]
            checkpoint = _TorchUnpickler(io.BytesIO(archive.read(pickled)), storages).load()
            for key, storage in storages.items():
                storage.data = np.frombuffer(archive.read(f"{root}data/{key}"), dtype=_element_type(storage))
        return _arrays(checkpoint)
    if tarfile.is_tarfile(path):
        raise CheckpointError(f"{path} is a tar archive, torch's format before version 0.4, which is not read here")
    with open(path, "rb") as file:
        try:
            for _ in range(3):  # magic number, protocol version, system information
                pickle.load(file, encoding="latin1")
        except Exception as error:
            raise CheckpointError(f"{path} is neither a zip nor a legacy torch.save file: {error}") from error
        checkpoint = _TorchUnpickler(file, storages).load()
        for key in pickle.load(file, encoding="latin1"):  # the storages, in this order, after the objects
            storage = storages[str(key)]
            (count,) = struct.unpack("<q", file.read(8))
            dtype = _element_type(storage)
            storage.data = np.frombuffer(file.read(count * dtype.itemsize), dtype=dtype)
    return _arrays(checkpoint)


class _NumpyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in NUMPY_GLOBALS:
            return NUMPY_GLOBALS[module, name]
        if module == "_codecs" and name == "encode":
            import codecs

            return codecs.encode
        raise CheckpointError(f"the pickle names {module}.{name}, which a Caffe2 weights file does not hold")


def read_caffe2(path):
    """A PySlowFast Caffe2 `.pkl` file: {blob name: array}."""
    with open(path, "rb") as file:
        try:
            content = _NumpyUnpickler(file, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError) as error:
            raise CheckpointError(f"{path} is not a pickle of Caffe2 blobs: {error}") from error
    blobs = content.get("blobs", content) if isinstance(content, dict) else None
    if not isinstance(blobs, dict):
        raise CheckpointError(f"{path} holds a {type(content).__name__}, not a dict of Caffe2 blobs")
    return {str(name): np.asarray(value) for name, value in blobs.items() if isinstance(value, np.ndarray | np.generic)}


def load_torch(path):
    """`read_torch`, or torch's own `torch.load(weights_only=True)` where it is installed and this reader
    cannot read the file (a format newer than it knows)."""
    try:
        return read_torch(path)
    except (CheckpointError, KeyError, pickle.UnpicklingError) as error:
        try:
            import torch
        except ImportError:
            raise CheckpointError(
                f"Could not read {path} as a torch.save file: {error}. If it is one, install torch "
                "(pip install torch) and convert again: torch.load then reads it."
            ) from error
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        return _from_torch(checkpoint, torch)


def _from_torch(value, torch):
    if isinstance(value, torch.Tensor):
        return value.detach().float().numpy() if value.is_floating_point() else value.numpy()
    if isinstance(value, dict):
        return {key: _from_torch(item, torch) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_torch(item, torch) for item in value)
    return value
