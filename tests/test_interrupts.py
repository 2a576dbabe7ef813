"""Nothing lost: SIGKILL at random moments, Ctrl-C, --resume, and a diverging loss.

- SIGKILL: a training whose model file already existed is killed at random moments, again
  and again; each time the model on disk must be the previous good file or a new good one
  that loads, the resume file (if any) must load, and only a `.<name>.<hex>.tmp` of the
  killed write may be left, which the next run removes (tsattn.files: a temp file whose
  writer died holds no lock).
- SIGINT keeps the best model so far, names it, exits 130; `--resume` then ends with
  exactly the weights and forecasts of an uninterrupted run of the same seed on CPU.
- A loss that becomes NaN stops training with exit 6 and keeps the last good model.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT
from tsattn.card import ModelCard
from tsattn.checkpoint import load_checkpoint, load_resume, resume_path

SMALL = ["--lookback", "16", "--horizon", "4", "--d-model", "8", "--n-heads", "2",
         "--d-ff", "16", "--patch-len", "4", "--stride", "4", "--batch-size", "32",
         "--patience", "0", "--device", "cpu", "--quiet"]
posix_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork, SIGKILL, SIGINT: POSIX")
TEMP = re.compile(r"\.(m\.tsattn|m\.tsattn\.resume)\.[0-9a-f]{16}\.tmp")


def env() -> dict[str, str]:
    # One thread: 2 cores are shared with other work, and oversubscribed OpenMP threads spin.
    variables = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "OMP_NUM_THREADS": "1"}
    variables.pop("TSATTN_DEBUG", None)
    return variables


def write_series(path: Path, n: int = 200, seed: int = 0) -> Path:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    load = 10 + 3 * np.sin(2 * np.pi * t / 24) + 0.3 * rng.normal(size=n)
    temp = 20 + 5 * np.cos(2 * np.pi * t / 24) + 0.3 * rng.normal(size=n)
    times = np.datetime64("2024-01-01T00:00") + t.astype("timedelta64[h]")
    lines = ["date,load,temp"] + [f"{str(s).replace('T', ' ')},{a:.4f},{b:.4f}"
                                  for s, a, b in zip(times, load, temp, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    """`run_cli` with one thread: every run compared bit for bit must use the same count."""
    return subprocess.run([sys.executable, "-m", "tsattn", *args], env=env(),
                          capture_output=True, text=True, timeout=300)


def start_train(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tsattn", "train", *args], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """Give the child the default Ctrl-C handling even when this test runs in a background
    job: a shell starts background commands with SIGINT ignored, children inherit that, and
    Python then never raises KeyboardInterrupt, so the training would simply finish."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def assert_good_model(path: Path, lookback: int = 16) -> ModelCard:
    """The file loads, its weights are finite, and the forecaster builds from it."""
    from tsattn.inference import load_forecaster

    tensors, card = load_checkpoint(path)
    assert card.lookback == lookback
    assert all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())
    load_forecaster(path)
    return card


# --- SIGKILL ----------------------------------------------------------------------------------

# A fork server: imports tsattn, pandas and torch once and warms them up with one short
# training (one thread: no OpenMP pool exists to break fork), then runs the real CLI entry
# point in a forked child per round and SIGKILLs it at a random moment: half the rounds at
# any moment from the start, half at a random moment after the child's first model save.
# Each round's model file is copied for the test to check. Forking spares the 4-5 s of
# start-up and lazy imports (torch._dynamo) that a fresh process pays before training.
KILLER = textwrap.dedent("""
    import json, os, random, shutil, signal, sys, time
    from pathlib import Path
    from tsattn.cli.app import main
    import tsattn.cli.training_view, tsattn.fitting  # noqa: F401  (torch, pandas: once)

    cfg = json.loads(sys.argv[1])
    model, out = Path(cfg["model"]), Path(cfg["out"])
    rng = random.Random(cfg["seed"])
    rounds = []
    warm = cfg["argv"][:3] + [str(out / "warm.tsattn")] + cfg["argv"][4:] + ["--epochs", "1"]
    try:
        main(warm)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code

    def ident():
        st = model.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    for i in range(cfg["rounds"]):
        resume = i % 3 == 2 and Path(str(model) + ".resume").exists()
        argv = cfg["argv"] + (["--resume"] if resume else [])
        shutil.copy2(model, out / f"before_{i}")
        before = ident()
        pid = os.fork()
        if pid == 0:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            try:
                main(argv)
            except SystemExit as exc:
                os._exit(exc.code if isinstance(exc.code, int) else 1)
            os._exit(0)
        if i % 2:
            deadline = time.monotonic() + 60
            while ident() == before and time.monotonic() < deadline:
                time.sleep(0.002)
            delay = rng.uniform(0.0, 0.3)
        else:
            delay = rng.uniform(0.0, 0.5)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        shutil.copy2(model, out / f"after_{i}")
        resume_file = Path(str(model) + ".resume")
        if resume_file.exists():
            shutil.copy2(resume_file, out / f"resume_{i}")
        rounds.append({"resume": resume, "delay": delay,
                       "killed": os.WIFSIGNALED(status),
                       "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                       "files": sorted(os.listdir(model.parent))})
    print(json.dumps(rounds))
""")


