"""Data-parallel training: each rank's share of a batch, and a real 2-process gloo run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, TINY, run_cli
from tsattn.distributed import Cluster, Shards, detect
from tsattn.errors import UsageError
from tsattn.windows import Windows


def shards(rank: int, world: int) -> Shards:
    return Shards(Cluster(rank, world, rank), torch.device("cpu"))


def numbered_windows(n: int) -> Windows:
    """n windows of lookback 1, horizon 1 whose input is the window's own number."""
    series = torch.arange(n + 1, dtype=torch.float32)[:, None]
    return Windows(series, torch.arange(n), lookback=1, horizon=1, n_targets=1)


@pytest.mark.parametrize(("n", "batch_size", "world"), [(10, 4, 3), (12, 4, 2), (7, 8, 3),
                                                        (9, 4, 4)])
def test_every_window_once_and_the_loss_scaled_to_the_whole_batch(n, batch_size, world):
    generator_seed = 5
    seen: list[int] = []
    per_step: dict[int, list[tuple[int, float]]] = {}
    for rank in range(world):
        gen = torch.Generator().manual_seed(generator_seed)
        part = shards(rank, world)
        batches = list(part.batches(numbered_windows(n), batch_size, gen))
        assert len(batches) == part.n_batches(numbered_windows(n), batch_size)
        for step, (x, _, factor) in enumerate(batches):
            seen += x.flatten().int().tolist()
            per_step.setdefault(step, []).append((x.shape[0], factor))
    assert sorted(seen) == list(range(n))  # no window twice, none padded in
    for shares in per_step.values():
        batch = sum(size for size, _ in shares)
        assert len(shares) == world  # every rank takes part in every step
        for size, factor in shares:  # DDP's mean over ranks of factor x own mean = batch mean
            assert factor / world == pytest.approx(size / batch)


def test_a_tail_smaller_than_the_ranks_joins_the_last_batch():
    assert shards(0, 3).bounds(10, 4) == [(0, 4), (4, 10)]
    assert shards(0, 2).bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shards(0, 3).bounds(2, 4) == [(0, 2)]


def test_evaluation_skips_a_rank_without_windows():
    assert list(shards(2, 3).batches(numbered_windows(2), 512)) == []


def test_too_small_batches_for_the_ranks_are_refused():
    with pytest.raises(UsageError, match="--batch-size 2"):
        shards(0, 4).check(numbered_windows(100), 2)
    with pytest.raises(UsageError, match="3 training windows"):
        shards(0, 4).check(numbered_windows(3), 64)


def test_detect_reads_torchrun_variables():
    assert detect({}) is None
    assert detect({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None
    assert detect({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Cluster(1, 4, 1)
    with pytest.raises(UsageError, match="WORLD_SIZE"):
        detect({"RANK": "5", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})


def torchrun(*args: str, nproc: int = 2, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc-per-node={nproc}", "-m", "tsattn", *args],
        capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def info(model: Path) -> dict:
    done = run_cli("info", str(model), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_two_gloo_processes_match_one(hourly_csv: Path, tmp_path: Path):
    """Tolerance: 2% of the best validation MSE; the same batches and steps, different
    dropout masks and float summation order."""
    args = ["train", str(hourly_csv), *TINY[:-1], "--epochs", "3", "--device", "cpu"]
    one = run_cli(*args, "-o", str(tmp_path / "one.tsattn"))
    two = torchrun(*args, "-o", str(tmp_path / "two.tsattn"))
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert two.stdout == ""
    for epoch in (1, 2, 3):
        assert two.stderr.count(f"epoch   {epoch}/3") == 1  # rank 0 alone reports
    assert two.stderr.count("saved ") == 1
    best_one = info(tmp_path / "one.tsattn")["metrics"]["best_val_mse"]
    best_two = info(tmp_path / "two.tsattn")["metrics"]["best_val_mse"]
    assert best_two == pytest.approx(best_one, rel=0.02)
    assert not (tmp_path / "two.tsattn.resume").exists()
    forecast = run_cli("predict", str(tmp_path / "two.tsattn"), str(hourly_csv))
    assert forecast.returncode == 0, forecast.stderr
    assert len(forecast.stdout.splitlines()) == 1 + 6


@pytest.mark.slow
def test_a_bad_input_under_torchrun_is_one_error_line(hourly_csv: Path, tmp_path: Path):
    done = torchrun("train", str(hourly_csv), *TINY, "--target", "nope", "-o",
                    str(tmp_path / "m.tsattn"))
    assert done.returncode != 0
    assert done.stderr.count("error: column 'nope' not found") == 1
    assert not (tmp_path / "m.tsattn").exists()


def rank_pid(rank: int, marker: str) -> int | None:
    """The pid of the torchrun worker of `rank` whose command line names `marker`."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if marker in cmdline and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find a rank")
def test_a_rank_that_dies_leaves_the_last_good_model(hourly_csv: Path, tmp_path: Path):
    model = tmp_path / "killed.tsattn"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
            "-m", "tsattn", "train", str(hourly_csv), *TINY[:-1], "--epochs", "500",
            "--patience", "0", "--device", "cpu", "-o", str(model)]
    job = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
    try:
        while not model.exists() and job.poll() is None:
            time.sleep(0.2)
        pid = rank_pid(1, str(model))
        assert pid is not None and job.poll() is None
        os.kill(pid, signal.SIGKILL)
        _, stderr = job.communicate(timeout=300)
    finally:
        job.kill()
    assert job.returncode != 0
    tsattn_errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(tsattn_errors) <= 1  # rank 0's, when it sees the loss before torchrun stops it
    assert all("torchrun job broke off" in line for line in tsattn_errors)
    forecast = run_cli("predict", str(model), str(hourly_csv))
    assert forecast.returncode == 0, forecast.stderr


def fail_as(rank: str, code: int, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture) -> tuple[list[float], str]:
    """What `_fail` prints, and how long it waited, in torchrun rank `rank` of 2."""
    import importlib

    from tsattn.cli import ranks

    app = importlib.import_module("tsattn.cli.app")  # the package exports the Typer app by name
    waits: list[float] = []
    monkeypatch.setattr(ranks.time, "sleep", waits.append)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    assert app._fail("column 'nope' not found", code) == code
    return waits, capsys.readouterr().err


def test_another_rank_leaves_a_bad_input_to_rank_0_and_speaks_if_still_running(monkeypatch,
                                                                                 capsys):
    """Exiting at once would make torchrun stop rank 0 before it printed the line (seen in CI)."""
    from tsattn.cli.ranks import MAIN_RANK_GRACE_S

    assert fail_as("0", 3, monkeypatch, capsys) == ([], "error: column 'nope' not found\n")
    waits, err = fail_as("1", 3, monkeypatch, capsys)
    assert waits == [MAIN_RANK_GRACE_S]
    assert err == "error: rank 1: column 'nope' not found\n"
    assert fail_as("1", 130, monkeypatch, capsys) == ([], "")  # Ctrl-C: rank 0 says what was kept
    assert fail_as("1", 1, monkeypatch, capsys)[0] == []  # an internal error: every rank at once
