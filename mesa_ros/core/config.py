"""All MESA hyperparameters in one place, with the paper's values and where they come from.

Sources: "MESA: Offline Meta-RL for Safe Adaptation and Fault Tolerance" (Luo et al.; *paper*) and
its reference code (michaelzhiluo/mesa-safe-rl on top of Recovery RL; *ref*). Per-environment
values and CPU-scaled presets live in ``config/mesa/<env>.yaml``; ``load_config`` merges
defaults <- environment file <- preset <- explicit overrides, rejecting unknown keys.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from mesa_ros.paths import share_dir


@dataclass(frozen=True)
class SACConfig:
    """Task policy (paper sec. 5: all methods build on SAC; values of ref / Recovery RL)."""

    hidden: tuple[int, ...] = (256, 256)  # paper: 2 x 256 for all networks
    lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    alpha: float = 0.2  # fixed entropy temperature (ref)
    batch_size: int = 256
    buffer_size: int = 1_000_000
    learning_starts: int = 1_000  # random-action warm-up steps before updates
    updates_per_step: int = 1


@dataclass(frozen=True)
class SafetyCriticConfig:
    """Q_risk(s, a): discounted probability of a future violation under the task policy (paper sec. 2.2)."""

    hidden: tuple[int, ...] = (256, 256)  # paper: 2 x 256 (ref: 3 x 100)
    gamma_risk: float = 0.8  # ref; Navigation-2: 0.65
    # Soft target update in phases 2 and 3 (ref). The offline stages keep no target network: they
    # bootstrap from the current parameters, as the reference does (safety_critic.py).
    tau: float = 2e-4
    # Adam in phase 3 (and the critic's own default). The paper's table says 3e-4 for phase 3; the
    # reference's MESA phase 3 keeps phase 2's optimisers at 1e-3 (run_multitask.py:629-631). We keep the
    # paper's: no measurement on training tasks has given a reason to differ (the paper wins ties).
    lr: float = 3e-4
    batch_size: int = 256
    twin: bool = False  # Recovery RL baseline: twin heads combined with max (pessimistic)
    # Layers whose weights are generated from a learned 100-d code (the reference's WLinear, MACAW-style;
    # networks.WLinear). Off: the paper's plain MLP.
    wlinear: bool = False


@dataclass(frozen=True)
class RecoveryConfig:
    """pi_rec(s): deterministic, minimises Q_risk(s, pi_rec(s)) (paper sec. 4.1, DDPG-style)."""

    hidden: tuple[int, ...] = (256, 256)
    # Adam in phase 3 and for the offline stages' recovery steps (paper: 3e-4; ref: 1e-4 in MESA's phase 1,
    # 1e-3 in its phase 3, see SafetyCriticConfig.lr). Phase 2 uses adapt.lr for both networks.
    lr: float = 3e-4
    noise_std: float = 0.01  # Gaussian exploration noise when acting (ref)
    bc_weight: float = 0.0  # ours, off = paper/ref: + bc_weight * mean |pi_rec(s) - a|^2 (core/recovery.py)


@dataclass(frozen=True)
class ShieldConfig:
    """Recovery RL rule: execute a_task if Q_risk(s, a_task) <= eps_risk, else pi_rec(s)."""

    eps_risk: float = 0.1  # ref: 0.1 Cartpole/HalfCheetah/Navigation-2, 0.3 Navigation-1/Ant


@dataclass(frozen=True)
class MetaConfig:
    """Phase 1: second-order MAML of the critic over the training tasks (paper sec. 4.1, ref)."""

    num_tasks: int = 5  # K tasks per meta-iteration
    inner_steps: int = 1
    inner_batch_size: int = 256
    outer_batch_size: int = 256
    inner_lr_init: float = 1e-3  # learned per-parameter-tensor inner rates (softplus), start value
    inner_lr_lr: float = 1e-3  # Adam on the inner rates (ref lrlr)
    # Outer Adam. Adam moves each weight by about lr per step, so a preset that cuts the iterations by f
    # uses f * outer_lr and f * inner_lr_lr: the meta-parameters and the inner rates travel as far as in the
    # paper. At 1e-5 x 1000 iterations theta stays near its random init (Q_risk flat over the states, measured
    # with ``mesa-ros calibration``); at inner_lr_lr 1e-3 x 1000 the learned inner rates stay at ~1.3e-3, where
    # one inner step changes the outer loss by 0.02% and MAML is, in effect, pooled training; x15 lets them reach
    # 0.3-0.5 on HalfCheetah (docs/results.md, session 27).
    outer_lr: float = 1e-5
    grad_clip: float = 40.0  # outer gradient-norm clip
    iterations: int = 10_000  # ref: 10k; 15k for HalfCheetah/Ant
    first_order: bool = False  # the paper's MESA is second order
    # Share of each offline batch (MAML inner and outer, pi_rec's, Multi-Task's pooled) drawn from the violating
    # transitions of its dataset, the rest from the others. Paper: none (uniform, 0.0). The reference samples 30%
    # on HalfCheetah in every stage (replay_memory.py:48-66; run_multitask.py:428-450, 545-547; mesa_exps.txt).
    pos_fraction: float = 0.0
    # Not a hyperparameter: torch.compile the torch.func meta-gradient (~1.5x on 2 CPU cores, ~20 s to
    # compile once; bench/bench_phase1.py). The env configs turn it on, the smoke preset off.
    compile: bool = False


@dataclass(frozen=True)
class AdaptConfig:
    """Phase 2: M Adam steps of critic and recovery policy on the small test dataset (paper sec. 4.2)."""

    steps: int = 500  # M: 500 HalfCheetah, 100 Navigation/Cartpole, 600 Ant (paper table)
    lr: float = 1e-3
    batch_size: int = 256  # 64 for Navigation
    pretrain_steps: int = 10_000  # RRL / Multi-Task offline critic training iterations (ref)
    pretrain_lr: float = 3e-4  # Multi-Task pooled training (ref)
    # Share of each phase-2 batch drawn from the test data's violating transitions (the rest from the safe
    # ones), when it has any. Paper: none (uniform, 0.0). The reference samples 30% on HalfCheetah
    # (replay_memory.py:48-66, pos_fraction in mesa_exps.txt).
    pos_fraction: float = 0.0
    # Phase 2's critic target: 0 = the paper's one-step TD from the slow target network; > 0 = lambda-returns of the
    # test dataset's own episodes (safety_critic.lambda_returns; ours, neither the paper nor the reference), which
    # carry a violation in the data back to the states before it within phase 2.
    td_lambda: float = 0.0


@dataclass(frozen=True)
class OnlineConfig:
    """Phase 3: SAC learns behind the shield in the test environment; critic/recovery keep updating."""

    episodes: int = 100
    max_total_steps: int = 0  # stop after the episode that reaches this many env steps (0: no step budget)
    max_episode_steps: int = 1000
    critic_updates_per_step: int = 1
    eval_every: int = 0  # 0: no separate evaluation episodes


@dataclass(frozen=True)
class DataConfig:
    """Offline datasets (paper sec. 5.1)."""

    num_train_tasks: int = 4
    train_transitions: int = 400_000  # per training task
    test_transitions: int = 40_000
    train_policy: str = "sac_early_stop"  # "random" for Navigation; replay buffer of an early-stopped SAC run
    test_policy: str = "random"
    partial: bool = False  # test-time partial power loss k ~ U(0.5, 0.95) (paper sec. 6.2)


@dataclass(frozen=True)
class CarlConfig:
    """CARL and CARL-Offline (Zhang et al. 2020; the MESA paper's model-based comparisons; ref ``jesbu1/carl``):
    a PETS ensemble with a catastrophe head planned through by a risk-averse CEM (``core/carl.py``,
    ``core/carl_agent.py``). Values of the CARL reference (``config/cartpole.py``, ``MPC.py``, ``mbexp.py``)."""

    members: int = 5  # ref: --num_nets 5
    hidden: tuple[int, ...] = (200, 200, 200)  # ref: 4 x 500 (cartpole), 5 x 200 (half-cheetah)
    lr: float = 1e-3  # ref: Adam 1e-3
    batch_size: int = 32  # ref: 32
    weight_decay: float = 5e-5  # ref: 2.5e-5 .. 5e-4 per layer
    fit_steps: int = 5000  # Adam steps of the first fit (CARL-Offline: the offline datasets; CARL: its first rollouts)
    refit_steps: int = 1000  # Adam steps on all data after each rollout (ref: 5-10 epochs over all data)
    init_rollouts: int = 5  # CARL: random-action rollouts in the source environments before planning
    source_iterations: int = 50  # CARL: planned rollouts in the source environments, one per iteration (ref: 50-100)
    horizon: int = 25  # ref: PLAN_HOR 25 (cartpole), 10 (half-cheetah)
    population: int = 400  # ref: CEM popsize 400 (cartpole), 500 (half-cheetah)
    elites: int = 40  # ref: 40
    iterations: int = 5  # ref: CEM max_iters 5
    particles: int = 20  # ref: npart 20
    smoothing: float = 0.1  # ref: CEM alpha 0.1
    catastrophe_cost: float = 10_000.0  # ref: CATASTROPHE_COST
    catastrophe_threshold: float = 0.5  # ref: CARL (State), test_percentile 50 (a predicted probability > 0.5)


@dataclass(frozen=True)
class LookaheadConfig:
    """The model-lookahead shield (ours, issue #12; ``core/lookahead.py``): CARL's ensemble, fitted on the deployed
    policy's behaviour under the training faults and adapted on the post-fault transitions, rolls that policy
    forward; the share of particles that fall (by default the most pessimistic member's) is the risk. Neither the
    paper nor the reference has it; values from the prototype (docs/results.md, "The same lookahead with a learned
    model") and CARL / PETS."""

    horizon: int = 15  # H model steps (0.75 s at 20 Hz); chosen on the training fold bthigh from 10, 15, 20 (0 falls
    # in 100 episodes at 15 and 20, 4 at 10; docs/results.md); CARL ref half-cheetah: PLAN_HOR 10
    particles: int = 20  # P, a multiple of members; CARL ref: npart 20
    eps_risk: float = 0.2  # override when more than this share of the particles falls (``member_risk``)
    candidates: int = 32  # K perturbed action sequences tried when a_task is too risky
    sigma: float = 0.6  # std of the perturbations (action units; the simulator bound's value)
    perturbed_steps: int = 1  # m: steps of each candidate perturbed before the policy takes over
    escape_scales: tuple[float, ...] = ()  # slower gaits g also tried by the search: g * a_task, then g * pi; () none.
    # (0.85, 0.7, 0.5) on the training fold bthigh: 14 falls against 16 without, within noise (docs/results.md)
    search_chunk: int = 8  # sequences per batch when a decision budget applies (realtime; core/lookahead.py)
    member_risk: str = "max"  # the risk over the particles: "max" (the largest share that falls among the members'
    # own particles, pessimistic where the ensemble disagrees) or "mean" (the share of all that fall); chosen on the
    # training fold bthigh: 9 falls against 16 (docs/results.md, "The pessimistic member"). With P = 20, E = 5 each
    # member has 4 particles: one of them falling is a risk of 0.25, above eps_risk 0.2
    judge: str = "transition"  # catastrophe of a model step: "transition" (CARL's head) or "state" (c_hat(s'))
    members: int = 5  # CARL / PETS: 5
    hidden: tuple[int, ...] = (200, 200)  # CARL ref half-cheetah: 5 x 200
    batch_size: int = 256  # CARL ref: 32; 256 for 2 CPU cores
    fit_steps: int = 20_000  # Adam steps on the training faults' transitions
    adapt_steps: int = 250  # Adam steps on training + post-fault transitions; with post_transitions chosen on the
    # training fold bthigh (falls within noise of 2,000 steps, an eighth of the compute; docs/results.md "Time to safe")
    post_transitions: int = 100  # post-fault transitions the adaptation node collects first (5 s at 20 Hz)
    refine_transitions: int = 1_000  # then, with this many, the model is adapted again on all of them (0: never) ...
    refine_steps: int = 2_000  # ... in this many Adam steps (the defaults before post_transitions: docs/results.md)
    post_share: float = 0.5  # share of the post-fault transitions in the adaptation's data
    catastrophe_steps: int = 10_000  # Adam steps of the state classifier c_hat(s')
    rehearsal: int = 10_000  # training transitions kept in the checkpoint for the adaptation's mix (1.6 MB)

    def __post_init__(self) -> None:
        if self.judge not in ("transition", "state"):
            raise ValueError(f"config value lookahead.judge={self.judge!r}: expected 'transition' or 'state'")
        if self.member_risk not in ("mean", "max"):
            raise ValueError(f"config value lookahead.member_risk={self.member_risk!r}: expected 'mean' or 'max'")
        if self.search_chunk < 1:
            raise ValueError(f"config value lookahead.search_chunk={self.search_chunk} must be >= 1")
        if self.particles % self.members:
            raise ValueError(f"config value lookahead.particles={self.particles} must be a multiple of "
                             f"lookahead.members={self.members}")
        if not all(0 < g < 1 for g in self.escape_scales):
            raise ValueError(f"config value lookahead.escape_scales={list(self.escape_scales)}: each must be in (0, 1)")


@dataclass(frozen=True)
class GovernorConfig:
    """A risk governor (ours, issue #12; ``core/governor.py``): the executed action is c * a_task, c the fastest gait
    of a grid whose model risk over a window is within ``budget`` (rule "model"), or c stepped down while the risk of
    the running gait exceeds it (rule "step"). ``governor``: the lookahead shield's (risk: the share of falling
    particles); ``critic_governor``: a critic's (risk: the share of its warnings, step rule). Neither the paper nor
    the reference has it; values chosen on the training faults (docs/results.md, "A risk governor", "The governor's
    budget on a severe training fault", "The governor chooses c with the model" and "A critic that foresees falls")."""

    budget: float = 0.005  # mean risk allowed per window (lookahead: share of falling particles, chosen with
    # member_risk mean; checked with max, the default since session 25, on the fold bthigh in session 26: 7 falls
    # against mean's 10 and no shield's 22, at 96-100% of the return); 0: none.
    # Model rule (session 19): the smallest of 0.005, 0.01 keeping <= half the falls and >= 90% of the return on
    # bshin + bfoot + ffoot lost (5 vs 58 falls in 150 episodes, 99.8%), then checked on bthigh (12 vs 32, 98.8%)
    # and the benign faults (>= 99.4%) (docs/results/derate/governor_model_rule.txt). The step rule's (session 18):
    # 0.04 (at 0.005 it slowed the triple to 26% of its return)
    window: int = 50  # decisions per update (2.5 s at 20 Hz; 100 before session 18; bthigh: 11 vs 9 falls, 95%)
    step: float = 0.05  # change of c per update; the model rule's grid spacing
    max_steps_down: int = 4  # step rule: at most this many steps down per update: ceil(log2(mean risk / budget))
    min_scale: float = 0.5  # the slowest gait allowed
    rule: str = "model"  # "model": c chosen each window from the model's risk of every gait of the grid 1, 1 - step,
    # ..., min_scale; "step": c stepped on the risk of the gait that runs (sessions 17-18) (core/governor.py)
    grid_every: int = 5  # model rule: the grid is rolled at every this-many-th decision (10 states of a window of 50)
    early: bool = False  # step rule: step down as soon as the window's mean must exceed the budget (its sum so far
    # > budget x window), not at the window's end; the window restarts (ours, session 22)

    def __post_init__(self) -> None:
        if self.rule not in ("step", "model"):
            raise ValueError(f"config value governor.rule={self.rule!r}: expected 'step' or 'model'")
        if self.early and self.rule != "step":
            raise ValueError("config value governor.early=true needs rule 'step' (the model rule chooses c from "
                             "every gait's risk at the window's end)")
        if self.budget < 0:
            raise ValueError(f"config value governor.budget={self.budget} must be >= 0 (0: off)")
        if self.window < 1:
            raise ValueError(f"config value governor.window={self.window} must be >= 1")
        if not 0 < self.step <= 1:
            raise ValueError(f"config value governor.step={self.step} must be in (0, 1]")
        if self.grid_every < 1:
            raise ValueError(f"config value governor.grid_every={self.grid_every} must be >= 1")
        if self.max_steps_down < 1:
            raise ValueError(f"config value governor.max_steps_down={self.max_steps_down} must be >= 1")
        if not 0 < self.min_scale <= 1:
            raise ValueError(f"config value governor.min_scale={self.min_scale} must be in (0, 1]")


@dataclass(frozen=True)
class DetectorConfig:
    """The change detector of ``core/detector.py`` (ours: neither the paper nor the reference detects faults).
    Not part of ``MesaConfig``: the detector is fitted per deployed policy, and its file stores this config."""

    hidden: tuple[int, ...] = (200, 200)  # dynamics model f(s, a) -> s' - s
    steps: int = 20_000  # Adam steps fitting f on healthy transitions
    lr: float = 1e-3
    batch_size: int = 256
    clip: float = 20.0  # cap of each standardised per-dimension score u_t,i (one wild value cannot raise an alarm)
    drift: float = 1.5  # CUSUM reference k in healthy sd units (Page: half the shift to detect, here 3 sd); chosen
    # from {1, 1.5, 2} on the demo's training faults only (docs/results.md, "Detecting a fault")
    margin: float = 1.5  # threshold h = margin x the largest CUSUM over the healthy calibration streams
    clear_steps: int = 50  # healthy again after ~this many healthy-looking steps (lower CUSUM threshold)


@dataclass(frozen=True)
class MesaConfig:
    """Everything one experiment needs."""

    env: str = "HalfCheetah-Disabled"
    seed: int = 0
    sac: SACConfig = field(default_factory=SACConfig)
    critic: SafetyCriticConfig = field(default_factory=SafetyCriticConfig)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)
    shield: ShieldConfig = field(default_factory=ShieldConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)
    data: DataConfig = field(default_factory=DataConfig)
    carl: CarlConfig = field(default_factory=CarlConfig)
    lookahead: LookaheadConfig = field(default_factory=LookaheadConfig)
    governor: GovernorConfig = field(default_factory=GovernorConfig)
    # The critics' warning governor (ours, issue #12; shield_rule.govern): the share of warnings
    # 1[Q_risk(s, a_task) > eps_risk] allowed per decision; 0 (default): none, the paper's shield (pi_rec on every
    # warning). HalfCheetah's deployed-policy critics use 0.002 with a floor of c = 0.85, chosen on the training-fault
    # fold bthigh (docs/results.md, "A critic that foresees falls, and a gait it slows").
    critic_governor: GovernorConfig = field(default_factory=lambda: GovernorConfig(
        budget=0.0, rule="step", window=100, min_scale=0.85))

    def __post_init__(self) -> None:
        if self.critic_governor.rule != "step":
            raise ValueError(f"config value critic_governor.rule={self.critic_governor.rule!r}: a critic's warning "
                             "governor has only the 'step' rule (the 'model' rule needs the lookahead's model)")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists), e.g. to store beside a checkpoint."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _coerce(path: str, hint: Any, value: Any) -> Any:
    """Convert a YAML value to the field's type, or raise naming the key."""
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, str):  # YAML 1.1 reads an exponent without a dot (1e-4) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint == tuple[int, ...]:
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) and v > 0 for v in value):
            return tuple(value)
    elif hint == tuple[float, ...]:  # may be empty
        if isinstance(value, (list, tuple)):
            try:
                return tuple(_coerce(f"{path}[{i}]", float, v) for i, v in enumerate(value))
            except ValueError:
                pass
    expected = hint.__name__ if isinstance(hint, type) else hint
    raise ValueError(f"invalid config value for {path!r}: {value!r} (expected {expected})")


