"""The ROS graph's performance: closed-loop rate, safety-monitor latency, memory, time to safe.

1. Closed loop, lockstep, shield enabled: steps/s through the separate-process graph (mujoco_sim,
   task_policy, safety_monitor over Fast DDS) vs. the same loop in one process without ROS
   (SimSession + SAC + Shield): the limit. Target >= 400 steps/s.
2. safety_monitor state-in -> command-out: a probe publishes a state and its task action and times
   the command's arrival (two DDS hops + the shield). Target p99 <= 1 ms. Also the shield alone
   (critic + recovery evaluation, in process). Target <= 100 us.
3. Resident memory of the whole default graph (RSS and USS summed over the node processes). Target <= 2 GB.
4. Time to safe, lockstep, the product's default shield and life cycle (the shipped lookahead stacked on the
   critic; armed at the fault on the meta-trained critic and offline model, ``arm_on_fault:=true``; both adapted
   after the node's default 250 post-fault transitions, phase 2 with the checkpoints' steps): wall time from the
   fault service call to the first shielded decision (target <= 10 s) and to the first on both adapted parts.

    .venv/bin/python bench/bench_graph.py [--steps 3000] [--policy P --safety S --adapted A]

Defaults are the shipped checkpoints (config/checkpoints/halfcheetah_disabled/); --adapted needs a
checkpoint with a recovery policy (the monitor's weights for the closed loop), default: made from
the safety checkpoint by a phase-2 run on random-policy data.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import torch

from results_file import save

ENV = "HalfCheetah-Disabled"


def start(module: str, *params: str, env: dict[str, str]) -> subprocess.Popen:
    args = [sys.executable, "-m", module, "--ros-args", *[x for p in params for x in ("-p", p)]]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def probe(name: str, processes: list[subprocess.Popen]) -> Iterator[tuple]:
    """(node, executor) of this process beside the graph's ``processes``; on exit all are shut down."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
        stop(processes)


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def adapted_checkpoint(safety: Path, policy: Path, out: Path) -> Path:
    """A critic + recovery checkpoint: phase 2 of ``safety`` on 2000 random-policy transitions with the ffoot fault."""
    from mesa_ros.core.collect import collect
    from mesa_ros.core.methods import adapt_to_test, get_method, new_recovery
    from mesa_ros.core.restore import env_spaces, load_checkpoint, save_checkpoint
    from mesa_ros.core.safety_layer import SafetyLayer

    run = load_checkpoint(safety, env=ENV)
    space = env_spaces(ENV)
    data = collect(ENV, {"power_scale": {"ffoot": 0.0}}, "test", "random", num_transitions=2000, seed=0,
                   progress=False)
    layer = SafetyLayer(run.critic, new_recovery(run.cfg, *space))
    agent = load_checkpoint(policy, env=ENV).agent
    adapt_to_test(run.cfg, layer, data, agent.policy, np.random.default_rng(0))
    return save_checkpoint(out, run.cfg, get_method("mesa"), space, agent, safety=layer)


