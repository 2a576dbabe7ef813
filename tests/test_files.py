"""Atomic writes: the target is the old file or the whole new one, and bad paths say why."""

import os
from pathlib import Path

import pytest

from tsattn import files
from tsattn.errors import OutputError
from tsattn.files import atomic_write_bytes, atomic_write_text, check_writable


def test_write_replaces_content_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new ünïcode\n")
    assert target.read_text(encoding="utf-8") == "new ünïcode\n"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_bytes_are_written_verbatim(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    data = bytes(range(256)) * 3 + b"\r\n\n"
    atomic_write_bytes(target, data)
    assert target.read_bytes() == data


def test_new_file_mode_follows_umask_not_mkstemp(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "m.tsattn", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "m.tsattn").stat().st_mode & 0o777 == 0o644


def test_failed_replace_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.tsattn"
    target.write_bytes(b"old")

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OutputError, match="No space left on device"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.tsattn"]


def test_interrupt_midway_keeps_old_file_and_is_not_translated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model.tsattn"
    target.write_bytes(b"old")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.tsattn"]


def test_missing_directory_names_path_and_fix(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "y.tsattn"
    for call in (lambda: check_writable(target), lambda: atomic_write_text(target, "x")):
        with pytest.raises(OutputError) as info:
            call()
        message = str(info.value)
        assert str(target) in message and "does not exist" in message
        assert "create it" in message and "\n" not in message


def test_directory_as_output_path(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(OutputError, match="is a directory"):
        atomic_write_bytes(tmp_path, b"x")


def test_path_under_a_file_fails_even_for_root(tmp_path: Path) -> None:
    plain = tmp_path / "file"
    plain.write_text("x")
    with pytest.raises(OutputError, match="is not a directory"):
        check_writable(plain / "x")
    with pytest.raises(OutputError, match="is not a directory"):
        atomic_write_text(plain / "x", "y")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores directory permissions"
)
def test_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="no permission"):
            check_writable(locked / "m.tsattn")
    finally:
        locked.chmod(0o700)


def test_plain_file_name_in_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    check_writable(Path("m.tsattn"))
    atomic_write_text(Path("m.tsattn"), "ok")
    assert (tmp_path / "m.tsattn").read_text() == "ok"


def test_a_batch_commits_all_outputs_or_none(tmp_path: Path) -> None:
    """The second output cannot be written: the first keeps its old content, no temp left."""
    first = tmp_path / "fc.csv"
    first.write_text("old")
    with pytest.raises(OutputError, match="does not exist"), files.output_batch():
        atomic_write_text(first, "new")
        atomic_write_text(tmp_path / "no" / "a.json", "{}")
    assert first.read_text() == "old"
    assert os.listdir(tmp_path) == ["fc.csv"]
    with files.output_batch():
        atomic_write_text(first, "new")
        atomic_write_text(tmp_path / "a.json", "{}")
        assert first.read_text() == "old"  # nothing is renamed before the block ends
    assert first.read_text() == "new" and (tmp_path / "a.json").read_text() == "{}"


def test_a_failed_direct_write_removes_the_staged_files(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="No space left"), files.output_batch():
        atomic_write_text(tmp_path / "a.json", "{}")
        files.write_output_bytes("/dev/full", b"x")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("outputs, inputs, says", [
    (["{t}/d.csv"], ["{t}/d.csv"], "same file as the input"),
    (["{t}/./d.csv"], ["{t}/d.csv"], "same file as the input"),
    (["{t}/link"], ["{t}/d.csv"], "same file as the input"),
    (["{t}/new.csv", "{t}/sub/../new.csv"], [], "one would overwrite the other"),
])
def test_check_outputs_compares_files_not_strings(tmp_path: Path, outputs: list[str],
                                                  inputs: list[str], says: str) -> None:
    (tmp_path / "d.csv").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "d.csv")
    with pytest.raises(OutputError, match=says):
        files.check_outputs([o.format(t=tmp_path) for o in outputs],
                            [i.format(t=tmp_path) for i in inputs])


def test_devices_and_distinct_files_pass_the_check(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("x")
    files.check_outputs(["/dev/null", "/dev/null", str(tmp_path / "fc.csv"), None],
                        [str(tmp_path / "d.csv"), str(tmp_path / "missing.tsattn")])
