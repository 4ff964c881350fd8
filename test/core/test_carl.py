"""CARL's pieces (core/carl.py): the probabilistic ensemble learns a known linear system; the risk-averse CEM
planner avoids an obstacle the greedy action hits; its risk term changes the action where the ensemble disagrees."""
from __future__ import annotations

import numpy as np
import torch

from mesa_ros.core.carl import EnsembleConfig, PlannerConfig, RiskAverseCEM, fit_ensemble
from mesa_ros.envs import make

B = np.array([1.2, 0.7])
ONE_STEP_ERROR = 0.02  # mean |predicted - true| of s' - s, against the environment's noise sd 0.05


def test_the_ensemble_learns_navigations_linear_dynamics_to_the_stated_one_step_error():
    env = make("Navigation-1", task={"B": B.tolist()})
    rng = np.random.default_rng(0)
    s, a, s_next = [], [], []
    obs, _ = env.reset(seed=0)
    for _ in range(3500):
        action = rng.uniform(-1, 1, 2)
        nxt, _, terminated, truncated, _ = env.step(action)
        s.append(obs), a.append(action), s_next.append(nxt)
        obs = env.reset()[0] if terminated or truncated else nxt
    s, a, s_next = map(np.array, (s, a, s_next))
    model = fit_ensemble(s[:3000], a[:3000], s_next[:3000], EnsembleConfig(members=5, hidden=(64, 64), steps=1500),
                         seed=0)
    test_s, test_a = s[3000:], a[3000:]  # held out, from the states the data visit
    with torch.no_grad():
        mean, _ = model(torch.as_tensor(test_s, dtype=torch.float32).expand(5, -1, -1),
                        torch.as_tensor(test_a, dtype=torch.float32).expand(5, -1, -1))
    predicted = (mean * model.y_std + model.y_mean).mean(0).numpy()
    assert np.abs(predicted - test_a * B).mean() < ONE_STEP_ERROR


def wall(states: torch.Tensor) -> torch.Tensor:
    """Navigation-2's wall, x in [-30, -20], y in [-7.5, 7.5]."""
    x, y = states[:, 0], states[:, 1]
    return (x >= -30) & (x <= -20) & (y >= -7.5) & (y <= 7.5)


def test_with_a_known_model_the_planner_goes_around_the_wall_the_greedy_action_hits():
    def known(states, actions, member):  # x' = x + a (B = I, noise-free), every member alike
        return states + actions

    def reward(states, actions):
        return -torch.linalg.norm(states, dim=1)  # -|x - goal|, goal at the origin

    planner = RiskAverseCEM(known, reward, wall, -np.ones(2), np.ones(2), members=1,
                            cfg=PlannerConfig(horizon=20, population=1000, elites=50, iterations=6, particles=1), seed=0)
    greedy = planned = np.array([-33.0, 5.0])  # greedy: straight to the goal, into the wall
    greedy_hits = planned_hits = 0
    for _ in range(30):
        greedy = greedy + np.clip(-greedy, -1, 1)
        greedy_hits += bool(wall(torch.as_tensor(greedy[None])).item())
        planned = planned + planner.act(planned)
        planned_hits += bool(wall(torch.as_tensor(planned[None], dtype=torch.float32)).item())
    assert greedy_hits > 0 and planned_hits == 0
    assert planned[0] > -20  # past the wall


def test_the_risk_term_changes_the_action_where_the_members_disagree():
    def disagreeing(states, actions, member):  # member 0: x' = x + a, member 1: x' = x + 3a
        return states + actions * (1 + 2 * member[:, None].float())

    def reward(states, actions):
        return actions[:, 0]  # go right

    def cliff(states):
        return states[:, 0] >= 2.5  # member 1 says a full step right falls off

    chosen = {}
    for risk in (0.0, 10.0):
        planner = RiskAverseCEM(disagreeing, reward, cliff, -np.ones(2), np.ones(2), members=2,
                                cfg=PlannerConfig(horizon=1, population=500, elites=25, iterations=6, particles=2,
                                                  risk_weight=risk), seed=1)
        chosen[risk] = planner.act(np.zeros(2))[0]
    assert chosen[0.0] > 0.95 and chosen[10.0] < 2.5 / 3