@pytest.mark.slow
@posix_only
def test_sigkill_at_random_moments_never_loses_the_model(tmp_path: Path, tiny_model: Path):
    work = tmp_path / "work"
    work.mkdir()
    copies = tmp_path / "copies"
    copies.mkdir()
    data = write_series(work / "data.csv")
    model = work / "m.tsattn"
    shutil.copy2(tiny_model, model)  # the previous good model (lookback 24)
    seed = int.from_bytes(os.urandom(4), "little")
    cfg = {"model": str(model), "out": str(copies), "seed": seed, "rounds": 24,
           "argv": ["train", str(data), "-o", str(model), "--epochs", "400", *SMALL]}
    done = subprocess.run([sys.executable, "-c", KILLER, json.dumps(cfg)], env=env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rounds = json.loads(done.stdout)
    assert len(rounds) == 24
    changed = 0
    for i, info in enumerate(rounds):
        where = f"round {i} (seed {seed}, {info})"
        assert info["killed"], f"the child ended by itself: {where}"
        before, after = (copies / f"before_{i}").read_bytes(), (copies / f"after_{i}").read_bytes()
        if after != before:
            changed += 1
            assert_good_model(copies / f"after_{i}", lookback=16)
        else:
            load_checkpoint(copies / f"after_{i}")
        if (copies / f"resume_{i}").exists():
            load_resume(copies / f"resume_{i}")
        leftovers = [n for n in info["files"] if n.startswith(".")]
        assert all(TEMP.fullmatch(n) for n in leftovers), where
        assert set(info["files"]) - set(leftovers) <= {"data.csv", "m.tsattn", "m.tsattn.resume"}
    assert changed >= 6, "too few kills came after a save to test anything"

    # The next run goes on from the survivors and cleans up what the killed ones left.
    time.sleep(1.1)  # tsattn.files.STALE_AFTER: older unlocked temp files are stale
    done = cli("train", str(data), "-o", str(model), "--epochs", "2", *SMALL)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(work)) == ["data.csv", "m.tsattn"]
    assert_good_model(model)


# --- SIGINT and --resume -----------------------------------------------------------------------

EPOCHS = "60"  # long enough that the SIGINT always lands mid-training


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory):
    """A training stopped with SIGINT right after its first epoch ended, as Ctrl-C does."""
    work = tmp_path_factory.mktemp("sigint")
    data = write_series(work / "data.csv")
    model = work / "m.tsattn"
    proc = start_train(str(data), "-o", str(model), "--epochs", EPOCHS, "--seed", "3", *SMALL)
    wait_for(lambda: resume_path(model).exists() or proc.poll() is not None,
             what="the first epoch")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    return work, data, model, proc.returncode, stderr


@pytest.mark.slow
@posix_only
def test_sigint_keeps_the_best_model_says_where_and_exits_130(interrupted):
    work, _, model, code, stderr = interrupted
    line = error_line(stderr)
    assert code == 130, stderr
    assert line.startswith("error: interrupted; the best model so far (epoch ")
    assert f"is in '{model}'" in line and f"--resume -o {model}" in line
    card = assert_good_model(model)
    assert 1 <= card.metrics.epochs_run < int(EPOCHS)
    assert resume_path(model).exists()
    assert not [n for n in os.listdir(work) if n.endswith(".tmp")]


