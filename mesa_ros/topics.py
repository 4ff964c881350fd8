"""Names and types of the graph's topics: one place for the nodes, the bag recorder and the bag converter."""
from __future__ import annotations

CLOCK = "/clock"
STATE = "/mujoco_sim/state"  # sensor_msgs/JointState: joint positions/velocities, stamped on the sim clock
STEP = "/mujoco_sim/step"  # named values: reward, cost, terminated, truncated, episode, step, next_stamp_ns
EPISODE = "/mujoco_sim/episode"  # named values at each episode end
FAULT_STATE = "/mujoco_sim/fault_state"  # named values: power scale per actuator (ground truth, latched)
FAULT_EVENT = "/mujoco_sim/fault_event"  # std_msgs/Header: a fault changed (announcement, no content)
COMMAND = "/mujoco_sim/command"  # sensor_msgs/JointState effort: the command the simulator applies (a_exec)
TASK_ACTION = "/task_policy/action"  # sensor_msgs/JointState effort: the task policy's proposal (a_task)
RISK = "/safety_monitor/risk"  # named values: q_risk, overridden, eps_risk, shield_enabled
WEIGHTS = "/safety_monitor/weights"  # std_msgs/UInt8MultiArray: safetensors checkpoint (latched)
DIAGNOSTICS = "/diagnostics"
DETECTION = "/adaptation/detection"  # named values: changed (1) / healthy again (0), statistic, threshold, dimension (latched)

#: What the bag recorder writes by default: everything needed to rebuild transitions, plus context.
RECORDED: dict[str, str] = {
    STATE: "sensor_msgs/msg/JointState",
    STEP: "sensor_msgs/msg/JointState",
    TASK_ACTION: "sensor_msgs/msg/JointState",
    COMMAND: "sensor_msgs/msg/JointState",
    RISK: "sensor_msgs/msg/JointState",
    EPISODE: "sensor_msgs/msg/JointState",
    FAULT_STATE: "sensor_msgs/msg/JointState",
    FAULT_EVENT: "std_msgs/msg/Header",
    DETECTION: "sensor_msgs/msg/JointState",
}

#: Topics each node of the graph subscribes to from start-up. The graph description turns this into the
#: ``wait_for_subscribers`` of the nodes that publish them (``mesa_ros.nodes.start_gate``); a test checks it
#: against the nodes' real subscriptions.
LISTENERS: dict[str, tuple[str, ...]] = {
    "mujoco_sim": (COMMAND, RISK),
    "task_policy": (STATE,),
    "safety_monitor": (STATE, TASK_ACTION, WEIGHTS),
    "adaptation": (STATE, COMMAND, STEP, FAULT_EVENT, RISK),
    "bag_recorder": tuple(RECORDED),
}
#: Nodes that hold back their first output until their listeners are matched, and the topics they gate on.
GATED_OUTPUTS: dict[str, tuple[str, ...]] = {
    "mujoco_sim": (STATE, STEP, EPISODE, FAULT_STATE, FAULT_EVENT),
    "task_policy": (TASK_ACTION,),
    "safety_monitor": (COMMAND, RISK),
}
