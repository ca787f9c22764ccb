"""Bad-input corpus of `tvm-tinytrain doctor`: its inputs are the environment (TINYTRAIN_DATA).
A bad datasets folder is reported, not a crash: exit 1, the report on stdout and one `error: `
line naming the variable, its value and the fix."""
import pytest

from bad_input_harness import Case, run_bad

CASES = [
    Case("data-var-not-a-folder", ["doctor"], ("TINYTRAIN_DATA=", "notes.txt is not a folder", "point it at the datasets"),
         setup=lambda f: (f / "notes.txt").write_text("x"), env={"TINYTRAIN_DATA": lambda f: str(f / "notes.txt")}),
    Case("data-var-missing-folder", ["doctor"], ("TINYTRAIN_DATA=", "nowhere is not a folder"),
         env={"TINYTRAIN_DATA": lambda f: str(f / "nowhere")}),
    Case("data-var-wrong-folder", ["doctor"], ("TINYTRAIN_DATA=", "holds none of weights, cifar10", "point it at"),
         setup=lambda f: (f / "photos").mkdir(), env={"TINYTRAIN_DATA": lambda f: str(f / "photos")}),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    err = run_bad(case, tmp_path, capsys, monkeypatch)
    assert len(err.splitlines()) == 1, err
