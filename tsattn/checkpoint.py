"""One model file that is safe to open even when it came from a stranger.

Format (version `card.FORMAT_VERSION`): a safetensors file. The tensors are the model's
state; the header's string metadata holds `{"format": "tsattn", "format_version": "<N>",
"meta": <JSON>}`, where the JSON is the `ModelCard` (config, columns, scaler statistics,
frequency, last timestamp, metrics, package version), validated once by `ModelCard`.
Resume state (optimizer, epoch, RNG, early stopping) uses the same layout with
`"format": "tsattn-resume"` in `<model>.resume`.

Nothing here ever unpickles: `torch.load` on a stranger's file can run arbitrary code.
Files are checked in a fixed order so the error names the real problem and its fix, and
the header is parsed by hand so `read_card` (`tsattn info`) never imports torch.
Writes go through `atomic_write_bytes`, so a crash never leaves half a model behind.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tsattn.card import FORMAT_VERSION, ModelCard, ResumeCard
from tsattn.errors import CheckpointError
from tsattn.files import atomic_write_bytes

if TYPE_CHECKING:
    from torch import Tensor

_MAX_HEADER = 100_000_000  # safetensors' own limit; a larger length means a corrupt file
# pickle protocols 2-5 (and torch's legacy format), zip (torch.save since 1.6), empty zip
_PICKLE_ZIP_MAGIC = (
    b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04", b"PK\x05\x06"
)


@dataclass(frozen=True)
class _Kind:
    """What a file of one format is called in messages, and how a user gets a good one."""

    format: str
    noun: str
    missing_fix: str
    corrupt_fix: str


_MODEL = _Kind("tsattn", "model file", "check the path or train one with `tsattn train`",
               "retrain the model or copy the file again")
_RESUME = _Kind("tsattn-resume", "resume file", "check the path or train without resuming",
                "delete it to train from the start")


def resume_path(model_path: Path) -> Path:
    """Where the resume state of `model_path` lives: `<model>.resume` beside it."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".resume")


def save_checkpoint(path: Path, tensors: dict[str, Tensor], card: ModelCard) -> None:
    """Write a model file atomically: the tensors and the card as JSON."""
    _save(path, tensors, card.to_dict(), _MODEL)


def load_checkpoint(path: Path) -> tuple[dict[str, Tensor], ModelCard]:
    """Read a model file: CPU tensors and its validated card. Raises `CheckpointError`."""
    tensors, meta = _load(path, _MODEL)
    return tensors, ModelCard.from_dict(meta, _where(path, _MODEL))


def read_card(path: Path) -> ModelCard:
    """The validated card of a model file from its header alone, without importing torch."""
    return ModelCard.from_dict(_read_header(Path(path), _MODEL), _where(path, _MODEL))


def save_resume(path: Path, tensors: dict[str, Tensor], card: ResumeCard) -> None:
    """Write resume state: optimizer, weight and RNG tensors plus the loop's card."""
    _save(path, tensors, card.to_dict(), _RESUME)


def load_resume(path: Path) -> tuple[dict[str, Tensor], ResumeCard]:
    """Read what `save_resume` wrote, with the same checks as a model file."""
    tensors, meta = _load(path, _RESUME)
    return tensors, ResumeCard.from_dict(meta, _where(path, _RESUME))


def read_resume_card(path: Path) -> ResumeCard:
    """The validated card of a resume file from its header alone, without importing torch."""
    return ResumeCard.from_dict(_read_header(Path(path), _RESUME), _where(path, _RESUME))


def _where(path: Path, kind: _Kind) -> str:
    return f"{kind.noun} {str(path)!r}"


def _read_header(path: Path, kind: _Kind) -> dict[str, Any]:
    with _open(path, kind) as fh:
        size = fh.seek(0, io.SEEK_END)
        fh.seek(0)
        return _check_header(path, fh, size, kind)


def _save(path: Path, tensors: dict[str, Tensor], meta: dict[str, Any], kind: _Kind) -> None:
    import torch
    from safetensors.torch import save

    # A fresh contiguous CPU copy each: safetensors refuses views and tied (shared) tensors.
    flat = {
        name: t.detach().to(device="cpu", memory_format=torch.contiguous_format, copy=True)
        for name, t in tensors.items()
    }
    header = {
        "format": kind.format,
        "format_version": str(FORMAT_VERSION),
        "meta": json.dumps(meta, allow_nan=False),
    }
    atomic_write_bytes(Path(path), save(flat, metadata=header))