# Valid ranges by field name (the same name means the same kind of quantity in every section):
# (low, high, low_open, high_open); None = unbounded. ``merge`` checks every value from a file, preset or override.
_POSITIVE, _NONNEG, _AT_LEAST_1 = (0, None, True, False), (0, None, False, False), (1, None, False, False)
_UNIT = (0, 1, False, False)
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "lr": _NONNEG, "pretrain_lr": _NONNEG, "outer_lr": _NONNEG, "inner_lr_lr": _NONNEG,  # 0: frozen
    "inner_lr_init": _POSITIVE, "grad_clip": _POSITIVE,
    "gamma": _UNIT, "gamma_risk": _UNIT, "eps_risk": _UNIT, "tau": _UNIT, "pos_fraction": (0, 1, False, True),
    "td_lambda": _UNIT,
    "alpha": _NONNEG, "noise_std": _NONNEG, "bc_weight": _NONNEG,
    "batch_size": _AT_LEAST_1, "inner_batch_size": _AT_LEAST_1, "outer_batch_size": _AT_LEAST_1,
    "buffer_size": _AT_LEAST_1, "num_tasks": _AT_LEAST_1, "inner_steps": _AT_LEAST_1, "iterations": _AT_LEAST_1,
    "updates_per_step": _AT_LEAST_1, "episodes": _AT_LEAST_1, "max_episode_steps": _AT_LEAST_1,
    "num_train_tasks": _AT_LEAST_1, "train_transitions": _AT_LEAST_1, "test_transitions": _AT_LEAST_1,
    "learning_starts": _NONNEG, "steps": _NONNEG, "pretrain_steps": _NONNEG, "max_total_steps": _NONNEG,
    "critic_updates_per_step": _NONNEG, "eval_every": _NONNEG, "seed": (0, 2**32 - 1, False, False),
    "members": _AT_LEAST_1, "fit_steps": _AT_LEAST_1, "refit_steps": _NONNEG, "init_rollouts": _NONNEG,
    "source_iterations": _NONNEG, "horizon": _AT_LEAST_1, "population": _AT_LEAST_1, "elites": _AT_LEAST_1,
    "particles": _AT_LEAST_1, "smoothing": (0, 1, False, True), "catastrophe_cost": _NONNEG,
    "catastrophe_threshold": _UNIT, "weight_decay": _NONNEG,
    "candidates": _NONNEG, "sigma": _NONNEG, "perturbed_steps": _AT_LEAST_1, "adapt_steps": _NONNEG,
    "post_share": (0, 1, True, True), "catastrophe_steps": _AT_LEAST_1, "rehearsal": _AT_LEAST_1,
    "post_transitions": _AT_LEAST_1, "refine_transitions": _NONNEG, "refine_steps": _AT_LEAST_1,
    "clip": _POSITIVE, "drift": _POSITIVE, "margin": (1, None, False, False), "clear_steps": _AT_LEAST_1,
}


