"""ros2 launch mesa_ros cheetah_ros2_control.launch.py [fault:=fshin record_bag:=true ...]

The cheetah_fault graph with its control loop on ros2_control's interfaces (/joint_states in,
Float64MultiArray commands out; the safety monitor a filter between task controller and robot; realtime).
The nodes, parameters and arguments come from mesa_ros/graph.py, the same description that
``mesa-ros launch cheetah_ros2_control`` starts without the ROS 2 launch system (mesa_ros/launch_file.py).
"""
from mesa_ros.launch_file import launch_description


def generate_launch_description():
    return launch_description("cheetah_ros2_control")
