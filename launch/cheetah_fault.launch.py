"""ros2 launch mesa_ros cheetah_fault.launch.py [fault:=fshin fault_step:=1000 shield:=adapt record_bag:=true ...]

HalfCheetah-Disabled in MuJoCo with a mid-run joint fault, MESA adaptation and the Recovery RL shield.
The nodes, parameters and arguments come from mesa_ros/graph.py, the same description that
``mesa-ros launch cheetah_fault`` starts without the ROS 2 launch system.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, RegisterEventHandler, Shutdown
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from mesa_ros.graph import get_graph

GRAPH = get_graph("cheetah_fault")


def _nodes(context, *args, **kwargs):
    values = GRAPH.resolve({a.name: LaunchConfiguration(a.name).perform(context) for a in GRAPH.args})
    return [
        Node(
            package="mesa_ros",
            executable=spec.executable,
            name=spec.name,
            parameters=[spec.params_file, spec.parameters],
            remappings=list(spec.remappings),
            output="screen",
            on_exit=Shutdown(reason=f"{spec.name} exited") if spec.required else None,
        )
        for spec in GRAPH.nodes(values)
    ]


def _stop_on_failure(event, context):
    """A node that dies with an error stops the graph (as ``mesa-ros launch`` does)."""
    if event.returncode != 0:
        reason = f"{event.action.name} died unexpectedly (exit code {event.returncode}); stopping the graph"
        return [LogInfo(msg=reason), Shutdown(reason=reason)]
    return None


def generate_launch_description() -> LaunchDescription:
    arguments = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                              **({"choices": list(a.choices)} if a.choices else {}))
        for a in GRAPH.args
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes),
                              RegisterEventHandler(OnProcessExit(on_exit=_stop_on_failure))])
