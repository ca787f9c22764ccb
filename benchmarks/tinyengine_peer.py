"""TinyEngine, the paper's own engine, as a peer on QEMU's Cortex-M7, counted exactly as ours is.

TinyEngine's kernels and the C it generated for its MCUNet training demo (the paper's 49 KB
scheme, our preset `paper-49kb`, 10 classes) stay in ../shared/peers/tinyengine (or
$TINYTRAIN_PEERS/tinyengine) and are compiled from there, never copied into the project.  Around
them sits our harness (benchmarks/tinyengine/main.c) linked with our firmware's startup.c and
semihosting transport, so the instruction counts (SysTick under -icount shift=0), the painted stack
and the flash / static SRAM of the ELF mean what they mean for our firmware.

Two builds with its own flags (tutorial/training/.cproject: -Ofast, -std=c11, -ffunction-sections,
-fdata-sections, -DSTM32F746xx, hard float): with the double-precision FPU QEMU's M7 has
(`-mfpu=fpv5-d16`, as our cortex-m7 board), and with the real STM32F746's single-precision one
(`-mfpu=fpv5-sp-d16`, the fair row for a board).  Each image (int8, HWC, written to getInput())
is one invoke(labels) (a training step) and one invoke_inf() (the forward).

    python -m benchmarks.tinyengine_peer [--images 10]
"""
from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tvm_tinytrain.errors import TinyTrainError

ENV_VAR = "TINYTRAIN_PEERS"
BOARD = "cortex-m7"
MODEL, SCHEME = "mcunet-5fps", "paper-49kb"
HARNESS = Path(__file__).resolve().parent / "tinyengine" / "main.c"
FLAGS = ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-Ofast", "-std=c11", "-ffunction-sections",
         "-fdata-sections", "-DSTM32F746xx")
VARIANTS = {  # engine name -> the FPU flag
    "TinyEngine (-Ofast, its flags, QEMU's double-precision FPU)": "-mfpu=fpv5-d16",
    "TinyEngine (-Ofast, single-precision FPU as the STM32F746)": "-mfpu=fpv5-sp-d16",
}
TRAIN, INFER = 0, 1
INPUT_BYTES, CLASSES = 128 * 128 * 3, 10
GENERATED = Path("generated/codegen")
FIGURES = ("instructions_per_step", "instructions_per_inference", "peak_sram_bytes", "flash_bytes")


def locate() -> tuple[Path | None, str | None]:
    """(TinyEngine's folder, None), or (None, one line saying why it is not here)."""
    override = os.environ.get(ENV_VAR)
    base = Path(override).expanduser() if override else Path(__file__).resolve().parent.parent.parent / "shared" / "peers"
    where = f"{ENV_VAR}={override}" if override else str(base)
    root = base / "tinyengine"
    if not (root / GENERATED / "Source" / "genModel.c").is_file():
        return None, (f"TinyEngine not measured: {where} holds no tinyengine/{GENERATED}/Source/genModel.c "
                      f"(set {ENV_VAR} to the folder holding tinyengine/)")
    return root, None


def sources(root: Path) -> list[Path]:
    """TinyEngine's kernels and its generated demo (unused functions go with --gc-sections)."""
    return sorted((root / "TinyEngine" / "src").rglob("*.c")) + sorted((root / GENERATED / "Source").glob("*.c"))


