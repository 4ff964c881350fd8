"""A test-side ROS node that watches the adaptation node (diagnostics, detections) and the monitor's decisions."""
from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState
from std_msgs.msg import Header

from mesa_ros import wire
from mesa_ros.core import checkpoint
from mesa_ros.core.bags import read_messages
from mesa_ros.nodes import qos
from mesa_ros.nodes.defaults import default_checkpoint

from peer import Peer

MESA_ROS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mesa-ros"
# the critic shield alone unless a test stacks a lookahead (a later lookahead_checkpoint:=... wins): what these tests
# check is the critic's mechanics; test_stacked_graph runs the stack
CRITIC_ALONE = "lookahead_checkpoint:=none"


def ci_sized_lookahead(directory: Path) -> Path:
    """The shipped lookahead saved in ``directory`` without its refinement at 1000 post-fault transitions (CI-sized)."""
    shipped = checkpoint.load(default_checkpoint("HalfCheetah-Disabled", "lookahead"))
    cfg = {**shipped.config, "lookahead": {**shipped.config["lookahead"], "refine_transitions": 0}}
    return checkpoint.save(directory / "lookahead.safetensors", shipped.tensors, shipped.env, shipped.obs_dim,
                           shipped.act_dim, cfg, shipped.extra)


def shielded_run(bag: Path, ros_env: dict[str, str], fault_step: int, after_shield: int,
                 *launch_args: str) -> tuple[list[tuple[int, dict[str, float]]], str]:
    """``cheetah_fault`` with a fault at ``fault_step``, stopped ``after_shield`` steps after the shield came on,
    recorded to ``bag``; the monitor's decisions from the bag as (stamp, values), after checking that the graph
    ended as asked and decided on each of those steps once, and the launcher's log."""
    cmd = [str(MESA_ROS), "launch", "cheetah_fault", CRITIC_ALONE, f"fault_step:={fault_step}", "max_steps:=20000",
           f"steps_after_shield:={after_shield}", "record_bag:=true", f"bag_dir:={bag}", *launch_args]
    result = subprocess.run(cmd, env=ros_env, capture_output=True, text=True, timeout=400)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert f"max_steps_after_shield={after_shield} reached" in log, log[-3000:]
    stamped = [wire.parse_values(msg) for _, _, msg in read_messages(bag, {wire.RISK})]
    # one decision per state until the simulator stopped; reset states and the last state add a few stamps
    assert after_shield <= len({stamp for stamp, d in stamped if d["shield_enabled"]}) <= after_shield + 20
    return stamped, log


class Observer(Peer):
    """Watches the adaptation node's diagnostics and the monitor's decisions; calls the simulator's services."""

    def __init__(self) -> None:
        super().__init__("lifecycle_observer")
        self.adaptation: dict[str, str] = {}
        self.monitor: dict[str, str] = {}  # the safety monitor's last status values
        self.sim: dict[str, str] = {}  # the simulator's
        self.history: list[tuple[str, int]] = []  # (state, epoch) each time it changes
        self.shield_enabled = self.weights_id = 0.0
        self.decisions = 0  # the monitor's decisions seen: the control loop is running
        self.level = -1
        self.diag_sources: list[tuple[str, int]] = []  # (hardware_id, stamp) of each adaptation status
        self.node.create_subscription(DiagnosticArray, wire.DIAGNOSTICS, self._on_diag, 10)
        self.node.create_subscription(JointState, wire.RISK, self._on_risk, qos.CONTROL_SUB)
        self.detections: list[dict[str, float]] = []  # the adaptation node's detector decisions, with their stamp
        self.node.create_subscription(JointState, wire.DETECTION, self._on_detection, qos.LATCHED)
        self.fault_events: list[tuple[str, int]] = []  # the simulator's ground truth: (fault / clear, stamp)
        self.node.create_subscription(Header, wire.FAULT_EVENT,
                                      lambda m: self.fault_events.append((m.frame_id, wire.stamp_ns(m.stamp))),
                                      qos.LATCHED)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == "safety_monitor: shield":
                self.monitor = {kv.key: kv.value for kv in status.values}
            if status.name == "mujoco_sim: simulation":
                self.sim = {kv.key: kv.value for kv in status.values}
            if status.name == "adaptation: phase 2":
                # Recorded, not asserted: an assert in a callback surfaces from spin_once without a message. The
                # stamp is the node's sim clock: 0 until its first /clock, which may come after its first status.
                self.diag_sources.append((status.hardware_id, wire.stamp_ns(msg.header.stamp)))
                self.adaptation = {kv.key: kv.value for kv in status.values}
                self.level = status.level[0] if isinstance(status.level, bytes) else status.level
                entry = (self.adaptation["state"], int(self.adaptation["epoch"]))
                if not self.history or self.history[-1] != entry:
                    self.history.append(entry)

    def _on_risk(self, msg: JointState) -> None:
        values = wire.parse_values(msg)[1]
        self.shield_enabled, self.weights_id = values["shield_enabled"], values["weights_id"]
        self.decisions += 1

    def _on_detection(self, msg: JointState) -> None:
        stamp, values = wire.parse_values(msg)
        self.detections.append({**values, "stamp_ns": stamp})

    def wait(self, predicate, what: str, timeout: float = 90.0) -> None:
        assert self.spin_until(predicate, timeout), \
            f"timed out waiting for {what}; adaptation {self.adaptation}, history {self.history}"


@contextmanager
def watching(graph: subprocess.Popen) -> Iterator[Observer]:
    """An ``Observer`` of the running ``graph``; a failed assertion inside gets the graph's log (without episode
    lines) appended; the graph is stopped with Ctrl-C on the way out."""
    obs = Observer()
    try:
        yield obs
    except AssertionError as exc:
        graph.send_signal(signal.SIGINT)
        lines = [line for line in graph.communicate(timeout=60)[0].splitlines() if "episode" not in line]
        raise AssertionError(f"{exc}\n--- graph log (without episode lines) ---\n" + "\n".join(lines[-60:])) from None
    finally:
        obs.close()
        if graph.poll() is None:
            graph.send_signal(signal.SIGINT)


def start_graph(ros_env: dict[str, str], *launch_args: str) -> subprocess.Popen:
    """``mesa-ros launch cheetah_fault`` (the critic shield alone) with ``launch_args`` in the background, stdout and
    stderr piped together."""
    return subprocess.Popen([str(MESA_ROS), "launch", "cheetah_fault", CRITIC_ALONE, *launch_args], env=ros_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def params_with(params_file: Path, out: Path, changes: dict[str, dict[str, object]]) -> Path:
    """``params_file`` with ``{node: {parameter: value}}`` changed, written to ``out``."""
    params = yaml.safe_load(params_file.read_text())
    for node, values in changes.items():
        params[node]["ros__parameters"].update(values)
    out.write_text(yaml.safe_dump(params))
    return out


def clean_log(graph: subprocess.Popen) -> str:
    """The stopped graph's log, asserted free of tracebacks and of nodes that died."""
    log = graph.communicate(timeout=60)[0]
    for bad in ("Traceback", "died unexpectedly"):
        assert bad not in log, log[-3000:]
    return log
