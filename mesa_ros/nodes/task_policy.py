"""``task_policy``: the SAC task policy; answers each state with a proposed action (a_task).

With ``learn:=true`` it also learns online (phase 3): transitions are rebuilt from the live topics
(``core.assembler``) into a replay buffer holding the *task* action (the paper's relabelling), and SAC learns by
``core.learner`` (``sac.updates_per_step`` updates per executed step once a minibatch is stored). ``interface:
ros2_control``: it reads ``/joint_states`` (joints by name) and publishes ``std_msgs/Float64MultiArray`` commands
in ``command_joints`` order on ``command_topic``, as any ros2_control task controller would.
"""
from __future__ import annotations

from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from mesa_ros import wire
from mesa_ros.core import checkpoint
from mesa_ros.core.assembler import TransitionAssembler
from mesa_ros.core.inference import FrozenPolicy, frozen_policy
from mesa_ros.core.joint_map import JointMap
from mesa_ros.envs import env_class, model_joint_names
from mesa_ros.nodes import msgs, qos
from mesa_ros.nodes.defaults import default_checkpoint
from mesa_ros.nodes.params import declare
from mesa_ros.nodes.runner import run_node
from mesa_ros.nodes.start_gate import StartGate


class TaskPolicyNode(Node):
    def __init__(self) -> None:
        super().__init__("task_policy")
        env = declare(self, "env", "HalfCheetah-Disabled", "environment (paper name)", read_only=True)
        path = declare(
            self, "checkpoint", "", "SAC checkpoint (.safetensors); '' = the shipped default", read_only=True
        )
        self.deterministic = declare(
            self, "deterministic", True, "act with the mean action (false: sample)", read_only=True
        )
        self.learn = declare(
            self, "learn", False, "update SAC online from the executed transitions (phase 3)", read_only=True
        )
        capacity = declare(
            self,
            "buffer_size",
            100_000,
            "learn: replay buffer capacity (transitions)",
            low=1,
            high=10**7,
            read_only=True,
        )
        seed = declare(self, "seed", 0, "torch seed for sampling and learning", low=0, high=2**31 - 1, read_only=True)
        file = path or default_checkpoint(env, "policy")
        self.frozen: FrozenPolicy | None = None
        if self.deterministic and not self.learn:
            # fixed weights, deterministic: the frozen numpy copy (core.inference) answers a state ~10x faster,
            # from the checkpoint read as numpy arrays: this node then never imports torch
            self.frozen = frozen_policy(checkpoint.load(file, env=env, numpy=True), str(file))
        else:  # sampling or learning: the torch SAC agent
            import torch

            from mesa_ros.core.buffers import ReplayBuffer
            from mesa_ros.core.learner import Learner
            from mesa_ros.core.restore import load_checkpoint
            torch.manual_seed(seed)
            torch.set_num_threads(1)
            run = load_checkpoint(file, env=env)
            self.agent = run.agent
            if self.learn:  # a trained policy: no random warm-up, updates once a minibatch is stored
                if capacity < run.cfg.sac.batch_size:
                    raise ValueError(f"buffer_size {capacity} is smaller than the SAC minibatch "
                                     f"({run.cfg.sac.batch_size}): learn:=true could never update")
                buffer = ReplayBuffer(run.space[0].shape[0], run.space[1].shape[0], capacity, action="task", seed=seed)
                self.learner = Learner(self.agent, buffer, learning_starts=run.cfg.sac.batch_size,
                                       sac_updates=run.cfg.sac.updates_per_step, sac_batch=run.cfg.sac.batch_size)
        self.observation_from = env_class(env).observation_from
        self.actuators = list(env_class(env).actuator_names)
        if self.learn:
            self.assembler = TransitionAssembler(self.observation_from)
        self.pub_action = self.create_publisher(JointState, wire.TASK_ACTION, qos.STREAM_PUB)
        self.interface = declare(self, "interface", "native", f"native: stamped states in, {wire.TASK_ACTION} out; "
                                 "ros2_control: /joint_states in, Float64MultiArray commands out",
                                 choices=("native", "ros2_control"), read_only=True)
        if self.interface == "ros2_control":
            self.joint_states = declare(self, "joint_states_topic", wire.JOINT_STATES, "ros2_control: the robot's "
                                        "joint states", read_only=True)
            command = declare(self, "command_topic", wire.TASK_COMMANDS, "ros2_control: where the commands "
                              "go (the safety filter's input)", read_only=True)
            joints = declare(self, "command_joints", [""], "ros2_control: the command's joint order ([''] = the "
                             "actuators')", read_only=True)
            self.jmap = JointMap(model_joint_names(env), self.actuators, [j for j in joints if j] or None)
            self.pub_command = self.create_publisher(Float64MultiArray, command, qos.STREAM_PUB)
        self.get_logger().info(f"{env}: SAC policy from {path or 'the shipped default'}, learn={self.learn}")
        StartGate(self, self._start)

    def _start(self) -> None:
        """Inputs once the action's awaited subscribers (safety monitor, recorder) are matched."""
        if self.learn:
            self.create_subscription(JointState, wire.STATE, self._record_state, qos.LOGGER_SUB)
            self.create_subscription(JointState, wire.STEP, self._record_step, qos.LOGGER_SUB)
            self.create_subscription(JointState, wire.COMMAND, self._record_command, qos.LOGGER_SUB)
        if self.interface == "ros2_control":
            self.create_subscription(JointState, self.joint_states, self._on_joint_states, qos.CONTROL_SUB)
        else:
            self.create_subscription(JointState, wire.STATE, self._on_state, qos.CONTROL_SUB)

    def _act(self, obs):
        return self.frozen(obs) if self.frozen is not None else self.agent.act(obs, deterministic=self.deterministic)

    def _on_joint_states(self, msg: JointState) -> None:
        try:
            qpos, qvel = self.jmap.state(msg.name, msg.position, msg.velocity)
        except ValueError as exc:
            self.get_logger().error(f"joint state unusable: {exc}")
            return
        self.pub_command.publish(Float64MultiArray(data=self.jmap.env_to_command(
            self._act(self.observation_from(qpos, qvel))).tolist()))

    def _on_state(self, msg: JointState) -> None:
        if msg.header.frame_id == wire.STATE_TERMINAL:  # an episode's last state: nothing will act on it
            return
        stamp, position, velocity = wire.parse_state(msg)
        self.pub_action.publish(
            msgs.action_msg(stamp, self.actuators, self._act(self.observation_from(position, velocity)))
        )

    # -- online learning (phase 3) -------------------------------------------------------------------
    def _record_state(self, msg: JointState) -> None:
        self.assembler.add_state(*wire.parse_state(msg))

    def _record_command(self, msg: JointState) -> None:
        self.assembler.add_command(*wire.parse_action(msg))

    def _record_step(self, msg: JointState) -> None:
        self.assembler.add_step(*wire.parse_values(msg))
        for t in self.assembler.pop_ready():
            self.learner.add(t.s, t.a_task, t.a_exec, t.r, t.c, t.s_next, t.terminated, t.truncated)


def main(args: list[str] | None = None) -> int:
    return run_node(TaskPolicyNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
