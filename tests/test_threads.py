"""The thread count: affinity, cgroup quotas (v1 and v2, read from a fake mount), overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tsattn import threads


def fake_cgroup(tmp_path: Path, proc_line: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A /proc/self/cgroup with one line and a cgroup mount holding `files`."""
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc = tmp_path / "proc_cgroup"
    proc.write_text(proc_line + "\n")
    return proc, root


def test_v2_quota_of_the_process_cgroup(tmp_path: Path):
    proc, root = fake_cgroup(tmp_path, "0::/jobs/a", {"jobs/a/cpu.max": "150000 100000\n"})
    assert threads.cgroup_cpu_limit(proc, root) == 1.5


def test_v2_takes_the_tightest_parent_and_ignores_max(tmp_path: Path):
    proc, root = fake_cgroup(tmp_path, "0::/jobs/a", {
        "jobs/a/cpu.max": "max 100000", "jobs/cpu.max": "300000 100000",
        "cpu.max": "800000 100000"})
    assert threads.cgroup_cpu_limit(proc, root) == 3.0


def test_v2_inside_a_container_reads_the_mount_itself(tmp_path: Path):
    proc, root = fake_cgroup(tmp_path, "0::/docker/abc", {"cpu.max": "200000 100000"})
    assert threads.cgroup_cpu_limit(proc, root) == 2.0


def test_v1_cfs_quota(tmp_path: Path):
    proc, root = fake_cgroup(tmp_path, "4:cpu,cpuacct:/svc", {
        "cpu,cpuacct/svc/cpu.cfs_quota_us": "250000", "cpu,cpuacct/svc/cpu.cfs_period_us":
        "100000"})
    assert threads.cgroup_cpu_limit(proc, root) == 2.5


def test_no_quota_is_none(tmp_path: Path):
    proc, root = fake_cgroup(tmp_path, "1:cpu:/\n0::/", {
        "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000", "cpu.max":
        "max 100000"})
    assert threads.cgroup_cpu_limit(proc, root) is None
    assert threads.cgroup_cpu_limit(tmp_path / "missing", root) is None


def test_quota_caps_affinity_rounding_up(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(threads, "affinity_cpus", lambda: 8)
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: 2.5)
    assert threads.usable_cpus() == 3
    monkeypatch.setattr(threads, "cgroup_cpu_limit", lambda: None)
    assert threads.usable_cpus() == 8


def test_choice_order_flag_then_environment_then_cpus_per_local_rank(
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(threads, "usable_cpus", lambda: 8)
    assert threads.choose_threads(3, {"OMP_NUM_THREADS": "5"}) == 3
    assert threads.choose_threads(None, {"OMP_NUM_THREADS": "5"}) == 5
    assert threads.choose_threads(None, {"OMP_NUM_THREADS": "lots"}) == 8
    assert threads.choose_threads(None, {"LOCAL_WORLD_SIZE": "2"}) == 4
    assert threads.choose_threads(None, {"LOCAL_WORLD_SIZE": "16"}) == 1


def run_python(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_fresh_torch_starts_with_the_chosen_threads():
    code = ("from tsattn.threads import use_threads\nuse_threads(1)\nimport os, torch\n"
            "print(torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'])\n")
    assert run_python(code) == ["1", "PASSIVE"]


def test_a_torch_already_imported_is_told_directly():
    code = ("import torch\nfrom tsattn.threads import use_threads\nuse_threads(3)\n"
            "print(torch.get_num_threads())\n")
    assert run_python(code) == ["3"]


def test_help_explains_the_default():
    done = run_cli("train", "--help")
    assert done.returncode == 0
    assert "--threads" in done.stdout and "cgroup" in done.stdout
