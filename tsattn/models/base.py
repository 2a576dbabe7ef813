"""What every forecaster shares: the output record, RevIN, and the wrapper around a core.

The wrapper checks the window, applies reversible instance normalisation and channel
independence, and undoes both on the way out. Each model then writes only its core,
`_forecast`, on normalised windows, and every option means the same thing in every model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor, nn

from tsattn.config import ModelConfig, validate_model
from tsattn.errors import DataError
from tsattn.models.linear import LinearPath
from tsattn.models.patches import PatchLayout


@dataclass
class Forecast:
    """A model's answer for B windows of L input steps, H forecast steps and T targets.

    prediction (B, H, T) is in the model's input (scaled) units. attention (B, H, L) is the
    default map over input steps and each row sums to 1; alternatives holds other (B, H, L)
    reductions by name; token_maps holds raw (B, layers, heads, N, N) maps where a model
    has them. All three are empty when the forward was asked not to return attention.
    """

    prediction: Tensor
    attention: Tensor | None = None
    alternatives: dict[str, Tensor] = field(default_factory=dict)
    token_maps: Tensor | None = None
    linear: Tensor | None = None  # (B, H, T): the linear path's share of `prediction`
    variables: Tensor | None = None  # (B, H, C): how much each input variable moved each step


def sinusoidal_encoding(n_positions: int, dim: int) -> Tensor:
    """(N, D) fixed sin/cos position codes (Vaswani et al.); any D, odd included."""
    position = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1e4) / dim))
    encoding = torch.zeros(n_positions, dim)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return encoding


def zero_output_layer(layer: nn.Linear) -> None:
    """Start the attention path at zero, so an untrained model forecasts its linear path.

    Only this layer gets a gradient on the first step; every other weight gets one from
    the second step on, once this layer has moved (as ReZero and zero-initialised
    residual branches do).
    """
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)


class RevIN(nn.Module):
    """Reversible instance normalisation (Kim et al., 2022).

    Each window is shifted by an anchor and divided by its own per-channel std, so the
    model learns shapes rather than levels and copes with a series whose level drifts
    between training and use; the prediction is mapped back with the same statistics. The
    statistics are detached, as in the reference code. An optional per-channel affine map
    is learned.

    The anchor is the window's mean (RevIN's own choice, the default) or its last value
    (`"last"`, as NLinear and PatchTST's `subtract_last`). The last value was better on
    ETTh1's validation part at every horizon (transformer, lookback 336: 0.669/1.164/1.440
    against 0.676/1.193/1.449 at horizons 96/336/720) but worse on the generated check set
    for both models (LSTM validation 0.65-0.71 against 0.54-0.58 over three seeds), so it
    did not hold beyond the data it was picked on and stays an option.
    """

    def __init__(self, n_channels: int, affine: bool = True, eps: float = 1e-5,
                 anchor: str = "mean") -> None:
        super().__init__()
        self.eps = eps
        self.affine = affine
        self.anchor = anchor
        if affine:
            self.weight = nn.Parameter(torch.ones(n_channels))
            self.bias = nn.Parameter(torch.zeros(n_channels))

    def normalize(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, L, C) -> normalised x (B, L, C), anchor (B, 1, C), std (B, 1, C)."""
        level = x[:, -1:] if self.anchor == "last" else x.mean(dim=1, keepdim=True)
        level = level.detach()
        # sqrt(var + eps), not std + eps: a constant window must not give a NaN gradient
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - level) / std
        if self.affine:
            x = x * self.weight + self.bias
        return x, level, std

    def denormalize(self, y: Tensor, std: Tensor) -> Tensor:
        """y (B, H, T) back to input units with the first T channels' std, without a level:
        the level comes from the model's base forecast (the anchor, or its linear path)."""
        T = y.shape[-1]
        if self.affine:
            y = (y - self.bias[:T]) / (self.weight[:T] + self.eps**2)
        return y * std[..., :T]


