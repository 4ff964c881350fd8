"""mesa_ros: MESA (MEta-learning for Safe Adaptation) as ROS 2 nodes around MuJoCo.

Layers (dependencies point down only): ``mesa_ros.envs`` (simulation, no ROS, no torch) ->
``mesa_ros.core`` (learning, ROS-free) -> ``mesa_ros.nodes`` (rclpy wiring) -> entry points.
"""

__version__ = "0.1.0"
