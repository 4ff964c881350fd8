"""``mesa-ros demo``: its scripted variant (no ROS) and its argument checks (the graph demo:
test/ros/test_demo_graph.py)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mesa_ros import wire
from mesa_ros.demo import (
    SHIELDS,
    Recording,
    check_one_simulator,
    command_scales,
    demo_ros_env,
    scripted_fault_demo,
    shield_args,
    time_to_safe,
)
from mesa_ros.graph import stacked_lookahead
from mesa_ros.nodes.defaults import default_checkpoint

MESA_ROS = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "mesa-ros"


def test_fault_makes_the_safe_scripted_gait_unsafe() -> None:
    before, after = scripted_fault_demo(steps=3000, fault_step=1000, seed=0)
    assert (before.steps, after.steps) == (1000, 2000)
    assert before.violations == 0 and before.episode_return > 1000  # healthy: ~1.3 m/s, never on its head
    assert after.violations > 0  # ffoot power loss: the same gait now tips the cheetah onto its head
    assert after.episodes_started >= after.violations  # each violation ended an episode; the next began


def test_cli_prints_both_segments() -> None:
    out = subprocess.run([str(MESA_ROS), "demo", "--scripted", "--steps", "400", "--fault-step", "200"],
                         capture_output=True, text=True, check=True).stdout
    assert re.search(r"before fault\s+steps\s+200\s+return/1000 steps\s+[\d.]+\s+violations\s+0", out)
    assert re.search(r"after ffoot=0\s+steps\s+200\s+return/1000 steps", out)


@pytest.mark.parametrize(("args", "message"), [
    (["--scripted", "--fault-joint", "tail"], "unknown actuator/joint 'tail'"),
    (["--scripted", "--power-scale", "1.5"], r"power scale for 'ffoot' must be in [0, 1], got 1.5"),
    (["--scripted", "--power-scale", "nan"], "power scale for 'ffoot' is NaN"),
    (["--fault-step", "63000"], "--fault-step must be in (0, --steps=60000), got 63000"),
    (["--steps-after-shield", "0"], "--steps-after-shield must be at least 1, got 0"),
    (["--shields", "mesa,cbf"],
     f"--shields must name some of {list(SHIELDS)}, each once, got 'mesa,cbf'"),
    (["--shields", "mesa,rrl,mesa"],
     f"--shields must name some of {list(SHIELDS)}, each once, got 'mesa,rrl,mesa'"),
    (["--seeds", "0"], "--seeds must be at least 1, got 0"),
])
def test_cli_rejects_bad_input(args: list[str], message: str) -> None:
    result = subprocess.run([str(MESA_ROS), "demo", *args], capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_refuses_to_overwrite_an_earlier_demo(tmp_path) -> None:
    earlier = tmp_path / "rrl_seed1"
    earlier.mkdir()
    (earlier / "launch.log").write_text("an earlier run\n")
    result = subprocess.run([str(MESA_ROS), "demo", "--out", str(tmp_path), "--shields", "mesa,rrl", "--seeds", "2"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert f"{earlier} holds an earlier demo; choose another --out" in result.stderr
    assert (earlier / "launch.log").read_text() == "an earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rrl_seed1"]  # no graph was started


def test_violation_times_are_the_sim_seconds_after_shield_on_of_each_violation_in_the_window() -> None:
    def step(cost: float) -> wire.Step:
        return wire.Step(1.0, cost, bool(cost), False, 0, 0, 0, False, {})

    costs = {0: 1.0, 50_000_000: 1.0, 1_000_000_000: 0.0, 1_500_000_000: 1.0, 3_000_000_000: 1.0}
    rec = Recording([(stamp, step(c)) for stamp, c in costs.items()], [], 0, 50_000_000, {})
    assert rec.violation_times(50_000_000, 2_000_000_000) == [0.0, 1.45]  # before shield-on / after the end: out
    assert rec.segments(50_000_000, 2_000_000_000)["after"].violations == 2  # the same violations the rows count


def test_the_governors_c_is_measured_only_on_kept_commands_of_states_decided_once() -> None:
    a_task = np.array([0.5, -0.4, 0.01])
    commands = [(0, 0.9 * a_task, a_task), (1, a_task, a_task),
                (2, np.array([0.2, 0.3, 0.0]), a_task), (2, 0.8 * a_task, a_task),  # decided twice: ambiguous
                (3, np.zeros(3), np.array([0.01, -0.02, 0.0])),  # no joint commanded beyond 0.05: no c
                (0, 0.9 * a_task, a_task)]  # the same command re-sent for a re-published state: counts once
    scales = command_scales(commands)
    assert scales == pytest.approx({0: 0.9, 1: 1.0})
    risk = [(stamp, wire.Risk(0.1, bool(overridden), 0.2, True, 1, 0)) for stamp, overridden in
            ((0, False), (1, True), (2, False), (2, True), (3, False))]
    rec = Recording([], risk, 0, 0, scales)
    assert rec.action_scale(0, 3) == pytest.approx(0.9)  # stamp 1 overridden, 2 ambiguous, 3 unmeasurable
    assert np.isnan(rec.action_scale(1, 3))


ADAPTATION_LOG = """\
[adaptation] fault announced by detector at sim time 51.50s (CUSUM 30.1 > 20.0, observation dimension 3)
{armed}[adaptation] shield {word} 14.20 s after the fault announcement (phase 2: 2.40 s, 250 transitions){tail}
"""


def test_time_to_safe_is_the_detection_alone_when_armed_at_the_fault_else_collection_and_phase_2() -> None:
    armed = "[adaptation] shield enabled 0.02 s after the fault announcement on the meta-trained layer (armed ...)\n"
    early = time_to_safe(ADAPTATION_LOG.format(armed=armed, word="on the adapted weights", tail=""), 0.05, 50.0)
    assert early["armed_at_fault"] and early["robot_s"] == pytest.approx(1.5)  # detected 1.5 s after the fault
    assert early["adapted_robot_s"] == pytest.approx(1.5 + 250 * 0.05 + 2.4) and early["graph_wall_s"] == 0.02
    measured = time_to_safe(ADAPTATION_LOG.format(armed=armed, word="on the adapted weights", tail=""), 0.05, 50.0,
                            51.6)  # the first decision with the shield on, on the sim clock
    assert measured["robot_s"] == pytest.approx(1.6) and measured["adapted_robot_s"] == early["adapted_robot_s"]
    late = time_to_safe(ADAPTATION_LOG.format(armed="", word="enabled", tail=": shield enabled (weights v2)"), 0.05)
    assert not late["armed_at_fault"] and late["robot_s"] == late["adapted_robot_s"] == pytest.approx(12.5 + 2.4)
    assert late["graph_wall_s"] == 14.2 and "detection_robot_s" not in late  # no fault time given
    assert time_to_safe("[adaptation] fault announced ... collecting 250 transitions\n", 0.05) is None


def test_the_demo_runs_its_graphs_on_a_domain_of_their_own_unless_the_caller_chose_one() -> None:
    env = demo_ros_env({"PATH": "/bin"}, pid=205)
    assert env == {"PATH": "/bin", "ROS_DOMAIN_ID": "4", "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    assert demo_ros_env({"ROS_DOMAIN_ID": "0"}, pid=205) == {"ROS_DOMAIN_ID": "0"}  # the caller's choice stands


def test_steps_of_another_simulator_in_a_recording_are_an_error_naming_the_cause(tmp_path) -> None:
    check_one_simulator([0, 50_000_000, 100_000_000], tmp_path)  # one simulator: nothing to say
    with pytest.raises(RuntimeError, match=r"two steps stamped 0 ns \(2 such stamps\): another simulator"):
        check_one_simulator([0, 50_000_000, 0, 50_000_000, 100_000_000], tmp_path)


def test_a_critic_shield_runs_stacked_by_default_and_alone_without_the_lookahead() -> None:
    alone = "lookahead_checkpoint:=none"
    assert shield_args("mesa_lookahead") == [] and shield_args("mesa") == [alone]  # the launch default is the stack
    assert shield_args("multitask") == [*shield_args("multitask_lookahead"), alone]
    assert shield_args("rrl_lookahead") == ["adapt_method:=rrl"]
    assert "adapt_method:=lookahead" in shield_args("lookahead")  # the lookahead alone: the graph stacks nothing
    lookahead = str(default_checkpoint("HalfCheetah-Disabled", "lookahead"))
    for alone in ({"adapt_method": "lookahead", "safety_checkpoint": ""},
                  {"adapt_method": "", "safety_checkpoint": lookahead}):  # the lookahead alone: nothing to stack on
        assert stacked_lookahead({"lookahead_checkpoint": "shipped", **alone}) == ""
        with pytest.raises(ValueError, match="the shield is the lookahead alone"):
            stacked_lookahead({"lookahead_checkpoint": lookahead, **alone})
    critic = {"adapt_method": "", "safety_checkpoint": ""}
    assert stacked_lookahead({"lookahead_checkpoint": "shipped", **critic}) == lookahead
    assert stacked_lookahead({"lookahead_checkpoint": "none", **critic}) == ""
    with pytest.raises(ValueError, match="unknown shield 'lookahead_lookahead'"):
        shield_args("lookahead_lookahead")
