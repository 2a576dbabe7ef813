"""Safe output: a file is either its old content or the complete new content, never half.

A crash or Ctrl-C during a save must not leave a truncated model or forecast behind for a
later command to choke on. So a write to a regular file (or a new path) goes to a hidden
temp file in the *same* directory (same file system, so the rename is atomic), is flushed
to disk, and only then renamed over the target. Anything that is not a regular file —
standard output, a character device such as /dev/null, a FIFO — is written directly: a
rename would replace the node itself with a plain file. Unwritable paths become
`OutputError`s that name the fix, and `check_writable` lets the CLI find a typo before a
long training instead of after it.

One command may write several outputs (a forecast, its attention summary, a picture; a
model and its resume file). Inside `output_batch()` every write is staged first, and only
when all of them are staged are the direct ones written and the temp files renamed, so a
full disk or a bad path for one output leaves every other output as it was.
`check_outputs` refuses, before any work, an output that is the same file as an input or
as another output: files are compared by device and inode, so links and `./x` versus `x`
are caught, and a path that does not exist yet by its resolved name.

A process killed mid-write (SIGKILL, power loss) leaves its temp file behind. The writer
holds an exclusive `flock` on its temp file until the rename, and the kernel drops the lock
when the process dies, so the next write to the same path removes every temp file of that
path whose lock is free and which has not changed for `STALE_AFTER` seconds (the age guards
the instant between creating a temp file and locking it). Without `fcntl` (Windows) stale
temp files are left for the user to delete.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tsattn.errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_FIX = "choose another output path"
STALE_AFTER = 1.0  # seconds without a change before an unlocked temp file counts as stale
STDOUT = "-"


def check_writable(path: Path) -> None:
    """Raise `OutputError` now if `path` cannot be written, so no work is lost to a typo."""
    path = Path(path)
    parent = path.parent
    where = f"cannot write {str(path)!r}"
    if path.is_dir():
        raise OutputError(f"{where}: it is a directory; give a file name inside it or {_FIX}")
    if _is_direct(path):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{where}: no permission to write it; {_FIX}")
        return
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


def _is_direct(path: Path) -> bool:
    """Whether `path` (after links) exists and is not a regular file: written in place."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _identity(path: str | os.PathLike | int) -> tuple | None:
    """What makes two names one file: device and inode, or the resolved name of a new path.

    Character devices (a terminal, /dev/null) get None: writing twice to one is harmless,
    and a terminal is both stdin and stdout of an interactive command.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None if isinstance(path, int) else ("new", os.path.realpath(path))
    except (OSError, ValueError):
        return None
    if stat.S_ISCHR(st.st_mode):
        return None
    return (st.st_dev, st.st_ino)


def check_outputs(outputs: Sequence[str | os.PathLike | None],
                  inputs: Sequence[str | os.PathLike | None]) -> None:
    """Refuse outputs that would overwrite an input or each other, before any work.

    `None` entries are ignored; `-` is standard input among the inputs and standard output
    among the outputs. Also checks that each output file can be written.
    """
    seen: dict[tuple, str] = {}
    for name in inputs:
        if name is not None:
            ident = _identity(0 if str(name) == STDOUT else name)
            if ident is not None and ident[0] != "new":
                seen.setdefault(ident, "input " + _label(name, "(standard input)"))
    for name in outputs:
        if name is None:
            continue
        if str(name) != STDOUT:
            check_writable(Path(name))
        ident = _identity(1 if str(name) == STDOUT else name)
        label = _label(name, "standard output")
        if ident in seen:
            other = seen[ident]
            harm = ("would destroy that input" if other.startswith("input")
                    else "one would overwrite the other")
            raise OutputError(f"output {label} is the same file as the {other}; {harm}; "
                              f"{_FIX}")
        if ident is not None:
            seen[ident] = f"output {label}"


def _label(name: str | os.PathLike, stream: str) -> str:
    return stream if str(name) == STDOUT else repr(str(name))


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


@dataclass
class _Staged:
    """A complete temp file, still locked, waiting to be renamed over `path`."""

    path: Path
    tmp: Path
    fd: int


@dataclass
class _Batch:
    """The outputs of one command: temp files to rename and direct writes, in order."""

    staged: list[_Staged] = field(default_factory=list)
    direct: list[tuple[str, bytes]] = field(default_factory=list)

    def commit(self) -> None:
        """Direct writes first (they cannot be undone, nor can they half-fail a rename),
        then every rename; a failed direct write removes every temp file."""
        try:
            for dest, data in self.direct:
                _write_direct(dest, data)
            for item in self.staged:
                _rename(item)
        finally:
            self.discard()

    def discard(self) -> None:
        for item in self.staged:
            with contextlib.suppress(OSError):
                os.close(item.fd)  # releases the lock, after the rename
            with contextlib.suppress(FileNotFoundError):
                item.tmp.unlink()
        self.staged.clear()


_BATCH: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("batch", default=None)


@contextlib.contextmanager
def output_batch() -> Iterator[None]:
    """Commit every write made inside the block together when it ends, or none of them.

    Batches do not nest into each other: an inner block commits on its own exit.
    """
    batch = _Batch()
    token = _BATCH.set(batch)
    try:
        yield
    except BaseException:
        batch.discard()
        raise
    finally:
        _BATCH.reset(token)
    batch.commit()


def write_output_bytes(dest: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a path or to standard output (`-`), safely for each kind of target."""
    batch = _BATCH.get()
    one = batch if batch is not None else _Batch()
    if str(dest) == STDOUT or _same_as_stdout(Path(dest)):
        one.direct.append((STDOUT, data))
    elif _is_direct(Path(dest)):
        check_writable(Path(dest))
        one.direct.append((str(dest), data))
    else:
        one.staged.append(_stage(Path(dest), data))
    if batch is None:
        one.commit()


