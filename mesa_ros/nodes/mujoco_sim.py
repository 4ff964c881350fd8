"""``mujoco_sim``: steps a MuJoCo fault environment, publishes /clock and stamped state, hosts the fault services.

Modes: ``lockstep`` (default; each state waits for the command that answers it: exact and
reproducible, as fast as the graph allows) and ``realtime`` (fixed rate; when no command answers the
current state in time the safe default action is applied and counted as stale). With
``lockstep_sync_adaptation`` the lockstep loop also waits for the adaptation node's ack of each step
(``core.lockstep``), so that its collection, phase 2 and arming take the same sim steps on any machine.
In both, the first state goes out only when the ``wait_for_subscribers`` are matched (``start_gate``: the
bag recorder and the nodes that answer each state), so a recording holds every step from step 0.

Faults: at once by service (``~/faults/<joint>/power_loss``, ``~/faults/clear``, ``~/faults/random``)
or the ``fault.joints`` parameter, or scheduled exactly: ``fault.scheduled_joints`` lose power (to
``fault.power_scale``) just before control step ``fault.scheduled_step`` (counted from 0 on this node's
own steps), so the transition with that index is the first one under the fault, in either mode.

``interface: ros2_control`` (realtime only) makes it speak a ros2_control robot's conventions as well: the
state also goes out as ``sensor_msgs/JointState`` on ``joint_states_topic`` and the commands come in as
``std_msgs/Float64MultiArray`` on ``command_topic`` (joint order ``command_joints``), each applied to the
state that is current when it arrives (the message carries no stamp). The native state, step, episode and
fault topics stay, so the adaptation node and the bag recorder work unchanged.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from std_srvs.srv import SetBool, Trigger

from mesa_ros import wire
from mesa_ros.core import health
from mesa_ros.core.joint_map import JointMap
from mesa_ros.core.lockstep import AdaptationSync
from mesa_ros.envs.base import check_action
from mesa_ros.envs.faults import check_power_scale
from mesa_ros.envs.session import SimSession, StampedState, StepOutcome
from mesa_ros.nodes import msgs, qos
from mesa_ros.nodes.params import check_by, check_choice, declare, validator
from mesa_ros.nodes.runner import run_node
from mesa_ros.nodes.start_gate import StartGate

MODES = ("lockstep", "realtime")
SPLITS = ("train", "test")


class MujocoSimNode(Node):
    """Simulator node; the graph's clock source."""

    def __init__(self) -> None:
        super().__init__("mujoco_sim")
        env = declare(self, "env", "HalfCheetah-Disabled", "environment (paper name)", read_only=True)
        self.mode = declare(self, "mode", "lockstep", "lockstep: wait for each command; realtime: fixed rate",
                            choices=MODES, read_only=True)
        rate_hz = declare(
            self,
            "rate_hz",
            20.0,
            "realtime mode: control rate in Hz (wall clock)",
            low=0.1,
            high=2000.0,
            read_only=True,
        )
        seed = declare(
            self,
            "seed",
            0,
            "seed of the first episode's reset and of random fault draws",
            low=0,
            high=2**31 - 1,
            read_only=True,
        )
        horizon = declare(
            self, "max_episode_steps", 1000, "episode horizon (truncation)", low=1, high=10**7, read_only=True
        )
        terminate = declare(
            self, "terminate_on_violation", True, "end the episode on a constraint violation (paper)", read_only=True
        )
        self.max_steps = declare(
            self,
            "max_steps",
            0,
            "stop the node after this many control steps (0: never)",
            low=0,
            high=10**9,
            read_only=True,
        )
        self.steps_after_shield = declare(self, "max_steps_after_shield", 0, "stop the node this many control steps "
                                          "after the first state the shield decided on (0: never): a run of fixed "
                                          "length after the shield comes on, whatever the machine load",
                                          low=0, high=10**9, read_only=True)
        republish = declare(self, "lockstep_republish_s", 0.5,
                            "lockstep: re-publish the awaited state after this many wall seconds without its command",
                            low=0.01, high=60.0, read_only=True)
        sync = declare(self, "lockstep_sync_adaptation", False, "lockstep: apply each command only once the "
                       f"adaptation node has acknowledged the step before it ({wire.ADAPTATION_ACK}): collection, "
                       "phase 2 and arming take the same sim steps on any machine", read_only=True)
        sync_timeout = declare(self, "lockstep_sync_timeout_s", 120.0, "lockstep_sync_adaptation: go ahead after "
                               "this many wall seconds without the ack (counted and warned)", low=0.1, high=3600.0,
                               read_only=True)
        declare(self, wire.POWER_SCALE, 0.0, "power left on a joint faulted by a power_loss service or fault.joints "
                "(0: total loss, 0.5: half power)", low=0.0, high=1.0)
        declare(
            self,
            wire.FAULT_JOINTS,
            [""],
            "joints currently faulted; setting it injects exactly these faults ([''] "
            "or []: none), each at fault.power_scale or at its entry of fault.power_scales",
        )
        declare(self, wire.POWER_SCALES, [-1.0], "power left per entry of fault.joints, for a compound fault: "
                "applies to the request that sets it (with fault.joints atomically, or alone for the joints listed "
                "now); [-1.0]: fault.power_scale for every joint")
        declare(
            self,
            wire.FAULT_DISTRIBUTION,
            "test",
            "distribution of ~/faults/random: train or test (paper)",
            choices=SPLITS,
        )
        declare(self, wire.FAULT_PARTIAL, False, "~/faults/random draws a partial loss k ~ U(0.5, 0.95) instead of 0")
        self.scheduled_step = declare(self, wire.SCHEDULED_STEP, -1, "control step (from 0, this node's count) "
                                      "just before which fault.scheduled_joints lose power (-1: none)",
                                      low=-1, high=10**9)
        self.scheduled_joints = [j for j in declare(self, wire.SCHEDULED_JOINTS, [""], "joints that lose power "
                                                    "(to fault.power_scale) at fault.scheduled_step") if j]

        self.interface = declare(self, "interface", "native", "native: stamped JointState commands on "
                                 f"{wire.COMMAND}; ros2_control: also /joint_states out, Float64MultiArray "
                                 "commands in (realtime only)", choices=("native", "ros2_control"), read_only=True)
        if self.interface == "ros2_control" and self.mode != "realtime":
            raise ValueError("interface ros2_control needs mode realtime: Float64MultiArray commands carry no stamp "
                             "to wait for in lockstep")
        if sync and self.mode != "lockstep":
            raise ValueError("lockstep_sync_adaptation needs mode lockstep: in realtime the robot does not wait")
        self.sync = AdaptationSync(sync_timeout) if sync else None
        self.session = SimSession(env, seed=seed, max_episode_steps=horizon, terminate_on_violation=terminate)
        self.rng = np.random.default_rng(seed)
        nu = len(self.session.actuator_names)
        safe_action = declare(self, "safe_action", [0.0] * nu, "realtime: command applied when none answers the "
                              "current state (runtime: takes effect at the next stale step)")
        if error := self._check_safe_action(safe_action):
            raise ValueError(error)
        self.safe_action = np.asarray(safe_action, dtype=np.float64)
        self.steps = self.stale = self.stale_reported = 0
        self.shielded_steps: int | None = None  # control steps since the shield's first decision
        self.done = False
        self._syncing = False
        if error := self._check_schedule(self.scheduled_step, self.scheduled_joints):
            raise ValueError(error)
        self.add_on_set_parameters_callback(validator(
            {wire.FAULT_DISTRIBUTION: check_choice(wire.FAULT_DISTRIBUTION, SPLITS),
             wire.POWER_SCALE: check_by(partial(check_power_scale, wire.POWER_SCALE)),
             "safe_action": self._check_safe_action},
            apply=self._on_params))

        self.pub_clock = self.create_publisher(ClockMsg, wire.CLOCK, qos.CLOCK)
        self.pub_state = self.create_publisher(JointState, wire.STATE, qos.STREAM_PUB)
        self.pub_step = self.create_publisher(JointState, wire.STEP, qos.STREAM_PUB)
        self.pub_episode = self.create_publisher(JointState, wire.EPISODE, qos.STREAM_PUB)
        self.pub_fault_state = self.create_publisher(JointState, wire.FAULT_STATE, qos.LATCHED)
        self.pub_fault_event = self.create_publisher(Header, wire.FAULT_EVENT, qos.LATCHED)
        self.pub_diag = self.create_publisher(DiagnosticArray, wire.DIAGNOSTICS, 10)
        if self.interface == "ros2_control":
            joint_states = declare(self, "joint_states_topic", wire.JOINT_STATES, "ros2_control: where the state goes "
                                   "out as sensor_msgs/JointState", read_only=True)
            command = declare(self, "command_topic", "/effort_controller/commands", "ros2_control: the "
                              "Float64MultiArray commands applied", read_only=True)
            joints = declare(self, "command_joints", [""], "ros2_control: the command's joint order ([''] = the "
                             "actuators')", read_only=True)
            self.jmap = JointMap(
                self.session.joint_names, self.session.actuator_names, [j for j in joints if j] or None
            )
            self.pub_joint_states = self.create_publisher(JointState, joint_states, qos.STREAM_PUB)
            self.create_subscription(Float64MultiArray, command, self._on_array_command, qos.CONTROL_SUB)
        else:
            self.create_subscription(JointState, wire.COMMAND, self._on_command, qos.CONTROL_SUB)
        self.create_subscription(JointState, wire.RISK, self._on_risk, qos.CONTROL_SUB)
        if self.sync is not None:
            self.create_subscription(Header, wire.ADAPTATION_ACK, self._on_ack, qos.LOGGER_SUB)  # none dropped
        for joint in self.session.actuator_names:
            self.create_service(SetBool, wire.power_loss_service(wire.PRIVATE, joint),
                                lambda req, res, j=joint: self._on_power_loss(j, req, res))
        self.create_service(Trigger, wire.service(wire.PRIVATE, wire.CLEAR_FAULTS), self._on_clear)
        self.create_service(Trigger, wire.service(wire.PRIVATE, wire.RANDOM_FAULT), self._on_random)

        self.latest_command: tuple[int, np.ndarray] | None = None
        self.state_since: float | None = None  # lockstep: when the current state was first published (monotonic s)
        self.published_stamp = -1  # the stamp of the state published last (not counting terminal ones)
        self.stall_reported = 0.0  # lockstep: the wait last reported in the log (s)
        self.period_s = republish if self.mode == "lockstep" else 1.0 / rate_hz
        self.create_timer(1.0, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"{env}: {self.mode} mode, actuators {list(self.session.actuator_names)}")
        StartGate(self, self._start)

    def _start(self) -> None:
        """The first state (and the control timer) once the awaited subscribers are matched."""
        tick = self._republish if self.mode == "lockstep" else self._realtime_tick
        self.create_timer(self.period_s, tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._publish_fault_state()
        self._publish_state(self.session.state)

    # -- control loop ----------------------------------------------------------------------------
    def _on_command(self, msg: JointState) -> None:
        stamp, action, _ = wire.parse_action(msg)
        if stamp != self.session.state.stamp_ns:
            return  # answers an older state (or a terminal one): nothing to apply
        if self.mode == "realtime":
            self.latest_command = (stamp, action)
            return
        if self.sync is not None and (action := self.sync.command(action, time.monotonic())) is None:
            return  # held until the adaptation node has taken the last step in
        self._apply(action)

    def _on_ack(self, msg: Header) -> None:
        held, ask_again = self.sync.ack(wire.stamp_ns(msg.stamp), msg.frame_id == wire.ACK_RESYNC)
        if held is not None:
            self._apply(held)
        elif ask_again:  # the graph changed while it waited (weights, shield): the state's command anew
            self._restart_wait()
            self._publish_state(self.session.state)

    def _on_array_command(self, msg: Float64MultiArray) -> None:
        """ros2_control: a command for the state that is current now (applied at the next tick)."""
        try:
            self.latest_command = (self.session.state.stamp_ns, self.jmap.command_to_env(msg.data))
        except ValueError as exc:
            self.get_logger().error(f"command rejected: {exc}")

    def _on_risk(self, msg: JointState) -> None:
        """Count from the first state the shield decided on (``max_steps_after_shield``)."""
        stamp, values = wire.parse_values(msg)
        if self.shielded_steps is None and wire.Risk.from_values(values).shield_enabled:
            # that state is the current one (its command not applied yet) or the one just applied
            self.shielded_steps = int(stamp < self.session.state.stamp_ns)

    def _realtime_tick(self) -> None:
        command = self.latest_command
        if command is None or command[0] != self.session.state.stamp_ns:
            self.stale += 1
            self._apply(self.safe_action, stale=True)
        else:
            self._apply(command[1])

    def _republish(self) -> None:
        waiting = self.waiting_s
        if waiting >= health.STALL_S and waiting >= 2 * self.stall_reported:  # after 10, 20, 40, ... s
            self.stall_reported = waiting
            self.get_logger().error(f"{health.simulator(0, self.mode, waiting)[1]}; re-published it "
                                    f"{int(waiting / self.period_s)} times (step {self.steps})")
        if self.sync is not None and (held := self.sync.expire(time.monotonic())) is not None:
            self.get_logger().warning(f"no ack from the adaptation node for {self.sync.timeout_s:.0f} s: step "
                                      f"{self.steps} goes ahead ({self.sync.timeouts} time(s))")
            self._apply(held)
            return
        self._publish_state(self.session.state)

    def _apply(self, action: np.ndarray, stale: bool = False) -> None:
        if self.done:
            return
        if self.steps == self.scheduled_step:
            self._fire_schedule()
        key = self.session.state.stamp_ns
        try:
            outcome = self.session.step(action)
        except ValueError as exc:  # e.g. a NaN command: rejected, state unchanged, loop keeps waiting
            self.get_logger().error(f"command for stamp {key} rejected: {exc}")
            return
        if self.sync is not None:
            self.sync.applied(key)
        self.steps += 1
        self._publish_outcome(outcome, stale)
        if self.shielded_steps is not None:
            self.shielded_steps += 1
        if self.max_steps and self.steps >= self.max_steps:
            self.get_logger().info(f"max_steps={self.max_steps} reached; stopping")
            self.done = True
        elif self.steps_after_shield and (self.shielded_steps or 0) >= self.steps_after_shield:
            self.get_logger().info(f"max_steps_after_shield={self.steps_after_shield} reached (step {self.steps}); "
                                   "stopping")
            self.done = True

    def _publish_outcome(self, out: StepOutcome, stale: bool) -> None:
        step = wire.Step(out.reward, out.cost, out.terminated, out.truncated, out.next_state.episode,
                         out.next_state.step - 1, out.next_state.stamp_ns, stale,
                         dict(zip(self.session.actuator_names, out.action.tolist())))
        self.pub_step.publish(msgs.values_msg(out.stamp_ns, step.to_values()))
        self._publish_state(out.next_state, terminal=out.reset_state is not None)
        if out.finished_episode is not None:
            ep = out.finished_episode
            self.pub_episode.publish(msgs.values_msg(out.next_state.stamp_ns, wire.Episode(
                ep.episode, ep.steps, ep.episode_return, ep.violations, ep.ended_by == "violation").to_values()))
            self.get_logger().info(f"episode {ep.episode}: {ep.steps} steps, return {ep.episode_return:.1f}, "
                                   f"violations {ep.violations} ({ep.ended_by})")
        if out.reset_state is not None:
            self._publish_state(out.reset_state)

    def _restart_wait(self) -> None:
        """The current state's wait for its command starts (again) now."""
        self.state_since, self.stall_reported = time.monotonic(), 0.0

    @property
    def waiting_s(self) -> float:
        """Lockstep: seconds the current state has waited for its command (0 in realtime, when done, and while its
        command is held for the adaptation node's ack: that wait has its own timeout)."""
        if self.mode != "lockstep" or self.done or self.state_since is None:
            return 0.0
        if self.sync is not None and self.sync.waiting_since is not None:
            return 0.0
        return time.monotonic() - self.state_since

    def _publish_state(self, state: StampedState, terminal: bool = False) -> None:
        if not terminal and state.stamp_ns != self.published_stamp:  # a new state: its wait starts
            self.published_stamp = state.stamp_ns
            self._restart_wait()
        clock = ClockMsg()
        clock.clock = msgs.to_stamp(state.stamp_ns)
        self.pub_clock.publish(clock)
        message = msgs.state_msg(state.stamp_ns, self.session.joint_names, state.position, state.velocity, state.effort,
                                 terminal)
        self.pub_state.publish(message)
        if self.interface == "ros2_control":
            self.pub_joint_states.publish(message)

    # -- faults ------------------------------------------------------------------------------------
    def _on_power_loss(self, joint: str, req: SetBool.Request, res: SetBool.Response) -> SetBool.Response:
        scale = self.get_parameter(wire.POWER_SCALE).value if req.data else 1.0
        return self._fault_change(res, lambda: self.session.set_power_scale(joint, scale),
                                  f"{joint} power scale set to {scale:g}")

    def _on_clear(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        return self._fault_change(res, self.session.clear_faults, "all faults cleared")

    def _on_random(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        split, partial = self.get_parameter(wire.FAULT_DISTRIBUTION).value, self.get_parameter(wire.FAULT_PARTIAL).value
        drawn = {}
        return self._fault_change(res, lambda: drawn.update(self.session.draw_fault(split, self.rng, partial)),
                                  lambda: f"drew {split} fault {drawn.get('power_scale', drawn)}")

    def _fault_change(self, res, change: Callable[[], object], message: str | Callable[[], str]):
        """Apply ``change``; announce it (fault event, log) only if a power scale actually changed."""
        try:
            changed = self._changes_power(change)
        except ValueError as exc:
            res.success, res.message = False, str(exc)
            return res
        message = message() if callable(message) else message
        if not changed:  # nothing changed: no fault event, nothing to adapt to
            res.success, res.message = True, f"{message} (no change: the power scales were already so)"
            return res
        self._after_fault_change()
        res.success, res.message = True, message
        self.get_logger().warning(f"fault change at sim time {self.session.state.stamp_ns / 1e9:.2f}s: {message}")
        return res

    def _check_schedule(self, step: int, joints: list[str]) -> str | None:
        unknown = [j for j in joints if j not in self.session.actuator_names]
        if unknown:
            return (f"fault.scheduled_joints: unknown joint(s) {unknown}; "
                    f"actuated joints are {list(self.session.actuator_names)}")
        if step >= 0 and step < self.steps:
            return f"fault.scheduled_step {step} has passed: the simulator is at step {self.steps}"
        return None

    def _fire_schedule(self) -> None:
        scale = self.get_parameter(wire.POWER_SCALE).value
        joints = self.scheduled_joints

        def change() -> None:
            for joint in joints:
                self.session.set_power_scale(joint, scale)
        if joints:
            self._fault_change(SetBool.Response(), change, f"scheduled fault at step {self.steps}: "
                               f"{', '.join(joints)} power scale set to {scale:g}")
        else:
            self.get_logger().warning(f"fault.scheduled_step {self.steps} reached with no fault.scheduled_joints: "
                                      "nothing changed")
        self.scheduled_step = -1
        self._mirror(Parameter(wire.SCHEDULED_STEP, Parameter.Type.INTEGER, -1))

    def _mirror(self, param: Parameter) -> None:
        """Show a change the node made itself in its parameter, bypassing the request handling of ``_on_params``."""
        self._syncing = True
        try:
            self.set_parameters([param])
        finally:
            self._syncing = False

    def _changes_power(self, change: Callable[[], object]) -> bool:
        """Run ``change`` (a ``ValueError`` changes nothing); whether any power scale differs afterwards."""
        before = tuple(self.session.power_scale)
        change()
        return tuple(self.session.power_scale) != before

    def _check_safe_action(self, value) -> str | None:
        space = self.session.env.action_space
        try:
            action = check_action(value, space)
        except ValueError as exc:
            return f"safe_action: {exc}"
        if np.any(action < space.low) or np.any(action > space.high):
            return (f"safe_action {action.tolist()} outside the action bounds "
                    f"[{space.low.min():g}, {space.high.max():g}]")
        return None

    def _on_params(self, params: list[Parameter]) -> str | None:
        if self._syncing:
            return None
        values = {p.name: p.value for p in params}
        step = values.get(wire.SCHEDULED_STEP, self.scheduled_step)
        scheduled = [j for j in values.get(wire.SCHEDULED_JOINTS, self.scheduled_joints) or [] if j]
        if error := self._check_schedule(step, scheduled):
            return error
        if wire.FAULT_JOINTS in values or wire.POWER_SCALES in values:
            joints = [
                j for j in (values.get(wire.FAULT_JOINTS, self.get_parameter(wire.FAULT_JOINTS).value) or []) if j
            ]
            scales = list(values.get(wire.POWER_SCALES) or [-1.0])  # per joint only in the request that sets it
            if scales == [-1.0]:
                scales = values.get(wire.POWER_SCALE, self.get_parameter(wire.POWER_SCALE).value)
            try:
                if self._changes_power(lambda: self.session.set_faults(joints, scales)):
                    self._after_fault_change(sync=False)
            except ValueError as exc:
                return str(exc)
        self.scheduled_step, self.scheduled_joints = step, scheduled
        if "safe_action" in values:
            self.safe_action = np.asarray(values["safe_action"], dtype=np.float64)
        return None

    def _after_fault_change(self, sync: bool = True) -> None:
        faulted = list(wire.faulted(dict(zip(self.session.actuator_names, self.session.power_scale))))
        if sync:
            self._mirror(Parameter(wire.FAULT_JOINTS, Parameter.Type.STRING_ARRAY, faulted or [""]))
        event = Header(stamp=msgs.to_stamp(self.session.state.stamp_ns),
                       frame_id=wire.EVENT_FAULT if faulted else wire.EVENT_CLEAR)
        self.pub_fault_event.publish(event)
        self._publish_fault_state()

    def _publish_fault_state(self) -> None:
        """Ground truth for evaluation and logging only: no learning node subscribes to it."""
        self.pub_fault_state.publish(msgs.values_msg(
            self.session.state.stamp_ns, dict(zip(self.session.actuator_names, self.session.power_scale))))

    # -- diagnostics -------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        stats = self.session.stats
        values = {"mode": self.mode, "steps": self.steps, "stale_commands": self.stale, "episode": stats.episode,
                  "episode_steps": stats.steps, "episode_return": f"{stats.episode_return:.3f}",
                  "episode_violations": stats.violations, "sim_time_s": f"{self.session.state.stamp_ns / 1e9:.3f}"}
        if self.sync is not None:
            values["sync_timeouts"] = self.sync.timeouts  # steps that went ahead without the adaptation node's ack
        level, message = health.simulator(self.stale - self.stale_reported, self.mode, self.waiting_s)
        self.stale_reported = self.stale
        self.pub_diag.publish(msgs.diagnostics(msgs.to_stamp(self.session.state.stamp_ns), "mujoco_sim: simulation",
                                               self.session.robot.family, level,
                                               f"{message}; {self.steps} steps, {self.stale} stale commands in all",
                                               values))

    def close(self) -> None:
        self.session.close()


def main(args: list[str] | None = None) -> int:
    return run_node(MujocoSimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
