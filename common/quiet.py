"""TensorFlow without its C++ start-up lines: the first import of every command that uses TensorFlow.

On a machine without a GPU, importing TensorFlow prints lines such as

    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 ... cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ...

some of them before TensorFlow's own log level applies. They read as failures on a machine that has
no GPU by design. Importing this module imports TensorFlow and looks for its devices with the
process's standard error caught, then passes on everything else that was printed, and keeps
TensorFlow's C++ log at errors only (TF_CPP_MIN_LOG_LEVEL=2, which the command's own child processes
inherit) for the rest of the run. `TF_CPP_MIN_LOG_LEVEL=0 python train.py ...` shows everything
(1: all but info lines): then nothing is caught or hidden.
"""

import os
import re
import sys
import tempfile

# Start-up lines of TensorFlow's C++ log: absl's note, info and warning lines, and without a GPU, cuInit's error.
STARTUP_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} )")
NO_GPU_LINE = re.compile(r"^E\d{4} .*cuInit")


def import_tensorflow():
    """Imports TensorFlow (and finds its devices) with its start-up lines hidden; returns the module."""
    if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2") in ("0", "1"):  # the user asked to see more
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    gpus = None
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow

            gpus = tensorflow.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            printed = caught.read().decode(errors="replace").splitlines(keepends=True)
            hidden = [STARTUP_LINE] + ([NO_GPU_LINE] if gpus == [] else [])
            sys.stderr.write("".join(line for line in printed if not any(p.match(line) for p in hidden)))
    return tensorflow


import_tensorflow()
