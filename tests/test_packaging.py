"""Templates, static files and migrations are found in a checkout and in a built wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bureau.resources import resource_dir

ROOT = Path(__file__).resolve().parent.parent


def test_checkout_uses_the_top_level_folders() -> None:
    for name in ("templates", "static", "migrations"):
        assert resource_dir(name) == ROOT / name


SMOKE = """
import sys, bureau
from bureau import create_app
from bureau.resources import resource_dir
assert bureau.__file__.startswith(sys.argv[1]), bureau.__file__
app = create_app({"BUREAU_ENV": "testing", "BUREAU_INSTANCE_PATH": sys.argv[2]})
from flask_migrate import upgrade
from bureau.demo.catalogue import load_demo_catalogue
from bureau.extensions import db
with app.app_context():
    upgrade()
    load_demo_catalogue(db.session)
    db.session.commit()
page = app.test_client().get("/speakers/kaiser-kuo")
assert page.status_code == 200, page.status_code
assert b"Request this speaker" in page.data
chinese = app.test_client().get("/speakers/kaiser-kuo", headers={"Accept-Language": "zh-CN"})
assert "预约演讲者" in chinese.get_data(as_text=True), "the wheel's catalogue is not read"
print(resource_dir("templates"))
"""


@pytest.mark.slow  # builds and installs a wheel
def test_built_wheel_carries_templates_static_migrations_and_translations(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = wheels.glob("bureau-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in (
        "bureau/_resources/templates/base.html",
        "bureau/_resources/static/css/bureau.css",
        "bureau/_resources/migrations/env.py",
        "bureau/_resources/migrations/versions/0001_initial.py",
        "bureau/demo/catalogue.json",
        "bureau/translations/zh_Hans/LC_MESSAGES/messages.mo",
        "workers/__init__.py",
    ):
        assert member in names, member

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "-t", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", SMOKE, str(target), str(tmp_path / "instance")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("bureau/_resources/templates")