def _check_range(path: str, value: Any) -> None:
    """Raise naming the key when ``value`` is outside the field's range in ``RANGES``."""
    bounds = RANGES.get(path.rsplit(".", 1)[-1])
    if bounds is None or isinstance(value, (bool, str, tuple)):
        return
    low, high, low_open, high_open = bounds
    if (low is not None and (value < low or (low_open and value == low))) or \
            (high is not None and (value > high or (high_open and value == high))):
        interval = f"{'(' if low_open else '['}{low if low is not None else '-inf'}, " \
                   f"{high if high is not None else 'inf'}{')' if high_open or high is None else ']'}"
        raise ValueError(f"config value {path}={value!r} out of range: must be in {interval}")


def merge(cfg: Any, updates: dict[str, Any], prefix: str = "") -> Any:
    """Return ``cfg`` (a config dataclass) with ``updates`` (nested dict) applied, validating every key."""
    if not isinstance(updates, dict):
        raise ValueError(f"config section {prefix or '<root>'!r} must be a mapping, got {updates!r}")
    hints = get_type_hints(type(cfg))
    names = {f.name for f in fields(cfg)}
    changes: dict[str, Any] = {}
    for key, value in updates.items():
        path = f"{prefix}{key}"
        if key not in names:
            raise ValueError(f"unknown config key {path!r}; expected one of {sorted(names)}")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current):
            changes[key] = merge(current, value, prefix=f"{path}.")
        else:
            changes[key] = _coerce(path, hints[key], value)
            _check_range(path, changes[key])
    return dataclasses.replace(cfg, **changes)


