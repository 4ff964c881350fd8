"""``safety_monitor``: the Recovery RL shield between the task policy and the simulator.

For each task action it evaluates Q_risk(s, a_task) and sends the simulator a_task, or pi_rec(s) when
the shield is enabled and Q_risk(s, a_task) > eps_risk (``core.shield``; with a warning governor c * a_task
instead, below). A lookahead checkpoint (``mesa-ros
lookahead``) makes it the model-lookahead shield instead (``core.lookahead``): the risk is the share of model
rollouts of the task policy that fall (by default, of the most pessimistic ensemble member's), the override the
least risky action near a_task, searched within
``decision_budget_ms`` (the graph sets 70% of the control period in realtime); with a risk governor
(``risk_budget`` or the checkpoint's ``governor.budget``; ``core.governor``) the gait is slowed, c * a_task, to the
fastest gait whose model risk over a window meets the budget (c in ``/diagnostics`` as ``action_scale``, the last
window's mean risk, per gait of the model rule's grid, as ``governor_window_risk``). A critic with a warning
governor (``risk_budget`` or the checkpoint's ``critic_governor.budget``; ``core.shield_rule.govern``) slows the
gait instead of overriding: c stepped on the share of its warnings per window. With a ``lookahead_checkpoint``
beside the critic the two are stacked (``core.stacked``): the critic's warning governor sets c, the lookahead's eps
rule decides on c * a_task (its risk and eps_risk are the ones published), and weights from the adaptation node
replace the part they hold. The
command carries the executed action in ``effort`` and the task action in ``position``. Risk and override go out
per step; ``/diagnostics`` summarises. The shield is switched with ``~/enable`` (std_srvs/SetBool); new
critic/recovery weights arrive on the latched weights topic (a safetensors checkpoint as
std_msgs/UInt8MultiArray) or are reloaded from the ``checkpoint`` file with ``~/reload``.

``interface: ros2_control`` makes it a safety filter between any controller and any robot that speak
ros2_control's conventions: it reads the robot's ``sensor_msgs/JointState`` (``joint_states_topic``, joints
mapped by name: ``core.joint_map``), takes the task controller's ``std_msgs/Float64MultiArray`` commands
(``command_in_topic``, values in ``command_joints`` order) and publishes the command or the recovery override
on ``command_out_topic`` (the hardware-side forward command controller, e.g. an effort controller). It fails
safe: with no joint state younger than ``max_state_age_s``, a joint state that lacks a model joint, or a
command with the wrong length or NaN, it publishes ``safe_action`` (counted and shown in ``/diagnostics``).
"""
from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict, deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, UInt8MultiArray
from std_srvs.srv import SetBool, Trigger

from mesa_ros import wire
from mesa_ros.core import checkpoint, health
from mesa_ros.core.config import stored_config
from mesa_ros.core.governor import RiskGovernor
from mesa_ros.core.inference import FrozenCritic, FrozenShield, frozen_guard
from mesa_ros.core.joint_map import JointMap
from mesa_ros.core.lookahead import ModelLookahead
from mesa_ros.core.stacked import StackedShield
from mesa_ros.envs import env_class, model_joint_names
from mesa_ros.nodes import msgs, qos
from mesa_ros.nodes.defaults import default_checkpoint
from mesa_ros.nodes.params import check_range, declare, validator
from mesa_ros.nodes.runner import run_node
from mesa_ros.nodes.start_gate import StartGate

STATES_KEPT = 64  # states awaiting their task action (the policy answers within a step or two)


def _kind(shield: FrozenShield | ModelLookahead | None) -> str:
    """What a checkpoint's shield is: a "lookahead" (its model) or a "critic" (with or without pi_rec)."""
    return "lookahead" if isinstance(shield, ModelLookahead) else "critic"


def _check_risk_budget(value: float) -> str | None:
    """-1 (the checkpoint's) or a budget in [0, 1]."""
    return None if value == -1.0 or 0.0 <= value <= 1.0 else f"risk_budget must be -1 or in [0, 1], got {value}"


def _trim(store: OrderedDict) -> None:
    while len(store) > STATES_KEPT:
        store.popitem(last=False)