def _load(path: Path, kind: _Kind) -> tuple[dict[str, Tensor], dict[str, Any]]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    with _open(path, kind) as fh:
        data = fh.read()
    meta = _check_header(path, io.BytesIO(data), len(data), kind)
    try:
        return load(data), meta
    except (SafetensorError, ValueError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "bad tensor data"
        raise _corrupt(path, kind, detail) from exc


def _open(path: Path, kind: _Kind) -> IO[bytes]:
    if not path.exists():
        raise CheckpointError(f"{kind.noun} {str(path)!r} does not exist; {kind.missing_fix}")
    if path.is_dir():
        raise CheckpointError(
            f"{kind.noun} {str(path)!r} is a directory; pass the file itself"
        )
    try:
        return path.open("rb")
    except OSError as exc:
        raise CheckpointError(
            f"cannot read {kind.noun} {str(path)!r}: {exc.strerror}; check its permissions"
        ) from exc


def _check_header(path: Path, fh: IO[bytes], size: int, kind: _Kind) -> dict[str, Any]:
    """Every check short of decoding tensors, in an order that names the real problem.

    Shared by `read_card` (a file handle, reads the header only) and `_load` (the bytes
    already in memory), so both refuse exactly the same files.
    """
    # A safetensors header length may itself begin with b"\x80" or b"PK" (640, 19280
    # bytes), so only a missing "{" after it makes the pickle/zip magic decisive.
    prefix = fh.read(9)  # the 8-byte header length and the "{" that opens the header JSON
    if prefix[8:] != b"{":
        if prefix.startswith(_PICKLE_ZIP_MAGIC):
            raise CheckpointError(
                f"{str(path)!r} is a pickle/zip file, not a tsattn {kind.noun}; "
                "tsattn never unpickles files — retrain or convert it"
            )
        detail = f"only {size} bytes" if len(prefix) < 9 else "no safetensors header"
        raise _corrupt(path, kind, detail)
    (length,) = struct.unpack("<Q", prefix[:8])
    if not 0 < length <= min(_MAX_HEADER, size - 8):
        raise _corrupt(path, kind, f"header of {length} bytes in a file of {size}")
    header = _parse_json(b"{" + fh.read(length - 1), path, kind, "header")
    _check_offsets(header, size - 8 - length, path, kind)
    return _check_format(header.get("__metadata__") or {}, path, kind)


def _check_offsets(header: dict[str, Any], data_len: int, path: Path, kind: _Kind) -> None:
    """Catch a cut-off file from the header alone: every tensor must end inside the data."""
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) for o in offsets) and 0 <= offsets[0] <= offsets[1]):
            raise _corrupt(path, kind, f"bad entry for tensor {name!r}")
        if offsets[1] > data_len:
            raise _corrupt(path, kind, f"tensor {name!r} ends past the end of the file")


def _check_format(strings: Any, path: Path, kind: _Kind) -> dict[str, Any]:
    if not isinstance(strings, dict):
        raise _corrupt(path, kind, "metadata is not a table")
    found = strings.get("format")
    if found != kind.format:
        what = "no tsattn format key" if found is None else f"format {found!r}"
        raise CheckpointError(
            f"{str(path)!r} is not a tsattn {kind.noun} ({what}); "
            f"pass a {kind.noun} written by tsattn"
        )
    version = strings.get("format_version")
    if version != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{kind.noun} {str(path)!r} was written by format version {version}; this tsattn "
            f"reads version {FORMAT_VERSION}; retrain with this version"
        )
    meta = strings.get("meta")
    if not isinstance(meta, str):
        raise _corrupt(path, kind, "metadata has no JSON entry")
    return _parse_json(meta.encode("utf-8"), path, kind, "metadata")


def _parse_json(raw: bytes, path: Path, kind: _Kind, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # also 5000-digit integers and 100k-deep nesting
        value = None
    if not isinstance(value, dict):
        raise _corrupt(path, kind, f"{what} is not a JSON object")
    return value


def _corrupt(path: Path, kind: _Kind, detail: str) -> CheckpointError:
    return CheckpointError(
        f"{kind.noun} {str(path)!r} is truncated or corrupt ({detail}); {kind.corrupt_fix}"
    )
