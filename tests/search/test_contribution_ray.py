"""Contribution analysis on a Ray cluster of two nodes on this machine (`ray start --head`, then
`ray start --address`), through the real CLI: the runs are shared by both nodes and equal the local
workers' runs bit for bit (the C engine is deterministic), a Ray worker SIGKILLed mid-run has its run
retried to the same result, finished runs are never recomputed, a run whose every attempt is killed is
given up after RAY_RETRIES retries, and a run that fails on a node (its data missing there) is reported
as that one-line error, not retried; stopping the analysis ends its runs on the cluster.  Also `--ray
local`, and an address where no head listens.

The cluster tests are slow (every run builds its C program, ~15 s here): `-m slow`, with the `ray`
extra installed."""
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest

pytest.importorskip("ray")
from tvm_tinytrain.search.contribution import RAY_RETRIES  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))  # the CLI installed beside this Python
TRIAL_TITLE = "ray::_ray_trial"  # a Ray worker's process title while it runs a contribution run
ANALYSIS = ["analyze", "mcunet-5fps", "--data", "cifar10:classes=0,1", "--train-per-class", "2",
            "--test-per-class", "2", "--epochs", "1", "--lr", "0.005", "--seed", "0",
            "--bias-depths", "2", "--layers", "41", "--ratios", "1"]  # baseline, bias:2, weight:41:1
TIMEOUT = 600  # seconds any one step may take on a loaded machine before the test fails


def tinytrain(*argv, env=None, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tvm_tinytrain.cli", *map(str, argv)], capture_output=True,
                          text=True, env=env, timeout=timeout)


