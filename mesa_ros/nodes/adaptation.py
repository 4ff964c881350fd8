"""``adaptation``: MESA phase 2 on the robot. Records transitions, adapts Q_risk after a fault, arms the shield.

The life cycle (``core.lifecycle.Lifecycle``, shown in ``/diagnostics``): ``monitoring`` -> (fault
announced: ``~/fault_detected`` or the simulator's fault event; with ``detect``, detected from the
transitions themselves by ``core.detector``, each decision published on ``~/detection``) ``collecting`` ``transitions``
post-fault transitions -> ``adapting`` (phase 2 on a fresh copy of the meta-learned layer: M Adam steps
of critic and recovery policy, ``core.methods.adapt_stage``; with ``method: rrl`` a fresh critic and
recovery policy from the post-fault data alone, as Recovery RL; with ``method: lookahead`` (a lookahead
checkpoint) the model-lookahead shield's ensemble, ``core.lookahead_model``; run in the executor thread: a worker
thread would fight the message callbacks for the GIL and run many times slower; messages meanwhile wait
in the deep subscription queues) -> ``shielding``: the adapted weights are sent to the safety monitor
(latched weights topic) and, once the monitor reports them in use, its shield is enabled; critic and
recovery keep learning online and are re-sent every ``publish_every`` steps (the lookahead's model is adapted once
more, on all post-fault transitions, when ``lookahead.refine_transitions`` of them are in, and re-sent). With a
``lookahead_checkpoint`` beside a critic (the monitor's stacked shield, ``core.stacked``) phase 2 adapts both on the
same post-fault transitions and sends both, the model once the monitor reports the critic in use.
Another fault change restarts collection (transitions stamped before it are never used); the robot healthy again (the
simulator's clear event or ``~/fault_cleared``) disarms the shield and reloads the monitor's own
checkpoint (its pre-fault state); with ``detect``, the detector's return to healthy dynamics does the same.
Each step taken in is acknowledged on ``/adaptation/ack`` once the node is done with it (not during phase 2, nor
until sent weights are in use and its calls to the monitor are answered): a lockstep simulator with
``lockstep_sync_adaptation`` waits for it (``core.lockstep``).
"""
from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, UInt8MultiArray
from std_srvs.srv import SetBool, Trigger

from mesa_ros import wire
from mesa_ros.core import checkpoint, detector, health, lookahead_model
from mesa_ros.core.assembler import TransitionAssembler
from mesa_ros.core.buffers import ReplayBuffer
from mesa_ros.core.config import MesaConfig, merge, stored_config
from mesa_ros.core.dataset import DatasetMetadata, TransitionDataset
from mesa_ros.core.learner import Learner
from mesa_ros.core.lifecycle import Effect, Lifecycle, Phase
from mesa_ros.core.lookahead_model import LookaheadLayer
from mesa_ros.core.methods import adapt_stage, get_method
from mesa_ros.core.restore import env_spaces, load_checkpoint, restore_run, save_checkpoint
from mesa_ros.core.safety_layer import SafetyLayer
from mesa_ros.envs import env_class
from mesa_ros.nodes import msgs, qos
from mesa_ros.nodes.defaults import default_checkpoint
from mesa_ros.nodes.params import declare
from mesa_ros.nodes.runner import run_node

# Post-fault transitions before phase 2 of a critic (mesa / multitask / rrl): chosen on the training folds only, for
# the critics' warning governor (docs/results.md, "Armed at the fault"); for the paper's rule (risk_budget:=0,
# arm_on_fault:=false) the folds chose 1000 ("Phase 2 on the robot"): set transitions:=1000 with it. The lookahead's
# own default is in its checkpoint's config.
PHASE2_TRANSITIONS = 250
ACK_WAIT_S = 30.0  # how long the ack waits for weights in use / the monitor's answers before it goes out anyway


