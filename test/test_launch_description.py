"""launch/<graph>.launch.py and `mesa-ros launch <graph>` start the same nodes, executables and parameters.

The ROS 2 launch system has no wheels here, so the launch file runs against recording stand-ins of
the launch / launch_ros classes it uses (same constructor signatures), and what it would create is
compared with what the project's launcher starts.
"""
from __future__ import annotations

import ast
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest

from mesa_ros.graph import EXECUTABLES, get_graph
from mesa_ros.launcher import node_command
from mesa_ros.nodes.defaults import default_checkpoint

ROOT = Path(__file__).resolve().parents[1]
GRAPH_NAMES = ("cheetah_fault", "cheetah_ros2_control")


class Recorded:
    """Stores constructor arguments, like a launch action would keep them."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(Recorded):
    def perform(self, context) -> str:
        return context.launch_configurations[self.args[0]]


@pytest.fixture(params=GRAPH_NAMES)
def launch_file(monkeypatch, request):
    """Import the launch file with stand-ins for launch, launch.actions, ... registered in sys.modules."""
    names = {
        "launch": ["LaunchDescription"],
        "launch.actions": ["DeclareLaunchArgument", "LogInfo", "OpaqueFunction", "RegisterEventHandler", "Shutdown"],
        "launch.event_handlers": ["OnProcessExit"],
        "launch.substitutions": [],
        "launch_ros": [],
        "launch_ros.actions": ["Node"],
    }
    for module_name, classes in names.items():
        module = types.ModuleType(module_name)
        for cls in classes:
            setattr(module, cls, type(cls, (Recorded,), {}))
        monkeypatch.setitem(sys.modules, module_name, module)
    sys.modules["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    spec = importlib.util.spec_from_file_location(f"{request.param}_launch", ROOT / "launch" /
                                                  f"{request.param}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.GRAPH_NAME = request.param
    return module


def launched_nodes(launch_file, overrides: dict[str, str]) -> list[dict]:
    description = launch_file.generate_launch_description()
    actions = description.args[0]
    declared = {a.args[0]: a.kwargs for a in actions if type(a).__name__ == "DeclareLaunchArgument"}
    (opaque,) = [a for a in actions if type(a).__name__ == "OpaqueFunction"]
    context = types.SimpleNamespace(launch_configurations={n: kw["default_value"] for n, kw in declared.items()}
                                    | overrides)
    nodes = opaque.kwargs["function"](context)
    return [n.kwargs for n in nodes], declared


@pytest.mark.parametrize("overrides", [
    {},
    {"record_bag": "true", "shield": "adapt", "seed": "3", "detect": "true"},
    {"fault": "none", "shield": "off", "max_steps": "500"},
    {"shield": "on", "fault": "bshin", "power_scale": "0.5", "fault_step": "20"},
])
def test_launch_file_and_launcher_describe_the_same_graph(launch_file, overrides) -> None:
    graph = get_graph(launch_file.GRAPH_NAME)
    nodes, declared = launched_nodes(launch_file, overrides)
    specs = graph.nodes(graph.resolve(overrides))
    assert [n["name"] for n in nodes] == [s.name for s in specs]
    for node, spec in zip(nodes, specs):
        assert node["package"] == "mesa_ros"
        assert node["executable"] == spec.executable
        assert node["parameters"] == [spec.params_file, spec.parameters]
        assert node["remappings"] == list(spec.remappings)
        assert (node["on_exit"] is not None) == spec.required
        command = node_command(spec, Path("overrides.yaml"))
        assert command[2] == EXECUTABLES[spec.executable]
        assert command[command.index("--params-file") + 1] == spec.params_file
    assert set(declared) == {a.name for a in graph.args}
    for arg in graph.args:
        assert declared[arg.name]["default_value"] == arg.default
        assert declared[arg.name].get("choices", []) == list(arg.choices)


def test_launch_file_stops_the_graph_when_a_node_fails(launch_file) -> None:
    from mesa_ros.launch_file import stop_on_failure as handler

    failed = types.SimpleNamespace(returncode=1, action=types.SimpleNamespace(name="task_policy"))
    actions = handler(failed, None)
    assert [type(a).__name__ for a in actions] == ["LogInfo", "Shutdown"]
    assert "task_policy died unexpectedly" in actions[1].kwargs["reason"]
    assert handler(types.SimpleNamespace(returncode=0, action=failed.action), None) is None


def test_every_executable_is_a_console_script_with_main() -> None:
    tree = ast.parse((ROOT / "setup.py").read_text())
    scripts = {m.group(1): m.group(2) for node in ast.walk(tree) if isinstance(node, ast.Constant)
               and isinstance(node.value, str) and (m := re.fullmatch(r"(\w+) = ([\w.]+):main", node.value))}
    assert scripts == EXECUTABLES
    for module in EXECUTABLES.values():
        assert callable(importlib.import_module(module).main)


def test_sync_adaptation_makes_the_lockstep_simulator_wait_for_the_adaptation_node() -> None:
    graph = get_graph("cheetah_fault")
    for given, expected in (({}, False), ({"sync_adaptation": "true"}, True)):
        sim = next(n for n in graph.nodes(graph.resolve(given)) if n.name == "mujoco_sim")
        assert sim.parameters["lockstep_sync_adaptation"] is expected
    with pytest.raises(ValueError, match=r"unknown launch argument\(s\) \['sync_adaptation'\]"):
        get_graph("cheetah_ros2_control").resolve({"sync_adaptation": "true"})  # realtime: nothing waits


def test_adapt_method_lookahead_without_a_checkpoint_gives_both_nodes_the_shipped_lookahead() -> None:
    """The nodes' own default is the shipped critic, which an adapted model could not replace."""
    graph = get_graph("cheetah_fault")
    lookahead = str(default_checkpoint("HalfCheetah-Disabled", "lookahead"))
    for given, expected in (({"adapt_method": "lookahead"}, lookahead), ({}, ""),
                            ({"adapt_method": "lookahead", "safety_checkpoint": "mine.safetensors"},
                             "mine.safetensors")):
        nodes = {n.name: n for n in graph.nodes(graph.resolve(given))}
        assert nodes["safety_monitor"].parameters["checkpoint"] == expected
        assert nodes["adaptation"].parameters["checkpoint"] == expected


