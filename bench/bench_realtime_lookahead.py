"""The lookahead shield in a realtime graph: how many control steps miss their command (issue #12).

mujoco_sim (realtime, 20 Hz, fshin's total loss at step 200), task_policy and safety_monitor with the shipped
lookahead checkpoint, alone or stacked under the shipped critic (the product's default shield, ``core/stacked.py``;
not adapted here), enabled from the start, over real DDS. When no command answers a state within the period the
simulator applies its safe default action (zeros) and marks the step stale: on this robot about the worst action
there is at a moment the shield judged dangerous. Counted after the fault from ``/mujoco_sim/step`` (stale) and
``/safety_monitor/risk`` (overridden), once with ``decision_budget_ms`` 0 (every candidate, as before budgets)
and once with the realtime graph's budget (70% of the period), for each shield. The physical limit is 0 stale steps.

    .venv/bin/python bench/bench_realtime_lookahead.py [--steps 1200] [--shields lookahead,stack]
"""
from __future__ import annotations

import argparse
import os
import random
import time

from bench_graph import probe, start

from mesa_ros.graph import DECISION_SHARE
from mesa_ros.nodes.defaults import default_checkpoint

from results_file import save

RATE_HZ, FAULT_STEP = 20.0, 200  # the fault after 10 s: every node is up by then


def run(shield: str, budget_ms: float, steps: int, env: dict[str, str]) -> dict[str, float | str]:
    """Stale and overridden steps among the first ``steps`` after the fault, with this shield and decision budget."""
    from sensor_msgs.msg import JointState

    from mesa_ros import wire
    from mesa_ros.nodes import qos

    lookahead = default_checkpoint("HalfCheetah-Disabled", "lookahead")
    critic = default_checkpoint("HalfCheetah-Disabled", "safety")
    files = ([f"checkpoint:={lookahead}"] if shield == "lookahead" else
             [f"checkpoint:={critic}", f"lookahead_checkpoint:={lookahead}"])
    processes = [
        start("mesa_ros.nodes.mujoco_sim", "mode:=realtime", f"rate_hz:={RATE_HZ}",
              f"{wire.SCHEDULED_STEP}:={FAULT_STEP}", f"{wire.SCHEDULED_JOINTS}:=['fshin']", env=env),
        start("mesa_ros.nodes.task_policy", env=env),
        start("mesa_ros.nodes.safety_monitor", *files, "enabled:=true",
              f"decision_budget_ms:={budget_ms}", env=env),
    ]
    after = FAULT_STEP * int(1e9 / RATE_HZ)  # the first post-fault state's stamp (sim time, one step = 1 / rate)
    seen = {"steps": 0, "stale": 0, "violations": 0, "overridden": 0}

    def on_step(msg) -> None:
        stamp, values = wire.parse_values(msg)
        if stamp >= after and seen["steps"] < steps:
            out = wire.Step.from_values(values)
            seen["steps"] += 1
            seen["stale"] += out.stale
            seen["violations"] += out.cost > 0

    def on_risk(msg) -> None:
        stamp, values = wire.parse_values(msg)
        if stamp >= after and seen["steps"] < steps:
            seen["overridden"] += wire.Risk.from_values(values).overridden

    with probe("bench_realtime", processes) as (node, executor):
        node.create_subscription(JointState, wire.STEP, on_step, qos.LOGGER_SUB)
        node.create_subscription(JointState, wire.RISK, on_risk, qos.LOGGER_SUB)
        deadline = time.monotonic() + (FAULT_STEP + steps) / RATE_HZ + 120
        while seen["steps"] < steps and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    return {"shield": shield, "budget_ms": budget_ms, **seen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200, help="control steps counted after the fault")
    parser.add_argument("--shields", default="lookahead,stack",
                        help="comma-separated: lookahead (alone), stack (under the shipped critic)")
    args = parser.parse_args()
    shields = args.shields.split(",")
    if not set(shields) <= {"lookahead", "stack"} or len(set(shields)) < len(shields):
        parser.error(f"--shields {args.shields!r}: expected a comma-separated list of lookahead, stack, each once")
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.randint(1, 101)), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    load_start = os.getloadavg()
    figures = {"rate_hz": RATE_HZ, "fault": "fshin", "fault_step": FAULT_STEP, "runs": []}
    for shield, budget in ((s, b) for s in shields for b in (0.0, DECISION_SHARE * 1000.0 / RATE_HZ)):
        result = run(shield, budget, args.steps, env)
        figures["runs"].append(result)
        print(f"{shield:9s} decision_budget_ms {budget:4.1f}: {result['stale']} stale of {result['steps']} steps "
              f"after the fault ({result['stale'] / max(result['steps'], 1):.1%}; limit 0), "
              f"{result['overridden']} overridden, {result['violations']} violations")
    save("realtime_lookahead", load_start, figures)


if __name__ == "__main__":
    main()
