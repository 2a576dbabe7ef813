"""Training throughput of tsattn's device windows against a common Dataset + DataLoader.

Why: tsattn keeps each data part as one tensor on the device and cuts a batch of windows
with one gather; common libraries build every window in a Python `__getitem__`, collate
them on the host and copy each batch to the device. This script measures what that buys,
on ETTh1 at the standard benchmark sizes (lookback 336, horizon 96, batch 256, all 7
channels), with the *same* model, optimizer and step for both pipelines, so the only
difference is how batches are made.

The machine may be shared, so the pipelines are measured interleaved in rounds (the order
rotates every round) and the report gives medians and ratios rather than one number.
On CUDA it adds the GPU busy fraction, model FLOPs utilization and a full training
through the real CLI. A script, not a test: it prints tables and writes JSON.

    .venv/bin/python benchmarks/throughput.py                        # CPU or the GPU
    .venv/bin/python benchmarks/throughput.py --device cuda --compile
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count, islice
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing tsattn

from tsattn.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from tsattn.data import read_frame  # noqa: E402
from tsattn.device import resolve_device  # noqa: E402
from tsattn.fitting import Prepared, prepare  # noqa: E402
from tsattn.models import build_model  # noqa: E402
from tsattn.plan import resolve  # noqa: E402
from tsattn.training import make_optimizer, run_epoch  # noqa: E402

ETTH1 = ROOT / "sample_data" / "ETTh1.csv"
TRAIN_END, VAL_END = 8640, 11520
LOOKBACK, HORIZON = 336, 96

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity), matched on the device name.
BF16_PEAK_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.0,  # SXM
    "H200": 989.0,
    "GH200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L40": 181.0,
    "L4": 121.0,
    "A10G": 70.0,
    "RTX 4090": 165.0,
}

Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]


# --------------------------------------------------------------------------- set-up


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto|cpu|cuda")
    p.add_argument("--models", default="transformer,lstm-attn")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=None,
                   help="measured steps per pipeline (default 30 on CPU, 200 on GPU)")
    p.add_argument("--warmup", type=int, default=None,
                   help="unmeasured steps first (default 2 on CPU, 40 on GPU: > 1 epoch, "
                        "so --compile sees the short last batch before timing)")
    p.add_argument("--rounds", type=int, default=None,
                   help="interleaved blocks the steps are split into (default: one step "
                        "per block on CPU, 4 blocks on GPU)")
    p.add_argument("--workers", default="0,2", help="DataLoader num_workers to try")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (both)")
    p.add_argument("--profile-steps", type=int, default=20, help="CUDA: steps profiled")
    p.add_argument("--full-train", action=argparse.BooleanOptionalAction, default=None,
                   help="time `tsattn train` end to end (default: on CUDA only)")
    p.add_argument("--json", type=Path, default=None,
                   help="default benchmarks/results/throughput-<device>.json")
    return p.parse_args(argv)


def machine_info(device: torch.device) -> dict:
    """What the numbers depend on; printed first and stored with them."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "device_name": platform.processor() or platform.machine(),
        "git_commit": _git_commit(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def prepare_etth1(kind: str, batch_size: int, device: torch.device) -> Prepared:
    """The standard ETTh1 split, every channel a target, windows on `device` (tsattn's way)."""
    frame = read_frame(ETTH1)
    run = RunConfig(
        data=DataConfig(train_end=str(TRAIN_END), val_end=str(VAL_END)),
        model=ModelConfig(kind=kind, lookback=LOOKBACK, horizon=HORIZON),
        train=TrainConfig(batch_size=batch_size),
    )
    return prepare(frame, resolve(run, frame), device)


# --------------------------------------------------------------------------- pipelines


def ours(prep: Prepared, batch_size: int, seed: int = 0) -> Batches:
    """tsattn's batches, epoch after epoch: one gather per batch, indices shuffled on device."""
    generator = torch.Generator().manual_seed(seed)
    for _ in count():
        yield from prep.train.batches(batch_size, generator)


class WindowDataset(Dataset):
    """One window per `__getitem__`, sliced from the scaled array, as common libraries do."""

    def __init__(self, values: np.ndarray, starts: np.ndarray, n_targets: int) -> None:
        self.values, self.starts, self.n_targets = values, starts, n_targets

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = int(self.starts[i])
        x = self.values[s : s + LOOKBACK]
        y = self.values[s + LOOKBACK : s + LOOKBACK + HORIZON, : self.n_targets]
        return torch.from_numpy(x), torch.from_numpy(y)


def reference(prep: Prepared, batch_size: int, workers: int, device: torch.device,
              seed: int = 0) -> Batches:
    """DataLoader(shuffle=True) over `WindowDataset`, each batch copied to the device.

    The reference gets the usual good habits (persistent workers, pinned memory and
    non-blocking copies on CUDA) so that the ratio is not flattered.
    """
    values = prep.train.series.cpu().numpy()  # the same scaled float32 array as ours
    starts = prep.train.starts.cpu().numpy()
    cuda = device.type == "cuda"
    loader = DataLoader(
        WindowDataset(values, starts, prep.train.n_targets), batch_size=batch_size,
        shuffle=True, num_workers=workers, persistent_workers=workers > 0, pin_memory=cuda,
        generator=torch.Generator().manual_seed(seed),
    )
    for _ in count():
        for x, y in loader:
            yield x.to(device, non_blocking=cuda), y.to(device, non_blocking=cuda)


def pipelines(prep: Prepared, args: argparse.Namespace,
              device: torch.device) -> dict[str, Callable[[], Batches]]:
    """Name -> factory of a fresh endless batch iterator."""
    made: dict[str, Callable[[], Batches]] = {"tsattn": lambda: ours(prep, args.batch_size)}
    for w in (int(v) for v in args.workers.split(",") if v.strip()):
        made[f"reference-w{w}"] = lambda w=w: reference(prep, args.batch_size, w, device)
    return made


# --------------------------------------------------------------------------- measurement


class Counted:
    """Passes batches through and counts the windows, since the last batch may be short."""

    def __init__(self, batches: Batches) -> None:
        self.batches, self.windows = batches, 0

    def __iter__(self) -> Batches:
        for x, y in self.batches:
            self.windows += x.shape[0]
            yield x, y


@dataclass
class Runner:
    """One pipeline's model, optimizer and endless batches, kept alive across rounds.

    Keeping them alive lets the rounds interleave finely (down to one step each) without
    paying model construction and warm-up again every round.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batches: Batches
    clip: float
    device: torch.device
    windows: int = 0
    seconds: float = 0.0
    steps: int = 0
    blocks: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def start_runner(prep: Prepared, make: Callable[[], Batches], args: argparse.Namespace,
                 device: torch.device) -> Runner:
    """Same seed, same weights, same optimizer for every pipeline; then the warm-up steps."""
    torch.manual_seed(0)
    model = build_model(prep.run.model).to(device)
    optimizer = make_optimizer(model, prep.run.train, device)
    runnable = torch.compile(model) if args.compile else model
    runner = Runner(runnable, optimizer, make(), prep.run.train.clip, device)
    if args.warmup:
        run_epoch(runner.model, islice(runner.batches, args.warmup), optimizer, clip=runner.clip)
    return runner


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_block(runner: Runner, steps: int) -> float:
    """Train `steps` steps through `run_epoch`; returns this block's windows/s.

    `run_epoch` is the loop `tsattn train` runs (autocast, clipping, optimizer step), so
    every pipeline drives identical model code; it ends with a sync (float of the loss).
    """
    sync(runner.device)
    counted = Counted(islice(runner.batches, steps))
    start = time.perf_counter()
    loss = run_epoch(runner.model, counted, runner.optimizer, clip=runner.clip)
    seconds = time.perf_counter() - start
    runner.windows, runner.seconds = runner.windows + counted.windows, runner.seconds + seconds
    runner.steps += steps
    runner.losses.append(loss)
    runner.blocks.append(counted.windows / seconds)
    return runner.blocks[-1]


def measure_batches_only(make: Callable[[], Batches], n_batches: int,
                         device: torch.device) -> float:
    """Windows/s of making batches on the device with no model: the pipeline's own cost."""
    batches = make()
    next(batches)  # start-up (workers) is not the steady state
    sync(device)
    start = time.perf_counter()
    windows = sum(x.shape[0] for x, _ in islice(batches, n_batches))
    sync(device)
    return windows / (time.perf_counter() - start)


def interleaved(names: list[str], rounds: int, run_one: Callable[[str], float]) -> dict:
    """Run every pipeline once per round, rotating the order so drift hits all alike."""
    results: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            results[name].append(run_one(name))
    return results


# --------------------------------------------------------------------------- GPU extras


def flops_per_window(prep: Prepared, batch_size: int) -> float:
    """Matmul FLOPs of forward + backward per window, counted on the meta device.

    The meta device runs no math and decomposes fused kernels (cuDNN or oneDNN LSTM) into
    the matmuls they do, so the count is the model's, the same on every device.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(prep.run.model).to("meta")
    cfg = prep.run.model
    x = torch.randn(batch_size, cfg.lookback, cfg.n_channels, device="meta")
    y = torch.randn(batch_size, cfg.horizon, cfg.n_targets, device="meta")
    with FlopCounterMode(display=False) as counter:
        pred = model(x, return_attention=False).prediction
        torch.nn.functional.mse_loss(pred, y).backward()
    return counter.get_total_flops() / batch_size


def bf16_peak(device_name: str) -> float | None:
    """Dense bf16 peak in FLOP/s for a known device name, else None (report FLOP/s only)."""
    for key, tflops in BF16_PEAK_TFLOPS.items():  # the more specific names come first
        if key in device_name:
            return tflops * 1e12
    return None


def kernel_seconds_per_step(runner: Runner, steps: int) -> float:
    """Seconds of GPU activity per training step (kernels and copies, overlaps merged).

    Divided by the *unprofiled* step time this is the busy fraction; the profiler's own
    host overhead then does not count against the pipeline.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    sync(runner.device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run_epoch(runner.model, islice(runner.batches, steps), runner.optimizer,
                  clip=runner.clip)
        sync(runner.device)
    spans = sorted((e.time_range.start, e.time_range.end) for e in prof.events()
                   if e.device_type == DeviceType.CUDA and not _annotation(e))
    return merged_length(spans) / 1e6 / steps


def _annotation(event: object) -> bool:
    """GPU-side ranges of `record_function` regions (Optimizer.step): spans, not work."""
    kind = getattr(event, "activity_type", None) or ""
    return bool(getattr(event, "is_user_annotation", False)) or "annotation" in kind


def merged_length(spans: list[tuple[float, float]]) -> float:
    """Total length covered by sorted intervals (kernels on several streams may overlap)."""
    total, end = 0.0, -float("inf")
    for a, b in spans:
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def full_training(kind: str, compile_: bool) -> dict:
    """`tsattn train` on ETTh1 with the documented defaults, wall time of the process."""
    from tsattn.checkpoint import read_card

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "etth1.tsattn"
        cmd = [sys.executable, "-m", "tsattn", "train", str(ETTH1), "--model", kind,
               "--train-end", str(TRAIN_END), "--val-end", str(VAL_END),
               "--lookback", str(LOOKBACK), "--horizon", str(HORIZON), "--device", "cuda",
               "--quiet", "-o", str(out)] + (["--compile"] if compile_ else [])
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            return {"command": " ".join(cmd[1:]), "error": done.stderr.strip()[-500:]}
        metrics = read_card(out).metrics
    return {"command": " ".join(cmd[1:]), "wall_s": wall,
            "train_loop_s": metrics.train_seconds, "epochs_run": metrics.epochs_run,
            "best_val_mse": metrics.best_val_mse}


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


# --------------------------------------------------------------------------- per model


def bench_model(kind: str, args: argparse.Namespace, device: torch.device) -> dict:
    """All measurements of one model kind; the GPU extras only on CUDA."""
    prep = prepare_etth1(kind, args.batch_size, device)
    made = pipelines(prep, args, device)
    names = list(made)
    log(f"{kind}: warming up {', '.join(names)}")
    runners = {name: start_runner(prep, made[name], args, device) for name in names}
    block = max(1, args.steps // args.rounds)
    log(f"{kind}: {args.rounds} interleaved rounds of {block} steps per pipeline")
    interleaved(names, args.rounds, lambda n: run_block(runners[n], block))
    only = interleaved(names, 5, lambda n: measure_batches_only(made[n], 50, device))
    result = summarize(kind, runners, only, args.batch_size)
    result["flops_per_window"] = flops_per_window(prep, args.batch_size)
    result["achieved_tflops"] = result["flops_per_window"] * result["ours_wps"] / 1e12
    if device.type == "cuda":
        result.update(gpu_extras(prep, runners, result, args, device))
    return result


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summarize(kind: str, runners: dict[str, Runner], only: dict, batch_size: int) -> dict:
    """Windows/s per pipeline, tsattn over the better reference, and the data's share."""
    wps = {n: r.windows / r.seconds for n, r in runners.items()}
    refs = [n for n in runners if n != "tsattn"] or ["tsattn"]
    best = max(refs, key=wps.__getitem__)
    paired = [a / b for a, b in zip(runners["tsattn"].blocks, runners[best].blocks,
                                    strict=True)]
    only_wps = {n: statistics.median(v) for n, v in only.items()}
    best_only = max(refs, key=only_wps.__getitem__)
    step_s = {n: r.seconds / r.steps for n, r in runners.items()}
    return {
        "model": kind, "windows_per_s": wps, "step_s": step_s,
        "blocks_windows_per_s": {n: r.blocks for n, r in runners.items()},
        "losses": {n: r.losses for n, r in runners.items()},
        "ours_wps": wps["tsattn"], "best_reference": best, "ratio": wps["tsattn"] / wps[best],
        "paired_ratios": paired, "median_paired_ratio": statistics.median(paired),
        "batches_only_windows_per_s": only_wps, "best_reference_batches_only": best_only,
        "batches_only_ratio": only_wps["tsattn"] / only_wps[best_only],
        "data_share_of_step": {n: batch_size / only_wps[n] / step_s[n] for n in runners},
    }


def gpu_extras(prep: Prepared, runners: dict[str, Runner], result: dict,
               args: argparse.Namespace, device: torch.device) -> dict:
    """Busy fraction of each pipeline, MFU of ours, and the full CLI training."""
    extras: dict = {"busy_fraction": {}}
    for name in ("tsattn", result["best_reference"]):
        kernel_s = kernel_seconds_per_step(runners[name], args.profile_steps)
        extras["busy_fraction"][name] = kernel_s / result["step_s"][name]
    peak = bf16_peak(torch.cuda.get_device_name(device))
    flops = result["flops_per_window"] * result["ours_wps"]
    extras["bf16_peak_tflops"] = peak / 1e12 if peak else None
    extras["mfu"] = flops / peak if peak else None
    if args.full_train:
        log(f"{prep.run.model.kind}: full training through the CLI")
        extras["full_training"] = full_training(prep.run.model.kind, args.compile)
    return extras


# --------------------------------------------------------------------------- report


def print_report(results: list[dict], args: argparse.Namespace) -> None:
    print(f"\nETTh1 lookback {LOOKBACK} horizon {HORIZON} batch {args.batch_size}: "
          f"{args.steps} steps per pipeline in {args.rounds} interleaved blocks after "
          f"{args.warmup} warm-up; compile={args.compile}\n")
    head = (f"{'model':<12} {'pipeline':<14} {'train win/s':>11} {'s/step':>7} "
            f"{'batches-only win/s':>18} {'data/step':>9}")
    print(head + "\n" + "-" * len(head))
    for r in results:
        for name, wps in r["windows_per_s"].items():
            only, share = r["batches_only_windows_per_s"][name], r["data_share_of_step"][name]
            print(f"{r['model']:<12} {name:<14} {wps:>11.1f} {r['step_s'][name]:>7.3f} "
                  f"{only:>18.0f} {share:>9.2%}")
    print()
    for r in results:
        print(f"{r['model']}: tsattn / {r['best_reference']} = {r['ratio']:.2f}x training "
              f"(median of {len(r['paired_ratios'])} paired blocks "
              f"{r['median_paired_ratio']:.2f}x); batches only {r['batches_only_ratio']:.2f}x "
              f"vs {r['best_reference_batches_only']}; "
              f"{r['flops_per_window'] / 1e9:.3f} GFLOP/window (fwd+bwd) -> "
              f"{r['achieved_tflops'] * 1e3:.1f} GFLOP/s achieved")
        print_gpu(r)


def print_gpu(r: dict) -> None:
    if "busy_fraction" not in r:
        return
    busy = ", ".join(f"{k} {v:.0%}" for k, v in r["busy_fraction"].items())
    mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a (unknown peak)"
    print(f"  GPU busy: {busy}; MFU (bf16 dense peak): {mfu}")
    full = r.get("full_training")
    if full and "wall_s" in full:
        print(f"  full training: {full['wall_s']:.1f} s wall ({full['train_loop_s']:.1f} s "
              f"loop, {full['epochs_run']} epochs, best val MSE {full['best_val_mse']:.4f})")
    elif full:
        print(f"  full training failed: {full['error']}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    args.steps = args.steps or (200 if gpu else 30)
    args.warmup = args.warmup if args.warmup is not None else (40 if gpu else 2)
    args.rounds = min(args.steps, args.rounds or (4 if gpu else args.steps))
    args.full_train = gpu if args.full_train is None else args.full_train
    info = machine_info(device)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    results = [bench_model(kind.strip(), args, device) for kind in args.models.split(",")]
    print_report(results, args)
    path = args.json or ROOT / "benchmarks" / "results" / f"throughput-{device.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    document = {"machine": info, "settings": settings, "results": results}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
