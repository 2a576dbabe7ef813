"""The one inference path: a model file to a model in eval mode, and windows to outputs.

predict, evaluate and explain all run a trained model the same way: scale the history with
the training statistics, put it on the device once, cut windows by index, and run batches
under `inference_mode` and the device's autocast. Doing it in one place keeps their
numbers identical (evaluate scores exactly what predict would have forecast).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tsattn.card import ModelCard, ScalerStats, SeriesEntry
from tsattn.checkpoint import load_checkpoint
from tsattn.config import RunConfig
from tsattn.data import Frame, Scaler
from tsattn.device import autocast_for, resolve_device
from tsattn.errors import CheckpointError
from tsattn.intervals import Calibration, for_one_series, interval_scale
from tsattn.known import model_input
from tsattn.models import build_model
from tsattn.series import scaler_of
from tsattn.windows import Windows


@dataclass
class LoadedModel:
    """A trained model in eval mode with everything needed to use it."""

    model: torch.nn.Module
    card: ModelCard
    scaler: Scaler
    device: torch.device
    calibration: Calibration | None = None  # None: a model file saved before training ended

    @property
    def run(self) -> RunConfig:
        return self.card.config

    @property
    def lookback(self) -> int:
        return self.card.lookback

    @property
    def horizon(self) -> int:
        return self.card.horizon


@dataclass
class Outputs:
    """Model outputs of W windows, in z-scored units, on the CPU."""

    prediction: np.ndarray  # (W, H, T)
    attention: np.ndarray | None  # (W, H, L) default reduction, when asked for
    alternatives: dict[str, np.ndarray]  # other (W, H, L) reductions, by name
    last_token_maps: np.ndarray | None  # (layers, heads, N, N) of the last window
    variables: np.ndarray | None  # (W, H, C) weight of each input variable, rows sum to 1
    scale: np.ndarray | None  # (W, H, T) each step's `interval_scale`, when asked for


def load_forecaster(path: Path, device: str = "cpu") -> LoadedModel:
    """Rebuild the model from a file; shape mismatches mean a damaged or foreign file."""
    tensors, card = load_checkpoint(path)
    _check_shapes(card, tensors, path)
    damaged = sorted(name for name, t in tensors.items()
                     if t.is_floating_point() and not bool(torch.isfinite(t).all()))
    if damaged:
        raise CheckpointError(f"model file {str(path)!r} holds NaN or infinite weights (in "
                              f"{damaged[0]!r}); retrain the model or copy the file again")
    scaler = usable_scaler(card.scaler, f"model file {str(path)!r}")
    try:
        model = build_model(card.config.model)
        model.load_state_dict(tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{str(path)!r} does not hold a usable tsattn model ({type(exc).__name__}); "
            "retrain it with this version of tsattn"
        ) from exc
    torch_device = resolve_device(device)
    calibration = None if card.calibration is None else Calibration.from_card(card.calibration)
    return LoadedModel(model.to(torch_device).eval(), card, scaler, torch_device, calibration)


def _check_shapes(card: ModelCard, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Build the model on the meta device (no memory) and compare its tensor shapes with the
    file's, before the real build: a 10 KB file whose config asks for a model of billions
    of weights is refused here instead of allocating them."""
    with torch.device("meta"):
        wanted = {k: tuple(v.shape) for k, v in build_model(card.config.model).state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if wanted != found:
        odd = sorted(set(wanted.items()) ^ set(found.items()))[0][0]
        raise CheckpointError(f"model file {str(path)!r} does not hold a usable tsattn model "
                              f"(tensor {odd!r} does not match its config); retrain it")


def usable_scaler(stats: ScalerStats, where: str) -> Scaler:
    """The card's scaler, refused (exit 4) when a statistic lies outside float32's range or
    a scale is not positive: every forecast would come out NaN or infinite."""
    with np.errstate(over="ignore"):  # a finite number past float32's range: refused below
        scaler = scaler_of(stats)
    if not (np.all(np.isfinite(scaler.mean)) and np.all(np.isfinite(scaler.scale))
            and np.all(scaler.scale > 0)):
        raise CheckpointError(f"{where} has scaler statistics outside float32's range; "
                              "retrain the model")
    return scaler


def require_finite(values: np.ndarray, what: str) -> np.ndarray:
    """`values`, unless the model produced NaN or infinity: nothing non-finite leaves tsattn.

    Finite weights and inputs can still overflow float32 in a model that diverged; its
    output is refused as a model problem (exit 4), never printed as `nan`.
    """
    if not np.all(np.isfinite(values)):
        raise CheckpointError(f"the model produced NaN or infinite {what} from this history; "
                              "it diverged or its file is damaged: retrain the model")
    return values


def for_series(loaded: LoadedModel, entry: SeriesEntry) -> LoadedModel:
    """The model as one series of a many-series model sees it: that series' own rows, split,
    scaler and last time in the card's single-series fields, and its intervals rolling on
    its own residuals, so predict and evaluate run on it unchanged."""
    card = dataclasses.replace(loaded.card, n_rows=entry.n_rows, split=entry.split,
                               scaler=entry.scaler, last_time=entry.last_time)
    scaler = usable_scaler(entry.scaler, f"the model's series {entry.id!r}")
    own = entry.split.val_end - entry.split.train_end - loaded.horizon + 1
    calibration = (None if loaded.calibration is None
                   else for_one_series(loaded.calibration, own))
    return dataclasses.replace(loaded, card=card, scaler=scaler, calibration=calibration)


def with_frequency_check(loaded: LoadedModel, frame: Frame) -> Frame:
    """`frame`, with a warning when its rows step unlike the training data's.

    A model trained on hourly rows reads a daily history as if it were hourly: its
    forecasts then mean little, but the rows may be what the user meant to give, so this
    is said rather than refused. The forecast times continue the history's own steps.
    """
    trained, given = loaded.card.freq, frame.freq
    if trained is None or given is None or given == trained:
        return frame
    note = (f"the history steps by {given} but the model was trained on rows stepping by "
            f"{trained}: it reads these rows as if they stepped by {trained}; give a history "
            f"at the training data's frequency")
    return dataclasses.replace(frame, warnings=(*frame.warnings, note))


def scaled_series(loaded: LoadedModel, frame: Frame) -> torch.Tensor:
    """The history z-scored with the training statistics, known covariates read H rows
    ahead (`known.model_input`), on the model's device."""
    return torch.from_numpy(model_input(frame, loaded.scaler, loaded.horizon)).to(loaded.device)


def model_windows(loaded: LoadedModel, series: torch.Tensor, first_target: int, end: int,
            horizon: int | None = None) -> Windows:
    """The model's windows over `series` whose targets lie in rows [first_target, end).

    `horizon=0` cuts input windows only (forecasting beyond the data's end).
    """
    horizon = loaded.horizon if horizon is None else horizon
    return Windows.between(series, first_target, end, loaded.lookback, horizon,
                           loaded.card.config.model.n_targets)


def _scale(loaded: LoadedModel, x: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Each step's interval scale (W, H, T): the calibration's, else the window's std."""
    if loaded.calibration is None:
        return interval_scale(x, loaded.horizon, None)
    return loaded.calibration.scale(x, pred)


def run_model(loaded: LoadedModel, windows: Windows, batch_size: int = 512,
              with_attention: bool = False, with_scale: bool = True) -> Outputs:
    """Batched inference over every window; attention maps and interval scales kept on
    request (one scale per forecast value: evaluate, which holds every window's
    forecast, computes its scales block by block instead).

    Raw token maps are kept for the last window only: for a rolling forecast they would be
    layers x heads x N x N floats per origin, and only the last one is ever drawn.
    """
    maps, alts, token_maps, variables, scales = [], {}, None, [], []
    n_targets = loaded.card.config.model.n_targets
    # written in place: a list of batches joined at the end would hold every forecast twice
    prediction = np.empty((len(windows), loaded.horizon, n_targets), dtype=np.float32)
    done = 0
    with torch.inference_mode():
        for x, _ in windows.batches(batch_size):
            with autocast_for(loaded.device):
                out = loaded.model(x, return_attention=with_attention)
            pred = out.prediction.float().cpu().numpy()
            prediction[done: done + len(pred)] = pred
            done += len(pred)
            if with_scale:
                scales.append(_scale(loaded, x[..., :n_targets].double().cpu().numpy(),
                                     pred.astype(np.float64)))
            if with_attention:
                maps.append(out.attention.float().cpu())
                for name, value in out.alternatives.items():
                    alts.setdefault(name, []).append(value.float().cpu())
                if out.variables is not None:
                    variables.append(out.variables.float().cpu())
                if out.token_maps is not None:
                    token_maps = out.token_maps[-1].float().cpu().numpy()
    attention = torch.cat(maps).numpy() if maps else None
    if attention is not None:
        require_finite(attention, "attention weights")
    return Outputs(
        prediction=require_finite(prediction, "forecasts"),
        attention=attention,
        alternatives={name: torch.cat(parts).numpy() for name, parts in alts.items()},
        last_token_maps=token_maps,
        variables=torch.cat(variables).numpy() if variables else None,
        scale=np.concatenate(scales) if with_scale else None,
    )