@pytest.mark.slow
@posix_only
def test_resume_after_sigint_equals_an_uninterrupted_run(interrupted, tmp_path: Path):
    _, data, model, code, _ = interrupted
    assert code == 130
    done = cli("train", str(data), "-o", str(model), "--resume", "--quiet")
    assert done.returncode == 0, done.stderr
    assert not resume_path(model).exists()

    whole = tmp_path / "whole.tsattn"
    done = cli("train", str(data), "-o", str(whole), "--epochs", EPOCHS, "--seed", "3",
                   *SMALL)
    assert done.returncode == 0, done.stderr

    (resumed, card_r), (straight, card_s) = load_checkpoint(model), load_checkpoint(whole)
    assert resumed.keys() == straight.keys()
    for name in straight:
        assert torch.equal(resumed[name], straight[name]), name
    assert card_r.metrics.history == card_s.metrics.history
    assert card_r.metrics.epochs_run == card_s.metrics.epochs_run == int(EPOCHS)
    forecasts = [cli("predict", str(m), str(data)) for m in (model, whole)]
    assert forecasts[0].returncode == 0 and forecasts[0].stdout == forecasts[1].stdout


# --- a diverging loss ---------------------------------------------------------------------------


@pytest.mark.slow
def test_nan_loss_exits_6_and_keeps_the_last_good_model(tmp_path: Path, tiny_model: Path):
    """A learning rate of 3e4 without clipping blows the weights up within a few epochs."""
    data = write_series(tmp_path / "data.csv")
    model = tmp_path / "m.tsattn"
    shutil.copy2(tiny_model, model)
    previous = model.read_bytes()
    done = cli("train", str(data), "-o", str(model), "--epochs", "40", "--lr", "3e4",
               "--clip", "0", *SMALL)
    line = error_line(done.stderr)
    assert done.returncode == 6, done.stderr
    match = re.search(r"the loss became (nan|inf|-inf) in epoch (\d+); lower --lr", line)
    assert match, line
    assert "--resume" not in line  # resuming would walk into the same NaN
    if model.read_bytes() == previous:
        assert f"'{model}' is unchanged" in line
    else:
        card = assert_good_model(model)
        assert card.metrics.epochs_run < int(match[2])
        assert f"is in '{model}'" in line
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_nan_after_good_epochs_keeps_the_best_of_them(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    """Deterministically: poison the weights after epoch 2, so epoch 3 trains on NaN."""
    import tsattn.fitting
    from tsattn.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from tsattn.data import read_frame
    from tsattn.errors import TrainingError

    frame = read_frame(write_series(tmp_path / "data.csv"))
    run = RunConfig(DataConfig(), ModelConfig(lookback=16, horizon=4, d_model=8, n_heads=2,
                                              d_ff=16, patch_len=4, stride=4),
                    TrainConfig(epochs=6, batch_size=32, patience=0, device="cpu"))

    class Poison:
        """An observer that ruins the weights the loop trains after epoch 2."""

        model: torch.nn.Module
        best_val = math.inf

        def on_batch(self, *args) -> None:
            return None

        def on_epoch(self, report, state) -> None:
            self.best_val = state.best_val
            if report.epoch == 2:
                with torch.no_grad():
                    for p in self.model.parameters():
                        p.fill_(float("nan"))

    poison = Poison()
    real_build = tsattn.fitting.build_model

    def build(cfg):
        poison.model = real_build(cfg)
        return poison.model

    monkeypatch.setattr(tsattn.fitting, "build_model", build)
    model = tmp_path / "m.tsattn"
    with pytest.raises(TrainingError, match="the loss became nan in epoch 3"):
        tsattn.fitting.fit(frame, run, poison, model)
    card = assert_good_model(model)
    assert card.metrics.epochs_run in (1, 2)
    assert card.metrics.best_val_mse == poison.best_val
    assert load_resume(resume_path(model))[1].state.epoch == 2


# --- temp files of killed writers ------------------------------------------------------------


def test_next_write_removes_only_stale_temp_files(tmp_path: Path):
    """Unlocked and over STALE_AFTER old: a dead writer's, removed. Locked (a live writer)
    or brand new (created but not yet locked): kept."""
    fcntl = pytest.importorskip("fcntl")
    from tsattn import files

    target = tmp_path / "m.tsattn"
    dead, live, fresh = (tmp_path / f".m.tsattn.{c * 16}.tmp" for c in "abc")
    for path in (dead, live, fresh):
        path.write_bytes(b"half a model")
    old = time.time() - 10 * files.STALE_AFTER
    for path in (dead, live):
        os.utime(path, (old, old))
    other = tmp_path / ".other.tsattn.dddddddddddddddd.tmp"  # another file's: not ours to touch
    other.write_bytes(b"x")
    os.utime(other, (old, old))
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        files.atomic_write_bytes(target, b"new")
        assert sorted(p.name for p in files.temp_files(target)) == [live.name, fresh.name]
    assert not dead.exists() and other.exists() and target.read_bytes() == b"new"
