"""Anomaly detection adapting on the device (issue 12): MLPerf Tiny's autoencoder shape
(models/anomaly_ae.py, 5 frames x 40 log-mel bins = 200 inputs) pretrained briefly in fp32 on
Speech Commands log-mel windows of some classes, quantized, then fine-tuned with the MSE loss in
the generated C (host) on a new "normal" class; the reconstruction error of that class should fall
while an anomalous class stays high.  Prints mean reconstruction error (MSE of the dequantized int8
output) before -> after.  Run: python -m benchmarks.ae_adaptation

Status (not yet the result the issue asks for): with the `full` scheme, 200 windows x 2 epochs,
fine-tuning raises both errors: 'left' 1.92 -> 2.55 and 'go' 2.14 -> 3.02 at learning rate 1e-3
(13.9 / 12.7 at 1e-2).  The learning rate, scheme (e.g. the decoder only) and the fp32 head are
still to be tuned before the figures go into docs/results.md."""
import numpy as np
import torch

from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.data.logmel import N_MELS, log_mel
from tvm_tinytrain.data.speech_commands import CLASSES, load_speech_commands
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.anomaly_ae import build
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.schemes import resolve_scheme

FRAMES = 5
WIDTHS = (FRAMES * N_MELS, 64, 64, 8, 64, 64, FRAMES * N_MELS)
PRETRAIN, NEW_NORMAL, ANOMALY = ("yes", "no", "up", "down"), "left", "go"


def windows(word: str, clips: int, split: str = "test") -> np.ndarray:
    """float32 (N, 1, 5, 40) non-overlapping 5-frame log-mel windows of `clips` clips of `word`."""
    label = CLASSES.index(word)
    audio, _ = load_speech_commands(split, progress=False,
                                    select=lambda cs: [c for c in cs if c.label == label][:clips])
    feats = log_mel(audio)  # (N, frames, 40)
    n = feats.shape[1] // FRAMES
    return feats[:, :n * FRAMES].reshape(-1, 1, FRAMES, N_MELS).astype(np.float32)


def pretrain(x: np.ndarray, steps: int = 1500, seed: int = 0):
    model, example = build(seed=seed, widths=WIDTHS, input_shape=(1, FRAMES, N_MELS))
    model.train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    data, rng = torch.from_numpy(x), np.random.default_rng(seed)
    for _ in range(steps):
        batch = data[rng.integers(0, len(data), 64)]
        loss = torch.nn.functional.mse_loss(model(batch), batch.flatten(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), example


def main(epochs: int = 2, train_windows: int = 200):
    normal = np.concatenate([windows(w, 40) for w in PRETRAIN])
    model, example = pretrain(normal)
    graph = quantize(to_graph(from_torch(model, example, name="anomaly_ae")), list(normal[:200]), progress=False)
    q_out = graph.q_of(graph.output)
    new, anomaly = windows(NEW_NORMAL, 60), windows(ANOMALY, 30)
    rng = np.random.default_rng(0)
    new = new[rng.permutation(len(new))]
    train, held_out = new[:train_windows], new[train_windows:train_windows + 100]
    anomaly = anomaly[:100]
    program = build_training(graph, resolve_scheme("full", graph, loss="mse", lr_weight=0.001, lr_bias=0.001))
    write_project(generate(program), "out/ae_adaptation", force=True)

    def error(session, xs):
        errs = []
        for x in xs:
            x_q = quantize_input(graph, x)
            target = graph.input_q.scale * (x_q.astype(np.float32) - graph.input_q.zero)
            y = q_out.scale * (session.predict(x_q).astype(np.float32) - q_out.zero)
            errs.append(float(np.mean((y - target.reshape(-1)) ** 2)))
        return float(np.mean(errs))

    with HostProgram("out/ae_adaptation").session() as s:
        before = error(s, held_out), error(s, anomaly)
        for epoch in range(epochs):
            for x in train[rng.permutation(len(train))]:
                x_q = quantize_input(graph, x)
                s.train(x_q, graph.input_q.scale * (x_q.astype(np.float32) - graph.input_q.zero))
            print(f"epoch {epoch + 1}: {NEW_NORMAL} {error(s, held_out):.3f}, {ANOMALY} {error(s, anomaly):.3f}")
        after = error(s, held_out), error(s, anomaly)
    print(f"reconstruction error (MSE of the int8 output, {len(held_out)} / {len(anomaly)} held-out windows): "
          f"new normal '{NEW_NORMAL}' {before[0]:.3f} -> {after[0]:.3f}, anomalous '{ANOMALY}' "
          f"{before[1]:.3f} -> {after[1]:.3f}")


if __name__ == "__main__":
    main()
