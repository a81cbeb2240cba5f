"""Benchmark: checkpoint save/load memory and time, streamed format 3 vs the previous format 2.

A learner's state at the shape of a real run, scaled down: bf16 weights of ``--mb`` MB and
an AdamW state (two float32 moments, so 4 × ``--mb`` MB), as torch tensors in ``--tensors``
pieces. Each measurement runs in a fresh process, which builds the state, notes its peak
resident memory, then saves (or loads into a model of the same shapes) and reports the
*extra* peak memory and the seconds:

* format 2 (the previous writer, rebuilt here as the baseline): every tensor copied to a
  float32 NumPy array, an ``.npz`` built in memory, header + JSON + npz concatenated, then
  written; loading read the whole file, unzipped it, and copied each array;
* format 3 (:mod:`seqgame.runner.checkpoint`): tensors written one at a time into the
  temporary file (bf16 as its 16 bits) with a running digest; loading memory-maps it (the
  mapped file pages count in the resident peak, but they are the page cache's, not a
  second heap copy: the kernel can drop them).

    OMP_NUM_THREADS=1 python benchmarks/bench_checkpoint.py [--mb 512] [--tensors 64]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def build(mb: int, n: int):
    import torch

    torch.manual_seed(0)
    per = mb * (1 << 20) // 2 // n  # bf16 elements per tensor
    weights = {f"w{i}": torch.randn(per).to(torch.bfloat16) for i in range(n)}
    moments = {i: {"exp_avg": torch.randn(per), "exp_avg_sq": torch.rand(per),
                   "step": torch.tensor(3.0)} for i in range(n)}
    return weights, moments


def save_v2(path: Path, state) -> None:
    """The format-2 writer this change replaces (rebuilt for the baseline)."""
    import numpy as np
    import torch

    from seqgame.runner.store import write_atomic

    arrays: dict = {}

    def plain(v):
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu()
            dtype = str(t.dtype).removeprefix("torch.")
            key = f"a{len(arrays)}"
            arrays[key] = (t.float() if t.dtype == torch.bfloat16 else t).numpy().copy()
            return {"torch": dtype, "array": {"__ndarray__": key}}
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    body = json.dumps(plain(state)).encode()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    npz = buf.getvalue()
    digest = hashlib.sha256(body + npz).hexdigest()
    write_atomic(path, f"SEQGAME-CKPT 2 {digest} {len(body)} {len(npz)}\n".encode() + body + npz)


def child(mode: str, action: str, path: Path, mb: int, n: int) -> None:
    import torch

    from seqgame.backends.llm.state import from_plain, to_plain
    from seqgame.runner.checkpoint import write_checkpoint
    from seqgame.runner.store import load_checkpoint, write_atomic

    weights, moments = build(mb, n)
    state = {"model": weights, "optimizer": moments}
    before = peak_mb()
    t0 = time.perf_counter()
    if action == "save":
        if mode == "format2":
            save_v2(path, state)
        else:
            write_atomic(path, lambda f: write_checkpoint(f, {"model": to_plain(weights),
                                                                 "optimizer": to_plain(moments)}))
    else:
        back = load_checkpoint(path)  # format 2 or 3 (the reader takes both)
        for key, target in (("model", weights), ("optimizer", moments)):
            loaded = from_plain(back[key])
            if key == "model":
                for k, t in target.items():
                    t.copy_(loaded[k])  # what load_state_dict does
            else:
                for i, s in target.items():
                    for k, t in s.items():
                        t.copy_((loaded[i] if i in loaded else loaded[str(i)])[k])
    seconds = time.perf_counter() - t0
    extra = peak_mb() - before
    if action == "load":  # what was loaded is what was saved
        del back, loaded
        again = build(mb, n)
        assert all(torch.equal(weights[k], again[0][k]) for k in weights)
    print(json.dumps({"extra_peak_mb": extra, "seconds": seconds,
                      "file_mb": path.stat().st_size / (1 << 20)}))


def measure(mode: str, action: str, path: Path, args: argparse.Namespace) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, action, str(path),
                          "--mb", str(args.mb), "--tensors", str(args.tensors)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=512, help="bf16 weights in MB (state: 5x)")
    ap.add_argument("--tensors", type=int, default=64)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]), args.mb, args.tensors)
        return
    print(f"state: {args.mb} MB bf16 weights + {4 * args.mb} MB float32 AdamW moments "
          f"in {args.tensors} tensors each")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("format2", "format3"):
            path = Path(tmp) / f"{mode}.ckpt"
            rows[mode] = {a: measure(mode, a, path, args) for a in ("save", "load")}
    print(f"{'':10s} {'file MB':>8s} {'save: +peak MB':>15s} {'s':>6s} "
          f"{'load: +peak MB':>15s} {'s':>6s}")
    for mode, r in rows.items():
        print(f"{mode:10s} {r['save']['file_mb']:8.0f} {r['save']['extra_peak_mb']:15.0f} "
              f"{r['save']['seconds']:6.2f} {r['load']['extra_peak_mb']:15.0f} "
              f"{r['load']['seconds']:6.2f}")
    a, b = rows["format2"], rows["format3"]
    print(f"format3 / format2: file {b['save']['file_mb'] / a['save']['file_mb']:.2f}, "
          f"save peak {b['save']['extra_peak_mb'] / max(a['save']['extra_peak_mb'], 1):.3f}, "
          f"save time {b['save']['seconds'] / a['save']['seconds']:.2f}, "
          f"load peak {b['load']['extra_peak_mb'] / max(a['load']['extra_peak_mb'], 1):.3f}, "
          f"load time {b['load']['seconds'] / a['load']['seconds']:.2f}")


if __name__ == "__main__":
    main()
