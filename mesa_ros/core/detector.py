"""Detecting a change of the robot's dynamics from the live transitions alone (ours: the paper and the
reference are told when the dynamics change; no safe-RL or ROS safety tool we know of detects it).

Model: f(s, a) ~ s' - s, an MLP fitted on healthy transitions of the deployed policy (inputs and outputs
standardised on that data); residual r_t = (s'_t - s_t) - f(s_t, a_t).

Score, per observation dimension i: u_t,i = (log(r_t,i^2 + 1e-12) - mu_i) / sd_i, capped at ``clip``,
with mu_i, sd_i the mean and sd of log r_i^2 on healthy calibration streams. The log tames the heavy
tails of contact-rich residuals; per dimension, a power loss shows at full strength in its joint's
angle and velocity instead of being averaged over all dimensions.

Page's one-sided CUSUM per dimension, in each direction, set from healthy data only (``calibrate``):

    change:   S_t,i = max(0, S_t-1,i + u_t,i - k)   change when max_i S_t,i > h      (k = ``drift``, in sd)
    recovery: R_t,i = max(0, R_t-1,i + k - u_t,i)   healthy again when min_i R_t,i > h_clear = clear_steps * k

h = margin * (the largest max_i S_t,i over continuous healthy calibration streams, at least k): the
false-alarm rate is set on healthy running and measured on independent healthy runs (``mesa-ros detector evaluate``).
The dimension with the largest S at a detection hints at the joint. A fault whose residuals stay
within the healthy spread is not seen: that is the detector's limit, reported per fault.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mesa_ros.core import checkpoint
from mesa_ros.core.config import DetectorConfig, merge
from mesa_ros.core.inference import NumpyMLP

if TYPE_CHECKING:  # torch only to fit (the node that detects stays on numpy)
    from torch import nn

HEALTHY, CHANGED = "healthy", "changed"
MODULE = "dynamics"
NORMALISERS = ("x_mean", "x_std", "y_mean", "y_std", "score_mean", "score_std")
TINY = 1e-12  # inside log(r^2 + TINY)
Stream = tuple[np.ndarray, np.ndarray, np.ndarray]  # (s, a, s') of consecutive transitions, one row each


@dataclass(frozen=True)
class Calibration:
    """The CUSUM settings derived from healthy calibration streams (see the module docstring)."""

    k: float
    h: float
    h_clear: float
    max_healthy_cusum: float  # the largest max_i S_t,i seen on the calibration streams
    calibration_steps: int


@dataclass(frozen=True)
class Detection:
    """A decision of the detector: ``event`` is ``changed`` or ``healthy``; ``statistic`` the CUSUM that crossed
    ``threshold``; ``dimension`` the observation dimension whose statistic decided."""

    event: str
    statistic: float
    threshold: float
    dimension: int


class Dynamics:
    """f(s, a) and the standardised scores, numpy only, from the ``dynamics`` module's state (``fit_dynamics``)."""

    def __init__(self, state: Mapping[str, np.ndarray], obs_dim: int, act_dim: int) -> None:
        missing = [n for n in NORMALISERS if n not in state]
        if missing:
            raise ValueError(f"detector model lacks {missing}")
        self.norm = {n: np.asarray(state[n], dtype=np.float64) for n in NORMALISERS}
        self.net = NumpyMLP({k[4:]: v for k, v in state.items() if k.startswith("net.")}, obs_dim + act_dim,
                            obs_dim, "detector.dynamics")
        self.obs_dim, self.act_dim = obs_dim, act_dim

    def residuals(self, s: np.ndarray, a: np.ndarray, s_next: np.ndarray) -> np.ndarray:
        """r = (s' - s) - f(s, a) for one transition or a batch (rows)."""
        s, a, s_next = (np.asarray(v, dtype=np.float64) for v in (s, a, s_next))
        x = (np.concatenate([s, a], axis=-1) - self.norm["x_mean"]) / self.norm["x_std"]
        predicted = self.net(x.astype(np.float32)) * self.norm["y_std"] + self.norm["y_mean"]
        return s_next - s - predicted

    def scores(self, s: np.ndarray, a: np.ndarray, s_next: np.ndarray, clip: float) -> np.ndarray:
        """u_i = (log(r_i^2) - mu_i) / sd_i, capped at ``clip`` (a non-finite residual scores ``clip``)."""
        u = (np.log(np.square(self.residuals(s, a, s_next)) + TINY) - self.norm["score_mean"]) / self.norm["score_std"]
        return np.minimum(np.nan_to_num(u, nan=clip, posinf=clip), clip)


