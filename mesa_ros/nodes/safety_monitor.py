"""``safety_monitor``: the Recovery RL shield between the task policy and the simulator.

For each task action it evaluates Q_risk(s, a_task) and sends the simulator a_task, or pi_rec(s) when
the shield is enabled and Q_risk(s, a_task) > eps_risk (``core.shield``). The command carries the
executed action in ``effort`` and the task action in ``position``. Risk and override go out per step;
``/diagnostics`` summarises. The shield is switched with ``~/enable`` (std_srvs/SetBool); new
critic/recovery weights arrive on the latched weights topic (a safetensors checkpoint as
std_msgs/UInt8MultiArray) or are reloaded from the ``checkpoint`` file with ``~/reload``.
"""
from __future__ import annotations

from collections import OrderedDict, deque

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import UInt8MultiArray
from std_srvs.srv import SetBool, Trigger

from mesa_ros import topics
from mesa_ros.core import checkpoint, health
from mesa_ros.core.config import stored_config
from mesa_ros.core.inference import FrozenCritic, FrozenShield
from mesa_ros.envs import env_class
from mesa_ros.nodes import msgs, qos
from mesa_ros.nodes.defaults import default_checkpoint
from mesa_ros.nodes.params import check_range, declare, validator
from mesa_ros.nodes.runner import run_node
from mesa_ros.nodes.start_gate import StartGate

STATES_KEPT = 64  # states awaiting their task action (the policy answers within a step or two)


def _trim(store: OrderedDict) -> None:
    while len(store) > STATES_KEPT:
        store.popitem(last=False)


