"""Config overrides: YAML values are coerced to the field's type or rejected naming the key."""
from __future__ import annotations

import re

import pytest

from mesa_ros.core.config import load_config, parse_override


@pytest.mark.parametrize(("text", "expected"), [("adapt.lr=1e-4", 1e-4), ("adapt.lr=1.0e-4", 1e-4),
                                                ("adapt.lr=3E-4", 3e-4), ("adapt.lr=2", 2.0)])
def test_float_overrides_accept_every_usual_spelling(text: str, expected: float) -> None:
    cfg = load_config("Navigation-1", overrides=parse_override(text))
    assert cfg.adapt.lr == pytest.approx(expected) and isinstance(cfg.adapt.lr, float)


@pytest.mark.parametrize(("text", "message"), [
    ("adapt.lr=fast", "invalid config value for 'adapt.lr': 'fast' (expected float)"),
    ("adapt.lr=nan", "invalid config value for 'adapt.lr'"),
    ("adapt.lr=1e999", "invalid config value for 'adapt.lr'"),
    ("adapt.lr=true", "invalid config value for 'adapt.lr': True (expected float)"),
    ("adapt.steps=1e2", "invalid config value for 'adapt.steps': '1e2' (expected int)"),
    ("adapt.nope=1", "unknown config key 'adapt.nope'"),
    ("critic.gamma_risk=1.5", "config value critic.gamma_risk=1.5 out of range: must be in [0, 1]"),
    ("meta.iterations=-3", "config value meta.iterations=-3 out of range: must be in [1, inf)"),
    ("critic.batch_size=0", "config value critic.batch_size=0 out of range"),
    ("shield.eps_risk=-0.1", "config value shield.eps_risk=-0.1 out of range: must be in [0, 1]"),
    ("adapt.lr=-1e-3", "config value adapt.lr=-0.001 out of range: must be in [0, inf)"),
    ("meta.inner_lr_init=0", "config value meta.inner_lr_init=0.0 out of range: must be in (0, inf)"),
    ("critic.tau=1.5", "config value critic.tau=1.5 out of range: must be in [0, 1]"),
    ("adapt.pos_fraction=1", "config value adapt.pos_fraction=1.0 out of range: must be in [0, 1)"),
    ("recovery.bc_weight=-1", "config value recovery.bc_weight=-1.0 out of range"),
    ("meta.pos_fraction=1", "config value meta.pos_fraction=1.0 out of range: must be in [0, 1)"),
    ("critic_governor.rule=model", "critic_governor.rule='model': a critic's warning governor has only the 'step'"),
])
def test_bad_overrides_are_rejected_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_config("Navigation-1", overrides=parse_override(text))


@pytest.mark.parametrize("env", ["HalfCheetah-Disabled", "Ant-Disabled", "Navigation-1", "Navigation-2",
                                 "Cartpole-Length"])
@pytest.mark.parametrize("preset", [None, "cpu-small", "smoke"])
def test_every_shipped_config_is_within_the_ranges(env: str, preset: str | None) -> None:
    assert load_config(env, preset).env == env
