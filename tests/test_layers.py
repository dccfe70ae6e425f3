"""The layer contracts (pyproject's [tool.importlinter]) cover every module and hold."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _run_lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_module_of_a_feature_is_in_a_layer() -> None:
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    named = set(re.findall(r"\((\w+)\)", " ".join(layers["layers"])))  # type: ignore[arg-type]
    for container in layers["containers"]:  # type: ignore[attr-defined]
        folder = ROOT / container.replace(".", "/")
        modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        modules |= {p.parent.name for p in folder.glob("*/__init__.py")}
        assert modules - named == set(), f"{container}: put these modules in a layer"


def test_the_contracts_hold() -> None:
    result = _run_lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_a_model_importing_a_page_breaks_the_contracts(tmp_path: Path) -> None:
    for name in ("bureau", "workers"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    models = tmp_path / "bureau" / "outbox" / "models.py"
    models.write_text(models.read_text() + "\nfrom bureau.bookings import views  # noqa\n")
    result = _run_lint_imports(tmp_path)
    assert result.returncode == 1
    assert "The outbox is infrastructure: it knows no feature BROKEN" in result.stdout
    assert "No feature reaches into another's pages or API, nor the app shell BROKEN" in (
        result.stdout
    )