class SafetyMonitorNode(Node):
    def __init__(self) -> None:
        super().__init__("safety_monitor")
        self.env = declare(self, "env", "HalfCheetah-Disabled", "environment (paper name)", read_only=True)
        declare(self, "checkpoint", "", "critic (+ recovery) checkpoint file for start-up and ~/reload; "
                "'' = the shipped default")
        self.enabled = declare(self, "enabled", False, "start with the shield enabled (needs a recovery policy)", read_only=True)
        self.eps_override = declare(self, "eps_risk", -1.0, "override when Q_risk(s, a_task) > eps_risk; -1 = the "
                                    "checkpoint config's value (paper: 0.1 HalfCheetah)", low=-1.0, high=1.0)
        self.noise = declare(self, "recovery_noise", True, "add pi_rec's N(0, 0.01^2) exploration noise (paper)", read_only=True)
        self.seed = declare(self, "seed", 0, "seed of the recovery noise", low=0, high=2**31 - 1, read_only=True)
        self.add_on_set_parameters_callback(validator({"eps_risk": check_range("eps_risk", -1.0, 1.0)},
                                                      apply=self._on_params))
        self.observation_from = env_class(self.env).observation_from
        self.names = list(env_class(self.env).actuator_names)
        self.obs_dim = env_class(self.env).observation_size
        self.critic: FrozenCritic | None = None
        self.shield: FrozenShield | None = None
        self.weights_version, self.weights_source, self.weights_error = 0, "none", ""
        self.weights_id = 0  # the sender's id of the weights in use (adaptation node); 0 = from a file
        self._install(checkpoint.load(self._checkpoint_path(), env=self.env, numpy=True),
                      f"file {self._checkpoint_path()}")
        if self.enabled and self.shield is None:
            raise ValueError("enabled:=true needs a checkpoint with a recovery policy")

        self.states: OrderedDict[int, np.ndarray] = OrderedDict()
        self.pending: OrderedDict[int, np.ndarray] = OrderedDict()  # task actions whose state has not arrived
        self.decisions = self.overrides = 0
        self.recent: deque[bool] = deque(maxlen=200)
        self.recent_risk: deque[float] = deque(maxlen=200)
        self.latency_us: deque[float] = deque(maxlen=2000)  # task action in -> command published, in this node
        self.last_risk = float("nan")
        self.pub_command = self.create_publisher(JointState, topics.COMMAND, qos.STREAM_PUB)
        self.pub_risk = self.create_publisher(JointState, topics.RISK, qos.STREAM_PUB)
        self.pub_diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.create_service(Trigger, "~/reload", self._on_reload)
        self.create_timer(1.0, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"eps_risk={self.eps_risk}, shield {'enabled' if self.enabled else 'disabled'}, "
                               f"weights: {self.weights_source}")
        StartGate(self, self._start)

    def _start(self) -> None:
        """Inputs once the command's and risk's awaited subscribers (simulator, recorder) are matched."""
        self.create_subscription(UInt8MultiArray, topics.WEIGHTS, self._on_weights, qos.LATCHED)
        self.create_subscription(JointState, topics.TASK_ACTION, self._on_task_action, qos.LOGGER_SUB)
        self.create_subscription(JointState, topics.STATE, self._on_state, qos.LOGGER_SUB)

    # -- the shield ------------------------------------------------------------------------------
    def _on_state(self, msg: JointState) -> None:
        received = time.perf_counter()
        stamp, position, velocity = msgs.parse_state(msg)
        self.states[stamp] = self.observation_from(position, velocity).astype(np.float32)
        _trim(self.states)
        if stamp in self.pending:  # the task action overtook its state (two publishers, no ordering)
            self._decide(stamp, self.pending.pop(stamp), received)

    def _on_task_action(self, msg: JointState) -> None:
        received = time.perf_counter()
        stamp, a_task, _ = msgs.parse_action(msg)
        if not np.all(np.isfinite(a_task)) or a_task.shape != (len(self.names),):
            self.get_logger().error(f"invalid task action for {stamp} ns rejected: {a_task.tolist()}")
            return
        if stamp not in self.states:
            self.pending[stamp] = a_task
            _trim(self.pending)
            return
        self._decide(stamp, a_task, received)

    def _decide(self, stamp: int, a_task: np.ndarray, received: float) -> None:
        """The eps_risk rule for one state; publishes the command (timed from ``received``) and the risk."""
        obs = self.states[stamp]
        a_exec, overridden, risk = a_task, False, float("nan")
        if self.shield is not None:
            decision = self.shield(obs, a_task)
            risk = decision.risk
            if self.enabled and decision.overridden:
                a_exec, overridden = decision.action.astype(np.float64), True
        elif self.critic is not None:  # critic only (e.g. meta-trained, before phase 2): report the risk
            risk = self.critic(obs, a_task.astype(np.float32))
        self.pub_command.publish(msgs.action_msg(stamp, self.names, a_exec, a_task))
        self.latency_us.append((time.perf_counter() - received) * 1e6)
        self.decisions += 1
        self.overrides += overridden
        self.recent.append(overridden)
        self.recent_risk.append(risk)
        self.last_risk = risk
        self.pub_risk.publish(msgs.values_msg(stamp, {
            "q_risk": risk, "overridden": float(overridden), "eps_risk": self.eps_risk,
            "shield_enabled": float(self.enabled), "weights_version": float(self.weights_version),
            "weights_id": float(self.weights_id)}))

    @property
    def eps_risk(self) -> float:
        return self.eps_override if self.eps_override >= 0 else self.cfg_eps

    def _on_params(self, params) -> str | None:
        for p in params:
            if p.name == "eps_risk":
                self.eps_override = p.value
                if self.shield is not None:
                    self.shield.eps_risk = self.eps_risk
        return None

    # -- weights and switching -------------------------------------------------------------------------
    def _checkpoint_path(self) -> str:
        return self.get_parameter("checkpoint").value or str(default_checkpoint(self.env, "safety"))

    def _install(self, ckpt: checkpoint.Checkpoint, source: str) -> None:
        """Frozen critic (+ recovery) from a checkpoint read as numpy arrays (this node never imports torch) with
        its own config; any mismatch raises, changing nothing."""
        cfg = stored_config(self.env, ckpt.config)
        if "critic" not in ckpt.tensors:
            raise ValueError(f"checkpoint has no module 'critic'; it holds {sorted(ckpt.tensors)}")
        critic = FrozenCritic(ckpt.tensors["critic"], self.obs_dim, len(self.names))
        shield = None
        if "recovery" in ckpt.tensors:
            eps_risk = self.eps_override if self.eps_override >= 0 else cfg.shield.eps_risk
            shield = FrozenShield(critic, ckpt.tensors["recovery"], self.obs_dim, eps_risk,
                                  cfg.recovery.noise_std if self.noise else 0.0, self.seed + self.weights_version)
        elif self.enabled:
            raise ValueError("these weights have no recovery policy; disable the shield first")
        self.critic, self.shield, self.cfg_eps = critic, shield, cfg.shield.eps_risk
        self.weights_version += 1
        self.weights_id = int(ckpt.extra.get("weights_id", 0)) if source.startswith("topic") else 0
        self.weights_source, self.weights_error = source, ""
        self.get_logger().info(f"weights v{self.weights_version} from {source}")

    def _on_weights(self, msg: UInt8MultiArray) -> None:
        source = f"topic {topics.WEIGHTS} ({len(msg.data)} bytes)"
        try:
            self._install(checkpoint.from_bytes(bytes(msg.data), source=source, env=self.env, numpy=True), source)
        except ValueError as exc:
            self.weights_error = str(exc)
            self.get_logger().error(f"weights rejected, keeping v{self.weights_version}: {exc}")

    def _on_reload(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        try:
            path = self._checkpoint_path()
            self._install(checkpoint.load(path, env=self.env, numpy=True), f"file {path}")
        except (ValueError, FileNotFoundError) as exc:
            res.success, res.message = False, f"reload failed, keeping v{self.weights_version}: {exc}"
            return res
        res.success, res.message = True, f"weights v{self.weights_version} loaded from {path}"
        return res

    def _on_enable(self, req: SetBool.Request, res: SetBool.Response) -> SetBool.Response:
        if req.data and self.shield is None:
            res.success, res.message = False, "no recovery policy loaded: send adapted weights first"
            return res
        self.enabled = req.data
        res.success, res.message = True, f"shield {'enabled' if self.enabled else 'disabled'} " \
                                         f"(weights v{self.weights_version}, eps_risk {self.eps_risk})"
        self.get_logger().warning(res.message)
        return res

    # -- diagnostics -------------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        rate = float(np.mean(self.recent)) if self.recent else 0.0
        values = {"shield": "enabled" if self.enabled else "disabled", "eps_risk": self.eps_risk,
                  "last_risk": f"{self.last_risk:.4f}", "override_rate_recent": f"{rate:.3f}",
                  "decisions": self.decisions, "overrides": self.overrides,
                  "weights_version": self.weights_version, "weights_source": self.weights_source}
        if self.latency_us:
            p50, p99 = np.percentile(self.latency_us, [50, 99])
            values.update(decision_latency_p50_us=f"{p50:.0f}", decision_latency_p99_us=f"{p99:.0f}")
        level, message = health.monitor(self.enabled, self.shield is not None, self.weights_error, self.recent,
                                        self.recent_risk)
        self.pub_diag.publish(msgs.diagnostics(self.get_clock().now().to_msg(), "safety_monitor: shield", self.env,
                                               level, message, values))


def main(args: list[str] | None = None) -> int:
    return run_node(SafetyMonitorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
