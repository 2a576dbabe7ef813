"""The small public Python API: load a model file, forecast and score pandas DataFrames.

```python
from tsattn.api import load

model = load("etth1.tsattn")
forecast = model.predict(history)        # DataFrame: time column, each target and its quantiles
scores = model.evaluate(test)            # {"windows": ..., "scores": {"model": {...}, ...}}
```

The CLI is built on the same calls (`Model.read`, `Model.forecast`, `Model.score`), so a
DataFrame gets exactly the validation, forecast and scores that `tsattn predict` and
`tsattn evaluate` give a CSV file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tsattn.card import ModelCard
from tsattn.data import Frame
from tsattn.evaluation import evaluate, scored_rows
from tsattn.forecasting import ForecastResult, predict
from tsattn.inference import LoadedModel, load_forecaster
from tsattn.known import read_history
from tsattn.output import forecast_columns

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
        return read_history(_source(data), self.card, fill,
                            None if future is None else _source(future))

    def forecast(self, frame: Frame, rolling: bool = False,
                 with_attention: bool = True) -> ForecastResult:
        """Forecasts in the data's units, with attention maps, from the last or every origin."""
        return predict(self.loaded, frame, rolling=rolling, with_attention=with_attention)

    def score(self, frame: Frame, start: str | None = None, end: str | None = None,
              season: int | None = None) -> dict:
        """The model beside the free baselines on the same windows (`evaluation.evaluate`)."""
        first, stop = scored_rows(self.loaded, frame, start, end)
        return evaluate(self.loaded, frame, first, stop, season)

    def predict(self, data: pd.DataFrame | Source, rolling: bool = False,
                fill: str = "none", future: pd.DataFrame | Source | None = None
                ) -> pd.DataFrame:
        """The forecast as a DataFrame with the columns of `tsattn predict`'s CSV."""
        import pandas as pd

        result = self.forecast(self.read(data, fill, future), rolling=rolling,
                               with_attention=False)
        return pd.DataFrame(forecast_columns(result, self.card.time_col, rolling))

    def evaluate(self, data: pd.DataFrame | Source, start: str | None = None,
                 end: str | None = None, season: int | None = None,
                 fill: str = "none") -> dict:
        """Scores as `tsattn evaluate --json` prints them; `start`/`end` as --from/--to."""
        return self.score(self.read(data, fill), start, end, season)


def load(path: Path | str, device: str = "cpu") -> Model:
    """Open a model file written by `tsattn train` (never unpickled, validated once)."""
    return Model(load_forecaster(Path(path), device))


def _source(data: pd.DataFrame | Source) -> Path | TextIO:
    if not isinstance(data, (Path, str, io.TextIOBase)) and hasattr(data, "to_csv"):
        return io.StringIO(data.to_csv(index=False))
    return Path(data) if isinstance(data, str) else data