def in_process_loop(policy: Path, adapted: Path, steps: int) -> tuple[float, dict[str, float]]:
    """Steps/s of the same loop without ROS (the frozen numpy networks the nodes use), and the mean
    shield evaluation time in microseconds: frozen (what the monitor runs) and the torch ``Shield``."""
    from mesa_ros.core.inference import FrozenCritic, FrozenPolicy, FrozenShield, numpy_state
    from mesa_ros.core.restore import load_checkpoint
    from mesa_ros.envs.session import SimSession

    policy_fn = FrozenPolicy(numpy_state(load_checkpoint(policy, env=ENV).agent.actor))
    run = load_checkpoint(adapted, env=ENV)
    obs_dim, act_dim = run.space[0].shape[0], run.space[1].shape[0]
    frozen = FrozenShield(FrozenCritic(numpy_state(run.safety.critic), obs_dim, act_dim),
                          numpy_state(run.safety.recovery), obs_dim, run.cfg.shield.eps_risk,
                          run.cfg.recovery.noise_std)
    shields = {"frozen": frozen,
               "torch": run.safety.shield(run.cfg.shield.eps_risk, noise=True)}
    sim = SimSession(ENV, seed=0)
    sim.robot.set_power_scale("ffoot", 0.0)
    shield_time = dict.fromkeys(shields, 0.0)
    loop_time = 0.0
    for _ in range(steps):
        start = time.perf_counter()
        obs = sim.observation(sim.state).astype(np.float32)
        a_task = policy_fn(obs)
        t = time.perf_counter()
        decision = shields["frozen"](obs, a_task)
        shield_time["frozen"] += time.perf_counter() - t
        sim.step(decision.action.astype(np.float64))
        loop_time += time.perf_counter() - start
        t = time.perf_counter()  # the torch shield on the same input, outside the loop's time
        shields["torch"](obs, a_task)
        shield_time["torch"] += time.perf_counter() - t
    return steps / loop_time, {name: 1e6 * seconds / steps for name, seconds in shield_time.items()}


def graph_loop(policy: Path, adapted: Path, steps: int, env: dict[str, str]) -> dict[str, float]:
    """Steps/s of the three-process lockstep loop with the shield enabled; memory of the processes."""
    processes = [
        start("mesa_ros.nodes.mujoco_sim", f"max_steps:={steps}", env=env),
        start("mesa_ros.nodes.task_policy", f"checkpoint:={policy}", env=env),
        start("mesa_ros.nodes.safety_monitor", f"checkpoint:={adapted}", "enabled:=true", env=env),
    ]
    from sensor_msgs.msg import JointState

    from mesa_ros import wire
    from mesa_ros.nodes import qos

    times: list[float] = []
    rss = uss = float("nan")
    with probe("bench_counter", processes) as (node, executor):
        node.create_subscription(JointState, wire.STEP, lambda _: times.append(time.perf_counter()), qos.LOGGER_SUB)
        deadline = time.monotonic() + 600
        while len(times) < steps and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if rss != rss and len(times) >= steps // 2:  # measured once, mid-run
                rss, uss = memory(processes)
    warm = steps // 10  # skip start-up (discovery, first messages)
    rate = (len(times) - warm - 1) / (times[-1] - times[warm])
    return {"steps_per_s": rate, "steps_seen": len(times), "rss_mb_3_nodes": rss, "uss_mb_3_nodes": uss}


def memory(processes: list[subprocess.Popen]) -> tuple[float, float]:
    """Summed RSS and USS (MB) of ``processes`` and their children (the wheels re-exec python once)."""
    rss = uss = 0.0
    for p in processes:
        proc = psutil.Process(p.pid)
        for q in [proc, *proc.children(recursive=True)]:
            info = q.memory_full_info()
            rss += info.rss / 2**20
            uss += info.uss / 2**20
    return rss, uss


def _in_node(msg, in_node: dict[str, float]) -> None:
    """The safety monitor's own decision latency from a /diagnostics message, into ``in_node``."""
    for status in msg.status:
        values = {kv.key: kv.value for kv in status.values}
        if status.name == "safety_monitor: shield" and "decision_latency_p99_us" in values:
            in_node.update(p50_us=float(values["decision_latency_p50_us"]),
                           p99_us=float(values["decision_latency_p99_us"]), decisions=int(values["decisions"]))


def _latency_figures(latencies: list[float], in_node: dict[str, float], executor) -> dict[str, float]:
    """Round-trip percentiles, and the node's own figures from its next /diagnostics (1 Hz; its last 2000)."""
    in_node.clear()
    deadline = time.monotonic() + 5
    while not in_node and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.1)
    lat = np.array(latencies) * 1e6
    return {"samples": len(lat), "round_trip_p50_us": float(np.percentile(lat, 50)),
            "round_trip_p99_us": float(np.percentile(lat, 99)), "round_trip_max_us": float(lat.max()),
            "in_node": in_node}


