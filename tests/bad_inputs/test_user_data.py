"""Bad `--data npz:FILE` inputs of train: a user's own arrays, the most hand-made data file there
is.  Each case fails while the file is read, before any program is built, with one line naming
the file, the array and what to do.

The model is a small 1-D net in the case folder (`tinynet:net`, input (2, 1, 16), found in the
current folder as `python -m` would), so a case costs its import and nothing else."""
import io
import zipfile

import numpy as np
import pytest

from bad_input_harness import Case, run_bad

NET = '''
import torch
from torch import nn


def net(num_classes=3):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, (1, 3), padding=(0, 1)), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, num_classes)).eval(), torch.zeros(1, 2, 1, 16)
'''
FILE = "d.npz"


def train(spec=f"npz:{FILE}"):
    return ["train", "tinynet:net", "--scheme", "bias-only", "--data", spec, "--epochs", "1"]


def good(n=6, classes=3):
    """Valid x (n, 2, 16) float32 and y 0..classes-1 (two of each class for n = 6)."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 2, 16)).astype(np.float32), np.arange(n) % classes


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def data(content, name=FILE):
    """The model file, and `content` (bytes, or a function making them) at `name`."""
    def setup(folder):
        (folder / "tinynet.py").write_text(NET)
        (folder / name).write_bytes(content() if callable(content) else content)
    return setup


def arrays(**changes):
    """A valid file with some arrays replaced (None removes one)."""
    x, y = good()
    base = {"x": x, "y": y, **changes}
    return data(lambda: npz(**{k: v for k, v in base.items() if v is not None}))


def _zip(members: dict, **arrays) -> bytes:
    """An npz of `arrays` (saved by numpy) plus raw `members` {name: bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.save(member, value)
            zf.writestr(name + ".npy", member.getvalue())
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def forged(name, descr, shape, payload=b"\0" * 64, **others):
    """An npz whose member `name` has a hand-written .npy header (shape and dtype it does not hold)."""
    def make():
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
        return _zip({name + ".npy": header.getvalue() + payload}, **others)
    return data(make)


def raw_member(name, content, **others):
    return data(lambda: _zip({name: content}, **others))


X, Y = good()
NAN = X.copy()
NAN[2, 1, 5] = np.nan
INF = X.copy()
INF[4, 0, 0] = -np.inf
ONE_D = good()[0][:, 0]  # (6, 16): no channel axis
MSE = ["--loss", "mse", "--lr", "0.001"]
T = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)  # targets of the 3 outputs
T_NAN = T.copy()
T_NAN[1, 2] = np.nan

