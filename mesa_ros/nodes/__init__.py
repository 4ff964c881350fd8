"""ROS 2 nodes: thin rclpy wiring around the simulation layer and the learning core.

Interfaces are standard types only (std_msgs, sensor_msgs, std_srvs, diagnostic_msgs,
rosgraph_msgs, parameters), so everything is reachable from a stock ``ros2`` CLI.
"""