def monitor_latency(adapted: Path, samples: int, env: dict[str, str]) -> dict[str, float]:
    """Probe -> (state, task action) -> safety_monitor -> command -> probe, per sample (two DDS hops), and
    the monitor's own state-in -> command-out figures (callback entry to command published) from /diagnostics."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState

    from mesa_ros import wire
    from mesa_ros.envs.session import SimSession
    from mesa_ros.nodes import msgs, qos

    monitor = start("mesa_ros.nodes.safety_monitor", f"checkpoint:={adapted}", "enabled:=true", env=env)
    arrived: dict[int, float] = {}
    in_node: dict[str, float] = {}

    sim = SimSession(ENV, seed=0)
    rng = np.random.default_rng(0)
    latencies = []
    with probe("bench_latency", [monitor]) as (node, executor):
        pub_state = node.create_publisher(JointState, wire.STATE, qos.STREAM_PUB)
        pub_action = node.create_publisher(JointState, wire.TASK_ACTION, qos.STREAM_PUB)
        node.create_subscription(JointState, wire.COMMAND,
                                 lambda m: arrived.setdefault(wire.stamp_ns(m.header.stamp), time.perf_counter()),
                                 qos.CONTROL_SUB)
        node.create_subscription(DiagnosticArray, wire.DIAGNOSTICS, lambda m: _in_node(m, in_node), 10)
        deadline = time.monotonic() + 60
        while node.count_subscribers(wire.TASK_ACTION) == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        for i in range(samples + 50):
            state = sim.state
            stamp = state.stamp_ns
            sent = time.perf_counter()
            pub_state.publish(msgs.state_msg(stamp, sim.joint_names, state.position, state.velocity, state.effort))
            pub_action.publish(msgs.action_msg(stamp, sim.actuator_names, rng.uniform(-1, 1, 6)))
            while stamp not in arrived and time.perf_counter() - sent < 1.0:
                executor.spin_once(timeout_sec=0.001)
            if stamp in arrived and i >= 50:  # the first 50 warm the path up
                latencies.append(arrived[stamp] - sent)
            sim.step(rng.uniform(-1, 1, 6))
        return _latency_figures(latencies, in_node, executor)


def filter_latency(adapted: Path, samples: int, env: dict[str, str]) -> dict[str, float]:
    """The same for the ros2_control filter (``interface:=ros2_control``): probe -> /joint_states +
    /task_controller/commands -> safety_monitor -> /effort_controller/commands -> probe, and the node's own
    command-in -> command-out figures from /diagnostics."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from mesa_ros import wire
    from mesa_ros.envs.session import SimSession
    from mesa_ros.nodes import qos

    monitor = start("mesa_ros.nodes.safety_monitor", f"checkpoint:={adapted}", "enabled:=true",
                    "interface:=ros2_control", env=env)
    in_node: dict[str, float] = {}
    answers: list[float] = []

    sim = SimSession(ENV, seed=0)
    rng = np.random.default_rng(0)
    latencies = []
    with probe("bench_filter_latency", [monitor]) as (node, executor):
        pub_state = node.create_publisher(JointState, "/joint_states", qos.STREAM_PUB)
        pub_command = node.create_publisher(Float64MultiArray, "/task_controller/commands", qos.STREAM_PUB)
        node.create_subscription(Float64MultiArray, "/effort_controller/commands",
                                 lambda m: answers.append(time.perf_counter()), qos.CONTROL_SUB)
        node.create_subscription(DiagnosticArray, wire.DIAGNOSTICS, lambda m: _in_node(m, in_node), 10)
        deadline = time.monotonic() + 60
        while node.count_subscribers("/task_controller/commands") == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        for i in range(samples + 50):
            state = sim.state
            msg = JointState(name=list(sim.joint_names), position=state.position.tolist(),
                             velocity=state.velocity.tolist())
            msg.header.stamp = node.get_clock().now().to_msg()
            pub_state.publish(msg)
            executor.spin_once(timeout_sec=0.001)
            seen, sent = len(answers), time.perf_counter()
            pub_command.publish(Float64MultiArray(data=rng.uniform(-1, 1, 6).tolist()))
            while len(answers) == seen and time.perf_counter() - sent < 1.0:
                executor.spin_once(timeout_sec=0.001)
            if len(answers) > seen and i >= 50:
                latencies.append(answers[-1] - sent)
            sim.step(rng.uniform(-1, 1, 6))
        return _latency_figures(latencies, in_node, executor)


