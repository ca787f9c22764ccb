"""Where the shared data lives.

The datasets and the paper's int8 backbones sit in `shared/datasets/` beside the
checkout.  `TINYTRAIN_DATA` overrides the location (point it at a folder with the
same layout, e.g. `weights/tiny-training-int8/`).
"""
import os
from pathlib import Path

from .errors import TinyTrainError

ENV_VAR = "TINYTRAIN_DATA"
_REPO = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        root = Path(override).expanduser()
        if not root.is_dir():
            raise TinyTrainError(f"{ENV_VAR}={override} is not a folder; point it at the datasets folder "
                                 f"(the one holding weights/, cifar10/, samples/)")
        return root
    for candidate in (_REPO.parent / "shared" / "datasets", _REPO / "shared" / "datasets"):
        if candidate.is_dir():
            return candidate
    raise TinyTrainError(f"cannot find the datasets folder (looked for ../shared/datasets beside the checkout); "
                         f"set {ENV_VAR} to its location")


def weights_dir() -> Path:
    return data_root() / "weights" / "tiny-training-int8"
