"""Checkpoints: safetensors round trip with config, and every bad input named clearly."""
from __future__ import annotations

import pytest
import torch

from mesa_ros.core import checkpoint as ck
from mesa_ros.core.config import SafetyCriticConfig
from mesa_ros.core.safety_critic import SafetyCritic

ENV = "HalfCheetah-Disabled"


def test_round_trip_restores_parameters_and_config(tmp_path) -> None:
    critic = SafetyCritic(17, 6)
    path = ck.save(
        tmp_path / "c.safetensors", {"critic": critic}, ENV, 17, 6, {"critic": {"gamma_risk": 0.8}}, {"step": 3}
    )
    loaded = ck.load(path, env=ENV)
    assert (loaded.env, loaded.obs_dim, loaded.act_dim) == (ENV, 17, 6)
    assert loaded.config == {"critic": {"gamma_risk": 0.8}} and loaded.extra == {"step": 3}
    fresh = SafetyCritic(17, 6)
    obs, act = torch.randn(8, 17), torch.randn(8, 6)
    assert not torch.equal(fresh(obs, act), critic(obs, act))
    loaded.load_into("critic", fresh)
    assert torch.equal(fresh(obs, act), critic(obs, act))
    assert not path.with_name(path.name + ".tmp").exists()


def test_bytes_are_safetensors_without_pickle() -> None:
    data = ck.to_bytes({"critic": SafetyCritic(3, 2)}, ENV, 3, 2)
    assert b"pickle" not in data[:2000] and data[8:9] == b"{"  # 8-byte length, then the JSON header


def test_wrong_shape_names_both_shapes() -> None:
    data = ck.to_bytes({"critic": SafetyCritic(17, 6)}, ENV, 17, 6)
    small = SafetyCritic(17, 6, SafetyCriticConfig(hidden=(64, 64)))
    with pytest.raises(
        ValueError, match=r"has shape \(256,?[\d ]*\) in the checkpoint but \(64,?[\d ]*\) in the network"
    ):
        ck.from_bytes(data).load_into("critic", small)


def test_wrong_environment_module_and_files_are_rejected(tmp_path) -> None:
    data = ck.to_bytes({"critic": SafetyCritic(17, 6)}, ENV, 17, 6)
    with pytest.raises(ValueError, match="trained on 'HalfCheetah-Disabled', not 'Ant-Disabled'"):
        ck.from_bytes(data, env="Ant-Disabled")
    with pytest.raises(ValueError, match=r"no module 'recovery'; it holds \['critic'\]"):
        ck.from_bytes(data).load_into("recovery", SafetyCritic(17, 6))
    with pytest.raises(ValueError, match="missing .* unexpected"):
        ck.from_bytes(data).load_into("critic", torch.nn.Linear(2, 2))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ck.load(tmp_path / "nope.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid safetensors checkpoint"):
        ck.load(corrupt)
    foreign = tmp_path / "foreign.safetensors"
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a mesa_ros checkpoint"):
        ck.load(foreign)


def test_a_checkpoint_config_with_a_retired_key_still_loads() -> None:
    """critic.offline_tau (the lagging-target rate of the offline stages) is gone; old checkpoints keep loading."""
    from mesa_ros.core.config import load_config
    from mesa_ros.core.restore import resolve_config

    stored = load_config("Navigation-2", "smoke").to_dict()
    stored["critic"]["offline_tau"] = 2e-3
    cfg = resolve_config("Navigation-2", stored=stored)
    assert cfg.critic.tau == 2e-4 and not hasattr(cfg.critic, "offline_tau")
    stored["critic"]["offline_taux"] = 1.0  # anything else unknown is still an error
    with pytest.raises(ValueError, match="unknown config key 'critic.offline_taux'"):
        resolve_config("Navigation-2", stored=stored)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_rejected_at_load_naming_the_tensor(tmp_path, bad: float) -> None:
    critic = SafetyCritic(3, 2)
    name, param = next(iter(critic.named_parameters()))
    with torch.no_grad():
        param.view(-1)[0] = bad
    data = ck.to_bytes({"critic": critic}, ENV, 3, 2)
    with pytest.raises(ValueError, match=f"tensor 'critic.{name}' holds NaN or infinite values"):
        ck.from_bytes(data, source="weights")
    path = ck.save(tmp_path / "bad.safetensors", {"critic": critic}, ENV, 3, 2)
    with pytest.raises(ValueError, match="holds NaN or infinite values"):
        ck.load(path)