class Forecaster(nn.Module):
    """Base of every model: (B, L, C) windows -> Forecast with prediction (B, H, T).

    The forecast is a base plus what the attention path adds: the base is the linear path
    (`models/linear.py`, fit in closed form before training) or, with `linear_path` off,
    the RevIN anchor. Beside a linear path each model zero-initialises its last layer, so
    an untrained model *is* that path and training starts from the free baseline instead
    of rediscovering it.

    Every model reads the window as the patch tokens of `patches` (`token_spans`: the
    input rows [start, stop) each token covers; `spread`: token weights -> step weights).
    Subclasses set `attention_reduction` (the name of their own map) and implement `_forecast`,
    which maps normalised windows (B', L, n_in) to a Forecast with prediction
    (B', H, n_out) and maps (B', H, L). Channel-independent: B' = B·T and n_in = n_out = 1,
    each target its own univariate series and covariates unused. Otherwise B' = B,
    n_in = C, n_out = T.
    """

    token_spans: list[tuple[int, int]]
    attention_reduction: str

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        validate_model(cfg)
        self.cfg = cfg
        independent = cfg.channel_independent
        self.n_used = cfg.n_targets if independent else cfg.n_channels
        self.n_in = 1 if independent else cfg.n_channels
        self.n_out = 1 if independent else cfg.n_targets
        self.revin = RevIN(self.n_used, anchor=cfg.revin_anchor) if cfg.revin else None
        past = cfg.n_channels - cfg.n_targets - cfg.n_known
        self.linear = LinearPath(cfg.lookback, cfg.horizon, cfg.n_targets, past,
                                 cfg.n_known) if cfg.linear_path else None
        self.patches = PatchLayout.of(cfg)
        self.token_spans = self.patches.spans
        # token -> step spreading; rebuilt from cfg, not saved
        self.register_buffer("spread", self.patches.spread(), persistent=False)

    @property
    def n_read(self) -> int:
        """How many channels (targets first) the forecast can depend on: the attention
        path's, or all of them when the linear path kept weights for the covariates."""
        if self.linear is not None and self.linear.reads_covariates:
            return self.cfg.n_channels
        return self.n_used

    @property
    def reduction(self) -> str:
        """The name of the default map: `read` beside a linear path, else the attention's."""
        return "read" if self.linear is not None else self.attention_reduction

    def forward(self, x: Tensor, return_attention: bool = True) -> Forecast:
        """x (B, L, C), targets first. With return_attention=False the maps are skipped."""
        self._check_window(x)
        B, L, _ = x.shape
        T = self.cfg.n_targets
        full = x
        base, parts = self.linear(x) if self.linear is not None else (None, None)
        x = x[..., : self.n_used]
        if self.revin is not None:
            x, level, std = self.revin.normalize(x)
        if self.cfg.channel_independent:
            x = x.transpose(1, 2).reshape(B * self.n_used, L, 1)  # (B, L, T) -> (B·T, L, 1)
        out = self._forecast(x, return_attention)
        if self.cfg.channel_independent:
            out = _merge_channels(out, B)
        added = out.prediction
        if self.revin is not None:
            added = self.revin.denormalize(added, std)
            if base is None:
                base = level[..., :T]
        prediction = added if base is None else base + added
        if return_attention and self.linear is not None:
            out = self._with_read_map(out, full, added, parts)
        return replace(out, prediction=prediction,
                       linear=base if self.linear is not None else None)

    def _with_read_map(self, out: Forecast, x: Tensor, added: Tensor, parts: Tensor
                       ) -> Forecast:
        """The default map becomes `read`; the attention path's own map stays beside it."""
        alternatives = {self.attention_reduction: out.attention, **out.alternatives}
        variables = None
        if self.cfg.channel_independent:
            variables = variable_weights(parts, added, self.cfg.n_channels)
        return replace(out, attention=read_map(self.linear, x, added, out.attention),
                       alternatives=alternatives, variables=variables)

    def _forecast(self, x: Tensor, return_attention: bool) -> Forecast:
        raise NotImplementedError

    def _check_window(self, x: Tensor) -> None:
        expected = (self.cfg.lookback, self.cfg.n_channels)
        if x.dim() != 3 or tuple(x.shape[1:]) != expected:
            raise DataError(
                f"the model takes windows of shape (batch, {expected[0]} rows, {expected[1]} "
                f"channels), got {tuple(x.shape)}; use the lookback and columns it was "
                "trained with"
            )


