"""Contribution analysis (the paper's section 3.3): how much accuracy each part of a sparse
update adds, each measured by its own short fine-tuning run of the generated C on the host.

    baseline          only the classifier is trained
    bias k            + the biases of the last k convs             gain_b[k] = acc - baseline
    weight (i, r)     + the weights of conv i, leading r of its input channels
                                                                   gain_w[i, r] = acc - baseline
    scheme            a whole candidate scheme of the measured search (search/measured_search.py)

Runs are independent: they go to local worker processes (all cores by default) or to a Ray
cluster (`ray_address`, the optional `ray` extra; docs/training.md, "Across machines"), where a
lost worker's run is retried.  Results are appended to a JSON file as they arrive, so an
interrupted analysis resumes where it stopped.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from ..errors import TinyTrainError
from ..outputs import atomic_write

RATIOS = (0.125, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Trial:
    kind: str                 # "baseline" | "bias" | "weight" | "scheme"
    k: int = 0                # bias, scheme: last k convs
    layer: int = -1           # weight: scheme index of the conv
    ratio: float = 0.0
    weights: tuple = ()       # scheme: ((layer, ratio), ...), layers ascending

    @property
    def key(self) -> str:
        if self.kind == "scheme":
            return f"scheme:{self.k}:" + ",".join(f"{layer}@{ratio:g}" for layer, ratio in self.weights)
        return {"baseline": "baseline", "bias": f"bias:{self.k}", "weight": f"weight:{self.layer}:{self.ratio:g}"}[self.kind]

    def scheme(self) -> dict:
        """The scheme JSON of this run (the classifier is always trained)."""
        if self.kind == "scheme":
            return {"name": f"scheme-{self.k}" + "".join(f"-{layer}x{ratio:g}" for layer, ratio in self.weights),
                    "n_bias_update": self.k, "weight_layers": [layer for layer, _ in self.weights],
                    "weight_ratios": [ratio for _, ratio in self.weights]}
        spec = {"name": self.key.replace(":", "-"), "n_bias_update": self.k if self.kind == "bias" else 0}
        if self.kind == "weight":
            spec.update(weight_layers=[self.layer], weight_ratios=[self.ratio])
        return spec

    def fields(self) -> dict:
        """What a results file records of the run beside its result (results_file.py checks them)."""
        fields = {"kind": self.kind, "k": self.k, "layer": self.layer, "ratio": self.ratio}
        return {**fields, "weights": [list(w) for w in self.weights]} if self.kind == "scheme" else fields


def plan_trials(graph, bias_ks, layers, ratios=RATIOS) -> list[Trial]:
    """The baseline, one run per bias depth, one per (layer, ratio); layers by scheme index."""
    n_conv = sum(1 for layer in graph.weight_layers()) - 1
    for k in bias_ks:
        if not 1 <= k <= n_conv:
            raise TinyTrainError(f"contribution: bias depth {k} is outside 1..{n_conv} ({graph.name} has {n_conv} convs)")
    for r in ratios:
        if r not in RATIOS:
            raise TinyTrainError(f"contribution: channel ratio {r:g} is not one a scheme can use; "
                                 f"use {', '.join(f'{x:g}' for x in RATIOS)}")
    for i in layers:
        if not 0 <= i < n_conv:
            raise TinyTrainError(f"contribution: layer index {i} is outside 0..{n_conv - 1} (the convs of "
                                 f"{graph.name}; the classifier is always trained)")
    return ([Trial("baseline")] + [Trial("bias", k=k) for k in bias_ks]
            + [Trial("weight", layer=i, ratio=float(r)) for i in layers for r in ratios])


# -- one run, in a worker ------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _setup(config_json: str):
    from ..data.datasets import load_dataset
    from ..model_spec import load_model

    c = json.loads(config_json)
    shape = tuple(load_model(c["model"]).input_shape)
    data = load_dataset(c["data"], shape, train_per_class=c["train_per_class"], test_per_class=c["test_per_class"],
                        seed=c["seed"])
    graph = load_model(c["model"], num_classes=len(data.classes))
    if not graph.quantized:  # every trial trains the same int8 model: the fixed calibration draw
        from ..quantization.calibration import quantize_on_data

        graph = quantize_on_data(graph, c["data"], log=lambda *a: None)
    return graph, data


def run_trial(config_json: str, scheme: dict) -> dict:
    """Fine-tune with `scheme` as `config` says; the final held-out accuracy.  The config's optional
    "scheme_options" (qas, fp32_classifier, momentum) override the scheme's: every run of one analysis
    trains with the same recipe."""
    from ..compiler import compile
    from ..training.engines import CEngine
    from ..training.fit import fit

    t0 = time.time()
    graph, data = _setup(config_json)
    c = json.loads(config_json)
    compiled = compile(graph, scheme, lr_weight=c["lr"], lr_bias=c["lr"], **c.get("scheme_options", {}))
    with CEngine(compiled.program) as engine:
        hist = fit(engine, compiled.scheme, data, epochs=c["epochs"], warmup_epochs=c.get("warmup_epochs", 0),
                   seed=c["seed"], progress=False)
    return {"accuracy": hist.final_accuracy, "loss": hist.epochs[-1]["loss"], "seconds": round(time.time() - t0, 1)}


def auto_learning_rate(config: dict, trials: list[Trial]):
    """`analyze --lr auto`: one learning-rate range test (training/lr_range.py) for all runs, on the
    trial that trains the most biases (the deepest bias run, else the baseline): the runs compare
    parts of a scheme, so they share one rate. Returns (config with that "lr", the RangeTest);
    the test is deterministic, so a resumed analysis finds the same config."""
    from ..compiler import compile
    from ..training.lr_range import range_test

    graph, data = _setup(json.dumps(config, sort_keys=True))
    trial = max(trials, key=lambda t: (t.kind == "bias", t.k))
    test = range_test(compile(graph, trial.scheme()).program, data, seed=config["seed"])
    return {**config, "lr": test.chosen, "lr_auto": True}, test


# -- the analysis ---------------------------------------------------------------------------------
def analyze(config: dict, trials: list[Trial], out: Path, workers: int | None = None,
            ray_address: str | None = None, progress: bool = True, lr_range: dict | None = None) -> dict:
    """Run the trials not yet in `out` (JSON), append each result as it arrives; return the file's
    content (with `lr_range`, the range test of `--lr auto`, if given)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {"config": config, "runs": {}, **({"lr_range": lr_range} if lr_range else {})}
    if out.exists():
        from .results_file import load_results

        results = load_results(out)
        if results.get("config") != config:
            raise TinyTrainError(f"{out} holds an analysis with another configuration; use a new --out file "
                                 f"(or delete {out} to start over)")
    todo = [t for t in trials if t.key not in results["runs"]]
    config_json = json.dumps(config, sort_keys=True)
    bar = tqdm(total=len(trials), initial=len(trials) - len(todo), desc="contribution runs", disable=not progress)

    def record(trial, result):
        results["runs"][trial.key] = {**result, **trial.fields()}
        atomic_write(out, json.dumps(results, indent=1))  # a kill leaves the last complete file
        bar.update(1)

    with bar:  # closed before an error is reported, so the error starts its own line
        if ray_address:
            _run_ray(config_json, todo, ray_address, record)
        else:
            workers = workers or os.cpu_count() or 1
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                       initializer=_leave_signals_to_the_parent)
            try:
                futures = {pool.submit(run_trial, config_json, t.scheme()): t for t in todo}
                for future in as_completed(futures):
                    record(futures[future], future.result())
            except BaseException:  # an error or Ctrl-C / SIGTERM: no run goes on without us
                for process in list((pool._processes or {}).values()):  # no public way before Python 3.14
                    process.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown()
    return results


