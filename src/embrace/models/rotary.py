"""Rotary position embeddings (RoPE) in the reference's rotate-half layout, with its scaling variants.

``rope_parameters`` is the config.json dict (``{"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, ...}``);
older files spell it ``rope_scaling`` + ``rope_theta``, which :func:`normalize_rope_parameters` folds in.
Supported types: default, linear, dynamic (NTK), llama3, yarn, longrope (Phi-3: per-frequency ``short_factor`` up to
``original_max_position_embeddings`` tokens, ``long_factor`` beyond).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from embrace.errors import InvalidConfigError

ROPE_TYPES = ("default", "linear", "dynamic", "llama3", "yarn", "longrope")
_FACTOR_OPTIONAL = ("default", "yarn", "longrope")  # yarn/longrope derive it from the context lengths


def normalize_rope_parameters(rope_parameters: dict[str, Any] | None, rope_scaling: dict[str, Any] | None,
                              rope_theta: float | None, default_theta: float = 10000.0) -> dict[str, Any]:
    """One dict with ``rope_type`` and ``rope_theta`` from the new (``rope_parameters``) or old spelling."""
    params: dict[str, Any] = dict(rope_parameters or {})
    if rope_scaling:
        params = {**rope_scaling, **params}
    if "type" in params and "rope_type" not in params:
        params["rope_type"] = params.pop("type")
    params.setdefault("rope_type", "default")
    params.setdefault("rope_theta", rope_theta if rope_theta is not None else default_theta)
    if params["rope_type"] not in ROPE_TYPES:
        raise InvalidConfigError(f"rope_type {params['rope_type']!r} is not supported; use one of {ROPE_TYPES}")
    if params["rope_type"] not in _FACTOR_OPTIONAL and params.get("factor") is None:
        raise InvalidConfigError(f"rope_type {params['rope_type']!r} needs a 'factor' in rope_parameters")
    if params["rope_type"] == "longrope":
        missing = [key for key in ("short_factor", "long_factor") if not isinstance(params.get(key), list)]
        if missing:
            raise InvalidConfigError(f"rope_type 'longrope' needs lists {missing} in rope_parameters")
    return params


def _base_inv_freq(base: float, dim: int) -> torch.Tensor:
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64, device="cpu").float() / dim))


def compute_inv_freq(params: dict[str, Any], dim: int, max_position_embeddings: int,
                     seq_len: int | None = None) -> tuple[torch.Tensor, float]:
    """``(inv_freq (dim/2,) float32 on CPU, attention_scaling)`` for the rotary dimension ``dim``."""
    rope_type = params["rope_type"]
    base = float(params["rope_theta"])
    if rope_type == "linear":
        return _base_inv_freq(base, dim) / params["factor"], 1.0
    if rope_type == "dynamic":
        factor = params["factor"]
        seq_len = max(seq_len or max_position_embeddings, max_position_embeddings)
        base = base * ((factor * seq_len / max_position_embeddings) - (factor - 1)) ** (dim / (dim - 2))
        return _base_inv_freq(base, dim), 1.0
    if rope_type == "llama3":
        return _llama3_inv_freq(params, base, dim), 1.0
    if rope_type == "yarn":
        return _yarn_inv_freq(params, base, dim, max_position_embeddings)
    if rope_type == "longrope":
        return _longrope_inv_freq(params, base, dim, max_position_embeddings, seq_len)
    return _base_inv_freq(base, dim), 1.0


def _llama3_inv_freq(params: dict[str, Any], base: float, dim: int) -> torch.Tensor:
    inv_freq = _base_inv_freq(base, dim)
    factor, low, high = params["factor"], params["low_freq_factor"], params["high_freq_factor"]
    old_context = params["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_context / low, old_context / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def _yarn_inv_freq(params: dict[str, Any], base: float, dim: int, max_pos: int) -> tuple[torch.Tensor, float]:
    original = params["original_max_position_embeddings"]
    factor = params.get("factor") or max_pos / original

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    attention_factor = params.get("attention_factor")
    if attention_factor is None:
        m, m_all = params.get("mscale"), params.get("mscale_all_dim")
        attention_factor = float(mscale(factor, m) / mscale(factor, m_all)) if m and m_all else mscale(factor)
    beta_fast, beta_slow = params.get("beta_fast") or 32, params.get("beta_slow") or 1

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if params.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32, device="cpu") - low) / (high - low), 0, 1)
    pos_freqs = base ** (torch.arange(0, dim, 2, device="cpu").float() / dim)
    extrapolation = 1 - ramp
    inv_freq = (1.0 / (factor * pos_freqs)) * (1 - extrapolation) + (1.0 / pos_freqs) * extrapolation
    return inv_freq, float(attention_factor)


def _longrope_inv_freq(params: dict[str, Any], base: float, dim: int, max_pos: int,
                       seq_len: int | None) -> tuple[torch.Tensor, float]:
    """LongRoPE: the base frequencies divided by ``short_factor`` (or ``long_factor`` once ``seq_len`` exceeds the
    original context); the attention factor depends on the context extension, not on ``seq_len``."""
    original = params.get("original_max_position_embeddings") or max_pos
    long = seq_len is not None and seq_len > original
    factors = params["long_factor" if long else "short_factor"]
    if len(factors) != dim // 2:
        raise InvalidConfigError(f"longrope {'long' if long else 'short'}_factor has {len(factors)} values; the "
                                 f"rotary dimension {dim} needs {dim // 2}")
    factor = params.get("factor")
    if factor is None:
        factor = max_pos / original
    attention_factor = params.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    ext = torch.tensor(factors, dtype=torch.float32, device="cpu")
    exponents = torch.arange(0, dim, 2, dtype=torch.int64, device="cpu").float() / dim
    return 1.0 / (ext * base ** exponents), float(attention_factor)


class RotaryEmbedding(nn.Module):
    """Position ids ``(batch, seq)`` -> ``(cos, sin)`` each ``(batch, seq, rotary_dim)`` in the input dtype.

    ``inv_freq`` is a plain float32 attribute, not a buffer: it is derived from the config, never saved, and
    must survive meta-device construction and ``model.to(bfloat16)`` unchanged. With ``longrope`` the long-factor
    frequencies apply to the whole call once its largest position passes the original context (chosen on the
    device, without a host sync, as the reference does).
    """

    def __init__(self, params: dict[str, Any], rotary_dim: int, max_position_embeddings: int) -> None:
        super().__init__()
        self.params = params
        self.rotary_dim = rotary_dim
        self.max_position_embeddings = max_position_embeddings
        self.inv_freq, self.attention_scaling = compute_inv_freq(params, rotary_dim, max_position_embeddings)
        self._original_inv_freq = self.inv_freq
        self._cached_len = max_position_embeddings
        self._long_inv_freq: torch.Tensor | None = None
        if params["rope_type"] == "longrope":
            self._original_context = int(params.get("original_max_position_embeddings") or max_position_embeddings)
            self._long_inv_freq, _ = compute_inv_freq(params, rotary_dim, max_position_embeddings,
                                                      self._original_context + 1)

    def _dynamic_update(self, position_ids: torch.Tensor) -> None:
        seq_len = int(position_ids.max()) + 1  # host sync only for dynamic NTK, as in the reference
        if seq_len > self._cached_len:
            self.inv_freq, _ = compute_inv_freq(self.params, self.rotary_dim, self.max_position_embeddings, seq_len)
            self._cached_len = seq_len
        elif seq_len < self.max_position_embeddings < self._cached_len:
            self.inv_freq, self._cached_len = self._original_inv_freq, self.max_position_embeddings

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if self.params["rope_type"] == "dynamic":
            self._dynamic_update(position_ids)
        if self.inv_freq.device != position_ids.device:
            self.inv_freq = self.inv_freq.to(position_ids.device)
            self._original_inv_freq = self._original_inv_freq.to(position_ids.device)
            if self._long_inv_freq is not None:
                self._long_inv_freq = self._long_inv_freq.to(position_ids.device)
        inv_freq = self.inv_freq
        if self._long_inv_freq is not None:
            inv_freq = torch.where(position_ids.max() >= self._original_context, self._long_inv_freq, inv_freq)
        freqs = position_ids[:, :, None].float() * inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.attention_scaling).to(dtype), (emb.sin() * self.attention_scaling).to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate ``q``/``k`` ``(batch, heads, seq, head_dim)``; with partial rotary only the first ``rotary_dim``
    channels turn (GPT-NeoX, Phi) and the rest pass through."""
    cos, sin = cos[:, None], sin[:, None]
    rot = cos.shape[-1]
    if rot == q.shape[-1]:
        return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
    q_rot, q_pass = q[..., :rot], q[..., rot:]
    k_rot, k_pass = k[..., :rot], k[..., rot:]
    q_rot = q_rot * cos + rotate_half(q_rot) * sin
    k_rot = k_rot * cos + rotate_half(k_rot) * sin
    return torch.cat((q_rot, q_pass), dim=-1), torch.cat((k_rot, k_pass), dim=-1)