def cusum(scores: np.ndarray, k: float, h: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Page's CUSUM per dimension, S_t,i = max(0, S_t-1,i + u_t,i - k), over ``scores`` (T x d, or T), restarting
    at 0 after each alarm (max_i S_t,i > h). Returns (max_i S_t,i for every t, the indices of the alarms)."""
    u = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1) - k
    path, alarms, state = np.empty(len(u)), [], np.zeros(u.shape[1])
    for t, row in enumerate(u):
        state = np.maximum(state + row, 0.0)
        path[t] = top = state.max()
        if top > h:
            alarms.append(t)
            state[:] = 0.0
    return path, np.array(alarms, dtype=np.int64)


def recovery(scores: np.ndarray, k: float, h_clear: float) -> int | None:
    """The first t at which every dimension's R_t,i = max(0, R_t-1,i + k - u_t,i) exceeds ``h_clear`` (else None)."""
    state = np.zeros(np.asarray(scores).reshape(len(scores), -1).shape[1])
    for t, row in enumerate(np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)):
        state = np.maximum(state + k - row, 0.0)
        if state.min() > h_clear:
            return t
    return None


def fit_dynamics(data: Stream, cfg: DetectorConfig = DetectorConfig(), seed: int = 0) -> nn.Module:
    """Fit f on healthy ``data`` (s, executed a, s'): ``cfg.steps`` Adam steps of mean squared error on
    standardised targets. The module holds the MLP and the normalisers (score statistics: ``calibrate``)."""
    import torch
    from torch import nn

    from mesa_ros.core.networks import MLP

    s, a, s_next = (np.asarray(v, dtype=np.float64) for v in data)
    if len(s) < 2:
        raise ValueError(f"fitting a dynamics model needs healthy transitions, got {len(s)}")
    x, y = np.concatenate([s, a], axis=1), s_next - s
    x_mean, x_std, y_mean, y_std = x.mean(0), x.std(0) + 1e-6, y.mean(0), y.std(0) + 1e-6
    model = nn.Module()
    model.net = MLP(x.shape[1], y.shape[1], cfg.hidden)
    for name, value in (("x_mean", x_mean), ("x_std", x_std), ("y_mean", y_mean), ("y_std", y_std),
                        ("score_mean", np.zeros(y.shape[1])), ("score_std", np.ones(y.shape[1]))):
        model.register_buffer(name, torch.tensor(value, dtype=torch.float32))
    inputs = torch.tensor((x - x_mean) / x_std, dtype=torch.float32)
    targets = torch.tensor((y - y_mean) / y_std, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(model.net.parameters(), lr=cfg.lr)
    for _ in range(cfg.steps):
        index = torch.randint(0, len(inputs), (min(cfg.batch_size, len(inputs)),), generator=generator)
        loss = torch.mean(torch.square(model.net(inputs[index]) - targets[index]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


def _state(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def calibrate(model: nn.Module, streams: Sequence[Stream], cfg: DetectorConfig = DetectorConfig()) -> Calibration:
    """Set the model's score statistics and the CUSUM thresholds from healthy ``streams`` ((s, a, s') arrays of
    continuous runs, in order, as the robot sees them; never faulty data)."""
    import torch

    if not streams or not all(len(s) for s, _, _ in streams):
        raise ValueError("calibration needs at least one non-empty healthy stream")
    obs_dim, act_dim = streams[0][0].shape[1], streams[0][1].shape[1]
    dynamics = Dynamics(_state(model), obs_dim, act_dim)
    logs = np.log(np.square(np.concatenate([dynamics.residuals(*stream) for stream in streams])) + TINY)
    model.score_mean.copy_(torch.tensor(logs.mean(0), dtype=torch.float32))
    model.score_std.copy_(torch.tensor(logs.std(0) + 1e-9, dtype=torch.float32))
    dynamics = Dynamics(_state(model), obs_dim, act_dim)
    peak = max(float(cusum(dynamics.scores(*stream, cfg.clip), cfg.drift)[0].max()) for stream in streams)
    return Calibration(cfg.drift, cfg.margin * max(peak, cfg.drift), cfg.clear_steps * cfg.drift, peak, len(logs))


class ChangeDetector:
    """The online test: feed each executed transition; a ``Detection`` comes back when the state flips."""

    def __init__(self, dynamics: Dynamics, calibration: Calibration, cfg: DetectorConfig) -> None:
        self.dynamics, self.calibration, self.cfg = dynamics, calibration, cfg
        self.state, self.steps = HEALTHY, 0
        self.sums = np.zeros(dynamics.obs_dim)  # S_i while healthy, R_i after a change
        self.score = float("nan")  # max_i u_t,i of the last transition

    @property
    def statistic(self) -> float:
        """max_i S_i while healthy, min_i R_i after a change: compared with ``threshold``."""
        return float(self.sums.max() if self.state == HEALTHY else self.sums.min())

    @property
    def threshold(self) -> float:
        return self.calibration.h if self.state == HEALTHY else self.calibration.h_clear

    def reset(self, state: str = HEALTHY) -> None:
        """Start the test afresh, believing the dynamics are ``state`` (e.g. after an announced fault)."""
        if state not in (HEALTHY, CHANGED):
            raise ValueError(f"detector state must be {HEALTHY!r} or {CHANGED!r}, got {state!r}")
        self.state = state
        self.sums[:] = 0.0

    def update(self, s: np.ndarray, a: np.ndarray, s_next: np.ndarray) -> Detection | None:
        u = self.dynamics.scores(s, a, s_next, self.cfg.clip)
        self.score, self.steps = float(u.max()), self.steps + 1
        k = self.calibration.k
        self.sums = np.maximum(self.sums + (u - k if self.state == HEALTHY else k - u), 0.0)
        if self.statistic <= self.threshold:
            return None
        dimension = int(self.sums.argmax() if self.state == HEALTHY else self.sums.argmin())
        detection = Detection(CHANGED if self.state == HEALTHY else HEALTHY, self.statistic, self.threshold, dimension)
        self.reset(detection.event)
        return detection


def save(path: str | os.PathLike, model: nn.Module, calibration: Calibration, env: str, obs_dim: int, act_dim: int,
         cfg: DetectorConfig, provenance: Mapping[str, Any] | None = None) -> Path:
    """One safetensors file: the model (``dynamics`` module), the config and the calibration in the header."""
    extra = {"kind": "detector", "calibration": dataclasses.asdict(calibration), "provenance": dict(provenance or {})}
    return checkpoint.save(path, {MODULE: model}, env, obs_dim, act_dim, dataclasses.asdict(cfg), extra)


def load(path: str | os.PathLike, env: str | None = None) -> ChangeDetector:
    """A detector file written by ``save`` (numpy only); other checkpoints are a clear error."""
    ck = checkpoint.load(path, env=env, numpy=True)
    if ck.extra.get("kind") != "detector" or MODULE not in ck.tensors:
        raise ValueError(f"{path} is not a change-detector file (kind {ck.extra.get('kind')!r})")
    try:
        calibration = Calibration(**ck.extra["calibration"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable detector calibration ({exc})") from None
    cfg = merge(DetectorConfig(), dict(ck.config))
    return ChangeDetector(Dynamics(ck.tensors[MODULE], ck.obs_dim, ck.act_dim), calibration, cfg)
