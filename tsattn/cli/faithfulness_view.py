"""`tsattn explain --faithfulness` after option parsing: load, measure, render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from tsattn.cli.attention_tables import faithfulness_tables
from tsattn.cli.predict_view import load_history
from tsattn.cli.streams import write_output
from tsattn.evaluation import scored_rows
from tsattn.faithfulness import FaithfulnessOptions, faithfulness_on_rows, report_json


def run_faithfulness(model_file: Path, source: Path | TextIO, *, start: str | None,
                     end: str | None, windows: int, seed: int, json_out: bool, fill: str,
                     device: str) -> None:
    """Rank the inputs of evaluation windows three ways and compare the ERASER curves."""
    model, frame = load_history(model_file, source, fill, device, quiet=False)
    loaded = model.loaded
    first, stop = scored_rows(loaded, frame, start, end)
    report = faithfulness_on_rows(loaded, frame, first, stop, windows,
                                  FaithfulnessOptions(seed=seed))
    if json_out:
        document = {**report_json(report), "rows": [first, stop]}
        write_output(None, json.dumps(document) + "\n")
    faithfulness_tables(report, f"targets in rows {first}..{stop - 1}")
