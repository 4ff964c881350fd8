"""The MESA learning core: datasets, SAC, safety critic, recovery policy, shield, MAML phases 1-3.

ROS-free by design (no rclpy import anywhere below this package): usable from a notebook or the CLI.
"""
