"""mesa_ros: an ament_python ROS 2 package that is also a plain pip-installable Python package."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mesa_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    # Assets are installed to <prefix>/share/mesa_ros by colcon and by `pip install .`;
    # an editable install or a checkout resolves them from the source tree (mesa_ros/paths.py).
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/mesa", glob("config/mesa/*.yaml")),
        (f"share/{PACKAGE}/sim", glob("sim/*.xml")),
        *[(f"share/{PACKAGE}/{d}", glob(f"{d}/*.safetensors")) for d in sorted(glob("config/checkpoints/*"))],
    ],
    python_requires=">=3.10",
    # Exact pins live in requirements.txt; ROS packages (rclpy, message packages) come from the
    # ROS installation or from the ros-* wheels listed there, so they are not install_requires.
    install_requires=[
        "numpy>=1.24",
        "pyyaml>=6.0",
        "torch>=2.2",
        "mujoco>=3.2",
        "gymnasium>=1.0",
        "rosbags>=0.11,<0.12",
        "mcap>=1.1",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "psutil>=5.9",
    ],
    # optional: `pip install .[cluster]` runs `mesa-ros experiment --dask ...` on a Dask cluster
    # `pip install .[tensorboard]`: --tensorboard of meta-train, adapt, train-online and experiment
    extras_require={"cluster": ["dask[distributed]>=2024.1"], "tensorboard": ["tensorboard>=2.10"]},
    tests_require=["pytest"],
    zip_safe=True,
    maintainer="mesa_ros developers",
    maintainer_email="mesa-ros@example.org",
    description="MESA meta-learned safety critic and Recovery RL shield as ROS 2 nodes around MuJoCo.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "mesa-ros = mesa_ros.cli:main",
            # ROS 2 nodes (`ros2 run mesa_ros <name>`); the same table as mesa_ros.graph.EXECUTABLES
            "mujoco_sim = mesa_ros.nodes.mujoco_sim:main",
            "task_policy = mesa_ros.nodes.task_policy:main",
            "safety_monitor = mesa_ros.nodes.safety_monitor:main",
            "adaptation = mesa_ros.nodes.adaptation:main",
            "bag_recorder = mesa_ros.nodes.bag_recorder:main",
        ],
    },
)
