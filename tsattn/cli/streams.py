"""Where data comes from and goes to: a path, or - for stdin/stdout."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from tsattn.errors import DataError, OutputError

_closed: set[int] = set()
_STDOUT_CLOSED = "standard output is closed; redirect it to a file or give -o FILE"


def guard_standard_fds() -> None:
    """Put /dev/null on any of fds 0-2 the shell closed (`<&-`, `>&-`), and remember it.

    Otherwise the next file tsattn opens would get that number, and a write meant for
    stdout would land in it; `sys.stdin`/`sys.stdout` are None then, and the commands
    that need them say so instead of failing with an AttributeError.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            _closed.add(fd)
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def open_source(arg: str) -> Path | TextIO:
    """A path to read, or the stdin stream for '-' (decoded by the reader, BOM included)."""
    if arg == "-":
        if sys.stdin is None or 0 in _closed:
            raise DataError("standard input is closed; pipe a CSV into tsattn or give the "
                            "path of a file instead of -")
        if sys.stdin.isatty():  # not a silent wait: say what the pause is
            from tsattn.cli.render import say

            say("reading CSV rows typed or pasted here: end with Ctrl-D (or pipe a file in, "
                "or give its path instead of -)")
        return sys.stdin
    return Path(arg)


def write_output(dest: str | None, text: str) -> None:
    """Write data to stdout, or safely to a file, device or FIFO (see tsattn.files)."""
    from tsattn.files import write_output_bytes

    write_output_bytes("-" if dest is None else dest, text.encode("utf-8"))


@contextlib.contextmanager
def open_output(dest: str | None) -> Iterator[TextIO]:
    """A text stream for output written in pieces: stdout for None or '-', else a file
    that appears whole when the block ends (and not at all if it fails; see tsattn.files)."""
    from tsattn.files import atomic_writer

    with atomic_writer("-" if dest is None else dest) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            yield text
        finally:
            text.detach()  # flushes; the writer closes the file itself, after its fsync


def write_png(dest: Path, png: bytes | None) -> None:
    """A picture rendered to memory goes to stdout for `-` (a file was written directly)."""
    if str(dest) == "-" and png is not None:
        from tsattn.files import write_output_bytes

        write_output_bytes("-", png)


def plot_target(dest: Path) -> Path | None:
    """Where a plotting call writes: None (return the bytes) when the picture goes to stdout."""
    return None if str(dest) == "-" else dest


def check_outputs(outputs: list[str | Path | None], inputs: list[str | Path | None]) -> None:
    """Fail before any work when an output cannot be written or would overwrite an input.

    `-` is stdout among the outputs and stdin among the inputs; None entries are unused.
    """
    from tsattn.files import check_outputs as check

    if 1 in _closed and any(str(o) == "-" for o in outputs if o is not None):
        raise OutputError(_STDOUT_CLOSED)
    check(outputs, inputs)

