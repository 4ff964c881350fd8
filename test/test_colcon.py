"""A real ``colcon build`` of the package: assets land in ``share/mesa_ros``, nodes run like ``ros2 run``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_PARTS = ["package.xml", "setup.py", "setup.cfg", "resource", "mesa_ros", "launch", "config", "sim"]
NODES = ["mujoco_sim", "task_policy", "safety_monitor", "adaptation", "bag_recorder"]


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    """``colcon build`` of a copy of the package in a fresh workspace; returns ``install/mesa_ros``."""
    ws = tmp_path_factory.mktemp("ws")
    src = ws / "src" / "mesa_ros"
    src.mkdir(parents=True)
    for part in PACKAGE_PARTS:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / part, src / part)
    colcon = Path(sys.executable).with_name("colcon")
    result = subprocess.run([str(colcon), "build", "--packages-select", "mesa_ros"], cwd=ws,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Finished <<< mesa_ros" in result.stdout
    return ws / "install" / "mesa_ros"


def _installed_env(install: Path) -> dict[str, str]:
    """The environment ``source install/setup.bash`` gives, minus the source tree."""
    site = next((install / "lib").glob("python3*/site-packages"))
    return {**os.environ, "AMENT_PREFIX_PATH": str(install), "PYTHONPATH": str(site)}


def test_colcon_build_installs_launch_config_and_sim(install: Path) -> None:
    share = install / "share" / "mesa_ros"
    for asset in [*ROOT.glob("launch/*.py"), *ROOT.glob("sim/*.xml"), *ROOT.glob("config/**/*.yaml"),
                  *ROOT.glob("config/checkpoints/*/*.safetensors")]:
        assert (share / asset.relative_to(ROOT)).is_file(), asset
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / "mesa_ros").is_file()
    for node in NODES:  # setup.cfg: where `ros2 run mesa_ros <node>` looks
        assert os.access(install / "lib" / "mesa_ros" / node, os.X_OK), node


def test_installed_package_resolves_its_assets_and_executables_through_the_ament_index(
    install: Path, tmp_path: Path
) -> None:
    code = ("from ament_index_python.packages import get_package_prefix, get_package_share_directory\n"
            "import mesa_ros, mesa_ros.paths as p\n"
            "print(get_package_prefix('mesa_ros')); print(get_package_share_directory('mesa_ros'))\n"
            "print(mesa_ros.__file__); print(p.share_dir()); print(p.sim_asset('half_cheetah.xml'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_installed_env(install),
                            capture_output=True, text=True, check=True)
    prefix, share, module, assets, model = (Path(line) for line in result.stdout.split())
    assert prefix == install and share == install / "share" / "mesa_ros"
    assert module.is_relative_to(install) and assets == share and model.is_file()


def test_installed_node_runs_as_ros2_run_would_start_it(install: Path, tmp_path: Path, ros_env: dict[str, str]) -> None:
    executable = install / "lib" / "mesa_ros" / "mujoco_sim"  # ros2 run: <prefix>/lib/<package>/<executable>
    result = subprocess.run(
        [str(executable), "--ros-args", "-p", "mode:=realtime", "-p", "rate_hz:=200.0", "-p", "max_steps:=20"],
        cwd=tmp_path, env={**_installed_env(install), **ros_env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HalfCheetah-Disabled: realtime mode" in result.stderr
    assert "max_steps=20 reached" in result.stderr
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