def _same(a: tuple, b: tuple) -> bool:
    """Equal decision keys (stamp, observation, weights version, settings changes)."""
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


class SafetyMonitorNode(Node):
    def __init__(self) -> None:
        super().__init__("safety_monitor")
        self.env = declare(self, "env", "HalfCheetah-Disabled", "environment (paper name)", read_only=True)
        declare(self, "checkpoint", "", "critic (+ recovery) checkpoint file for start-up and ~/reload; "
                "'' = the shipped default")
        self.stack_file = declare(self, "lookahead_checkpoint", "", "a lookahead checkpoint (mesa-ros lookahead) "
                                  "stacked on the critic: its warning governor sets the gait c, the lookahead decides "
                                  "on c * a_task (core/stacked.py); loaded with checkpoint at start-up and ~/reload; "
                                  "'' = none", read_only=True)
        self.enabled = declare(
            self, "enabled", False, "start with the shield enabled (needs a recovery policy)", read_only=True
        )
        self.eps_override = declare(self, "eps_risk", -1.0, "override when Q_risk(s, a_task) > eps_risk (a "
                                    "lookahead, also stacked: its model's risk); -1 = the checkpoint config's value "
                                    "(paper: 0.1 HalfCheetah)", low=-1.0, high=1.0)
        self.budget_ms = declare(self, "decision_budget_ms", 0.0, "lookahead: time for one decision; it searches "
                                 "its candidates in batches until the next would end past this and decides among "
                                 "those tried (realtime: below the control period). 0: every candidate (lockstep: "
                                 "load-independent)", low=0.0, high=10_000.0)
        self.risk_budget = declare(self, "risk_budget", -1.0, "the governor's budget; lookahead: the mean model "
                                   "risk per window a gait c * a_task may have (the fastest within it runs); a critic: "
                                   "the share of warnings per window above which the gait slows; 0 = no governor, "
                                   "-1 = the checkpoint config's value", low=-1.0, high=1.0)
        self.noise = declare(
            self, "recovery_noise", True, "add pi_rec's N(0, 0.01^2) exploration noise (paper)", read_only=True
        )
        self.seed = declare(self, "seed", 0, "seed of the recovery noise", low=0, high=2**31 - 1, read_only=True)
        self.interface = declare(self, "interface", "native", "native: the simulator's stamped topics; "
                                 "ros2_control: filter Float64MultiArray commands against /joint_states",
                                 choices=("native", "ros2_control"), read_only=True)
        self.add_on_set_parameters_callback(validator({"eps_risk": check_range("eps_risk", -1.0, 1.0),
                                                       "decision_budget_ms": check_range("decision_budget_ms", 0.0,
                                                                                         10_000.0),
                                                       "risk_budget": _check_risk_budget},
                                                      apply=self._on_params))
        self.observation_from = env_class(self.env).observation_from
        self.names = list(env_class(self.env).actuator_names)
        self.obs_dim = env_class(self.env).observation_size
        self.critic: FrozenCritic | None = None
        self.shield: FrozenShield | ModelLookahead | StackedShield | None = None
        self.parts: dict[str, tuple] = {}  # stacked: "critic" / "lookahead" -> (shield, config, Q_risk, its eps_risk)
        self.weights_version, self.weights_source, self.weights_error = 0, "none", ""
        self.weights_id = 0  # the sender's id of the weights in use (adaptation node); 0 = from a file
        self._install(self._load_files())
        if self.enabled and self.shield is None:
            raise ValueError("enabled:=true needs a checkpoint with a recovery policy")

        self.states: OrderedDict[int, np.ndarray] = OrderedDict()
        self.pending: OrderedDict[int, np.ndarray] = OrderedDict()  # task actions whose state has not arrived
        # the last decision: (stamp, observation, weights version, settings_changed) and its command
        self.answered: tuple[tuple[int, np.ndarray, int, int], JointState] | None = None
        self.settings_changed = 0  # counts enable / disable and runtime parameter changes
        self.decisions = self.overrides = 0
        self.recent: deque[bool] = deque(maxlen=200)
        self.recent_risk: deque[float] = deque(maxlen=200)
        self.recent_scale: deque[float] = deque(maxlen=200)  # the governor's c of each decision
        self.latency_us: deque[float] = deque(maxlen=2000)  # task action in -> command published, in this node
        self.last_risk = float("nan")
        # ros2_control: commands answered with safe_action (stale_state, bad_command), unusable joint states
        self.failed_safe: dict[str, int] = {"stale_state": 0, "bad_state": 0, "bad_command": 0}
        self.failed_safe_reported = 0
        self.input_error = ""  # the last reason for failing safe (ERROR in /diagnostics for a bad joint state)
        if self.interface == "ros2_control":
            self._declare_filter()
        self.pub_command = self.create_publisher(JointState, wire.COMMAND, qos.STREAM_PUB)
        self.pub_risk = self.create_publisher(JointState, wire.RISK, qos.STREAM_PUB)
        self.pub_diag = self.create_publisher(DiagnosticArray, wire.DIAGNOSTICS, 10)
        self.create_service(SetBool, wire.service(wire.PRIVATE, wire.ENABLE_SHIELD), self._on_enable)
        self.create_service(Trigger, wire.service(wire.PRIVATE, wire.RELOAD_WEIGHTS), self._on_reload)
        self.create_timer(1.0, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"eps_risk={self.eps_risk}, shield {'enabled' if self.enabled else 'disabled'}, "
                               f"weights: {self.weights_source}")
        StartGate(self, self._start)

    def _start(self) -> None:
        """Inputs once the command's and risk's awaited subscribers (simulator, recorder) are matched."""
        self.create_subscription(UInt8MultiArray, wire.WEIGHTS, self._on_weights, qos.WEIGHTS)
        if self.interface == "ros2_control":
            self.create_subscription(
                JointState, self.filter_topics["joint_states"], self._on_joint_states, qos.CONTROL_SUB
            )
            self.create_subscription(
                Float64MultiArray, self.filter_topics["command_in"], self._on_command, qos.CONTROL_SUB
            )
            return
        self.create_subscription(JointState, wire.TASK_ACTION, self._on_task_action, qos.LOGGER_SUB)
        self.create_subscription(JointState, wire.STATE, self._on_state, qos.LOGGER_SUB)

    # -- ros2_control: a filter between any controller and any robot ----------------------------------
    def _declare_filter(self) -> None:
        self.filter_topics = {
            "joint_states": declare(self, "joint_states_topic", wire.JOINT_STATES, "ros2_control: the robot's "
                                    "sensor_msgs/JointState (every model joint, any order, extra joints ignored)",
                                    read_only=True),
            "command_in": declare(self, "command_in_topic", wire.TASK_COMMANDS, "ros2_control: the task "
                                  "controller's std_msgs/Float64MultiArray commands", read_only=True),
            "command_out": declare(self, "command_out_topic", "/effort_controller/commands", "ros2_control: the "
                                   "hardware-side forward command controller's input", read_only=True)}
        joints = declare(self, "command_joints", [""], "ros2_control: the controllers' joint order ([''] = the "
                         "model's actuator order)", read_only=True)
        self.jmap = JointMap(model_joint_names(self.env), self.names, [j for j in joints if j] or None)
        self.max_state_age_ns = int(1e9 * declare(self, "max_state_age_s", 0.2, "ros2_control: a joint state older "
                                                  "than this (ROS time) is stale: fail safe", low=0.0, high=60.0,
                                                  read_only=True))
        safe = declare(self, "safe_action", [0.0] * len(self.names), "ros2_control: the command published when "
                       "failing safe (controller order)", read_only=True)
        self.safe_command = np.asarray(safe, dtype=np.float64)
        self.jmap.command_to_env(self.safe_command)  # the right length and finite, or a start-up error
        self.latest: tuple[int, int, np.ndarray] | None = None  # (state stamp, receive time, observation)
        self.pub_filtered = self.create_publisher(Float64MultiArray, self.filter_topics["command_out"], qos.STREAM_PUB)

    def _on_joint_states(self, msg: JointState) -> None:
        try:
            qpos, qvel = self.jmap.state(msg.name, msg.position, msg.velocity)
        except ValueError as exc:
            if str(exc) != self.input_error:
                self.get_logger().error(f"joint state unusable, failing safe: {exc}")
            self.input_error, self.latest = str(exc), None
            self.failed_safe["bad_state"] += 1
            return
        self.input_error = ""
        now = self.get_clock().now().nanoseconds
        self.latest = (wire.stamp_ns(msg.header.stamp), now, self.observation_from(qpos, qvel).astype(np.float32))

    def _on_command(self, msg: Float64MultiArray) -> None:
        received = time.perf_counter()
        try:
            a_task = self.jmap.command_to_env(msg.data)
        except ValueError as exc:
            self.get_logger().error(f"command rejected, failing safe: {exc}")
            self.failed_safe["bad_command"] += 1
            self.pub_filtered.publish(Float64MultiArray(data=self.safe_command.tolist()))
            return
        if self.latest is None or self.get_clock().now().nanoseconds - self.latest[1] > self.max_state_age_ns:
            self.failed_safe["stale_state"] += 1  # no usable joint state, or none recent enough
            self.pub_filtered.publish(Float64MultiArray(data=self.safe_command.tolist()))
            return
        stamp, _, obs = self.latest
        a_exec, _ = self._shield(stamp, obs, a_task)
        self.pub_filtered.publish(Float64MultiArray(data=self.jmap.env_to_command(a_exec).tolist()))
        self.latency_us.append((time.perf_counter() - received) * 1e6)

    # -- the shield ------------------------------------------------------------------------------
    def _on_state(self, msg: JointState) -> None:
        # an episode's last state: the simulator resets at once and wants no command; no decision either (whether
        # one came before the reset state arrived depended on timing, and each one moves the governor's windows)
        if msg.header.frame_id == wire.STATE_TERMINAL:
            return
        received = time.perf_counter()
        stamp, position, velocity = wire.parse_state(msg)
        self.states[stamp] = self.observation_from(position, velocity).astype(np.float32)
        _trim(self.states)
        if stamp in self.pending:  # the task action overtook its state (two publishers, no ordering)
            self._decide(stamp, self.pending.pop(stamp), received)

    def _on_task_action(self, msg: JointState) -> None:
        received = time.perf_counter()
        stamp, a_task, _ = wire.parse_action(msg)
        if not np.all(np.isfinite(a_task)) or a_task.shape != (len(self.names),):
            self.get_logger().error(f"invalid task action for {stamp} ns rejected: {a_task.tolist()}")
            return
        if stamp not in self.states:
            self.pending[stamp] = a_task
            _trim(self.pending)
            return
        self._decide(stamp, a_task, received)

    def _decide(self, stamp: int, a_task: np.ndarray, received: float) -> None:
        """The eps_risk rule for one state; publishes the command (timed from ``received``) and the risk. A state
        decided last and published again (the lockstep simulator re-publishes a state it has no command for) gets
        that command again, not a new decision, unless the weights, the shield's state or a parameter changed: a monitor
        slower than the re-publishing would otherwise spend its time on the re-published copies queued behind it
        and never catch up."""
        obs = self.states[stamp]
        key = (stamp, obs, self.weights_version, self.settings_changed)
        if self.answered is not None and _same(self.answered[0], key):
            self.pub_command.publish(self.answered[1])
            return
        a_exec, _ = self._shield(stamp, obs, a_task)
        command = msgs.action_msg(stamp, self.names, a_exec, a_task)
        self.pub_command.publish(command)
        self.answered = (key, command)
        self.latency_us.append((time.perf_counter() - received) * 1e6)

    def _shield(self, stamp: int, obs: np.ndarray, a_task: np.ndarray) -> tuple[np.ndarray, bool]:
        """(a_exec, overridden) by the eps_risk rule; counts the decision and publishes the risk, stamped ``stamp``."""
        a_exec, overridden, risk = a_task, False, float("nan")
        scale = 1.0
        if self.shield is not None and self.enabled:
            scale = self.shield.scale
            slowed = scale != 1.0  # a governor's c * a_task
            decision = self.shield(obs, a_task)
            overridden, risk = decision.overridden, decision.risk
            if overridden or slowed:  # else a_task exactly as received
                a_exec = decision.action.astype(np.float64)
        elif self.shield is not None:  # disabled: the risk alone (no recovery action, no search)
            risk = self.shield.risk_of(obs, a_task.astype(np.float32))
        elif self.critic is not None:  # critic only (e.g. meta-trained, before phase 2): report the risk
            risk = self.critic(obs, a_task.astype(np.float32))
        self.decisions += 1
        self.overrides += overridden
        self.recent.append(overridden)
        self.recent_risk.append(risk)
        self.recent_scale.append(scale)
        self.last_risk = risk
        self.pub_risk.publish(msgs.values_msg(stamp, wire.Risk(risk, overridden, self.eps_risk, self.enabled,
                                                               self.weights_version, self.weights_id).to_values()))
        return a_exec, overridden

    @property
    def eps_risk(self) -> float:
        return self.eps_override if self.eps_override >= 0 else self.cfg_eps

    def _on_params(self, params) -> str | None:
        self.settings_changed += 1
        for p in params:
            if p.name == "eps_risk":
                self.eps_override = p.value
                if self.shield is not None:
                    self.shield.eps_risk = self.eps_risk
            elif p.name == "decision_budget_ms":
                self.budget_ms = p.value
                self._apply_budget()
            elif p.name == "risk_budget":
                self.risk_budget = p.value
                self._apply_governor(self.shield)
        return None

    def _apply_budget(self) -> None:
        if isinstance(self.shield, (ModelLookahead, StackedShield)):
            self.shield.budget_s = self.budget_ms / 1e3 if self.budget_ms > 0 else None

    def _apply_governor(self, previous: FrozenShield | ModelLookahead | StackedShield | None) -> None:
        """The shield's governor (the lookahead's risk governor, ``governor``; a critic's warning governor,
        ``critic_governor``) with the node's budget (if set), c carried over from ``previous`` (new weights of the
        same robot after the same fault do not speed the gait up again; a budget of 0 turns the governor off, c = 1)."""
        if self.shield is None:
            return
        cfg = self.cfg.governor if isinstance(self.shield, ModelLookahead) else self.cfg.critic_governor
        if self.risk_budget >= 0:
            cfg = dataclasses.replace(cfg, budget=self.risk_budget)
        scale = previous.scale if previous is not None and type(previous) is type(self.shield) else 1.0
        self.shield.governor = RiskGovernor.from_config(cfg, scale)

    # -- weights and switching -------------------------------------------------------------------------
    def _checkpoint_path(self) -> str:
        return self.get_parameter("checkpoint").value or str(default_checkpoint(self.env, "safety"))

    def _load_files(self) -> list[tuple[checkpoint.Checkpoint, str]]:
        """The start-up / ``~/reload`` checkpoints: ``checkpoint`` and, stacked, ``lookahead_checkpoint``."""
        paths = [self._checkpoint_path(), *([self.stack_file] if self.stack_file else [])]
        return [(checkpoint.load(path, env=self.env, numpy=True), f"file {path}") for path in paths]

    def _install(self, ckpts: list[tuple[checkpoint.Checkpoint, str]]) -> None:
        """Frozen critic (+ recovery), lookahead or, stacked, the parts the checkpoints hold, from checkpoints read as
        numpy arrays (this node never imports torch) with their own configs: one new weights version. Any mismatch
        raises, changing nothing."""
        parts = dict(self.parts)
        for ckpt, source in ckpts:
            cfg = stored_config(self.env, ckpt.config)
            critic, shield, cfg_eps = frozen_guard(ckpt, source, self.obs_dim, len(self.names), cfg, self.eps_override,
                                                   cfg.recovery.noise_std if self.noise else 0.0,
                                                   self.seed + self.weights_version)
            kind = _kind(shield)
            if not self.stack_file:
                held = _kind(self.shield)
                if source.startswith("topic") and kind != held:  # e.g. from a stacked adaptation node
                    raise ValueError(f"a {kind}'s weights would replace this monitor's {held}: it is not stacked "
                                     "(lookahead_checkpoint is empty); give both nodes the same lookahead_checkpoint")
                parts = {"single": (shield, cfg, critic, cfg_eps)}
                continue
            if kind == "critic" and shield is not None:  # eps_risk (the parameter) is the lookahead's: the critic
                shield.eps_risk = cfg_eps  # warns at its own
            parts[kind] = (shield, cfg, critic, cfg_eps)
        if self.stack_file:
            if set(parts) != {"critic", "lookahead"}:
                raise ValueError(f"a stacked monitor needs a critic and a lookahead checkpoint, got {sorted(parts)}")
            (critic_shield, cfg, critic, cfg_eps), (lookahead, _, _, model_eps) = parts["critic"], parts["lookahead"]
            # a critic without pi_rec (meta-trained only): its risk reported, no shield until weights with one come
            shield = None if critic_shield is None else StackedShield(critic_shield, lookahead)
            cfg_eps = cfg_eps if shield is None else model_eps
        else:
            shield, cfg, critic, cfg_eps = parts["single"]
        if shield is None and self.enabled:
            raise ValueError("these weights have no recovery policy; disable the shield first")
        previous = self.shield
        self.parts = parts if self.stack_file else {}
        self.critic, self.shield, self.cfg_eps, self.cfg = critic, shield, cfg_eps, cfg
        if isinstance(shield, StackedShield):  # the parameter as it is now (the lookahead part may be older)
            shield.eps_risk = self.eps_risk
        self._apply_budget()
        self._apply_governor(previous)
        self.weights_version += 1
        ckpt, source = ckpts[-1]
        self.weights_id = int(ckpt.extra.get("weights_id", 0)) if source.startswith("topic") else 0
        self.weights_source, self.weights_error = " + ".join(source for _, source in ckpts), ""
        self.get_logger().info(f"weights v{self.weights_version} from {self.weights_source}")

    def _on_weights(self, msg: UInt8MultiArray) -> None:
        source = f"topic {wire.WEIGHTS} ({len(msg.data)} bytes)"
        try:
            self._install([(checkpoint.from_bytes(bytes(msg.data), source=source, env=self.env, numpy=True), source)])
        except ValueError as exc:
            self.weights_error = str(exc)
            self.get_logger().error(f"weights rejected, keeping v{self.weights_version}: {exc}")

    def _on_reload(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        try:
            self._install(self._load_files())
        except (ValueError, FileNotFoundError) as exc:
            res.success, res.message = False, f"reload failed, keeping v{self.weights_version}: {exc}"
            return res
        res.success, res.message = True, f"weights v{self.weights_version} loaded from {self.weights_source}"
        return res

    def _on_enable(self, req: SetBool.Request, res: SetBool.Response) -> SetBool.Response:
        if req.data and self.shield is None:
            res.success, res.message = False, "no recovery policy loaded: send adapted weights first"
            return res
        self.enabled = req.data
        self.settings_changed += 1
        if not self.enabled:  # the robot runs the policy as it is: a later enable starts the governor at c = 1
            self._apply_governor(None)
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
        if self.shield is not None:
            values["action_scale"] = f"{self.shield.scale:.2f}"
            governor = self.shield.governor
            if governor is not None and governor.window_means is not None:  # what the last window's c was chosen on
                gaits = governor.grid if len(governor.grid) else ()
                values["governor_window_risk"] = " ".join(
                    f"{g:.2f}:{r:.4f}" for g, r in zip(gaits, governor.window_means)
                ) or f"{governor.window_means[0]:.4f}"
        if self.latency_us:
            p50, p99 = np.percentile(self.latency_us, [50, 99])
            values.update(decision_latency_p50_us=f"{p50:.0f}", decision_latency_p99_us=f"{p99:.0f}")
        if self.interface == "ros2_control":
            values.update(interface="ros2_control", **{f"failed_safe_{k}": v for k, v in self.failed_safe.items()})
        answered_safe = self.failed_safe["stale_state"] + self.failed_safe["bad_command"]
        governor = getattr(self.shield, "governor", None)
        level, message = health.monitor(self.enabled, self.shield is not None, self.weights_error, self.recent,
                                        self.recent_risk, self.input_error, answered_safe - self.failed_safe_reported,
                                        self.recent_scale, governor.cfg.min_scale if governor is not None else 0.0)
        self.failed_safe_reported = answered_safe
        self.pub_diag.publish(msgs.diagnostics(self.get_clock().now().to_msg(), "safety_monitor: shield", self.env,
                                               level, message, values))


def main(args: list[str] | None = None) -> int:
    return run_node(SafetyMonitorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