class AdaptationNode(Node):
    def __init__(self) -> None:
        super().__init__("adaptation")
        self.env = declare(self, "env", "HalfCheetah-Disabled", "environment (paper name)", read_only=True)
        safety = declare(self, "checkpoint", "", "meta-trained critic checkpoint (phase 1); '' = the shipped default",
                         read_only=True)
        policy = declare(self, "policy_checkpoint", "", "task policy for the critic targets a' ~ pi_task(s'); '' = "
                         "the shipped default", read_only=True)
        transitions = declare(self, "transitions", -1, "post-fault transitions collected before phase 2; -1 = the "
                              f"method's default (mesa / multitask / rrl: {PHASE2_TRANSITIONS}; lookahead: its "
                              "checkpoint config's lookahead.post_transitions)", low=-1, high=10**7, read_only=True)
        steps = declare(self, "steps", -1, "phase-2 Adam steps M (method lookahead: of its model); -1 = the "
                        "checkpoint config's (paper: 500)",
                        low=-1, high=10**6, read_only=True)
        lr = declare(self, "lr", -1.0, "phase-2 Adam rate of critic and recovery (not used by method lookahead); "
                     "-1 = the checkpoint config's adapt.lr (paper: 1e-3)", low=-1.0, high=1.0, read_only=True)
        self.online_every = declare(
            self,
            "online_every",
            1,
            "shielding: one critic+recovery update every this "
            "many steps (core.learner; 0: stop learning after phase 2)",
            low=0,
            high=10**6,
            read_only=True,
        )
        self.publish_every = declare(self, "publish_every", 500, "shielding: re-send the weights every this many "
                                     "steps", low=1, high=10**9, read_only=True)
        self.buffer_size = declare(self, "buffer_size", 100_000, "capacity of the test-environment buffer "
                                   "(transitions; oldest dropped)", low=1, high=10**7, read_only=True)
        self.from_sim = declare(
            self, "announce_from_sim", True, "treat the simulator's fault event as the announcement", read_only=True
        )
        detect = declare(self, "detect", False, "detect changes of dynamics (fault, and healthy again) from the "
                         "transitions alone (core/detector.py)", read_only=True)
        detector_file = declare(self, "detector", "", "change-detector file for detect; '' = the shipped default",
                                read_only=True)
        self.detector = detector.load(detector_file or default_checkpoint(self.env, "detector"), env=self.env) \
            if detect else None
        seed = declare(
            self, "seed", 0, "seed of minibatch sampling and the recovery policy", low=0, high=2**31 - 1, read_only=True
        )
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        self.rng = np.random.default_rng(seed)

        method = declare(self, "method", "", "what phase 2 does: mesa / multitask adapt the checkpoint's critic; rrl "
                         "learns a fresh one from the post-fault data alone; lookahead adapts a lookahead checkpoint's "
                         "model (mesa-ros lookahead); '' = the checkpoint's method",
                         choices=("", "mesa", "multitask", "rrl", "lookahead"), read_only=True)
        self.space = env_spaces(self.env)
        self.seed = seed
        self.layers: dict[str, SafetyLayer | LookaheadLayer] = {}  # the current fault's adapted "critic", "lookahead"
        self.learner: Learner | None = None  # its online learning while shielding (none for the lookahead)
        self.agent = load_checkpoint(policy or default_checkpoint(self.env, "policy"), env=self.env).agent
        self.task_policy = self.agent.policy
        path = str(safety or default_checkpoint(self.env, "lookahead" if method == "lookahead" else "safety"))
        offline = checkpoint.load(path, env=self.env)
        stack = declare(self, "lookahead_checkpoint", "", "a lookahead checkpoint stacked on the critic (the "
                        "monitor's lookahead_checkpoint): its model adapted on the same post-fault transitions (steps: "
                        "its config's) and sent after the critic; mesa / multitask / rrl only; '' = none",
                        read_only=True)
        self.lookahead: LookaheadLayer | None = None  # the model-lookahead shield's fitted model
        self.lookahead_cfg: MesaConfig | None = None  # its checkpoint's config
        if method == "lookahead" or (not method and "ensemble" in offline.tensors):
            if stack:
                raise ValueError("lookahead_checkpoint stacks a lookahead on a critic; method lookahead has none "
                                 "(launch: lookahead_checkpoint:=none)")
            self._lookahead_method(offline, path, {"lookahead": {"adapt_steps": steps}} if steps >= 0 else {})
            self.cfg, self.method_name, self.armable = self.lookahead_cfg, "lookahead", False
        else:
            self._safety_layer_method(restore_run(offline, path), method, steps, lr, path)
            if stack:
                self._lookahead_method(checkpoint.load(stack, env=self.env), stack, {})
        only_model = self.method_name == "lookahead"
        default = self.lookahead_cfg.lookahead.post_transitions if only_model else PHASE2_TRANSITIONS
        self.transitions = default if transitions < 0 else transitions
        self.save_adapted = declare(
            self,
            "save_adapted",
            "",
            "write the phase-2 safety layer (with the task policy) "
            "to this checkpoint file, as sent to the monitor ('' = not written)",
            read_only=True,
        )
        arm = declare(self, "arm_on_fault", False, "enable the shield at the fault, on the meta-trained critic the "
                      "monitor holds, while the post-fault data is collected and phase 2 runs (ours; the paper arms "
                      "after phase 2: false). Only mesa / multitask with a recovery policy in the checkpoint (RRL "
                      "has no critic before phase 2; the lookahead arms after its quick adaptation); "
                      "config/cheetah_fault.yaml sets true", read_only=True)
        self.assembler = TransitionAssembler(env_class(self.env).observation_from)
        self.buffer = self._new_buffer()
        self.lifecycle = Lifecycle(self.transitions, arm_offline=arm and self.armable)
        self.announced_at = self.adapt_seconds = float("nan")
        self.metrics: dict[str, float] = {}
        self.nonfinite = self.refused = ""  # shown as ERROR in /diagnostics until the next fault change
        self.steps_since_publish = 0
        self.last_stamp = -1  # the newest transition taken in (-1: none yet)
        self.refine_at = 0  # the lookahead: post-fault transitions at which its model is adapted again (0: not)
        self.reloading: list[int] | None = None  # a reload of the offline layer under way: epochs of enables after it
        self.sent_id = self.awaited_id = self.awaited_epoch = 0  # ids of the weights sent / awaited in use
        self.queued: list[tuple[int, bytes]] = []  # weights messages to send, each once the one before is in use
        self.in_flight = 0  # the id of the weights message sent last and not yet reported in use (0: none)
        # the ack (wire.ADAPTATION_ACK): withheld while sent weights are not yet in use at the monitor or a call to
        # its services is unanswered; the next one after such a wait says resync
        self.unconfirmed_id, self.calls, self.held = 0, 0, False  # calls: the monitor's services not answered yet
        self.held_since = 0.0  # when the ack was first withheld (monotonic s)
        self.resync_stamp = -1  # the stamp last acknowledged with resync: a repeated ack of it says resync too
        self.newest_state = -1  # the newest state stamp seen

        self.pub_weights = self.create_publisher(UInt8MultiArray, wire.WEIGHTS, qos.WEIGHTS)
        self.pub_diag = self.create_publisher(DiagnosticArray, wire.DIAGNOSTICS, 10)
        self.pub_detection = self.create_publisher(JointState, wire.DETECTION, qos.LATCHED)
        self.enable_client = self.create_client(SetBool, wire.service(wire.SAFETY_MONITOR, wire.ENABLE_SHIELD))
        self.reload_client = self.create_client(Trigger, wire.service(wire.SAFETY_MONITOR, wire.RELOAD_WEIGHTS))
        self.pub_ack = self.create_publisher(Header, wire.ADAPTATION_ACK, qos.STREAM_PUB)
        # the fault event first: when it and the first faulted step are ready together, the executor takes
        # subscriptions in the order they were created, and the step must find collection started
        self.create_subscription(Header, wire.FAULT_EVENT, self._on_fault_event, qos.LATCHED)
        self.create_subscription(JointState, wire.STATE, self._on_state, qos.BACKLOG_SUB)
        self.create_subscription(JointState, wire.COMMAND,
                                 lambda m: self.assembler.add_command(*wire.parse_action(m)), qos.BACKLOG_SUB)
        self.create_subscription(JointState, wire.STEP, self._on_step, qos.BACKLOG_SUB)
        self.create_subscription(JointState, wire.RISK, self._on_risk, qos.CONTROL_SUB)
        self.create_service(Trigger, wire.service(wire.PRIVATE, wire.FAULT_DETECTED), self._on_fault_detected)
        self.create_service(Trigger, wire.service(wire.PRIVATE, wire.FAULT_CLEARED), self._on_fault_cleared)
        self.create_timer(1.0, self._publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _safety_layer_method(self, meta, method: str, steps: int, lr: float, path: str) -> None:
        """MESA / Multi-Task / RRL: the method, its config with the node's overrides and the offline layer."""
        self.method = get_method(method) if method else meta.method
        self.method_name = self.method.name
        if not self.method.safe:
            raise ValueError(f"method {self.method.name!r} has no safety layer to adapt")
        if self.method.offline is not None and meta.critic is None:
            raise ValueError(f"checkpoint {path} holds no critic")
        cfg = self.method.configure(meta.cfg)
        self.cfg = merge(cfg, {"adapt": {**({"steps": steps} if steps >= 0 else {}), **({"lr": lr} if lr > 0 else {})}})
        # pi_rec trained offline with the critic when the checkpoint has it (meta-train), else a fresh one;
        # RRL: none before phase 2 (``adapt_stage`` draws it)
        self.offline = None if self.method.offline is None else meta.offline_layer()
        self.armable = self.offline is not None and meta.safety is not None  # the monitor's file has the same pi_rec

    def _lookahead_method(self, ckpt: checkpoint.Checkpoint, path: str, overrides: dict) -> None:
        """The lookahead's offline model and its config (with the node's overrides)."""
        self.lookahead_cfg = merge(stored_config(self.env, ckpt.config), overrides)
        self.lookahead = LookaheadLayer(lookahead_model.load(ckpt, self.lookahead_cfg.lookahead, path))

    # -- announcements and collection ------------------------------------------------------------------
    def _announce(self, source: str, stamp_ns: int) -> str:
        was = self.lifecycle.phase
        if self.detector is not None:
            self.detector.reset(detector.CHANGED)  # from now on the detector watches for the return to health
        self._apply(self.lifecycle.fault(stamp_ns))
        self.announced_at = time.monotonic()
        message = (f"fault announced by {source}: collecting {self.transitions} transitions"
                   + ("" if was is Phase.MONITORING else f" (restarted; was {was.value})"))
        self.get_logger().warning(message)
        return message

    def _clear(self, source: str, stamp_ns: int) -> str:
        if self.lifecycle.phase is Phase.MONITORING:
            return "already monitoring: no fault to clear"
        if self.detector is not None:
            self.detector.reset(detector.HEALTHY)
        self._apply(self.lifecycle.healthy(stamp_ns))
        message = f"robot healthy again ({source}): shield disarmed, monitor back to its own checkpoint"
        self.get_logger().warning(message)
        return message

    def _on_fault_event(self, msg: Header) -> None:
        if not self.from_sim:
            return
        stamp = wire.stamp_ns(msg.stamp)
        source = f"{wire.FAULT_EVENT} at sim time {stamp / 1e9:.2f}s"
        if msg.frame_id == wire.EVENT_FAULT:
            self._announce(source, stamp)
        elif msg.frame_id == wire.EVENT_CLEAR:
            self._clear(source, stamp)

    def _on_fault_detected(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        source = wire.service(wire.PRIVATE, wire.FAULT_DETECTED)
        res.message, res.success = self._announce(source, self.last_stamp + 1), True
        return res

    def _on_fault_cleared(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        res.message = self._clear(wire.service(wire.PRIVATE, wire.FAULT_CLEARED), self.last_stamp + 1)
        res.success = not res.message.startswith("already")
        return res

    def _on_state(self, msg: JointState) -> None:
        stamp, position, velocity = wire.parse_state(msg)
        self.assembler.add_state(stamp, position, velocity)
        self._take_in()  # the next state can be what completes a transition
        if stamp <= self.newest_state:  # re-published: the simulator waits on something, maybe a lost ack
            self._give_up_waiting()
            self._ack()
        self.newest_state = max(self.newest_state, stamp)

    def _on_step(self, msg: JointState) -> None:
        self.assembler.add_step(*wire.parse_values(msg))
        self._take_in()

    def _take_in(self) -> None:
        """The transitions complete so far: detector, buffer and life cycle (phase 2 included); then the ack."""
        ready = self.assembler.pop_ready()
        added = 0
        for t in ready:
            self.last_stamp = max(self.last_stamp, t.stamp_ns)
            if self.detector is not None and (found := self.detector.update(t.s, t.a_exec, t.s_next)):
                self._apply(self.lifecycle.added(added), added)  # what belongs to the dynamics before the change
                added = 0
                self._on_detection(found, t.stamp_ns)
            if self.lifecycle.accepts(t.stamp_ns):
                self.buffer.add(t.s, t.a_task, t.a_exec, t.r, t.c, t.s_next, t.terminated, t.truncated)
                added += 1
        if added:
            self._apply(self.lifecycle.added(added), added)
        if ready:
            self._ack()

    def _ack(self) -> None:
        """Tell a lockstep simulator waiting on this node that it may go on (``wire.ADAPTATION_ACK``), unless sent
        weights are not yet in use or a call to the monitor (enable, disable, reload) is unanswered: it then waits,
        whatever the machine's speed."""
        if self.unconfirmed_id or self.calls:
            if not self.held:
                self.held, self.held_since = True, time.monotonic()
            return
        if self.last_stamp < 0:
            return  # nothing taken in yet: nothing to acknowledge
        if self.held:
            self.resync_stamp = self.last_stamp
        resync = wire.ACK_RESYNC if self.last_stamp == self.resync_stamp else ""
        self.pub_ack.publish(Header(stamp=msgs.to_stamp(self.last_stamp), frame_id=resync))
        self.held = False

    def _give_up_waiting(self) -> None:
        """Weights the monitor never reports in use (it refused them) or a call never answered would hold a
        waiting simulator for good: after ``ACK_WAIT_S`` the ack goes out anyway, with an error."""
        if self.held and time.monotonic() - self.held_since > ACK_WAIT_S:
            self.get_logger().error(f"weights {self.unconfirmed_id} not reported in use / {self.calls} monitor call(s) "
                                    f"not answered after {ACK_WAIT_S:.0f} s: acknowledging step {self.last_stamp} "
                                    "anyway")
            self.unconfirmed_id, self.calls, self.queued, self.in_flight = 0, 0, [], 0

    def _on_detection(self, found: detector.Detection, stamp_ns: int) -> None:
        """Publish the detector's decision and act on it as on an announcement (or the robot healthy again)."""
        decision = wire.Detection(found.event == detector.CHANGED, found.statistic, found.threshold, found.dimension)
        self.pub_detection.publish(msgs.values_msg(stamp_ns, decision.to_values()))
        source = (f"detector at sim time {stamp_ns / 1e9:.2f}s (CUSUM {found.statistic:.1f} > {found.threshold:.1f}, "
                  f"observation dimension {found.dimension})")
        if found.event == detector.CHANGED:
            self._announce(source, stamp_ns)
        else:
            self._clear(source, stamp_ns)

    def _apply(self, effects: list[Effect], new_steps: int = 0) -> None:
        """Execute the life cycle's effects, in order."""
        disarm = None
        for effect in effects:
            if effect is Effect.DISARM:
                disarm = self._request_enable(False)
            elif effect is Effect.RESTORE_OFFLINE:
                self.layers, self.learner, self.nonfinite, self.refused, self.refine_at = {}, None, "", "", 0
                self.unconfirmed_id = 0  # weights sent before are superseded by the monitor's own: not awaited
                self.queued, self.in_flight = [], 0
                self.reloading = waiting = []

                def reload(counted: bool, waiting: list[int] = waiting) -> None:
                    future = self.reload_client.call_async(Trigger.Request())
                    future.add_done_callback(lambda f: self._reloaded(f, waiting))  # before the ack's callback
                    self._track(future, counted=counted)

                if disarm is None:
                    reload(False)
                else:  # reload once the shield is off (a critic-only checkpoint cannot be loaded under a live shield)
                    self.calls += 1  # counted now: the ack waits for it from here
                    disarm.add_done_callback(lambda _, reload=reload: reload(True))
            elif effect is Effect.RESET_BUFFER:
                self.buffer = self._new_buffer()
            elif effect is Effect.RUN_PHASE2:
                self._phase2(self._post_fault_data())
            elif effect is Effect.SEND_WEIGHTS:
                if self._send_weights():  # the shield is armed once the monitor reports these weights (_on_risk)
                    self.awaited_id, self.awaited_epoch = self.sent_id, self.lifecycle.epoch
            elif effect is Effect.ARM:
                if self.reloading is None:
                    self._request_enable(True)
                else:  # armed at a new fault: on the offline layer, once the monitor has it back
                    self.reloading.append(self.lifecycle.epoch)
            elif effect is Effect.LEARN_ONLINE:
                self._learn_online(new_steps)

    def _reloaded(self, future, waiting: list[int]) -> None:
        """The monitor answered a reload of its own (offline) layer: the enables that waited for it go out, those
        of the current epoch while the life cycle still wants the shield on; none after a failed reload (the
        monitor may still hold a layer adapted to other dynamics)."""
        if self.reloading is waiting:
            self.reloading = None
        result = future.result()
        if not result.success:
            self.refused = f"the monitor could not reload its offline layer: {result.message}"
            self.get_logger().error(f"{self.refused}; no shield until adapted weights are in use")
        for epoch in waiting:
            if not result.success:  # as a refused enable: the adapted weights' report arms the shield
                self._apply(self.lifecycle.enabled(epoch, False))
            elif epoch == self.lifecycle.epoch and self.lifecycle.armed:
                self._request_enable(True, epoch)

    # -- phase 2, arming and online learning -----------------------------------------------------------
    def _new_buffer(self) -> ReplayBuffer:
        """The test-environment buffer (executed actions, as the risk buffer of the paper)."""
        return ReplayBuffer(self.space[0].shape[0], self.space[1].shape[0], capacity=self.buffer_size,
                            action="exec", seed=int(self.rng.integers(2**31)))

    def _post_fault_data(self) -> TransitionDataset:
        """The post-fault transitions collected so far, as phase 2's test dataset."""
        return self.buffer.to_dataset(DatasetMetadata(self.env, {}, "test", "ros_graph"))

    def _phase2(self, test_data: TransitionDataset) -> None:
        start, epoch = time.monotonic(), self.lifecycle.epoch
        self.layers, self.metrics = {}, {}
        if self.method_name != "lookahead":
            layer, self.metrics = adapt_stage(self.method, self.cfg, *self.space, self.task_policy, test_data,
                                              copy.deepcopy(self.offline), seed=self.seed)
            self.layers["critic"] = layer
            self.learner = Learner(safety=layer, risk_buffer=self.buffer, task_policy=self.task_policy,
                                   every=self.online_every, critic_batch=self.cfg.critic.batch_size)
        if self.lookahead is not None:
            self.layers["lookahead"], losses = self.lookahead.adapt(test_data, self.lookahead_cfg.lookahead, self.rng)
            self._model_metrics(losses)
        self.adapt_seconds = time.monotonic() - start
        refine = self.lookahead_cfg.lookahead.refine_transitions if self.lookahead is not None else 0
        self.refine_at = refine if refine > len(test_data) else 0  # 0: no second adaptation
        self._save_adapted(len(test_data))
        self._apply(self.lifecycle.phase2_done(epoch))

    def _model_metrics(self, losses: dict[str, float]) -> None:
        """The model's last adaptation losses into ``/diagnostics`` (stacked: prefixed ``lookahead_``, beside the
        critic's)."""
        stacked = self.method_name != "lookahead"
        self.metrics.update({f"lookahead_{k}" if stacked else k: v for k, v in losses.items()})

    def _save_adapted(self, transitions: int, kinds: tuple[str, ...] = ("critic", "lookahead")) -> None:
        """Write the layers of ``kinds`` as sent to the monitor to ``save_adapted`` (if set; stacked, the lookahead's
        beside it, ``<name>.lookahead.safetensors``); a failure is logged: the shield still comes on, only the copy
        for inspection is missing."""
        if not self.save_adapted:
            return
        for kind, layer in [(k, self.layers[k]) for k in kinds if k in self.layers]:
            path = self.save_adapted
            if kind == "lookahead" and "critic" in self.layers:
                path = str(Path(path).with_suffix(".lookahead.safetensors"))
            try:
                self.get_logger().info(f"adapted {kind} written to {self._write_layer(path, layer, transitions)}")
            except OSError as exc:
                self.get_logger().error(f"could not write the adapted {kind} to {path}: {exc}")

    def _write_layer(self, path: str, layer: SafetyLayer | LookaheadLayer, transitions: int) -> str:
        if isinstance(layer, LookaheadLayer):
            return str(checkpoint.save(path, layer.all, self.env, self.space[0].shape[0], self.space[1].shape[0],
                                       self.lookahead_cfg.to_dict(),
                                       {"stage": "lookahead_adapt", "post_transitions": transitions}))
        return str(save_checkpoint(path, self.cfg, self.method, self.space, self.agent, safety=layer, stage="adapt",
                                   test_transitions=transitions))

    def _on_risk(self, msg: JointState) -> None:
        """Arm the shield only when the monitor reports the adapted weights (by the id sent with them) in use."""
        in_use = wire.Risk.from_values(wire.parse_values(msg)[1]).weights_id
        if self.in_flight and in_use >= self.in_flight:
            self.in_flight = 0
            if self.queued:
                self._publish_next()
        if self.awaited_id and in_use == self.awaited_id:
            self.awaited_id = 0
            was = self.lifecycle.phase
            self._apply(self.lifecycle.weights_in_use(self.awaited_epoch))
            if was is Phase.ADAPTING and self.lifecycle.phase is Phase.SHIELDING:  # armed at the fault
                self._log_shielding("on the adapted weights")
        if self.unconfirmed_id and in_use >= self.unconfirmed_id:
            self.unconfirmed_id = 0
            self._ack()

    def _request_enable(self, on: bool, epoch: int | None = None):
        """Ask the monitor to enable / disable its shield; an enable's answer goes to the life cycle of ``epoch``
        (default: the current one)."""
        epoch = self.lifecycle.epoch if epoch is None else epoch
        future = self._track(self.enable_client.call_async(SetBool.Request(data=on)))
        if on:
            future.add_done_callback(lambda f: self._on_enabled(f, epoch))
        return future

    def _track(self, future, counted: bool = False):
        """A call to the monitor's services (enable, reload): the ack waits for its answer."""
        self.calls += 0 if counted else 1
        future.add_done_callback(self._call_done)
        return future

    def _call_done(self, _future) -> None:
        self.calls = max(0, self.calls - 1)
        self._ack()

    def _on_enabled(self, future, epoch: int) -> None:
        result = future.result()
        self._apply(self.lifecycle.enabled(epoch, result.success))
        self.refused = "" if result.success or self.lifecycle.armed else result.message  # armed: asked again
        if not result.success:
            self.get_logger().error(f"safety monitor refused to enable the shield: {result.message}")
        elif epoch != self.lifecycle.epoch:
            return
        elif self.lifecycle.phase is Phase.SHIELDING:
            self._log_shielding("enabled", f": {result.message}")
        elif self.lifecycle.phase is Phase.COLLECTING:
            self.get_logger().warning(f"shield enabled {time.monotonic() - self.announced_at:.2f} s after the fault "
                                      f"announcement on the meta-trained layer (armed at the fault; adapted after "
                                      f"{self.transitions} transitions): {result.message}")

    def _log_shielding(self, how: str, suffix: str = "") -> None:
        """The line (``demo.ADAPTED`` parses it) saying the adapted weights shield: since the announcement, phase 2's
        compute and the transitions it ran on."""
        self.get_logger().warning(f"shield {how} {time.monotonic() - self.announced_at:.2f} s after the fault "
                                  f"announcement (phase 2: {self.adapt_seconds:.2f} s, {self.transitions} "
                                  f"transitions){suffix}")

    def _learn_online(self, new_steps: int) -> None:
        if self.refine_at and len(self.buffer) >= self.refine_at:  # the lookahead's model, once more
            self._refine()
        if self.learner is None:
            return
        self.learner.learn(new_steps)
        self.steps_since_publish += new_steps
        if self.steps_since_publish >= self.publish_every:
            self.steps_since_publish = 0
            self._send_weights(("critic",))

    def _refine(self) -> None:
        """The lookahead's offline model adapted again, on all post-fault transitions so far, and sent."""
        self.refine_at, start = 0, time.monotonic()
        post = self._post_fault_data()
        cfg = replace(self.lookahead_cfg.lookahead, adapt_steps=self.lookahead_cfg.lookahead.refine_steps)
        self.layers["lookahead"], losses = self.lookahead.adapt(post, cfg, self.rng)
        self._model_metrics(losses)
        self.get_logger().warning(f"lookahead model adapted again on {len(post)} post-fault transitions "
                                  f"({time.monotonic() - start:.2f} s); sent to the monitor")
        self._save_adapted(len(post), ("lookahead",))
        self._send_weights(("lookahead",))

    def _send_weights(self, kinds: tuple[str, ...] = ("critic", "lookahead")) -> bool:
        """Send the adapted layers of ``kinds`` to the monitor (critic first), each with a fresh id; False (and ERROR
        in /diagnostics) if a weight is not finite: then none is sent."""
        layers = [(kind, self.layers[kind]) for kind in kinds if kind in self.layers]
        if not layers:
            return False
        if bad := ", ".join(b for _, layer in layers if (b := layer.nonfinite())):
            if bad != self.nonfinite:
                self.get_logger().error(f"non-finite weights in {bad}: not sent to the monitor")
            self.nonfinite = bad
            return False
        for kind, layer in layers:
            self.sent_id += 1
            cfg = self.lookahead_cfg if kind == "lookahead" else self.cfg
            self.queued.append((self.sent_id, checkpoint.to_bytes(
                layer.modules(), self.env, self.space[0].shape[0], self.space[1].shape[0], cfg.to_dict(),
                {"method": "lookahead" if kind == "lookahead" else self.method_name, "stage": "adapted-online",
                 "weights_id": self.sent_id})))
        self.unconfirmed_id = self.sent_id  # the last one in use: all in use
        if not self.in_flight:
            self._publish_next()
        return True

    def _publish_next(self) -> None:
        """The next queued weights message. The stack's parts go one at a time, each once the monitor reports the one
        before in use: a lockstep simulator's waiting state is then decided once with each, whatever the timing (sent
        together, a re-published copy of the state landing between the two installs was decided with the first part
        alone, shifting the governor's windows: the demo did not repeat). Weights asked for meanwhile (a refined model,
        a critic re-sent) wait in the queue behind them."""
        self.in_flight, blob = self.queued.pop(0)
        self.pub_weights.publish(UInt8MultiArray(data=blob))

    def _publish_diagnostics(self) -> None:
        phase = self.lifecycle.phase.value
        values = {
            "state": phase,
            "epoch": self.lifecycle.epoch,
            "collected": len(self.buffer),
            "needed": self.transitions,
            "phase2_seconds": f"{self.adapt_seconds:.3f}",
            **{k: f"{v:.5f}" for k, v in self.metrics.items()},
        }
        if self.detector is not None:
            values.update({"detector": self.detector.state, "detector_statistic": f"{self.detector.statistic:.2f}",
                           "detector_threshold": f"{self.detector.threshold:.2f}",
                           "detector_score": f"{self.detector.score:.2f}", "detector_steps": self.detector.steps})
        level, message = health.adaptation(phase, len(self.buffer), self.transitions, self.nonfinite, self.refused)
        self.pub_diag.publish(msgs.diagnostics(self.get_clock().now().to_msg(), "adaptation: phase 2", self.env, level,
                                               message, values))


def main(args: list[str] | None = None) -> int:
    return run_node(AdaptationNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
