"""Frozen numpy copies of the networks for the control loop: one observation at a time, fixed weights, no torch.

A torch call on a single observation costs tens of microseconds of dispatch for a few microseconds
of arithmetic; the nodes answer one state at a time with weights that only change when new ones are
installed, so they evaluate these copies instead. They are built from the networks' state dicts as
numpy arrays (``numpy_state`` of a live module, or a checkpoint read with ``checkpoint.from_bytes(...,
numpy=True)``), so a node that only infers never imports torch (~0.3 GB less per process). Same numbers as
the torch modules to float32 rounding (test/core/test_inference.py); bench/bench_graph.py measures both.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping

import numpy as np

from mesa_ros.core.checkpoint import Checkpoint, require_lookahead, safety_modules
from mesa_ros.core.config import GovernorConfig, LookaheadConfig, MesaConfig
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.lookahead import ModelLookahead, StateJudged
from mesa_ros.core.shield_rule import ShieldDecision, decide

State = Mapping[str, np.ndarray]


def numpy_state(module) -> dict[str, np.ndarray]:
    """A torch module's state dict as float32 numpy arrays (the caller has torch; this module does not)."""
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def _sub(state: State, prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: np.asarray(v, dtype=np.float32) for k, v in state.items() if k.startswith(prefix)}


