"""Where data comes from and goes to: a path, or - for stdin/stdout."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def open_source(arg: str) -> Path | TextIO:
    """A path to read, or the stdin stream for '-' (decoded by the reader, BOM included)."""
    if arg == "-":
        return sys.stdin
    return Path(arg)


def write_output(dest: str | None, text: str) -> None:
    """Write data to stdout, or atomically to a file so readers never see half of it."""
    if dest in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from tsattn.files import atomic_write_text

    atomic_write_text(Path(dest), text)


@contextlib.contextmanager
def open_output(dest: str | None) -> Iterator[TextIO]:
    """A text stream for output written in pieces: stdout for None or '-', else a file
    that appears whole when the block ends (and not at all if it fails)."""
    if dest in (None, "-"):
        yield sys.stdout
        sys.stdout.flush()
        return
    from tsattn.files import atomic_writer

    with atomic_writer(Path(dest)) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            yield text
        finally:
            text.detach()  # flushes; the writer closes the file itself, after its fsync


def write_png(dest: Path, png: bytes | None) -> None:
    """A picture rendered to memory goes to stdout for `-` (a file was written directly)."""
    if str(dest) == "-" and png is not None:
        sys.stdout.buffer.write(png)
        sys.stdout.flush()


def plot_target(dest: Path) -> Path | None:
    """Where a plotting call writes: None (return the bytes) when the picture goes to stdout."""
    return None if str(dest) == "-" else dest


def check_output(dest: str | None) -> None:
    """Fail before any work when an output file could not be written."""
    if dest not in (None, "-"):
        from tsattn.files import check_writable

        check_writable(Path(dest))
