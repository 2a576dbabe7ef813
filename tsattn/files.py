"""Atomic output: a file is either its old content or the complete new content, never half.

A crash or Ctrl-C during a save must not leave a truncated model or forecast behind for a
later command to choke on. So every write goes to a hidden temp file in the *same*
directory (same file system, so the rename is atomic), is flushed to disk, and only then
renamed over the target. Unwritable paths become `OutputError`s that name the fix, and
`check_writable` lets the CLI find a typo before a long training instead of after it.

A process killed mid-write (SIGKILL, power loss) leaves its temp file behind. The writer
holds an exclusive `flock` on its temp file until the rename, and the kernel drops the lock
when the process dies, so the next write to the same path removes every temp file of that
path whose lock is free and which has not changed for `STALE_AFTER` seconds (the age guards
the instant between creating a temp file and locking it). Without `fcntl` (Windows) stale
temp files are left for the user to delete.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tsattn.errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_FIX = "choose another output path"
STALE_AFTER = 1.0  # seconds without a change before an unlocked temp file counts as stale


def check_writable(path: Path) -> None:
    """Raise `OutputError` now if `path` cannot be written, so no work is lost to a typo."""
    path = Path(path)
    parent = path.parent
    where = f"cannot write {str(path)!r}"
    if path.is_dir():
        raise OutputError(f"{where}: it is a directory; give a file name inside it or {_FIX}")
    if not parent.exists():
        raise OutputError(
            f"{where}: directory {str(parent)!r} does not exist; create it or {_FIX}"
        )
    if not parent.is_dir():
        raise OutputError(f"{where}: {str(parent)!r} is not a directory; {_FIX}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(
            f"{where}: no permission to write in directory {str(parent)!r}; {_FIX}"
        )


def temp_files(path: Path) -> list[Path]:
    """The temp files of `path` that `atomic_write_bytes` makes: `.<name>.<16 hex>.tmp`."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{16}}\.tmp")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    return sorted(path.parent / n for n in names if pattern.fullmatch(n))


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Delete the temp files of `path` left by killed writers; return what was removed."""
    if fcntl is None:  # pragma: no cover - Windows
        return []
    removed = []
    for tmp in temp_files(path):
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except OSError:
            continue
        try:
            if time.time() - os.fstat(fd).st_mtime < STALE_AFTER:
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step; on any failure the old file stays as it was."""
    with atomic_writer(path) as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A file to write in pieces (a streamed forecast) that replaces `path` in one step when
    the block ends; on any failure, or an exception in the block, the old file stays.

    The temp file is created with mode 0o666 minus the umask (as `open` would), not the
    0o600 of `tempfile.mkstemp`, so a saved model is as readable as any other output. It
    stays locked until renamed, and stale temp files of earlier, killed writers go first.
    """
    path = Path(path)
    check_writable(path)
    remove_stale_temp_files(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = None
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o666)
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(fd, "wb", closefd=False) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _sync_directory(path.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            raise OutputError(f"cannot write {str(path)!r}: {reason}; {_FIX}") from exc
        raise
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock, after the rename


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; not possible (nor needed) on every system."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for text, always UTF-8 so files read the same on every system."""
    atomic_write_bytes(path, text.encode("utf-8"))
