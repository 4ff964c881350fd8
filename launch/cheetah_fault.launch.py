"""ros2 launch mesa_ros cheetah_fault.launch.py [fault:=fshin fault_step:=1000 shield:=adapt record_bag:=true ...]

HalfCheetah-Disabled in MuJoCo with a mid-run joint fault, MESA adaptation and the Recovery RL shield.
The nodes, parameters and arguments come from mesa_ros/graph.py, the same description that
``mesa-ros launch cheetah_fault`` starts without the ROS 2 launch system (mesa_ros/launch_file.py).
"""
from mesa_ros.launch_file import launch_description


def generate_launch_description():
    return launch_description("cheetah_fault")
