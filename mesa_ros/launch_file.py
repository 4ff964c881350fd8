"""The ROS 2 launch description of a graph of ``mesa_ros.graph`` (what every ``launch/*.launch.py`` returns).

The launch and launch_ros packages are imported inside: they exist where ROS 2 is installed (``ros2
launch``), not on the pip-only machines, where ``mesa-ros launch`` starts the same description.
"""
from __future__ import annotations

from typing import Any

from mesa_ros.graph import get_graph


def launch_description(graph_name: str) -> Any:
    """Launch arguments, one ``launch_ros`` Node per node spec, and a node that dies stops the graph."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
    from launch.event_handlers import OnProcessExit

    from launch import LaunchDescription

    graph = get_graph(graph_name)
    arguments = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                                       **({"choices": list(a.choices)} if a.choices else {}))
                 for a in graph.args]
    return LaunchDescription([*arguments, OpaqueFunction(function=lambda context, *_, **__: nodes(graph, context)),
                              RegisterEventHandler(OnProcessExit(on_exit=stop_on_failure))])


def nodes(graph: Any, context: Any) -> list[Any]:
    """The graph's nodes for the launch arguments of ``context``."""
    from launch.actions import Shutdown
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    values = graph.resolve({a.name: LaunchConfiguration(a.name).perform(context) for a in graph.args})
    return [Node(package="mesa_ros", executable=spec.executable, name=spec.name,
                 parameters=[spec.params_file, spec.parameters], remappings=list(spec.remappings), output="screen",
                 on_exit=Shutdown(reason=f"{spec.name} exited") if spec.required else None)
            for spec in graph.nodes(values)]


def stop_on_failure(event: Any, context: Any) -> list[Any] | None:
    """A node that dies with an error stops the graph (as ``mesa-ros launch`` does)."""
    from launch.actions import LogInfo, Shutdown

    if event.returncode != 0:
        reason = f"{event.action.name} died unexpectedly (exit code {event.returncode}); stopping the graph"
        return [LogInfo(msg=reason), Shutdown(reason=reason)]
    return None
