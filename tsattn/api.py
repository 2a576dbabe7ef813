"""The small public Python API: load a model file, forecast and score pandas DataFrames.

```python
from tsattn.api import load

model = load("etth1.tsattn")
forecast = model.predict(history)        # DataFrame: time column, each target and its quantiles
scores = model.evaluate(test)            # {"windows": ..., "scores": {"model": {...}, ...}}
```

The CLI is built on the same calls (`Model.read`, `Model.forecast`, `Model.score`), so a
DataFrame gets exactly the validation, forecast and scores that `tsattn predict` and
`tsattn evaluate` give a CSV file. A model trained on many series (`--id-col`) reads a long
table with `Model.read_series`: each series comes with the model as that series sees it
(its own scaler and split), and `predict`/`evaluate` cover every series or those in `ids`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tsattn.card import ModelCard
from tsattn.data import Frame
from tsattn.errors import UsageError
from tsattn.evaluation import combine, evaluate, scored_rows
from tsattn.forecasting import ForecastResult, predict, predict_chunks
from tsattn.inference import LoadedModel, for_series, load_forecaster, with_frequency_check
from tsattn.known import read_history, read_history_panel
from tsattn.output import forecast_columns
from tsattn.series import select_series

if TYPE_CHECKING:
    import pandas as pd

Source = Path | str | TextIO


@dataclass
class Model:
    """A trained model, ready to forecast and score history it is given."""

    loaded: LoadedModel

    @property
    def card(self) -> ModelCard:
        """Everything the model file says: columns, frequency, split, config, metrics."""
        return self.loaded.card

    def read(self, data: pd.DataFrame | Source, fill: str = "none",
             future: pd.DataFrame | Source | None = None) -> Frame:
        """History as the model reads it: its columns, checked like a CSV from the CLI.

        Known covariates' values over the horizon come as rows after the history with the
        targets empty, or as `future`."""
        if self.card.id_col is not None:
            raise UsageError(f"this model forecasts many series (--id-col "
                             f"{self.card.id_col!r}); explain and --plot read one series and "
                             "are not available for it: use predict (--attention) or "
                             "evaluate, with --id to choose series")
        frame = read_history(_source(data), self.card, fill,
                             None if future is None else _source(future))
        return with_frequency_check(self.loaded, frame)

    def read_series(self, data: pd.DataFrame | Source, fill: str = "none",
                    ids: Sequence[str] = ()) -> tuple[list[Series], list[str]]:
        """Each wanted series of a long table (all the model knows, or `ids`) and warnings
        for people: series the model was not trained on, and each series' own notes."""
        if self.card.id_col is None:
            if ids:
                raise UsageError("--id chooses series of a model trained with --id-col; this "
                                 "model has one series, so leave --id out")
            raise UsageError("this model was trained on one series; read its history with read")
        panel = read_history_panel(_source(data), self.card, fill)
        chosen, notes = select_series(panel, self.card.series, list(ids))
        notes += [f"series {entry.id!r}: {w}" for frame, entry in chosen for w in frame.warnings]
        return [Series(entry.id, frame, Model(for_series(self.loaded, entry)))
                for frame, entry in chosen], notes

    def forecast(self, frame: Frame, rolling: bool = False,
                 with_attention: bool = True) -> ForecastResult:
        """Forecasts in the data's units, with attention maps, from the last or every origin."""
        return predict(self.loaded, frame, rolling=rolling, with_attention=with_attention)

    def forecast_chunks(self, frame: Frame, with_attention: bool = True
                        ) -> Iterator[ForecastResult]:
        """A rolling forecast in chunks of origins, in time order: memory bounded by a
        chunk (`forecasting.predict_chunks`), for histories of any length."""
        return predict_chunks(self.loaded, frame, rolling=True, with_attention=with_attention)

    def score(self, frame: Frame, start: str | None = None, end: str | None = None,
              season: int | None = None) -> dict:
        """The model beside the free baselines on the same windows (`evaluation.evaluate`)."""
        first, stop = scored_rows(self.loaded, frame, start, end)
        return evaluate(self.loaded, frame, first, stop, season)

    def score_series(self, series: Sequence[Series], start: str | None = None,
                     end: str | None = None, season: int | None = None
                     ) -> tuple[dict, list[str]]:
        """Every series scored on its own rows and all their windows together
        (`evaluation.combine`), and a note for each series with no window to score."""
        per_series, skipped = {}, []
        for one in series:
            try:
                per_series[one.id] = one.model.score(one.frame, start, end, season)
            except UsageError as exc:
                skipped.append(f"series {one.id!r} not scored: {exc}")
        return combine(per_series), skipped

    def predict(self, data: pd.DataFrame | Source, rolling: bool = False,
                fill: str = "none", ids: Sequence[str] = (),
                future: pd.DataFrame | Source | None = None) -> pd.DataFrame:
        """The forecast as a DataFrame with the columns of `tsattn predict`'s CSV (the id
        column first for a model of many series)."""
        import pandas as pd

        if self.card.id_col is None:
            result = self.forecast(self.read(data, fill, future), rolling=rolling,
                                   with_attention=False)
            return pd.DataFrame(forecast_columns(result, self.card.time_col, rolling))
        parts = [pd.DataFrame(forecast_columns(
            one.model.forecast(one.frame, rolling=rolling, with_attention=False),
            self.card.time_col, rolling, self.card.id_col, one.id))
            for one in self.read_series(data, fill, ids)[0]]
        return pd.concat(parts, ignore_index=True)

    def evaluate(self, data: pd.DataFrame | Source, start: str | None = None,
                 end: str | None = None, season: int | None = None,
                 fill: str = "none", ids: Sequence[str] = ()) -> dict:
        """Scores as `tsattn evaluate --json` prints them; `start`/`end` as --from/--to."""
        if self.card.id_col is None:
            return self.score(self.read(data, fill), start, end, season)
        return self.score_series(self.read_series(data, fill, ids)[0], start, end, season)[0]


@dataclass
class Series:
    """One series of a long table with the model as that series sees it."""

    id: str
    frame: Frame
    model: Model


def _source(data: pd.DataFrame | Source) -> Path | TextIO:
    """A DataFrame as CSV text, a string as a path; paths and streams as they are."""
    if not isinstance(data, (Path, str, io.TextIOBase)) and hasattr(data, "to_csv"):
        return io.StringIO(data.to_csv(index=False))
    return Path(data) if isinstance(data, str) else data


def load(path: Path | str, device: str = "cpu") -> Model:
    """Open a model file written by `tsattn train` (never unpickled, validated once)."""
    return Model(load_forecaster(Path(path), device))
