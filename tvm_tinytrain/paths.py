"""Where the shared data lives, and how a damaged file in it is reported.

The datasets and the paper's int8 backbones sit in `shared/datasets/` beside the
checkout.  `TINYTRAIN_DATA` overrides the location: point it at a folder with the same
layout (`weights/tiny-training-int8/`, `cifar10/`, `mnist/`, ...).  An override that is
not a folder, or holds none of those entries, is refused here rather than reported later
as a missing file, so the message names the variable.
"""
import os
import tarfile
from pathlib import Path

from .errors import TinyTrainError

ENV_VAR = "TINYTRAIN_DATA"
LAYOUT = ("weights", "cifar10", "fashion-mnist", "mnist", "speech-commands", "samples", "SHA256SUMS")
_REPO = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    override = os.environ.get(ENV_VAR)
    if override:
        root = Path(override).expanduser()
        if not root.is_dir():
            raise TinyTrainError(f"{ENV_VAR}={override} is not a folder; point it at the datasets folder "
                                 f"(the one holding weights/, cifar10/, samples/)")
        if not any((root / name).exists() for name in LAYOUT):
            raise TinyTrainError(f"{ENV_VAR}={override} holds none of {', '.join(LAYOUT)}; point it at the "
                                 f"datasets folder (the one holding weights/, cifar10/, samples/)")
        return root
    for candidate in (_REPO.parent / "shared" / "datasets", _REPO / "shared" / "datasets"):
        if candidate.is_dir():
            return candidate
    raise TinyTrainError(f"cannot find the datasets folder (looked for ../shared/datasets beside the checkout); "
                         f"set {ENV_VAR} to its location")


def weights_dir() -> Path:
    return data_root() / "weights" / "tiny-training-int8"


def damaged(who: str, path, detail) -> TinyTrainError:
    """The error for a truncated or corrupt file `<datasets>/<set>/<file>`: names it and the checksum command."""
    path = Path(path)
    root = path.parent.parent
    return TinyTrainError(f"{who}: {path} is truncated or corrupt ({detail}); check it against SHA256SUMS in the "
                          f"datasets folder (cd {root} && sha256sum -c SHA256SUMS) and restore it")


def open_tar(who: str, path) -> tarfile.TarFile:
    """An uncompressed tar of the datasets folder, refused if missing or visibly cut short: tarfile
    itself reads a tar truncated between members as a shorter, valid one."""
    path = Path(path)
    if not path.is_file():
        raise TinyTrainError(f"{who}: {path} not found; check the datasets folder ({ENV_VAR})")
    size = path.stat().st_size
    if size % tarfile.BLOCKSIZE:
        raise damaged(who, path, f"{size:,} bytes, not a whole number of {tarfile.BLOCKSIZE}-byte tar blocks")
    try:
        return tarfile.open(path)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise damaged(who, path, f"not a readable tar: {e}") from None