def config_path(env: str) -> Path:
    """``config/mesa/<env>.yaml`` for a paper environment name, e.g. ``HalfCheetah-Disabled``."""
    return share_dir() / "config" / "mesa" / f"{env.lower().replace('-', '_')}.yaml"


def load_config(
    env: str = "HalfCheetah-Disabled",
    preset: str | None = None,
    overrides: dict[str, Any] | None = None,
    path: str | Path | None = None,
) -> MesaConfig:
    """Defaults <- ``config/mesa/<env>.yaml`` (or ``path``) <- its ``presets[preset]`` <- ``overrides``."""
    file = Path(path) if path is not None else config_path(env)
    if not file.is_file():
        raise FileNotFoundError(f"no config for environment {env!r}: {file} does not exist")
    try:
        doc = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML in {file}: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{file}: top level must be a mapping")
    presets = doc.pop("presets", {}) or {}
    cfg = merge(MesaConfig(env=env), doc)
    if preset is not None:
        if preset not in presets:
            raise ValueError(f"unknown preset {preset!r} for {env}; available: {sorted(presets)}")
        cfg = merge(cfg, presets[preset])
    if overrides:
        cfg = merge(cfg, overrides)
    return cfg


def parse_override(text: str) -> dict[str, Any]:
    """``"meta.iterations=200"`` -> ``{"meta": {"iterations": 200}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw)
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


#: Keys that older checkpoints store and this version no longer has (the setting is gone, not renamed):
#: critic.offline_tau, the lagging-target rate of the offline stages, which now bootstrap from the critic.
RETIRED_KEYS = (("critic", "offline_tau"),)


def stored_config(env: str, stored: dict[str, Any]) -> MesaConfig:
    """The config a checkpoint stored (``RETIRED_KEYS`` dropped), every value checked as by ``merge``."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in stored.items()}
    for section, key in RETIRED_KEYS:
        if isinstance(out.get(section), dict):
            out[section].pop(key, None)
    return merge(MesaConfig(env=env), out)
