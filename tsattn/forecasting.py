"""Load a model file and forecast from recent history, in original units.

Inputs are the last `lookback` rows (or every origin with `rolling`); outputs carry the
timestamps that continue the history's frequency, and the attention maps of each origin
for the explainer. Windows are cut from one tensor exactly as in training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tsattn.checkpoint import check_model_meta, load_checkpoint
from tsattn.config import RunConfig
from tsattn.data import Frame, Scaler, future_labels, time_labels
from tsattn.errors import CheckpointError, DataError
from tsattn.models import build_model
from tsattn.series import SeriesPart
from tsattn.training import autocast_for, resolve_device
from tsattn.windows import Windows


@dataclass
class LoadedModel:
    """A trained model in eval mode with everything needed to use it."""

    model: torch.nn.Module
    run: RunConfig
    meta: dict
    scaler: Scaler
    device: torch.device

    @property
    def lookback(self) -> int:
        return self.run.model.lookback

    @property
    def horizon(self) -> int:
        return self.run.model.horizon


@dataclass
class ForecastResult:
    """Forecasts of O origins: values (O, H, T) in original units plus attention maps."""

    targets: list[str]
    origins: list[str]
    input_times: list[list[str]]
    forecast_times: list[list[str]]
    values: np.ndarray
    attention: np.ndarray | None
    alternatives: dict[str, np.ndarray]
    last_token_maps: np.ndarray | None = None  # (layers, heads, N, N) of the last origin
    variables: np.ndarray | None = None  # (O, H, C) weight of each input variable, rows sum to 1


def load_forecaster(path: Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the model from a file; shape mismatches mean a damaged or foreign file."""
    tensors, meta = load_checkpoint(path)
    run = check_model_meta(meta, path)
    try:
        scaler = Scaler.from_dict(meta["scaler"])
        model = build_model(run.model)
        model.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{str(path)!r} does not hold a usable tsattn model ({type(exc).__name__}); "
            "retrain it with this version of tsattn"
        ) from exc
    torch_device = resolve_device(device)
    return LoadedModel(model.to(torch_device).eval(), run, meta, scaler, torch_device)


def series_parts(loaded: LoadedModel) -> dict[str, SeriesPart]:
    """The series a many-series model was trained on, by id (empty for one series)."""
    return {part.id: part for part in map(SeriesPart.from_dict, loaded.meta.get("series", []))}


def for_series(loaded: LoadedModel, part: SeriesPart) -> LoadedModel:
    """The model as seen by one series: its own scaler, split and last time."""
    meta = {**loaded.meta, "series_id": part.id, "last_time": part.last_time,
            "n_rows": part.n_rows,
            "split": {"train_end": part.train_end, "val_end": part.val_end}}
    return dataclasses.replace(loaded, scaler=part.scaler, meta=meta)


def history_columns(loaded: LoadedModel) -> dict:
    """The read_frame arguments that select the columns the model was trained on.

    `names` (the training file's header) lets history without a header line be read, as
    `tail -n 400 f.csv | tsattn predict m -` gives; models saved before it was stored pass
    None, and then a header is required.
    """
    meta = loaded.meta
    header = meta.get("header")
    names = header if isinstance(header, list) and header and all(
        isinstance(n, str) for n in header) else None
    return {"time_col": meta["time_col"], "targets": meta["targets"],
            "covariates": meta["covariates"], "names": names}


def predict(loaded: LoadedModel, frame: Frame, rolling: bool = False,
            batch_size: int = 512, with_attention: bool = True) -> ForecastResult:
    """Forecast from the last window, or from every window with `rolling`."""
    lookback, horizon = loaded.lookback, loaded.horizon
    n_rows = len(frame.values)
    if n_rows < lookback:
        raise DataError(
            f"the history has {n_rows} rows but this model reads the last {lookback}; "
            f"pass at least {lookback} rows (e.g. tail -n {lookback + 1} with the header)"
        )
    labels = time_labels(frame)
    last_time = labels[-1] if frame.times is not None else None
    all_labels = labels + future_labels(last_time, frame.freq or loaded.meta["freq"], n_rows,
                                        horizon)
    first = 0 if rolling else n_rows - lookback
    starts = torch.arange(first, n_rows - lookback + 1)
    scaled, attention, alternatives, token_maps, variables = _run_model(
        loaded, frame, starts, batch_size, with_attention)
    n_targets = frame.n_targets
    values = loaded.scaler.inverse(scaled, slice(0, n_targets))
    ends = (starts + lookback).tolist()
    return ForecastResult(
        targets=list(frame.columns[:n_targets]),
        origins=[labels[e - 1] for e in ends],
        input_times=[labels[e - lookback : e] for e in ends] if with_attention else [],
        forecast_times=[all_labels[e : e + horizon] for e in ends],
        values=values, attention=attention, alternatives=alternatives,
        last_token_maps=token_maps, variables=variables,
    )


def _run_model(loaded: LoadedModel, frame: Frame, starts: torch.Tensor, batch_size: int,
               with_attention: bool) -> tuple[np.ndarray, np.ndarray | None, dict,
                                              np.ndarray | None, np.ndarray | None]:
    """Batched inference over the given window starts; attention maps kept on request.

    Raw token maps are kept for the last origin only: for a rolling forecast they would be
    layers x heads x N x N floats per origin, and only the last one is ever drawn.
    """
    scaled = loaded.scaler.transform(frame.values).astype(np.float32)
    series = torch.from_numpy(scaled).to(loaded.device)
    windows = Windows(series, starts, loaded.lookback, 0, frame.n_targets)
    preds, maps, alts, token_maps, variables = [], [], {}, None, []
    with torch.inference_mode():
        for x, _ in windows.batches(batch_size):
            with autocast_for(loaded.device):
                out = loaded.model(x, return_attention=with_attention)
            preds.append(out.prediction.float().cpu())
            if with_attention:
                maps.append(out.attention.float().cpu())
                for name, value in out.alternatives.items():
                    alts.setdefault(name, []).append(value.float().cpu())
                if out.variables is not None:
                    variables.append(out.variables.float().cpu())
                if out.token_maps is not None:
                    token_maps = out.token_maps[-1].float().cpu().numpy()
    attention = torch.cat(maps).numpy() if maps else None
    alternatives = {name: torch.cat(parts).numpy() for name, parts in alts.items()}
    variable_maps = torch.cat(variables).numpy() if variables else None
    return torch.cat(preds).numpy(), attention, alternatives, token_maps, variable_maps
