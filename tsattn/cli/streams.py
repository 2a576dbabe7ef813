"""Where data comes from and goes to: a path, or - for stdin/stdout."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from tsattn.errors import CheckpointError, DataError, OutputError

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
        return sys.stdin
    return Path(arg)


def write_output(dest: str | None, text: str) -> None:
    """Write data to stdout, or safely to a file, device or FIFO (see tsattn.files)."""
    from tsattn.files import write_output_bytes

    write_output_bytes("-" if dest is None else dest, text.encode("utf-8"))


def check_outputs(outputs: list[str | Path | None], inputs: list[str | Path | None]) -> None:
    """Fail before any work when an output cannot be written or would overwrite an input.

    `-` is stdout among the outputs and stdin among the inputs; None entries are unused.
    """
    from tsattn.files import check_outputs as check

    if 1 in _closed and any(str(o) == "-" for o in outputs if o is not None):
        raise OutputError(_STDOUT_CLOSED)
    check(outputs, inputs)


def json_text(document: Any, indent: int | None = None) -> str:
    """Strict JSON (no NaN or Infinity, which other parsers reject) and a newline.

    Forecasts and scores are checked for finiteness where they are computed; this is the
    last net, so a non-finite number is blamed on the model, as those checks would.
    """
    try:
        return json.dumps(document, allow_nan=False, indent=indent, default=_plain) + "\n"
    except ValueError as exc:
        raise CheckpointError("the model produced a NaN or infinite number; it diverged or "
                              "its file is damaged: retrain the model") from exc


def _plain(value: object) -> object:
    """numpy scalars as Python numbers (without importing numpy here)."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(type(value).__name__)
