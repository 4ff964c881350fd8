"""The one description of each node graph, read by ``launch/*.launch.py`` and by ``mesa-ros launch``.

A graph is a list of launch arguments and a function from their values to node specifications
(executable, node name, parameter file + overrides, remappings, whether the graph ends with it).
No ROS import here: the launch file turns specs into ``launch_ros.actions.Node``, the project's
launcher into processes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mesa_ros import wire
from mesa_ros.envs.faults import check_power_scale
from mesa_ros.params_file import check_graph_params, parameter
from mesa_ros.paths import config_file

ENV = "HalfCheetah-Disabled"  # the environment of the cheetah_fault graph (its nodes' env parameter default)
DECISION_SHARE = 0.7  # realtime: share of the control period the safety monitor may spend on one decision (the
# rest is transport and the simulator's step)
#: Console script (``ros2 run mesa_ros <name>``) -> module with ``main``. setup.py installs the same.
EXECUTABLES: dict[str, str] = {
    "mujoco_sim": "mesa_ros.nodes.mujoco_sim",
    "task_policy": "mesa_ros.nodes.task_policy",
    "safety_monitor": "mesa_ros.nodes.safety_monitor",
    "adaptation": "mesa_ros.nodes.adaptation",
    "bag_recorder": "mesa_ros.nodes.bag_recorder",
}


@dataclass(frozen=True)
class LaunchArg:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeSpec:
    name: str
    executable: str
    params_file: str
    parameters: dict[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    required: bool = False  # the graph stops when this node exits (as launch's on_exit=Shutdown())


@dataclass(frozen=True)
class Graph:
    name: str
    args: tuple[LaunchArg, ...]
    nodes: Callable[[Mapping[str, str]], list[NodeSpec]]

    def resolve(self, given: Mapping[str, str]) -> dict[str, str]:
        """Launch argument values: defaults overridden by ``given``; unknown names/choices are errors."""
        known = {a.name: a for a in self.args}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"unknown launch argument(s) {unknown} for {self.name}; known: {sorted(known)}")
        values = {a.name: a.default for a in self.args} | dict(given)
        for name, value in values.items():
            if known[name].choices and value not in known[name].choices:
                raise ValueError(f"launch argument {name}:={value!r} must be one of {list(known[name].choices)}")
        return values


def _bool(value: str, name: str) -> bool:
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"launch argument {name}:={value!r} must be true or false")


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"launch argument {name}:={value!r} must be an integer") from None


CHEETAH_FAULT_ARGS = (
    LaunchArg("fault", "fshin", "joint that loses power during the run ('none': no fault); default: the fault the "
              "shipped safety checkpoints never saw (scripts/make_demo_checkpoints.sh)",
              ("none", "bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")),
    LaunchArg("fault_step", "1000", "control step (from 0) just before which the simulator applies the fault"),
    LaunchArg("power_scale", "0.0", "power left on the faulted joint (0: total loss; the paper's test fault)"),
    LaunchArg("shield", "adapt", "adapt: the adaptation node enables the shield after phase 2; on: shield from the "
              "start with the checkpoint's critic; off: never", ("adapt", "on", "off")),
    LaunchArg("policy_checkpoint", "", "SAC task-policy checkpoint ('' = the shipped default)"),
    LaunchArg("safety_checkpoint", "", "meta-trained critic + recovery checkpoint, or a lookahead checkpoint "
              "('' = the shipped default critic)"),
    LaunchArg("lookahead_checkpoint", "shipped", "a lookahead checkpoint stacked on the critic shield "
              "(core/stacked.py): the critic's warning governor sets the gait c, the lookahead decides on c * a_task; "
              "the adaptation node adapts both. 'shipped': the shipped lookahead (none with adapt_method:=lookahead); "
              "'none': the critic shield alone"),
    LaunchArg("record_bag", "false", "record the graph's topics with bag_recorder"),
    LaunchArg("bag_dir", "", "bag output directory ('' = bags/run_<date-time>)"),
    LaunchArg("mode", "lockstep", "simulator mode", ("lockstep", "realtime")),
    LaunchArg("seed", "0", "seed of the simulator and policies"),
    LaunchArg("max_steps", "0", "stop the graph after this many control steps (0: run until Ctrl-C)"),
    LaunchArg("steps_after_shield", "0", "stop the graph this many control steps after the shield comes on (0: no)"),
    LaunchArg("sync_adaptation", "false", "lockstep: the simulator also waits for the adaptation node to take each "
              "step in, so that collection, phase 2 and arming take the same sim steps on any machine"),
    LaunchArg("adapt_method", "", "adaptation: mesa / multitask (phase 2 of safety_checkpoint's critic), rrl (a "
              "fresh critic from the post-fault data alone) or lookahead (a lookahead safety_checkpoint's model "
              "adapted: mesa-ros lookahead); '' = the checkpoint's method",
              ("", "mesa", "multitask", "rrl", "lookahead")),
    LaunchArg("adapt_transitions", "", "adaptation: post-fault transitions before phase 2 ('' = params_file's)"),
    LaunchArg("adapt_lr", "", "adaptation: phase-2 Adam rate ('' = params_file's; -1 there: the checkpoint's)"),
    LaunchArg("detect", "false", "adaptation: detect faults (and the return to health) from the transitions alone "
              "(core/detector.py) and ignore the simulator's fault announcements"),
    LaunchArg("adapted_checkpoint", "", "write the adapted safety layer the shield starts with to this file "
              "(stacked: the adapted lookahead beside it, <name>.lookahead.safetensors; '' = not written)"),
    LaunchArg("params_file", "", "node parameter file ('' = config/cheetah_fault.yaml of this package)"),
)


def _adapt_overrides(args: Mapping[str, str]) -> dict[str, int | float]:
    """The adaptation parameters given as launch arguments (the others come from the params file)."""
    out: dict[str, int | float] = {}
    if args["adapt_transitions"]:
        out["transitions"] = _int(args["adapt_transitions"], "adapt_transitions")
    if args["adapt_lr"]:
        try:
            out["lr"] = float(args["adapt_lr"])
        except ValueError:
            raise ValueError(f"launch argument adapt_lr:={args['adapt_lr']!r} must be a number") from None
    return out


def stacked_lookahead(args: Mapping[str, str]) -> str:
    """The lookahead stacked on the critic shield ('' = none): ``lookahead_checkpoint``, the shipped one for
    'shipped', none when the shield is the lookahead alone (``adapt_method:=lookahead`` or a lookahead
    ``safety_checkpoint``); an explicit one there is an error before any node starts."""
    from mesa_ros.core import checkpoint
    from mesa_ros.nodes.defaults import default_checkpoint

    given, safety = args["lookahead_checkpoint"], args["safety_checkpoint"]
    alone = args["adapt_method"] == "lookahead" or (
        bool(safety) and Path(safety).is_file() and "ensemble" in checkpoint.load(safety, numpy=True).tensors)
    if given == "none" or (given == "shipped" and alone):
        return ""
    if alone:
        raise ValueError(f"lookahead_checkpoint:={given} stacks a lookahead on a critic shield, but the shield is the "
                         "lookahead alone (adapt_method:=lookahead or a lookahead safety_checkpoint): set "
                         "lookahead_checkpoint:=none")
    return str(default_checkpoint(ENV, "lookahead")) if given == "shipped" else given


def safety_checkpoint(args: Mapping[str, str]) -> str:
    """The monitor's and the adaptation node's ``checkpoint``: ``safety_checkpoint``, or with
    ``adapt_method:=lookahead`` and none given the shipped lookahead (the nodes' own default is the shipped critic,
    which the adapted model could not replace)."""
    from mesa_ros.nodes.defaults import default_checkpoint

    if args["safety_checkpoint"] or args["adapt_method"] != "lookahead":
        return args["safety_checkpoint"]
    return str(default_checkpoint(ENV, "lookahead"))


def _provenance(args: Mapping[str, str], params: str, stack: str) -> dict[str, Any]:
    """The bag recorder's ``provenance.*`` parameters: what it writes into the bags' metadata (``mesa_ros.provenance``
    adds the hashes, version and commit), ``stack`` the stacked lookahead ('' = none). Plain ``key=value`` strings:
    launch_ros would parse a JSON string."""
    from mesa_ros.nodes.defaults import default_checkpoint

    def checkpoint(given: str, kind: str) -> str:
        try:
            return given or str(default_checkpoint(ENV, kind))
        except FileNotFoundError:
            return ""

    used = {"policy": checkpoint(args["policy_checkpoint"], "policy"),
            "safety": checkpoint(safety_checkpoint(args), "safety")}
    if stack:
        used["lookahead"] = stack
    if _bool(args["detect"], "detect"):
        used["detector"] = checkpoint("", "detector")
    return {"provenance.env": ENV, "provenance.task": [f"{k}={v}" for k, v in args.items()],
            "provenance.checkpoints": [f"{k}={v}" for k, v in used.items()], "provenance.params_file": params}


def cheetah_fault_nodes(args: Mapping[str, str]) -> list[NodeSpec]:
    """HalfCheetah-Disabled with a mid-run joint fault, MESA adaptation and the Recovery RL shield."""
    return with_start_gates(_cheetah_nodes(args))


#: What each node listens to from start-up when the control loop speaks ros2_control (its /joint_states and
#: Float64MultiArray commands are not gated: realtime mode answers a missing command with safe_action).
ROS2_CONTROL_LISTENERS: dict[str, tuple[str, ...]] = {
    **wire.LISTENERS, "mujoco_sim": (wire.RISK,), "task_policy": (), "safety_monitor": (wire.WEIGHTS,)}


def cheetah_ros2_control_nodes(args: Mapping[str, str]) -> list[NodeSpec]:
    """The cheetah_fault graph with its control loop on ros2_control's interfaces: the simulator publishes
    /joint_states and takes /effort_controller/commands, the task policy publishes /task_controller/commands,
    the safety monitor filters between them (realtime); adaptation and bag recorder unchanged."""
    loop = {"mujoco_sim": {"interface": "ros2_control", "mode": "realtime"},
            "task_policy": {"interface": "ros2_control"}, "safety_monitor": {"interface": "ros2_control"}}
    nodes = [replace(n, parameters={**n.parameters, **loop.get(n.name, {})})
             for n in _cheetah_nodes({**args, "mode": "realtime", "sync_adaptation": "false"})]
    check_graph_params(nodes, EXECUTABLES)
    return with_start_gates(nodes, ROS2_CONTROL_LISTENERS)


def _cheetah_nodes(args: Mapping[str, str]) -> list[NodeSpec]:
    """The nodes of the cheetah graphs, their parameters checked, before start gates."""
    params = args["params_file"] or str(config_file("cheetah_fault.yaml"))
    seed = _int(args["seed"], "seed")
    fault_step, max_steps = _int(args["fault_step"], "fault_step"), _int(args["max_steps"], "max_steps")
    after_shield = _int(args["steps_after_shield"], "steps_after_shield")
    power = check_power_scale("launch argument power_scale", args["power_scale"])
    shield = args["shield"]
    faulted = [] if args["fault"] == "none" else [args["fault"]]
    sync = _bool(args["sync_adaptation"], "sync_adaptation")
    stack = stacked_lookahead(args)  # once: it may read safety_checkpoint
    safety = safety_checkpoint(args)
    if sync and (args["mode"] != "lockstep" or shield != "adapt"):
        raise ValueError("sync_adaptation:=true needs mode:=lockstep and shield:=adapt (the adaptation node to wait "
                         f"for), got mode:={args['mode']} shield:={shield}")
    nodes = [
        NodeSpec("mujoco_sim", "mujoco_sim", params, {"mode": args["mode"], "seed": seed, "max_steps": max_steps,
                                                      "max_steps_after_shield": after_shield,
                                                      "lockstep_sync_adaptation": sync,
                                                      wire.POWER_SCALE: power,
                                                      wire.SCHEDULED_STEP: fault_step if faulted else -1,
                                                      wire.SCHEDULED_JOINTS: faulted or [""]}, required=True),
        NodeSpec("task_policy", "task_policy", params, {"checkpoint": args["policy_checkpoint"], "seed": seed}),
        NodeSpec("safety_monitor", "safety_monitor", params, {"checkpoint": safety,
                                                              "lookahead_checkpoint": stack,
                                                              "enabled": shield == "on", "seed": seed}),
    ]
    if shield == "adapt":
        detect = {"detect": True, "announce_from_sim": False} if _bool(args["detect"], "detect") else {}
        nodes.append(NodeSpec("adaptation", "adaptation", params, {"checkpoint": safety,
                                                                   "policy_checkpoint": args["policy_checkpoint"],
                                                                   "save_adapted": args["adapted_checkpoint"],
                                                                   "method": args["adapt_method"],
                                                                   "lookahead_checkpoint": stack,
                                                                   "seed": seed, **detect, **_adapt_overrides(args)}))
    if _bool(args["record_bag"], "record_bag"):
        nodes.append(NodeSpec("bag_recorder", "bag_recorder", params, {"output": args["bag_dir"],
                                                                       **_provenance(args, params, stack)}))
    check_graph_params(nodes, EXECUTABLES)  # one clear error before any node starts
    if args["mode"] == "realtime" and not parameter(params, "safety_monitor", "decision_budget_ms", 0.0):
        # a late command would be replaced by safe_action: decide in time
        rate = parameter(params, "mujoco_sim", "rate_hz", 20.0)  # the node's default
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
            raise ValueError(f"params file {params}: mujoco_sim rate_hz={rate!r} must be a positive number")
        budget = DECISION_SHARE * 1000.0 / rate
        nodes = [replace(n, parameters={**n.parameters, "decision_budget_ms": budget})
                 if n.name == "safety_monitor" else n for n in nodes]
    return nodes


def with_start_gates(nodes: list[NodeSpec],
                     listeners: Mapping[str, tuple[str, ...]] = wire.LISTENERS) -> list[NodeSpec]:
    """Each gated node waits for every other node of the graph that listens to its outputs
    (``listeners``, by default ``wire.LISTENERS``; ``mesa_ros.nodes.start_gate``): in lockstep the simulator
    thus steps only when the recorder and the answering nodes hear everything from step 0."""
    names = {n.name for n in nodes}
    gated = []
    for node in nodes:
        outputs = wire.GATED_OUTPUTS.get(node.name, ())
        waits = [f"{other}:{topic}" for other in sorted(names - {node.name})
                 for topic in listeners.get(other, ()) if topic in outputs]
        gated.append(replace(node, parameters={**node.parameters, "wait_for_subscribers": waits}) if waits else node)
    return gated


GRAPHS: dict[str, Graph] = {
    "cheetah_fault": Graph("cheetah_fault", CHEETAH_FAULT_ARGS, cheetah_fault_nodes),
    "cheetah_ros2_control": Graph("cheetah_ros2_control",
                                  tuple(a for a in CHEETAH_FAULT_ARGS if a.name not in ("mode", "sync_adaptation")),
                                  cheetah_ros2_control_nodes),
}


def get_graph(name: str) -> Graph:
    if name not in GRAPHS:
        raise ValueError(f"unknown graph {name!r}; available: {sorted(GRAPHS)}")
    return GRAPHS[name]