CASES = [
    # not an npz, or not one np.load may open
    Case("not-a-zip", train(), ("d.npz", "not an npz (zip) archive"), setup=data(b"x,y\n1,2\n")),
    Case("empty-file", train(), ("d.npz", "not an npz"), setup=data(b"")),
    Case("truncated-zip", train(), ("d.npz", "not an npz"), setup=data(lambda: npz(x=X, y=Y)[:300])),
    Case("npy-not-npz", train(), ("d.npz", "not an npz", "np.savez"),
         setup=data(lambda: (lambda b: (np.save(b, X), b.getvalue())[1])(io.BytesIO()))),
    Case("spec-names-a-folder", train(), ("d.npz is a folder", "npz:PATH is an .npz file"),
         setup=lambda f: [(f / "tinynet.py").write_text(NET), (f / FILE).mkdir()]),
    Case("file-missing", train(), ("unknown dataset", "npz:d.npz", "no such dataset, file or folder"),
         setup=lambda f: (f / "tinynet.py").write_text(NET)),
    Case("member-not-npy", train(), ("d.npz", "cannot read the archive"), setup=raw_member("x", b"hello", y=Y)),
    Case("unknown-member", train(), ("unexpected member(s) 'X'", "case-sensitive"), setup=arrays(X=X, x=None)),
    # arrays that need pickle
    Case("x-object-array", train(), ("'x' is an object array", "pickle"),
         setup=arrays(x=np.array([{}, {}, {}, {}, {}, {}], dtype=object))),
    Case("classes-object-array", train(), ("'classes' is an object array", "str"),
         setup=arrays(classes=np.array(["a", 1, None], dtype=object))),
    # dtypes and shapes, from the headers
    Case("x-int8", train(), ("x is int8, expected float32", "astype(np.float32)"), setup=arrays(x=X.astype(np.int8))),
    Case("x-float64", train(), ("x is float64, expected float32",), setup=arrays(x=X.astype(np.float64))),
    Case("x-2d", train(), ("x has shape (6, 16)", "(N, C, L)", "x[:, None]"), setup=arrays(x=ONE_D)),
    Case("x-5d", train(), ("x has shape (6, 2, 1, 1, 16)",), setup=arrays(x=X[:, :, None, None])),
    Case("x-wrong-for-model", train(), ("1-D samples (C, L) = (3, 16)", "the model takes (2, 1, 16)"),
         setup=arrays(x=np.zeros((6, 3, 16), np.float32))),
    Case("y-float", train(), ("y is float32", "integer labels"), setup=arrays(y=Y.astype(np.float32))),
    Case("y-bool", train(), ("y is bool",), setup=arrays(y=(Y > 0))),
    Case("y-2d", train(), ("y is int64 (6, 1)",), setup=arrays(y=Y[:, None])),
    Case("x-y-length-mismatch", train(), ("x holds 6 samples but y 5 labels",), setup=arrays(y=Y[:5])),
    Case("missing-y", train(), ("has no 'y' array", "np.savez"), setup=arrays(y=None)),
    Case("missing-x", train(), ("has no 'x' array",), setup=arrays(x=None)),
    Case("x-test-without-y-test", train(), ("has x_test but no y_test", "both"), setup=arrays(x_test=X)),
    Case("x-test-other-shape", train(), ("x_test samples are (2, 8)", "x samples are (2, 16)"),
         setup=arrays(x_test=X[:, :, :8], y_test=Y)),
    Case("y-test-length-mismatch", train(), ("x_test holds 6 samples but y_test 2 labels",),
         setup=arrays(x_test=X, y_test=Y[:2])),
    Case("empty-arrays", train(), ("x has shape (0, 2, 16)", "no samples"),
         setup=arrays(x=np.zeros((0, 2, 16), np.float32), y=np.zeros(0, np.int64))),
    Case("huge-declared-shape", train(), ("'x' declares float32 (1000000000, 2, 16)", "truncated or forged"),
         setup=forged("x", "<f4", (10**9, 2, 16), y=Y)),
    Case("negative-declared-shape", train(), ("negative shape",), setup=forged("x", "<f4", (-6, 2, 16), y=Y)),
    Case("classes-not-strings", train(), ("classes is int64", "class names"), setup=arrays(classes=np.arange(3))),
    Case("classes-only-one", train(), ("classes is <U1 (1,)", "2..10000"), setup=arrays(classes=np.array(["a"]))),
    # values
    Case("x-nan", train(), ("x holds NaN (sample 2", "finite"), setup=arrays(x=NAN)),
    Case("x-inf", train(), ("x holds inf (sample 4",), setup=arrays(x=INF)),
    Case("x-test-nan", train(), ("x_test holds NaN",), setup=arrays(x_test=NAN, y_test=Y)),
    Case("x-constant", train(), ("every value of x is 0.5", "no int8 input scale"),
         setup=arrays(x=np.full((6, 2, 16), 0.5, np.float32))),
    Case("y-negative", train(), ("y[2] is -1", "outside the class indices"), setup=arrays(y=np.array([0, 1, -1, 1, 0, 1]))),
    Case("y-out-of-range", train(), ("y[5] is 7", "0..2 (3 classes)"),
         setup=arrays(y=np.array([0, 1, 2, 0, 1, 7]), classes=np.array(["a", "b", "c"]))),
    Case("y-test-out-of-range", train(), ("y_test[0] is 3", "0..2"),
         setup=arrays(x_test=X[:2], y_test=np.array([3, 0]), classes=np.array(["a", "b", "c"]))),
    Case("y-huge-label", train(), ("labels go up to 1000000", "more than 10000 classes"),
         setup=arrays(y=np.array([0, 1, 0, 1, 0, 10**6]))),
    Case("one-class-only", train(), ("one class only", "at least 2"), setup=arrays(y=np.zeros(6, np.int64))),
    Case("class-without-training-samples", train(), ("no training samples (y) of class(es) ['b']",),
         setup=arrays(y=np.array([0, 2, 0, 2, 0, 2]), classes=np.array(["a", "b", "c"]))),
    Case("class-with-one-sample", train(), ("class '2' has 1 sample(s)", "x_test / y_test"),
         setup=arrays(y=np.array([0, 1, 0, 1, 0, 2]))),
    Case("duplicate-class-names", train(), ("classes lists 'a' more than once",),
         setup=arrays(classes=np.array(["a", "b", "a"]))),
    Case("class-name-with-newline", train(), ("printable characters",),
         setup=arrays(classes=np.array(["a", "b\nc", "d"]))),
    Case("classes-option-unknown", train(f"npz:{FILE}:classes=0,zebra"), ("d.npz has no class 'zebra'", "0, 1, 2"),
         setup=arrays()),
    Case("classes-option-keeps-one", train(f"npz:{FILE}:classes=1"), ("keeps 1 class", "at least 2"),
         setup=arrays()),
    # float targets for the MSE loss: t beside x, or the spec's targets=inputs (tinynet has 3 outputs)
    Case("mse-on-labels", train() + MSE, ("d.npz has class labels, not float targets", "targets=inputs"),
         setup=arrays()),
    Case("t-without-mse", train(), ("d.npz holds float targets (t)", "--loss mse"), setup=arrays(y=None, t=T)),
    Case("targets-inputs-without-mse", train(f"npz:{FILE}:targets=inputs"), ("targets=inputs", "--loss mse"),
         setup=arrays(y=None)),
    Case("t-wrong-size", train() + MSE, ("t holds 5 values per sample, the model has 3 outputs", "(N, 3)"),
         setup=arrays(y=None, t=np.zeros((6, 5), np.float32))),
    Case("targets-inputs-wrong-size", train(f"npz:{FILE}:targets=inputs") + MSE,
         ("each input holds 32 values per sample, the model has 3 outputs", "flattened input"), setup=arrays(y=None)),
    Case("t-float64", train() + MSE, ("t is float64 (6, 3)", "float32 (N, K)"), setup=arrays(y=None, t=T.astype(float))),
    Case("t-3d", train() + MSE, ("t is float32 (6, 1, 3)", "reshape(len(t), -1)"), setup=arrays(y=None, t=T[:, None])),
    Case("t-length-mismatch", train() + MSE, ("x holds 6 samples but t 4 targets",), setup=arrays(y=None, t=T[:4])),
    Case("t-nan", train() + MSE, ("t holds NaN (sample 1", "targets must be finite"), setup=arrays(y=None, t=T_NAN)),
    Case("t-test-nan", train() + MSE, ("t_test holds inf (sample 0",),
         setup=arrays(y=None, t=T, x_test=X[:2], t_test=np.full((2, 3), np.inf, np.float32))),
    Case("t-test-without-t", train() + MSE, ("has t_test but no t",),
         setup=arrays(t_test=T[:2], x_test=X[:2], y_test=Y[:2])),
    Case("x-test-without-t-test", train() + MSE, ("has t and x_test but no t_test",),
         setup=arrays(y=None, t=T, x_test=X[:2])),
    Case("t-and-targets-inputs", train(f"npz:{FILE}:targets=inputs") + MSE, ("holds targets t", "targets=inputs"),
         setup=arrays(y=None, t=T)),
    Case("y-test-without-y", train() + MSE, ("has y_test but no y",),
         setup=arrays(y=None, t=T, x_test=X[:2], t_test=T[:2], y_test=Y[:2])),
    Case("targets-option-unknown", train(f"npz:{FILE}:targets=labels") + MSE, ("targets=labels", "targets=inputs"),
         setup=arrays(y=None)),
    Case("classes-option-without-labels", train(f"npz:{FILE}:targets=inputs:classes=0") + MSE,
         ("classes=", "selects by the labels y", "the file has none"), setup=arrays(y=None)),
    Case("lr-auto-with-mse", train() + ["--loss", "mse", "--lr", "auto"], ("--lr auto", "cross-entropy", "--loss mse"),
         setup=arrays(y=None, t=T)),
    Case("t-object-array", train() + MSE, ("'t' is an object array", "pickle"),
         setup=arrays(y=None, t=np.array([{}] * 6, dtype=object))),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    run_bad(case, tmp_path, capsys, monkeypatch)