def _start_node(folder: Path, args: list, env: dict) -> subprocess.Popen:
    """`ray start ... --block` in a session of its own; returns once the node is up (or fails with its log)."""
    log = folder / "start.log"
    with open(log, "w") as out:
        node = subprocess.Popen([RAY, "start", "--block", "--num-cpus=1", "--disable-usage-stats",
                                 "--node-ip-address=127.0.0.1", f"--temp-dir={folder}", *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 180
    while "Ray runtime started" not in log.read_text():
        if node.poll() is not None or time.monotonic() > deadline:
            _stop([node])
            pytest.fail(f"ray start failed:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return node


def _stop(nodes):
    """SIGTERM each `ray start --block` (it drains its node and stops its processes), SIGKILL its
    session if it has not ended within 60 s: only the processes this test started."""
    for node in nodes:
        if node.poll() is None:
            node.terminate()
    for node in nodes:
        try:
            node.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(timeout=30)


class Cluster(NamedTuple):
    address: str                 # the head's HOST:PORT
    nodes: list                  # the `ray start --block` processes
    root: Path                   # the folder of their temp dirs (logs)
    env: dict                    # a driver's environment: the cluster's token


@contextlib.contextmanager
def ray_cluster(n_nodes: int, node_env: dict | None = None):
    """A cluster of `n_nodes` one-CPU Ray nodes on this machine, each in its own temp dir (short: Ray's
    socket paths must fit 107 characters), with token authentication on a token of its own, as
    docs/training.md sets up a cluster (Ray 2.60 turns it on for a head that finds ~/.ray/auth_token, and
    a node joins such a head only with RAY_AUTH_MODE=token: explicit, the test holds wherever it runs)."""
    root = Path(tempfile.mkdtemp(prefix="tt-ray-"))
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **auth, **(node_env or {})}
    nodes = []
    try:
        (root / "head").mkdir()
        nodes.append(_start_node(root / "head", ["--head", "--port=0", "--include-dashboard=false"], env))
        address = (root / "head" / "ray_current_cluster").read_text().strip()
        for i in range(1, n_nodes):
            (root / f"node{i}").mkdir()
            nodes.append(_start_node(root / f"node{i}", [f"--address={address}"], env))
        yield Cluster(address, nodes, root, {**os.environ, **auth})
    finally:
        _stop(nodes)
        shutil.rmtree(root, ignore_errors=True)


def _descendants(pids) -> list[int]:
    """Every process below `pids` (read from /proc: the Ray workers of our nodes, not anyone else's)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(pids)
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _title(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    return ""


def running_trials(nodes) -> list[int]:
    """The Ray workers of `nodes` running a contribution run now."""
    return [pid for pid in _descendants([node.pid for node in nodes]) if _title(pid).startswith(TRIAL_TITLE)]


def kill_running_trials(nodes, analysis: subprocess.Popen, count: int | None) -> int:
    """SIGKILL the Ray workers of `nodes` seen running a contribution run, `count` of them (None: every
    one until the analysis ends); how many were killed."""
    killed = 0
    deadline = time.monotonic() + TIMEOUT
    while analysis.poll() is None and killed != count:
        assert time.monotonic() < deadline, "the analysis did not end"
        for pid in running_trials(nodes)[:None if count is None else count - killed]:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        time.sleep(0.05)
    return killed


@contextlib.contextmanager
def analysis_on(cluster: Cluster, out: Path, log: Path):
    """The CLI's analysis on `cluster`, running in the background; killed if still running."""
    with open(log, "w") as log_file:
        analysis = subprocess.Popen([sys.executable, "-m", "tvm_tinytrain.cli", *ANALYSIS, "--out", str(out),
                                     "--ray", cluster.address], stdout=log_file, stderr=subprocess.STDOUT,
                                    env=cluster.env)
    try:
        yield analysis
    finally:
        if analysis.poll() is None:
            analysis.kill()
            analysis.wait(timeout=60)


@pytest.fixture(scope="module")
def two_nodes():
    with ray_cluster(2) as cluster:
        yield cluster


@pytest.mark.slow
def test_analysis_on_two_ray_nodes(two_nodes, tmp_path):
    local = tinytrain(*ANALYSIS, "--out", tmp_path / "local.json", "--workers", "2")
    assert local.returncode == 0, local.stderr
    expected = json.loads((tmp_path / "local.json").read_text())["runs"]
    out = tmp_path / "ray.json"
    with analysis_on(two_nodes, out, tmp_path / "ray.log") as analysis:
        assert kill_running_trials(two_nodes.nodes, analysis, count=1) == 1  # mid-run: a run builds its C for seconds
        status = analysis.wait(timeout=TIMEOUT)
    assert status == 0, (tmp_path / "ray.log").read_text()
    text = out.read_text()
    runs = json.loads(text)["runs"]
    assert set(runs) == set(expected) == {"baseline", "bias:2", "weight:41:1"}
    for key, run in runs.items():  # the killed run too: retried, to the same result
        assert (run["accuracy"], run["loss"]) == (expected[key]["accuracy"], expected[key]["loss"]), key
    assert len({run["ray_node"] for run in runs.values()}) == 2  # both nodes ran runs

    again = tinytrain(*ANALYSIS, "--out", out, "--ray", two_nodes.address, env=two_nodes.env)
    assert again.returncode == 0, again.stderr
    assert out.read_text() == text  # nothing recomputed, nothing rewritten

    partial = json.loads(text)
    del partial["runs"]["bias:2"]
    out.write_text(json.dumps(partial))
    resumed = tinytrain(*ANALYSIS, "--out", out, "--ray", two_nodes.address, env=two_nodes.env)
    assert resumed.returncode == 0, resumed.stderr
    runs_after = json.loads(out.read_text())["runs"]
    assert {k: v for k, v in runs_after.items() if k != "bias:2"} == partial["runs"]  # kept as they were
    assert (runs_after["bias:2"]["accuracy"], runs_after["bias:2"]["loss"]) == (expected["bias:2"]["accuracy"],
                                                                             expected["bias:2"]["loss"])


@pytest.mark.slow
def test_a_run_lost_too_often_is_reported(two_nodes, tmp_path):
    """Every attempt killed: each run is retried RAY_RETRIES times, not forever, then reported."""
    with analysis_on(two_nodes, tmp_path / "c.json", tmp_path / "ray.log") as analysis:
        killed = kill_running_trials(two_nodes.nodes, analysis, count=None)
        status = analysis.wait(timeout=TIMEOUT)
    log = (tmp_path / "ray.log").read_text()
    assert status == 2 and "Traceback" not in log, log
    [error] = [line for line in log.splitlines() if line.startswith("error:")]
    assert error.startswith("error: contribution run ") and "could not finish on the Ray cluster" in error, error
    assert killed >= RAY_RETRIES + 1


@pytest.mark.slow
def test_stopping_the_analysis_ends_its_runs_on_the_cluster(two_nodes, tmp_path):
    """Ctrl-C on `analyze`: its runs still going on the nodes end too (the driver disconnects)."""
    with analysis_on(two_nodes, tmp_path / "c.json", tmp_path / "ray.log") as analysis:
        deadline = time.monotonic() + TIMEOUT
        while not running_trials(two_nodes.nodes):
            assert analysis.poll() is None and time.monotonic() < deadline, (tmp_path / "ray.log").read_text()
            time.sleep(0.05)
        analysis.send_signal(signal.SIGINT)
        status = analysis.wait(timeout=TIMEOUT)
    assert status == 130, (tmp_path / "ray.log").read_text()
    deadline = time.monotonic() + 60
    while running_trials(two_nodes.nodes):
        assert time.monotonic() < deadline, "runs still going 60 s after the analysis stopped"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_run_failing_on_a_node_is_reported_not_retried(tmp_path):
    missing = tmp_path / "no-datasets-here"  # the node's machine lacks the data set
    with ray_cluster(1, {"TINYTRAIN_DATA": str(missing)}) as cluster:
        result = tinytrain(*ANALYSIS, "--out", tmp_path / "c.json", "--ray", cluster.address, env=cluster.env)
        driver_logs = [path.read_text(errors="replace") for path in cluster.root.rglob("python-core-driver-*.log")]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # on a line of its own
    assert error.startswith("error: contribution run ") and f"TINYTRAIN_DATA={missing} is not a folder" in error, error
    assert driver_logs and not any("Will resubmit task" in log for log in driver_logs)  # Ray logs every retry so


@pytest.mark.slow
def test_analysis_on_a_local_ray_instance(tmp_path):
    """`--ray local`: a Ray instance of its own for one analysis (a token of its own too: Ray 2.60 would
    write a new local instance's token to ~/.ray/auth_token)."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    result = tinytrain(*ANALYSIS, "--out", tmp_path / "c.json", "--ray", "local", env=env)
    assert result.returncode == 0, result.stderr
    runs = json.loads((tmp_path / "c.json").read_text())["runs"]
    assert set(runs) == {"baseline", "bias:2", "weight:41:1"}
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["loss"] > 0 for r in runs.values())


@pytest.mark.parametrize("address, expect", [("nowhere", "--ray 'nowhere' is not HOST:PORT"),
                                             ("CLOSED", "cannot reach the Ray head at 127.0.0.1:")])
def test_a_bad_address_is_refused_at_once(tmp_path, capsys, address, expect):
    """Refused in one line before Ray is asked (ray.init would retry an address for minutes)."""
    import socket

    from tvm_tinytrain.cli import main

    with socket.socket() as s:  # a port nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        if address == "CLOSED":
            address = f"127.0.0.1:{s.getsockname()[1]}"
        status = main([*ANALYSIS, "--out", str(tmp_path / "c.json"), "--ray", address])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    [error] = [line for line in err.splitlines() if line.startswith("error:")]
    assert expect in error and "ray start --head" in error, error