def time_to_safe(policy: Path, safety: Path, env: dict[str, str], timeout: float = 600.0) -> dict[str, float]:
    """Fault service call -> first shielded decision, and -> first on both adapted parts (full graph, the stacked
    shield armed at the fault as ``mesa-ros launch cheetah_fault``)."""
    from sensor_msgs.msg import JointState
    from std_srvs.srv import SetBool

    from mesa_ros import wire
    from mesa_ros.nodes import qos
    from mesa_ros.nodes.defaults import default_checkpoint

    stack = f"lookahead_checkpoint:={default_checkpoint(ENV, 'lookahead')}"
    processes = [
        start("mesa_ros.nodes.mujoco_sim", env=env),
        start("mesa_ros.nodes.task_policy", f"checkpoint:={policy}", env=env),
        start("mesa_ros.nodes.safety_monitor", f"checkpoint:={safety}", stack, env=env),
        start("mesa_ros.nodes.adaptation", f"checkpoint:={safety}", f"policy_checkpoint:={policy}", stack,
              "arm_on_fault:=true", env=env),
    ]
    shielded: dict[str, float] = {}  # "armed": the first shielded decision; "adapted": the first on adapted weights
    steps = [0]

    def on_risk(msg: JointState) -> None:
        decision = wire.Risk.from_values(wire.parse_values(msg)[1])
        if decision.shield_enabled:
            shielded.setdefault("armed", time.perf_counter())
            if decision.weights_id >= 2:  # the adaptation node's critic (1), then its model (2): both in use
                shielded.setdefault("adapted", time.perf_counter())

    with probe("bench_time_to_safe", processes) as (node, executor):
        node.create_subscription(JointState, wire.RISK, on_risk, qos.LOGGER_SUB)
        node.create_subscription(JointState, wire.STEP, lambda _: steps.__setitem__(0, steps[0] + 1), qos.LOGGER_SUB)
        client = node.create_client(SetBool, wire.power_loss_service(wire.SIMULATOR, "ffoot"))
        deadline = time.monotonic() + timeout
        while steps[0] < 300 and time.monotonic() < deadline:  # running, adaptation node subscribed
            executor.spin_once(timeout_sec=0.05)
        called = time.perf_counter()
        future = client.call_async(SetBool.Request(data=True))
        executor.spin_until_future_complete(future, timeout_sec=10)
        while "adapted" not in shielded and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        rate_steps = steps[0]
        rss, uss = memory(processes)
    if "adapted" not in shielded:
        raise RuntimeError(f"the shield was not on adapted weights within {timeout:.0f} s "
                           f"(armed: {'armed' in shielded})")
    return {"seconds": shielded["armed"] - called, "adapted_seconds": shielded["adapted"] - called,
            "steps_run": rate_steps, "rss_mb_graph": rss, "uss_mb_graph": uss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--latency-samples", type=int, default=2000)
    parser.add_argument("--policy", type=Path)
    parser.add_argument("--safety", type=Path)
    parser.add_argument("--adapted", type=Path)
    parser.add_argument("--only", choices=("all", "filter"), default="all",
                        help="filter: only the ros2_control filter's latency (saved as graph_filter.json)")
    args = parser.parse_args()
    from mesa_ros.nodes.defaults import default_checkpoint

    torch.set_num_threads(1)
    load_start = os.getloadavg()  # other processes on a shared machine skew the numbers
    policy = args.policy or default_checkpoint(ENV, "policy")
    safety = args.safety or default_checkpoint(ENV, "safety")
    env = {**os.environ, "ROS_DOMAIN_ID": str(random.randint(1, 101)), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    with tempfile.TemporaryDirectory() as tmp:
        adapted = args.adapted or adapted_checkpoint(safety, policy, Path(tmp) / "adapted.safetensors")
        filtered = filter_latency(adapted, args.latency_samples, env)
        p99 = filtered["in_node"].get("p99_us", float("nan"))
        print(f"ros2_control filter command-in -> command-out (in the node): p50 "
              f"{filtered['in_node'].get('p50_us', float('nan')):.0f} us, p99 {p99:.0f} us  target p99 <= 1000: "
              f"{'met' if p99 <= 1000 else 'MISSED'}; probe round trip (two DDS hops + the node): p50 "
              f"{filtered['round_trip_p50_us']:.0f} us, p99 {filtered['round_trip_p99_us']:.0f} us "
              f"({filtered['samples']} samples)")
        if args.only == "filter":
            save("graph_filter", load_start, {"filter_latency": filtered})
            return
        limit, shield_us = in_process_loop(policy, adapted, args.steps)
        graph = graph_loop(policy, adapted, args.steps, env)
        latency = monitor_latency(adapted, args.latency_samples, env)
        safe = time_to_safe(policy, safety, env)
    ratio = graph["steps_per_s"] / limit
    print(f"closed loop, lockstep, shield on: graph {graph['steps_per_s']:.0f} steps/s vs one process without ROS "
          f"{limit:.0f} steps/s ({ratio:.2f}x)  target >= 400: {'met' if graph['steps_per_s'] >= 400 else 'MISSED'}")
    print(
        f"shield evaluation (critic + recovery) in process: frozen numpy (the monitor's) {shield_us['frozen']:.1f} us, "
        f"torch {shield_us['torch']:.1f} us  target <= 100: {'met' if shield_us['frozen'] <= 100 else 'MISSED'}"
    )
    node_p99 = latency["in_node"].get("p99_us", float("nan"))
    print(
        "safety_monitor state-in -> command-out (in the node, its last <= 2000 decisions): "
        f"p50 {latency['in_node'].get('p50_us', float('nan')):.0f} us, p99 {node_p99:.0f} us  target p99 <= 1000: "
        f"{'met' if node_p99 <= 1000 else 'MISSED'}"
    )
    print(
        f"  probe round trip over DDS (state + task action out, command back: two hops + the node): "
        f"p50 {latency['round_trip_p50_us']:.0f} us, p99 {latency['round_trip_p99_us']:.0f} us "
        f"({latency['samples']} samples)"
    )
    print(f"memory of the default graph (4 nodes, the stacked shield): RSS {safe['rss_mb_graph']:.0f} MB, "
          f"USS {safe['uss_mb_graph']:.0f} MB"
          f"  target <= 2048 MB: {'met' if safe['rss_mb_graph'] <= 2048 else 'MISSED'}")
    print(f"time to safe (fault service call -> first shielded decision, armed at the fault): {safe['seconds']:.2f} s  "
          f"target <= 10: {'met' if safe['seconds'] <= 10 else 'MISSED'}; -> first on both adapted parts of the "
          f"stack (250 post-fault transitions, phase 2): {safe['adapted_seconds']:.2f} s")
    save("graph", load_start, {
        "steps": args.steps, "in_process_steps_per_s": limit, "graph": graph, "graph_vs_in_process": ratio,
        "shield_eval_us": shield_us, "monitor_latency": latency, "filter_latency": filtered, "time_to_safe": safe,
        "checkpoints": {"policy": str(policy), "safety": str(safety)},
    })


if __name__ == "__main__":
    main()
