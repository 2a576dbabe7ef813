"""Model files: exact round trips, and a clear refusal of everything that is not ours."""

import io
import json
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save

import tsattn
from tests.conftest import sample_card
from tsattn import files
from tsattn.card import LoopState, ResumeCard
from tsattn.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    load_resume,
    read_card,
    read_resume_card,
    resume_path,
    save_checkpoint,
    save_resume,
)
from tsattn.errors import CheckpointError, OutputError

CARD = sample_card()


def _tensors() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(4, 3, generator=gen)
    return {
        "encoder.weight": weight,
        "encoder.weight_t": weight.t(),  # a non-contiguous view of the same storage
        "head.bias": torch.randn(3, generator=gen, dtype=torch.float64),
        "steps": torch.arange(5),
        "half": torch.ones(2, dtype=torch.bfloat16),
        "empty": torch.zeros(0),
    }


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.tsattn"
    save_checkpoint(path, _tensors(), CARD)
    return path


def _raw_safetensors(tmp_path: Path, metadata: dict[str, str] | None) -> Path:
    path = tmp_path / "raw.safetensors"
    path.write_bytes(save({"w": torch.ones(2)}, metadata=metadata))
    return path


def _refused(path: Path, match: str) -> None:
    for read in (load_checkpoint, read_card):
        with pytest.raises(CheckpointError, match=match) as info:
            read(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_round_trip_is_exact(model_file: Path) -> None:
    tensors, card = load_checkpoint(model_file)
    expected = _tensors()
    assert tensors.keys() == expected.keys()
    for name, tensor in expected.items():
        assert tensors[name].dtype == tensor.dtype
        assert torch.equal(tensors[name], tensor)
    assert card == CARD


@pytest.mark.parametrize("header_length", [0x0280, 0x4B50])
def test_header_length_that_looks_like_pickle_or_zip_magic(
    tmp_path: Path, header_length: int
) -> None:
    """Lengths 640 (b"\\x80\\x02...") and 19280 (b"PK...") are ordinary safetensors headers:
    the file gets past the header checks to the card's own (its padded metadata is no card)."""
    path = tmp_path / "m.tsattn"
    for pad in range(header_length):
        strings = {"format": "tsattn", "format_version": str(FORMAT_VERSION),
                   "meta": json.dumps({"pad": "x" * pad})}
        path.write_bytes(save({"w": torch.ones(2)}, metadata=strings))
        if struct.unpack("<Q", path.read_bytes()[:8])[0] == header_length:
            break
    else:
        pytest.fail(f"no padding gives a header of {header_length} bytes")
    _refused(path, "has unknown entries 'pad' in its metadata")


def test_read_card_matches_stored_card(model_file: Path) -> None:
    assert read_card(model_file) == CARD


def test_read_card_does_not_import_torch(model_file: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from tsattn.checkpoint import read_card; "
        f"card = read_card(Path({str(model_file)!r})); "
        "assert 'torch' not in sys.modules and 'safetensors' not in sys.modules, 'imported'; "
        "print(card.freq)"
    )
    root = Path(tsattn.__file__).parents[1]  # `-c` puts the cwd on sys.path
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "h"


def test_saved_header_declares_format_and_version(model_file: Path) -> None:
    data = model_file.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    strings = json.loads(data[8 : 8 + length])["__metadata__"]
    assert strings["format"] == "tsattn"
    assert strings["format_version"] == str(FORMAT_VERSION) == "3"
    assert json.loads(strings["meta"]) == CARD.to_dict()


def test_missing_file(tmp_path: Path) -> None:
    _refused(tmp_path / "absent.tsattn", "does not exist; check the path")


def test_directory(tmp_path: Path) -> None:
    _refused(tmp_path, "is a directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.tsattn"
    path.write_bytes(b"")
    _refused(path, "truncated or corrupt")


def test_truncated_at_many_points(model_file: Path, tmp_path: Path) -> None:
    data = model_file.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    cut = tmp_path / "cut.tsattn"
    for size in (1, 7, 8, 9, 8 + length // 2, 8 + length, 8 + length + 1, len(data) - 1):
        cut.write_bytes(data[:size])
        _refused(cut, "truncated or corrupt")


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.tsattn"
    gen = torch.Generator().manual_seed(1)
    for n in (5, 64, 4096):
        noise = bytes(torch.randint(0, 256, (n,), generator=gen, dtype=torch.uint8).tolist())
        path.write_bytes(b"\x01" + noise)  # not a pickle's first byte, so truly "corrupt"
        _refused(path, "truncated or corrupt")


class _Payload:
    """Unpickling this would create the marker file: the attack a model file must not allow."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.tsattn"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    _refused(path, "is a pickle/zip file.*never unpickles")
    assert not marker.exists()


def test_torch_save_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, path)
    _refused(path, "is a pickle/zip file")
    plain_zip = tmp_path / "model.zip"
    with zipfile.ZipFile(plain_zip, "w") as zf:
        zf.writestr("a.txt", "hello")
    _refused(plain_zip, "is a pickle/zip file")


def test_safetensors_without_our_key(tmp_path: Path) -> None:
    _refused(_raw_safetensors(tmp_path, None), "not a tsattn model file")
    _refused(_raw_safetensors(tmp_path, {"format": "pt"}), "not a tsattn model file")


@pytest.mark.parametrize("version", ["2", "4"])  # 2: before the typed model card
def test_other_format_version(tmp_path: Path, version: str) -> None:
    header = {"format": "tsattn", "format_version": version, "meta": "{}"}
    path = _raw_safetensors(tmp_path, header)
    _refused(path, f"written by format version {version}; this tsattn reads version 3; retrain")


def test_metadata_that_is_not_json(tmp_path: Path) -> None:
    path = _raw_safetensors(tmp_path, {"format": "tsattn", "format_version": "3", "meta": "{"})
    _refused(path, "truncated or corrupt")


def test_header_that_lies_about_tensor_data(model_file: Path, tmp_path: Path) -> None:
    data = model_file.read_bytes()
    path = tmp_path / "extra.tsattn"
    path.write_bytes(data + b"\x00" * 4)  # offsets fit, but the data has trailing bytes
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_load_reads_the_file_once(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []
    real_open = Path.open

    def counting_open(self: Path, *args: object, **kwargs: object) -> io.IOBase:
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    load_checkpoint(model_file)
    assert opened == [model_file]


def test_resume_round_trip_and_kinds_are_not_mixed(tmp_path: Path) -> None:
    model = tmp_path / "m.tsattn"
    resume = resume_path(model)
    assert resume == tmp_path / "m.tsattn.resume"
    card = ResumeCard(config=CARD.config, columns=CARD.columns,
                      state=LoopState(epoch=3, step=12, best_val=0.25, bad_epochs=1,
                                      stopped_early=False, history=CARD.metrics.history))
    tensors = {"opt.0.exp_avg": torch.randn(3), "rng": torch.get_rng_state()}
    save_resume(resume, tensors, card)
    loaded, loaded_card = load_resume(resume)
    assert loaded_card == card == read_resume_card(resume)
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())
    _refused(resume, "not a tsattn model file.*'tsattn-resume'")
    save_checkpoint(model, tensors, CARD)
    with pytest.raises(CheckpointError, match="not a tsattn resume file"):
        load_resume(model)


def test_failed_save_keeps_previous_model(
    model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = model_file.read_bytes()

    def boom(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OutputError, match="No space left"):
        save_checkpoint(model_file, {"w": torch.zeros(1)}, CARD)
    assert model_file.read_bytes() == before