def read_map(linear: LinearPath, x: Tensor, added: Tensor, attention: Tensor) -> Tensor:
    """(B, H, L): which input rows each forecast step read, and how much.

    The linear path's part is exact. Its forecast is Σ_l c_lh·x_l with row coefficients c
    (W, plus the last-value anchor on the last row), so giving row l another value v
    moves step h by c_lh·(x_l - v); row l's weight is that move's size averaged over the
    values the window itself holds, |c_lh|·mean_j |x_l - x_j| (`in_window_spread`), summed
    over targets, plus the covariates' rows likewise. A row whose value is unusual for its
    window weighs more, but a row the forecast copies is not ignored when its value
    happens to sit near the window's mean (a map around the mean missed such rows; around
    the last value it gave the anchor nothing: benchmarks/README.md, "The read map").
    The attention path's part is its own map, weighted by how far that path moved the
    step. Each row sums to 1.
    """
    T, L = linear.n_targets, x.shape[1]
    spread = in_window_spread(x[..., :T])  # (B, L, T)
    rows = torch.einsum("blt,lh->bhl", spread, linear.row_coefficients().abs().to(x.dtype))
    if linear.n_covariates:
        Lc = linear.covariate_lookback
        spread = in_window_spread(x[:, -Lc:, T : T + linear.n_covariates])  # (B, Lc, K)
        covariates = torch.einsum(
            "blk,tlkh->bhl", spread, linear.covariate_row_coefficients().abs().to(x.dtype))
        rows = torch.cat([rows[..., : L - Lc], rows[..., L - Lc :] + covariates], dim=-1)
    attended = added.abs().sum(dim=-1, keepdim=True)  # (B, H, 1)
    total = rows.sum(dim=-1, keepdim=True) + attended + 1e-12
    return (rows + (attended + 1e-12) * attention) / total


def in_window_spread(values: Tensor) -> Tensor:
    """(B, L, K) -> (B, L, K): mean over the window's rows j of |v_l - v_j|, per channel.

    In O(L log L) from the sorted window rather than the (L, L) differences: the i-th
    smallest of L values s lies above i of them and below L - 1 - i, so its summed
    distance is s·i - Σ(smaller) + Σ(larger) - s·(L - 1 - i).
    """
    L = values.shape[1]
    # centred first: the sums below cancel, and small numbers keep float32's precision
    ordered, order = (values - values.mean(dim=1, keepdim=True)).sort(dim=1)
    smaller = ordered.cumsum(dim=1) - ordered
    larger = ordered.sum(dim=1, keepdim=True) - smaller - ordered
    rank = torch.arange(L, dtype=ordered.dtype, device=values.device).view(1, L, 1)
    summed = ordered * rank - smaller + larger - ordered * (L - 1 - rank)
    summed = summed.clamp_min(0) / L  # rounding can leave tiny negatives where values tie
    return torch.empty_like(values).scatter_(1, order, summed)


def variable_weights(parts: Tensor, added: Tensor, n_channels: int) -> Tensor:
    """(B, H, C) weights over the input variables, each row summing to 1.

    For target t the forecast's move away from its last value is a sum of parts: its own
    history (linear map + attention path, which reads only that target when channels are
    independent) and each covariate's linear contribution. A variable's weight is its
    part's magnitude over the sum of magnitudes, averaged over the targets, so blanking a
    variable removes exactly the part the weight reports.
    """
    B, H, T, n_parts = parts.shape
    own = (parts[..., 0] + added).abs() + 1e-12  # (B, H, T); a flat forecast is its own
    weights = parts.new_zeros(B, H, T, n_channels)
    weights[..., :T] = torch.diag_embed(own)
    weights[..., T : T + n_parts - 1] = parts[..., 1:].abs()
    weights = weights / weights.sum(dim=-1, keepdim=True)
    return weights.mean(dim=2)


def _merge_channels(out: Forecast, batch: int) -> Forecast:
    """Fold B·T univariate answers back into B windows.

    Predictions (B·T, H, 1) become the T target columns (B, H, T); maps are averaged over
    the targets, so each row still sums to 1.
    """

    def average(maps: Tensor) -> Tensor:
        return maps.reshape(batch, -1, *maps.shape[1:]).mean(dim=1)

    horizon = out.prediction.shape[1]
    return Forecast(
        prediction=out.prediction.reshape(batch, -1, horizon).transpose(1, 2),
        attention=None if out.attention is None else average(out.attention),
        alternatives={name: average(m) for name, m in out.alternatives.items()},
        token_maps=None if out.token_maps is None else average(out.token_maps),
    )