def build(root: Path, fpu: str, folder: Path) -> dict:
    """Compile TinyEngine in place with its flags + our harness for the board: the ELF and its sizes."""
    from tvm_tinytrain.targets.qemu import (FIRMWARE_DIR, FLASH_SECTIONS, GCC, LINK_FLAGS, elf_sections,
                                            linker_script, load_board)

    board = load_board(BOARD)
    folder.mkdir(parents=True, exist_ok=True)
    ld, elf = folder / "tinyengine.ld", folder / f"tinyengine{fpu.replace('-mfpu=', '_')}.elf"
    ld.write_text(linker_script(board))
    includes = [root / "TinyEngine" / "include", root / GENERATED / "Include",
                *(root / "cmsis" / "CMSIS" / part / "Include" for part in ("Core", "NN", "DSP")), FIRMWARE_DIR]
    cmd = [GCC, *FLAGS, fpu, "-w", f"-DTT_SYSTICK_HZ={int(board['systick_hz'])}u", *(f"-I{p}" for p in includes),
           *map(str, sources(root)), str(HARNESS), str(FIRMWARE_DIR / "startup.c"),
           str(FIRMWARE_DIR / "transport_semihost.c"), *LINK_FLAGS, "-T", str(ld), "-o", str(elf), "-lm"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise TinyTrainError(f"tinyengine peer: the build with {fpu} failed: "
                             f"{(result.stderr.strip().splitlines() or ['(no message)'])[-1]}")
    sections = elf_sections(elf)
    return {"elf": elf, "flash_bytes": sum(v for k, v in sections.items() if k in FLASH_SECTIONS),
            "static_ram_bytes": sections.get(".data", 0) + sections.get(".bss", 0)}


def encode(images) -> bytes:
    """Each (int8 CHW input, label): a TRAIN then an INFER request, the input as HWC (getInput())."""
    out = bytearray()
    for x, label in images:
        hwc = np.ascontiguousarray(np.asarray(x, np.int8).transpose(1, 2, 0)).tobytes()
        if len(hwc) != INPUT_BYTES or not 0 <= label < CLASSES:
            raise TinyTrainError(f"tinyengine peer: an image must be int8 3x128x128 with a label 0..9, got "
                                 f"{np.shape(x)} label {label}")
        for kind in (TRAIN, INFER):
            out += struct.pack("<ii", kind, label) + hwc
    return bytes(out)


def run(elf: Path, images, timeout: float = 900.0) -> dict:
    """Run the requests on QEMU (plain files, no session needed): counts, logits, stack."""
    from tvm_tinytrain.targets.qemu import load_board, qemu_command

    folder = elf.parent
    (folder / "requests.bin").write_bytes(encode(images))
    (folder / "answers.bin").unlink(missing_ok=True)
    try:
        proc = subprocess.run(qemu_command(load_board(BOARD), elf), cwd=folder, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TinyTrainError(f"tinyengine peer: QEMU did not finish {len(images)} images within {timeout} s") from None
    if proc.returncode != 0:
        raise TinyTrainError(f"tinyengine peer: the firmware ended with status {proc.returncode}: "
                             f"{(proc.stderr.strip().splitlines() or ['(no message)'])[-1]}")
    data = (folder / "answers.bin").read_bytes()
    per_image = 8 + CLASSES + 8
    if len(data) != len(images) * per_image + 4:
        raise TinyTrainError(f"tinyengine peer: answers.bin has {len(data)} bytes, expected "
                             f"{len(images) * per_image + 4}")
    steps, forwards, logits = [], [], []
    for i in range(len(images)):
        chunk = data[i * per_image:(i + 1) * per_image]
        steps.append(struct.unpack("<Q", chunk[:8])[0])
        logits.append(np.frombuffer(chunk[8:8 + CLASSES], np.int8))
        forwards.append(struct.unpack("<Q", chunk[8 + CLASSES:])[0])
    return {"steps": steps, "forwards": forwards, "logits": logits, "stack_bytes": struct.unpack("<i", data[-4:])[0]}


def measure(images, engines=tuple(VARIANTS), folder: Path | None = None, progress=None) -> list[dict]:
    """One row per TinyEngine build; each is {"measured": False, "reason": ...} when it cannot be."""
    root, reason = locate()
    rows = []
    for engine in engines:
        row = {"engine": engine, "model": MODEL, "scheme": SCHEME, "target": BOARD,
               "flags": " ".join((*FLAGS, VARIANTS[engine])), "measured": False, **dict.fromkeys(FIGURES)}
        rows.append(row)
        if progress:
            progress(f"tinyengine: {engine}")
        if root is None:
            row["reason"] = reason
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="tinytrain-tinyengine-") as tmp:
                built = build(root, VARIANTS[engine], Path(folder or tmp))
                result = run(built["elf"], images)
        except TinyTrainError as err:
            row["reason"] = str(err).splitlines()[0]
            continue
        row.update(measured=True, images=len(images),
                   instructions_per_step=int(round(float(np.mean(result["steps"])))),
                   instructions_per_inference=int(round(float(np.mean(result["forwards"])))),
                   instructions_per_step_range=[min(result["steps"]), max(result["steps"])],
                   peak_sram_bytes=built["static_ram_bytes"] + result["stack_bytes"],
                   static_ram_bytes=built["static_ram_bytes"], stack_bytes=result["stack_bytes"],
                   flash_bytes=built["flash_bytes"],
                   predictions=[int(np.argmax(l)) for l in result["logits"]])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tinyengine_peer", description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10, help="CIFAR-10 training images (default 10)")
    args = parser.parse_args(argv)
    from benchmarks.run import training_images

    rows = measure(training_images(args.images), progress=lambda text: print(text, file=sys.stderr))
    for r in rows:
        if not r["measured"]:
            print(f"{r['engine']}: {r['reason']}")
            continue
        print(f"{r['engine']}: {r['instructions_per_step'] / 1e6:.1f} M instructions / step, "
              f"{r['instructions_per_inference'] / 1e6:.1f} M / forward, peak SRAM {r['peak_sram_bytes']} B "
              f"({r['static_ram_bytes']} static + {r['stack_bytes']} stack), flash {r['flash_bytes']} B")
    return rows


if __name__ == "__main__":
    main()
