"""The lookahead shield's learned parts (torch side of ``core/lookahead.py``): fit, adapt, and their checkpoint.

A lookahead checkpoint holds the modules ``ensemble`` (CARL's ``ProbabilisticEnsemble`` of s' - s with a
transition catastrophe head), ``catastrophe`` (the state classifier c_hat(s'), ``core/catastrophe.py``),
``rehearsal`` (up to ``lookahead.rehearsal`` training transitions s, a, s', c: the adaptation mixes them with the
post-fault transitions, so the robot needs no training data) and ``sac`` (the actor of the deployed policy the
lookahead rolls forward: the model is fitted on *its* behaviour), with the config that made them.

    fit:    the ensemble on the training faults' transitions (``fit_steps``), c_hat on their (s', c)
    adapt:  ``adapt_steps`` more ensemble steps on rehearsal + post-fault transitions (``carl.adapt_ensemble``);
            c_hat is kept (a fault changes the dynamics, not what a violation is)
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from mesa_ros.core.carl import EnsembleConfig, ProbabilisticEnsemble, adapt_ensemble, fit_ensemble
from mesa_ros.core.catastrophe import CatastropheClassifier, fit_catastrophe
from mesa_ros.core.checkpoint import Checkpoint, require_lookahead
from mesa_ros.core.config import LookaheadConfig
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset, allocate
from mesa_ros.core.safety_layer import nonfinite

REHEARSAL = ("s", "a_exec", "s_next", "c")


def _ensemble_config(cfg: LookaheadConfig, steps: int) -> EnsembleConfig:
    return EnsembleConfig(members=cfg.members, hidden=cfg.hidden, batch_size=cfg.batch_size, steps=steps)


def fit(train: TransitionDataset, policy: Mapping[str, torch.Tensor], cfg: LookaheadConfig,
        rng: np.random.Generator) -> dict[str, Any]:
    """The lookahead's modules fitted on ``train`` (the deployed policy's behaviour under the training faults)."""
    ensemble = ProbabilisticEnsemble(train.obs_dim, train.act_dim, cfg.members, cfg.hidden)
    ensemble.standardise_on(train.s, train.a_exec, train.s_next)
    fit_ensemble(ensemble, train.s, train.a_exec, train.s_next, train.c, _ensemble_config(cfg, cfg.fit_steps), rng)
    catastrophe = CatastropheClassifier(train.obs_dim, cfg.hidden)
    fit_catastrophe(catastrophe, train.s_next, train.c, cfg.catastrophe_steps, cfg.batch_size, rng)
    keep = np.sort(rng.choice(len(train), min(cfg.rehearsal, len(train)), replace=False))
    rehearsal = {k: torch.as_tensor(np.asarray(getattr(train, k)[keep], dtype=np.float32)) for k in REHEARSAL}
    actor = {k: v for k, v in policy.items() if k.startswith("actor.")}  # what rolls out: pi_task's mean action
    return {"ensemble": ensemble, "catastrophe": catastrophe, "rehearsal": rehearsal, "sac": actor}


def load(ckpt: Checkpoint, cfg: LookaheadConfig, source: str) -> dict[str, Any]:
    """The modules of a lookahead checkpoint read with torch tensors (``ValueError`` naming what is missing)."""
    require_lookahead(ckpt, source, rehearsal=True)
    ensemble = ProbabilisticEnsemble(ckpt.obs_dim, ckpt.act_dim, cfg.members, cfg.hidden)
    ckpt.load_into("ensemble", ensemble)
    catastrophe = CatastropheClassifier(ckpt.obs_dim, cfg.hidden)
    ckpt.load_into("catastrophe", catastrophe)
    rehearsal = dict(ckpt.tensors["rehearsal"])
    if sorted(rehearsal) != sorted(REHEARSAL):
        raise ValueError(f"{source}: module 'rehearsal' holds {sorted(rehearsal)}, expected {sorted(REHEARSAL)}")
    return {"ensemble": ensemble, "catastrophe": catastrophe, "rehearsal": rehearsal, "sac": ckpt.tensors["sac"]}


def adapt(modules: Mapping[str, Any], post: TransitionDataset, cfg: LookaheadConfig, rng: np.random.Generator
          ) -> tuple[dict[str, Any], dict[str, float]]:
    """A copy of ``modules`` with the ensemble adapted to the post-fault transitions, and the last losses."""
    rehearsal = modules["rehearsal"]
    metadata = DatasetMetadata(post.metadata.env, {}, "train", "rehearsal")
    arrays = allocate(len(rehearsal["s"]), post.obs_dim, post.act_dim)
    for k in REHEARSAL:
        arrays[k][:] = rehearsal[k].numpy().reshape(arrays[k].shape)
    arrays["a_task"][:] = arrays["a_exec"]
    train = TransitionDataset(**arrays, metadata=metadata)
    ensemble = copy.deepcopy(modules["ensemble"])
    losses = adapt_ensemble(ensemble, train, post, _ensemble_config(cfg, cfg.adapt_steps), rng, cfg.post_share)
    return {**modules, "ensemble": ensemble}, losses


class LookaheadLayer:
    """The lookahead's modules as the adaptation node holds them, with the two calls it makes of a safety layer
    (``modules`` for the monitor, ``nonfinite``); no online learning."""

    def __init__(self, modules: Mapping[str, Any]) -> None:
        self.all = dict(modules)

    def adapt(self, post: TransitionDataset, cfg: LookaheadConfig, rng: np.random.Generator
              ) -> tuple[LookaheadLayer, dict[str, float]]:
        adapted, losses = adapt(self.all, post, cfg, rng)
        return LookaheadLayer(adapted), losses

    def modules(self) -> dict[str, Any]:
        """What the safety monitor needs to run the shield (no rehearsal data): ensemble, catastrophe, sac."""
        return {k: v for k, v in self.all.items() if k != "rehearsal"}

    def nonfinite(self) -> str:
        """Comma-separated ``module.tensor`` names holding NaN or inf ('' when every weight is finite)."""
        return nonfinite(self.all)
