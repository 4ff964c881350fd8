"""A critic for the policy that is deployed (issue: fault tolerance for a deployed robot), at smoke size.

record that policy's perturbed behaviour under training faults (``collect --policy <checkpoint>``) ->
meta-train with a' from that policy (``--policy-checkpoint``) -> adapt on post-fault data. Plus the
perturbation itself: how often it acts randomly, that it stays in the action box, and its input checks.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from mesa_ros.cli import main
from mesa_ros.core.collect import Perturbation
from mesa_ros.core.dataset import load
from mesa_ros.core.methods import get_method
from mesa_ros.core.restore import env_spaces, load_checkpoint, new_agent, resolve_config, save_checkpoint

torch.set_num_threads(1)
ENV = "HalfCheetah-Disabled"
SMOKE = ["--preset", "smoke", "--no-progress"]
BOX = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


def test_random_stretches_take_the_expected_share_of_steps() -> None:
    """p = 0.02, 10 steps: a stretch starts on a policy step with probability p, so the random share is
    10p / (1 + 10p) - 1/6 of the steps in the long run."""
    act = Perturbation(stretch_prob=0.02, stretch_steps=10).wrap(lambda obs: np.zeros(2), BOX, np.random.default_rng(0))
    actions = np.array([act(None) for _ in range(60_000)])
    random_share = np.mean(np.any(actions != 0.0, axis=1))
    assert random_share == pytest.approx(0.2 / 1.2, abs=0.015)


def test_action_noise_is_scaled_to_the_half_range_and_clipped() -> None:
    box = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32), dtype=np.float32)
    act = Perturbation(action_noise=0.1).wrap(lambda obs: np.array([0.0, 0.5]), box, np.random.default_rng(0))
    actions = np.array([act(None) for _ in range(20_000)])
    assert actions.std(0) == pytest.approx([0.2, 0.05], rel=0.05)  # 0.1 x half-range (2, 0.5)
    big = Perturbation(action_noise=5.0).wrap(lambda obs: np.zeros(2), box, np.random.default_rng(0))
    clipped = np.array([big(None) for _ in range(1000)])
    assert (clipped >= box.low).all() and (clipped <= box.high).all()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"action_noise": -0.1}, "action noise must be a finite number >= 0"),
    ({"action_noise": float("nan")}, "action noise must be a finite number >= 0"),
    ({"stretch_prob": 1.5, "stretch_steps": 3}, "random-stretch probability must be in [0, 1]"),
    ({"stretch_prob": 0.1}, "a random stretch needs a probability > 0 and a length >= 1 together"),
])
def test_bad_perturbations_are_rejected(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Perturbation(**kwargs)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A 'deployed' task policy (smoke-size SAC, as good as untrained: what matters is that it is *given*)."""
    d = tmp_path_factory.mktemp("deployed")
    cfg = resolve_config(ENV, "smoke")
    space = env_spaces(ENV)
    torch.manual_seed(123)
    save_checkpoint(d / "policy.safetensors", cfg, get_method("unconstrained"), space, new_agent(cfg, space),
                    stage="online")
    return d


def test_pipeline_for_a_deployed_policy(deployed, capsys) -> None:
    d, policy = deployed, str(deployed / "policy.safetensors")
    for i, fault in enumerate(("bshin", "fshin")):
        assert main(["collect", "--env", ENV, "--split", "train", "--task", f'{{"power_scale": {{"{fault}": 0}}}}',
                     "--policy", policy, "--deterministic", "--action-noise", "0.3", "--random-stretch", "0.05", "5",
                     "--transitions", "300", "--seed", str(i), "--out", str(d / "train" / f"{fault}.safetensors"),
                     *SMOKE]) == 0
    train = load(d / "train" / "fshin.safetensors")
    assert train.metadata.extra["perturbation"] == {"action_noise": 0.3, "stretch_prob": 0.05, "stretch_steps": 5}
    assert train.metadata.extra["deterministic"] is True and len(train) == 300
    assert main(["collect", "--env", ENV, "--split", "test", "--task", '{"power_scale": {"ffoot": 0}}', "--policy",
                 policy, "--deterministic", "--transitions", "100", "--out", str(d / "test.safetensors"), *SMOKE]) == 0

    assert main(["meta-train", "--method", "mesa", "--data", str(d / "train"), "--policy-checkpoint", policy,
                 "--out", str(d / "meta.safetensors"), *SMOKE]) == 0
    meta, given = load_checkpoint(d / "meta.safetensors"), load_checkpoint(policy)
    assert meta.safety is not None and meta.extra["stage"] == "meta-train"
    for name, tensor in given.agent.networks.state_dict().items():  # a' came from the given policy
        assert torch.equal(meta.agent.networks.state_dict()[name], tensor), name

    assert main(["adapt", "--checkpoint", str(d / "meta.safetensors"), "--data", str(d / "test.safetensors"),
                 "--out", str(d / "adapted.safetensors"), "--no-progress"]) == 0
    adapted = load_checkpoint(d / "adapted.safetensors")
    assert adapted.safety is not None
    assert not torch.equal(
        adapted.critic.q_risk.heads[0].layers[0].weight, meta.critic.q_risk.heads[0].layers[0].weight
    )
    for name, tensor in given.agent.networks.state_dict().items():  # and the adapted layer still guards it
        assert torch.equal(adapted.agent.networks.state_dict()[name], tensor), name


def test_bad_pipeline_input_is_one_line(capsys, tmp_path) -> None:
    data = tmp_path / "train.safetensors"
    assert main(["collect", "--env", ENV, "--split", "train", "--policy", "random", "--transitions", "20",
                 "--out", str(data), *SMOKE]) == 0
    out = tmp_path / "out"
    for argv, message in [
        (
            [
                "collect",
                "--env",
                ENV,
                "--split",
                "train",
                "--policy",
                "random",
                "--random-stretch",
                "0.5",
                "2.5",
                "--transitions",
                "10",
                "--out",
                str(out / "x.safetensors"),
            ],
            "--random-stretch STEPS must be a whole number",
        ),
        (
            ["collect", "--env", ENV, "--policy", "random", "--deterministic", "--out", str(out / "x.safetensors")],
            "--deterministic applies to a checkpoint policy, not --policy random",
        ),
        (
            [
                "meta-train",
                "--method",
                "mesa",
                "--data",
                str(data),
                "--policy-checkpoint",
                str(tmp_path / "nope.safetensors"),
                "--out",
                str(out / "m.safetensors"),
            ],
            "nope.safetensors",
        ),
    ]:
        capsys.readouterr()
        assert main([*argv, *SMOKE]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"mesa-ros {argv[0]}: error: ") and message in err, (argv, err)
    assert not out.exists()  # nothing written
