"""Device confirmation: a CIFAR-10 scheme trained for a few hundred steps on QEMU's Cortex-M7
gives the same losses as the same generated C on this host (bit for bit where the same
kernels run; the DSP paths may sum floats in another order: within 1e-5 relative).

    python -m benchmarks.device_confirmation [--scheme out/accuracy_vs_memory_mcunet-5fps/search-200KB.json]

writes summary.json and device_confirmation.png into --out (default out/device_confirmation/).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tvm_tinytrain.training.run import train

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="mcunet-5fps")
    p.add_argument("--scheme", default="paper-100kb")
    p.add_argument("--board", default="cortex-m7")
    p.add_argument("--train-per-class", type=int, default=30, help="x 10 classes = steps of the one epoch")
    p.add_argument("--test-per-class", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--out", default="out/device_confirmation")
    a = p.parse_args(argv)
    out = Path(a.out)
    common = dict(train_per_class=a.train_per_class, test_per_class=a.test_per_class, lr_weight=a.lr, lr_bias=a.lr,
                  warmup_epochs=0.1, force=True)
    device = train(a.model, a.scheme, "cifar10", 1, out / a.board, target=a.board, **common)
    host = train(a.model, a.scheme, "cifar10", 1, out / "host", **common)
    d, h = np.asarray(device["history"]["losses"]), np.asarray(host["history"]["losses"])
    rel = float(np.max(np.abs(d - h) / np.maximum(np.abs(h), 1e-30)))
    summary = {"model": a.model, "scheme": a.scheme, "board": a.board, "steps": len(d),
               "identical_steps": int(np.sum(d == h)), "max_relative_difference": rel,
               "same_within_1e-5": bool(rel <= 1e-5), "instructions_per_step": device.get("instructions_per_step"),
               "device_accuracy": device["test_accuracy"], "host_accuracy": host["test_accuracy"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    ax.plot(h, label="host build", lw=2, alpha=0.6)
    ax.plot(d, "--", label=f"QEMU {a.board}")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    ax.set_title(f"{a.model} / {a.scheme}: {summary['identical_steps']}/{len(d)} steps bit-identical, "
                 f"max relative difference {rel:.1e}", fontsize=8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "device_confirmation.png", dpi=120)
    plt.close(fig)
    print(json.dumps(summary, indent=1))
    return 0 if summary["same_within_1e-5"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
