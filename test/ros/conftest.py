"""Fixtures for tests that start the node graph: small checkpoints and a parameter file."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mesa_ros.core.methods import get_method, new_critic, new_recovery
from mesa_ros.core.restore import env_spaces, new_agent, resolve_config, save_checkpoint
from mesa_ros.core.safety_layer import SafetyLayer
from mesa_ros.paths import config_file

ENV = "HalfCheetah-Disabled"


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Untrained smoke-size networks: the graph's mechanics do not depend on what they learned."""
    root = tmp_path_factory.mktemp("checkpoints")
    cfg = resolve_config(ENV, preset="smoke")
    space = env_spaces(ENV)
    agent = new_agent(cfg, space)
    layer = SafetyLayer(new_critic(cfg, *space), new_recovery(cfg, *space))
    return {
        "policy": save_checkpoint(root / "policy.safetensors", cfg, get_method("unconstrained"), space, agent),
        "safety": save_checkpoint(root / "safety.safetensors", cfg, get_method("mesa"), space, agent,
                                  critic=layer.critic),
        "adapted": save_checkpoint(root / "adapted.safetensors", cfg, get_method("mesa"), space, agent, safety=layer),
    }


@pytest.fixture(scope="session")
def params_file(tmp_path_factory) -> Path:
    """config/cheetah_fault.yaml with a short collection phase for the adaptation node, armed after phase 2 (the
    paper's sequence; test_demo_graph and test_shipped_shield run the product's arm_on_fault)."""
    params = yaml.safe_load(config_file("cheetah_fault.yaml").read_text())
    params["adaptation"]["ros__parameters"].update(transitions=200, arm_on_fault=False)
    path = tmp_path_factory.mktemp("params") / "cheetah_fault.yaml"
    path.write_text(yaml.safe_dump(params))
    return path