class NumpyMLP:
    """A Linear-ReLU stack: ``networks.MLP`` (``layers.<i>.weight``, or ``WLinear``'s generated weights from
    ``layers.<i>.z`` and ``layers.<i>.fc``) or ``sac.mlp`` (``<i>.weight``, ReLUs between); ReLU after every
    linear layer but the last."""

    def __init__(self, state: State, in_dim: int, out_dim: int, what: str = "network") -> None:
        """``ValueError`` naming the tensor when a shape does not fit ``in_dim`` inputs and ``out_dim`` outputs."""
        indices = sorted({int(m.group(1)) for k in state if (m := re.match(r"(?:layers\.)?(\d+)\.", k))})
        prefix = "layers." if any(k.startswith("layers.") for k in state) else ""
        if not indices:
            raise ValueError(f"{what}: no layers in the checkpoint")
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        for i in indices:
            layer, name = _sub(state, f"{prefix}{i}."), f"{what}.{prefix}{i}"
            try:
                if "z" in layer:  # WLinear: [W, b] = A z + c, W stored (in, out) row-major
                    theta = layer["fc.weight"] @ layer["z"] + layer["fc.bias"]
                    if len(theta) % (in_dim + 1):
                        raise ValueError(f"tensor '{name}.fc.weight' has shape {layer['fc.weight'].shape} in the "
                                         f"checkpoint but must generate weights for {in_dim} inputs")
                    n_out = len(theta) // (in_dim + 1)
                    w_in_out, b = theta[:in_dim * n_out].reshape(in_dim, n_out), theta[in_dim * n_out:]
                else:
                    w_in_out, b = layer["weight"].T, layer["bias"]
                    if w_in_out.shape[0] != in_dim or w_in_out.shape[1] != len(b):
                        raise ValueError(f"tensor '{name}.weight' has shape {layer['weight'].shape} in the checkpoint "
                                         f"but the network has {in_dim} inputs there")
            except KeyError as exc:
                raise ValueError(f"{what}: tensor {name}.{exc.args[0]} missing from the checkpoint") from None
            self.layers.append((np.ascontiguousarray(w_in_out), b))
            in_dim = len(b)
        if in_dim != out_dim:
            raise ValueError(f"{what}: the last layer has {in_dim} outputs in the checkpoint but the network {out_dim}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        *hidden, (w_out, b_out) = self.layers
        for w, b in hidden:
            x = np.maximum(x @ w + b, 0.0)
        return x @ w_out + b_out


class FrozenPolicy:
    """pi_task's deterministic action tanh(mean(s)) * scale + bias, from ``sac.Actor``'s state."""

    def __init__(self, actor: State) -> None:
        self.scale, self.bias = np.asarray(actor["action_scale"]), np.asarray(actor["action_bias"])
        self.act_dim = len(self.scale)
        net = _sub(actor, "net.")
        self.net = NumpyMLP(net, net["0.weight"].shape[1], 2 * self.act_dim, "sac.actor.net")

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        mean = self.net(np.asarray(obs, dtype=np.float32))[..., :self.act_dim]
        return np.tanh(mean) * self.scale + self.bias


class FrozenCritic:
    """Q_risk(s, a) from ``SafetyCritic``'s state: sigmoid of each head, the max over twin heads."""

    def __init__(self, critic: State, obs_dim: int, act_dim: int) -> None:
        heads = sorted({int(m.group(1)) for k in critic if (m := re.match(r"q_risk\.heads\.(\d+)\.", k))})
        self.heads = [NumpyMLP(_sub(critic, f"q_risk.heads.{h}."), obs_dim + act_dim, 1, f"critic.q_risk.heads.{h}")
                      for h in heads]
        if not self.heads:
            raise ValueError("critic: no Q_risk head in the checkpoint")

    def __call__(self, obs: np.ndarray, action: np.ndarray) -> float:
        x = np.concatenate((obs, action)).astype(np.float32, copy=False)
        logit = max(float(head(x)[0]) for head in self.heads)
        return 1.0 / (1.0 + np.exp(-logit))


class FrozenShield:
    """``shield.Shield`` on frozen copies of Q_risk and pi_rec; the recovery noise from a numpy generator; with a
    warning governor (``shield_rule.govern``) the gait c * a_task instead of pi_rec."""

    def __init__(self, critic: FrozenCritic, recovery: State, obs_dim: int, eps_risk: float, noise_std: float = 0.0,
                 seed: int = 0, governor: RiskGovernor | None = None) -> None:
        actor = _sub(recovery, "recovery_policy.")
        self.q_risk: Callable[[np.ndarray, np.ndarray], float] = critic
        try:
            self.rec_scale, self.rec_bias, self.low, self.high = (actor["scale"], actor["bias"], actor["low"],
                                                                  actor["high"])
        except KeyError as exc:
            raise ValueError(f"recovery: tensor recovery_policy.{exc.args[0]} missing from the checkpoint") from None
        self.recovery = NumpyMLP(_sub(actor, "net."), obs_dim, len(self.rec_scale), "recovery.recovery_policy.net")
        self.noise_std, self.eps_risk = noise_std, eps_risk
        self.rng = np.random.default_rng(seed)
        self.governor = governor  # None: the paper's rule

    @property
    def scale(self) -> float:
        """c: the warning governor's action scale (1 without one)."""
        return 1.0 if self.governor is None else self.governor.scale

    def recovery_action(self, obs: np.ndarray) -> np.ndarray:
        """pi_rec(s) (+ N(0, noise_std^2)), clipped to the action bounds."""
        action = np.tanh(self.recovery(obs)) * self.rec_scale + self.rec_bias
        if self.noise_std:
            action = action + self.rng.normal(0.0, self.noise_std, action.shape).astype(np.float32)
        return np.clip(action, self.low, self.high)

    def risk_of(self, obs: np.ndarray, a_task: np.ndarray) -> float:
        """Q_risk(s, a_task) alone."""
        return self.q_risk(np.asarray(obs, dtype=np.float32), np.asarray(a_task, dtype=np.float32))

    def __call__(self, obs: np.ndarray, a_task: np.ndarray) -> ShieldDecision:
        obs = np.asarray(obs, dtype=np.float32)
        a_task = np.asarray(a_task, dtype=np.float32)
        return decide(self.q_risk(obs, a_task), self.eps_risk, a_task, lambda: self.recovery_action(obs),
                      self.governor)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow for large |x|."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class FrozenEnsemble:
    """``carl.ProbabilisticEnsemble`` from its state: E Gaussian MLPs over s' - s with a catastrophe logit each.
    Row i of a batch follows member i mod E (the lookahead's particles)."""

    def __init__(self, state: State, what: str = "lookahead model") -> None:
        try:
            hidden = sorted({int(m.group(1)) for k in state if (m := re.match(r"hidden\.(\d+)\.", k))})
            self.layers = [(np.asarray(state[f"hidden.{i}.weight"], np.float32),
                            np.asarray(state[f"hidden.{i}.bias"], np.float32)) for i in hidden]
            self.out = (np.asarray(state["out.weight"], np.float32), np.asarray(state["out.bias"], np.float32))
            self.max_logvar, self.min_logvar, self.x_mean, self.x_std, self.y_mean, self.y_std = (
                np.asarray(state[k], np.float32) for k in ("max_logvar", "min_logvar", "x_mean", "x_std", "y_mean",
                                                           "y_std"))
        except KeyError as exc:
            raise ValueError(f"{what}: tensor {exc.args[0]} missing from the checkpoint") from None
        self.members, self.obs_dim = self.out[0].shape[0], len(self.y_mean)
        self.act_dim = len(self.x_mean) - self.obs_dim
        dims = [w.shape[1:] for w, _ in [*self.layers, self.out]]
        if not self.layers or self.out[0].shape[2] != 2 * self.obs_dim + 1 or dims[0][0] != len(self.x_mean) or any(
                a[1] != b[0] for a, b in zip(dims[:-1], dims[1:])):
            raise ValueError(f"{what}: layer shapes {dims} do not chain from {len(self.x_mean)} inputs to "
                             f"{2 * self.obs_dim + 1} outputs")

    def predict(self, s: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, log-variance) of the standardised s' - s, each (N, obs_dim), and the catastrophe logit (N,)."""
        n, e = len(s), self.members
        if n % e:
            raise ValueError(f"{n} rows for {e} members: row i follows member i mod {e}, so N must be a multiple")
        x = (np.concatenate([s, a], 1, dtype=np.float32) - self.x_mean) / self.x_std
        x = x.reshape(n // e, e, -1).transpose(1, 0, 2)  # (E, N / E, in)
        for w, b in self.layers:
            x = x @ w + b
            x = x * _sigmoid(x)  # SiLU
        out = (x @ self.out[0] + self.out[1]).transpose(1, 0, 2).reshape(n, -1)
        mean, logvar = out[:, :self.obs_dim], out[:, self.obs_dim:-1]
        logvar = self.max_logvar - _softplus(self.max_logvar - logvar)
        return mean, self.min_logvar + _softplus(logvar - self.min_logvar), out[:, -1]

    def step(self, s: np.ndarray, a: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """s' sampled from each row's member with the standard normal ``noise`` (N, obs_dim), and that member's
        catastrophe probability."""
        mean, logvar, logit = self.predict(s, a)
        delta = (mean + noise * np.exp(0.5 * logvar)) * self.y_std + self.y_mean
        return s + delta, _sigmoid(logit)


class FrozenCatastrophe:
    """``catastrophe.CatastropheClassifier`` from its state: c_hat(s') for a batch of states (N, S) -> (N,)."""

    def __init__(self, state: State, what: str = "catastrophe classifier") -> None:
        try:
            self.mean, self.std = np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32)
        except KeyError as exc:
            raise ValueError(f"{what}: tensor {exc.args[0]} missing from the checkpoint") from None
        self.net = NumpyMLP(_sub(state, "net."), len(self.mean), 1, f"{what}.net")

    def __call__(self, s: np.ndarray) -> np.ndarray:
        return _sigmoid(self.net((s - self.mean) / self.std)[:, 0])


def frozen_policy(ckpt: Checkpoint, source: str) -> FrozenPolicy:
    """A checkpoint's task policy (module ``sac``) as the frozen deterministic pi_task."""
    if "sac" not in ckpt.tensors:
        raise ValueError(f"checkpoint {source} holds no task policy (module 'sac'); it holds {sorted(ckpt.tensors)}")
    return FrozenPolicy({k[len("actor."):]: v for k, v in ckpt.tensors["sac"].items() if k.startswith("actor.")})


def frozen_safety(ckpt: Checkpoint, source: str, obs_dim: int, act_dim: int, eps_risk: float, noise_std: float = 0.0,
                  seed: int = 0) -> tuple[FrozenCritic, FrozenShield | None]:
    """A checkpoint's safety layer as frozen copies: Q_risk, and the shield (no governor) when the checkpoint holds
    pi_rec (``checkpoint.safety_modules``: the same rule as the torch rebuild, ``restore.load_checkpoint``)."""
    critic, recovery = safety_modules(ckpt, source)
    q_risk = FrozenCritic(critic, obs_dim, act_dim)
    if recovery is None:
        return q_risk, None
    return q_risk, FrozenShield(q_risk, recovery, obs_dim, eps_risk, noise_std, seed)


def frozen_lookahead(ckpt: Checkpoint, source: str, cfg: LookaheadConfig, seed: int = 0,
                     governor: GovernorConfig | None = None) -> ModelLookahead:
    """A lookahead checkpoint (``core/lookahead_model.py``) as the torch-free model-lookahead shield; the action
    bounds are the policy's (SAC: bias -/+ scale); with a risk governor when ``governor.budget`` > 0."""
    require_lookahead(ckpt, source)
    model = FrozenEnsemble(ckpt.tensors["ensemble"], f"{source}: ensemble")
    if cfg.judge == "state":
        model = StateJudged(model, FrozenCatastrophe(ckpt.tensors["catastrophe"], f"{source}: catastrophe"))
    policy = frozen_policy(ckpt, source)
    return ModelLookahead(model, policy, policy.bias - policy.scale, policy.bias + policy.scale, cfg, seed,
                          RiskGovernor.from_config(governor))


def frozen_guard(ckpt: Checkpoint, source: str, obs_dim: int, act_dim: int, cfg: MesaConfig, eps_override: float,
                 noise_std: float, seed: int
                 ) -> tuple[FrozenCritic | None, FrozenShield | ModelLookahead | None, float]:
    """Whatever shield a checkpoint holds, as the safety monitor runs it: (Q_risk or None, the shield or None, the
    config's eps_risk). A lookahead checkpoint (module ``ensemble``) gives the model-lookahead shield, any other the
    safety layer (``frozen_safety``); ``eps_override`` >= 0 replaces the config's eps_risk. No governor: the caller
    attaches its own (the monitor: ``cfg.governor`` or ``cfg.critic_governor`` with its budget and the scale it
    carries over)."""
    if "ensemble" in ckpt.tensors:
        eps = eps_override if eps_override >= 0 else cfg.lookahead.eps_risk
        shield = frozen_lookahead(ckpt, source, dataclasses.replace(cfg.lookahead, eps_risk=eps), seed)
        return None, shield, cfg.lookahead.eps_risk
    eps = eps_override if eps_override >= 0 else cfg.shield.eps_risk
    critic, safety = frozen_safety(ckpt, source, obs_dim, act_dim, eps, noise_std, seed)
    return critic, safety, cfg.shield.eps_risk
