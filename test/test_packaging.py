"""Packaging: the ament_python layout, data files for colcon/pip installs, asset lookup when installed."""
from __future__ import annotations

import configparser
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_is_format_3_with_real_dependencies() -> None:
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "mesa_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root if e.tag.endswith("depend")}
    for dep in ("rclpy", "std_msgs", "sensor_msgs", "std_srvs", "diagnostic_msgs", "rosgraph_msgs",
                "python3-numpy", "python3-yaml"):
        assert dep in deps, dep
    assert (ROOT / "resource" / "mesa_ros").is_file()


def test_setup_cfg_puts_console_scripts_where_ros2_run_looks() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/mesa_ros"
    assert cfg["install"]["install_scripts"] == "$base/lib/mesa_ros"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    (path,) = out.glob("mesa_ros-*.whl")
    return path


def test_wheel_installs_assets_under_share(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    data = "mesa_ros-0.1.0.data/data/share/"
    expected = [
        "ament_index/resource_index/packages/mesa_ros",
        "mesa_ros/package.xml",
        "mesa_ros/sim/half_cheetah.xml",
        "mesa_ros/config/mesa/halfcheetah_disabled.yaml",
    ]
    for rel in expected:
        assert data + rel in names, rel
    for asset in [*ROOT.glob("sim/*.xml"), *ROOT.glob("config/**/*.yaml"), *ROOT.glob("launch/*.py")]:
        assert data + "mesa_ros/" + asset.relative_to(ROOT).as_posix() in names, asset


def test_installed_package_finds_its_assets_outside_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    code = "from mesa_ros.paths import share_dir, sim_asset; print(share_dir()); print(sim_asset('half_cheetah.xml'))"
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, check=True,
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    share, model = result.stdout.split()
    assert Path(share) == venv / "share" / "mesa_ros"
    assert Path(model).is_file()


def test_the_nodes_that_only_infer_never_import_torch() -> None:
    """task_policy (deterministic, not learning), safety_monitor, mujoco_sim and bag_recorder run on numpy:
    ~0.3 GB less resident memory per process than with torch loaded (bench/bench_graph.py reports the RSS)."""
    code = ("import sys\nimport mesa_ros.nodes.task_policy, mesa_ros.nodes.safety_monitor, mesa_ros.nodes.mujoco_sim, "
            "mesa_ros.nodes.bag_recorder\nprint(sorted(m for m in sys.modules if m == 'torch'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