def _same_as_stdout(path: Path) -> bool:
    """`/dev/stdout` or another name of the file our stdout already writes to (`>> log`):
    written through the open stream, so an appending redirection is not replaced."""
    ident = _identity(path)
    return ident is not None and ident[0] != "new" and ident == _identity(1)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step; on any failure the old file stays as it was.

    A path that is a device or FIFO is written directly instead (see the module notes).
    """
    write_output_bytes(Path(path), data)


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for text, always UTF-8 so files read the same on every system."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A file to write in pieces (a streamed forecast) that replaces `path` in one step when
    the block ends, with the other outputs of its `output_batch`; on any failure, or an
    exception in the block, the old file stays. Standard output (`-`), the file it already
    writes to, a device or a FIFO is written in place instead, as the pieces come.
    """
    if str(path) == STDOUT or _same_as_stdout(Path(path)) or _is_direct(Path(path)):
        with _direct_writer(path) as fh:
            yield fh
        return
    batch = _BATCH.get()
    one = batch if batch is not None else _Batch()
    with _staging(Path(path), one.staged) as fh:
        yield fh
    if batch is None:
        one.commit()


@contextlib.contextmanager
def _direct_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Standard output (or its own file), a device or a FIFO, streamed; errors are exit 5."""
    to_stdout = str(path) == STDOUT or _same_as_stdout(Path(path))
    where = "standard output" if to_stdout else str(path)
    try:
        if to_stdout:
            if sys.stdout is None:
                raise OutputError("standard output is closed; redirect it to a file or give "
                                  "-o FILE")
            sys.stdout.flush()
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        else:
            check_writable(Path(path))
            with open(path, "wb") as fh:
                yield fh
    except BrokenPipeError:
        if to_stdout:
            raise
        raise OutputError(f"cannot write {where!r}: its reader went away (broken pipe); "
                          f"keep a reader on it or {_FIX}") from None
    except (OSError, ValueError) as exc:
        raise _write_error(where, exc) from exc


def _stage(path: Path, data: bytes) -> _Staged:
    """Write `data` to a locked temp file beside `path`, on disk, not yet renamed."""
    done: list[_Staged] = []
    with _staging(path, done) as fh:
        fh.write(data)
    return done[0]


@contextlib.contextmanager
def _staging(path: Path, done: list[_Staged]) -> Iterator[BinaryIO]:
    """A locked temp file beside `path` to write; when the block ends it is on disk and
    added to `done`, not yet renamed. On an error or an exception it is removed.

    A symlink is followed, so the link stays and its target gets the content. The temp
    file is created with mode 0o666 minus the umask (as `open` would), not the 0o600 of
    `tempfile.mkstemp`, so a saved model is as readable as any other output.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
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
        done.append(_Staged(path, tmp, fd))
    except BaseException as exc:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _write_error(str(path), exc) from exc
        raise


def _rename(item: _Staged) -> None:
    try:
        os.replace(item.tmp, item.path)
    except OSError as exc:
        raise _write_error(str(item.path), exc) from exc
    _sync_directory(item.path.parent)


def _write_direct(dest: str, data: bytes) -> None:
    """Standard output, a device or a FIFO: written in place; errors become exit 5.

    A reader that closed a pipe early (`| head`) still raises BrokenPipeError, which the
    CLI treats as the reader's choice, not as an error.
    """
    try:
        if dest == STDOUT:
            stream = sys.stdout
            if stream is None:
                raise OutputError("standard output is closed; redirect it to a file or give "
                                  "-o FILE")
            stream.flush()
            stream.buffer.write(data)
            stream.buffer.flush()
            return
        with open(dest, "wb") as fh:
            fh.write(data)
    except BrokenPipeError:
        if dest == STDOUT:
            raise
        raise OutputError(f"cannot write {dest!r}: its reader went away (broken pipe); "
                          f"keep a reader on it or {_FIX}") from None
    except (OSError, ValueError) as exc:
        raise _write_error("standard output" if dest == STDOUT else dest, exc) from exc


def _write_error(where: str, exc: Exception) -> OutputError:
    reason = getattr(exc, "strerror", None) or str(exc)
    name = where if where == "standard output" else repr(where)
    return OutputError(f"cannot write {name}: {reason}; {_FIX}")


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; not possible (nor needed) on every system."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
