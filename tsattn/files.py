"""Atomic output: a file is either its old content or the complete new content, never half.

A crash or Ctrl-C during a save must not leave a truncated model or forecast behind for a
later command to choke on. So every write goes to a hidden temp file in the *same*
directory (same file system, so the rename is atomic), is flushed to disk, and only then
renamed over the target. Unwritable paths become `OutputError`s that name the fix, and
`check_writable` lets the CLI find a typo before a long training instead of after it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from tsattn.errors import OutputError

_FIX = "choose another output path"


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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step; on any failure the old file stays as it was.

    The temp file is created with mode 0o666 minus the umask (as `open` would), not the
    0o600 of `tempfile.mkstemp`, so a saved model is as readable as any other output.
    """
    path = Path(path)
    check_writable(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(tmp, flags, 0o666), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            raise OutputError(f"cannot write {str(path)!r}: {reason}; {_FIX}") from exc
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for text, always UTF-8 so files read the same on every system."""
    atomic_write_bytes(path, text.encode("utf-8"))
