"""How tf-freezer installs: the repository's core/ and gui/ folders become tf_freezer.core and
tf_freezer.gui, so another installed package named `core` or `gui` cannot collide with them."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_holds_only_the_tf_freezer_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel, = tmp_path.glob("tf_freezer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"tf_freezer", next(t for t in tops if t.endswith(".dist-info"))}
    for module in ("tf_freezer/__main__.py", "tf_freezer/core/freeze.py", "tf_freezer/gui/main_window.py",
                   "tf_freezer/resources/sample/model.ckpt-5.meta", "tf_freezer/resources/icons/app.svg"):
        assert module in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "tf-freezer = tf_freezer.gui.launch:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_installed_project_has_no_top_level_core_or_gui(tmp_path):
    # From a folder outside the repository and without PYTHONPATH, so that only what the install put on
    # sys.path counts.
    code = ("import importlib.util as u, tf_freezer.core.freeze, tf_freezer.gui.launch; "
            "print(u.find_spec('core'), u.find_spec('gui'))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]


def test_python_dash_m_tf_freezer_runs_the_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tf_freezer", "inspect", str(ROOT / "resources" / "sample")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "images:0" in done.stdout and "857 nodes" in done.stdout