@pytest.mark.parametrize(("given", "message"), [
    ({"shield": "maybe"}, r"shield:='maybe' must be one of \['adapt', 'on', 'off'\]"),
    ({"speed": "1"}, r"unknown launch argument\(s\) \['speed'\]"),
    ({"seed": "x"}, r"seed:='x' must be an integer"),
    ({"power_scale": "2"}, r"power scale for 'launch argument power_scale' must be in \[0, 1\], got 2.0"),
    ({"power_scale": "half"}, r"'launch argument power_scale' must be a number in \[0, 1\], got 'half'"),
    ({"record_bag": "perhaps"}, r"record_bag:='perhaps' must be true or false"),
    ({"sync_adaptation": "true", "mode": "realtime"}, r"sync_adaptation:=true needs mode:=lockstep and shield:=adapt "
                                                      r"\(the adaptation node to wait for\), got mode:=realtime"),
    ({"sync_adaptation": "true", "shield": "on"}, r"needs mode:=lockstep and shield:=adapt .*shield:=on"),
])
def test_bad_launch_arguments_are_named(given: dict[str, str], message: str) -> None:
    graph = get_graph("cheetah_fault")
    with pytest.raises(ValueError, match=message):
        graph.nodes(graph.resolve(given))


@pytest.mark.parametrize(("text", "message"), [
    (None, "does not exist"),
    ("mujoco_sim: [unclosed", "is not valid YAML"),
    ("- a\n- b\n", "the top level must map node names"),
    ("pilot:\n  ros__parameters: {x: 1}\n", r"unknown node 'pilot'; the graph has \['adaptation', "),
    ("adaptation:\n  params: {x: 1}\n", "'adaptation' must hold exactly one 'ros__parameters' mapping"),
    ("adaptation:\n  ros__parameters: {transitons: 500}\n", "node 'adaptation' has no parameter 'transitons'"),
    ("mujoco_sim:\n  ros__parameters: {fault: {power_scal: 0.5}}\n", "has no parameter 'fault.power_scal'"),
])
def test_a_bad_params_file_is_one_error_before_any_node_starts(tmp_path, text: str | None, message: str) -> None:
    path = tmp_path / "params.yaml"
    if text is not None:
        path.write_text(text)
    graph = get_graph("cheetah_fault")
    with pytest.raises(ValueError, match=message):
        graph.nodes(graph.resolve({"params_file": str(path)}))


def test_a_good_params_file_with_nested_and_wildcard_sections_passes(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("/**:\n  ros__parameters: {use_sim_time: true}\nmujoco_sim:\n  ros__parameters:\n"
                    "    fault: {power_scale: 0.5}\n    rate_hz: 40.0\nadaptation:\n  ros__parameters: {lr: 0.001}\n")
    graph = get_graph("cheetah_fault")
    assert len(graph.nodes(graph.resolve({"params_file": str(path)}))) == 4


@pytest.mark.parametrize(("mode", "file_value", "expected"), [
    ("lockstep", None, None),  # every candidate: the lockstep run does not depend on machine load
    ("realtime", None, 0.7 * 1000 / 40.0),  # 70% of the params file's period
    ("realtime", 12.5, None),  # the file's own budget stands
])
def test_realtime_gives_the_safety_monitor_a_decision_budget_within_the_period(tmp_path, mode, file_value,
                                                                              expected) -> None:
    monitor = f"safety_monitor:\n  ros__parameters: {{decision_budget_ms: {file_value}}}\n" if file_value else ""
    path = tmp_path / "params.yaml"
    path.write_text(f"mujoco_sim:\n  ros__parameters: {{rate_hz: 40.0}}\n{monitor}")
    graph = get_graph("cheetah_fault")
    (node,) = [n for n in graph.nodes(graph.resolve({"params_file": str(path), "mode": mode}))
               if n.name == "safety_monitor"]
    assert node.parameters.get("decision_budget_ms") == expected
    ros2_control = get_graph("cheetah_ros2_control")  # always realtime; the shipped file's 20 Hz
    (node,) = [n for n in ros2_control.nodes(ros2_control.resolve({})) if n.name == "safety_monitor"]
    assert node.parameters["decision_budget_ms"] == pytest.approx(35.0)
    path.write_text("/mujoco_sim:\n  ros__parameters: {rate_hz: fast}\n")
    with pytest.raises(ValueError, match=r"mujoco_sim rate_hz='fast' must be a positive number"):
        graph.nodes(graph.resolve({"params_file": str(path), "mode": "realtime"}))