def _leave_signals_to_the_parent():
    """Workers ignore Ctrl-C (the terminal sends it to the whole group): the parent reports the
    interrupt once and terminates them."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


# A Ray worker lost mid-run (killed, out of memory, its machine gone) is replaced and its run started
# again, at most this many times: a run is deterministic (same data, seed, schedule and C engine) and
# writes nothing but its result, so a retry returns what the lost attempt would have.  An error the
# run itself raises (bad input) is not retried: Ray retries lost workers only (retry_exceptions off).
RAY_RETRIES = 3


def _run_ray(config_json: str, todo: list[Trial], address: str, record):
    if not todo:  # a finished analysis needs no cluster
        return
    try:
        import ray
    except ImportError:
        raise TinyTrainError("--ray needs the optional Ray dependency: pip install -e '.[ray]'") from None
    _connect(ray, address)
    try:
        remote = ray.remote(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False)(_ray_trial)
        pending = {remote.remote(config_json, t.scheme()): t for t in todo}
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            trial = pending.pop(ref)
            record(trial, _ray_result(ray, ref, trial))
    finally:
        ray.shutdown()  # the driver leaving ends its runs still going (an error, Ctrl-C)


def _connect(ray, address: str):
    """ray.init on `address` ('local': a new instance on this machine); an address where nothing
    listens is refused at once (ray.init would retry it for minutes)."""
    import logging
    import socket

    if address != "local":
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise TinyTrainError(f"--ray {address!r} is not HOST:PORT (the address `ray start --head` prints) "
                                 f"or 'local'")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
        except OSError as err:
            raise TinyTrainError(f"cannot reach the Ray head at {address} ({err.strerror or err}); start it there "
                                 f"with `ray start --head --port={port}`, or give the address it printed") from None
    ray.init(address=None if address == "local" else address, log_to_driver=False, logging_level=logging.WARNING)


def _ray_trial(config_json: str, scheme: dict) -> dict:
    """run_trial as a Ray task, plus the machine and Ray node that ran it (how the cluster shared the work)."""
    import socket

    import ray

    host = socket.gethostname()
    try:
        result = run_trial(config_json, scheme)
    except TinyTrainError as err:  # which machine it was: the machines of a cluster can differ
        raise TinyTrainError(f"on {host}: {err}") from None
    return {**result, "host": host, "ray_node": ray.get_runtime_context().get_node_id()}


def _ray_result(ray, ref, trial: Trial) -> dict:
    """The run's result; its own error as the one-line TinyTrainError it is, a run the cluster could not
    finish (its worker lost more often than RAY_RETRIES allows) as one too."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, TinyTrainError):
            raise TinyTrainError(f"contribution run {trial.key} {err.cause}") from None
        raise
    except ray.exceptions.RayError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise TinyTrainError(f"contribution run {trial.key} could not finish on the Ray cluster ({type(err).__name__}: "
                             f"{first:.200}; a lost worker's run is retried {RAY_RETRIES} times); the finished runs "
                             f"are kept in the results file: check the cluster (`ray status`) and run the same "
                             f"command again") from None


def gains(results: dict) -> tuple[dict, dict]:
    """(gain_b {k: gain}, gain_w {(layer, ratio): gain}) relative to the baseline run."""
    runs = results["runs"]
    if "baseline" not in runs:
        raise TinyTrainError("contribution results have no baseline run; run the analysis again to finish it")
    base = runs["baseline"]["accuracy"]
    gain_b = {r["k"]: r["accuracy"] - base for r in runs.values() if r["kind"] == "bias"}
    gain_w = {(r["layer"], r["ratio"]): r["accuracy"] - base for r in runs.values() if r["kind"] == "weight"}
    return gain_b, gain_w
