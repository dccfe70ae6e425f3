"""The browser the browser tests drive (Debian's chromium through chromedriver, one session
per module) and what they ask of each page: what the CSP refused, no sideways scrolling,
screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("BUREAU_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BUREAU_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = chromium(tmp_path_factory)
    yield driver
    driver.quit()


def chromium(
    tmp_path_factory: pytest.TempPathFactory,
    *,
    window: str = "1280,2000",
    languages: str | None = None,
    phone: bool = False,
) -> Any:
    """A headless chromium session. ``languages`` ("zh-CN,zh"): the profile's languages (its
    Accept-Language); ``phone``: a phone's screen, pointer and user agent (Chrome's own
    emulation of a Pixel 7)."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        message = f"chromium ({CHROMIUM}) and chromedriver ({CHROMEDRIVER}) are needed"
        if IN_CI:
            pytest.fail(f"{message}; .ci/run installs them with apt", pytrace=False)
        pytest.skip(f"{message}: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={window}",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    if languages:
        options.add_argument(f"--lang={languages.split(',')[0]}")
        options.add_experimental_option("prefs", {"intl.accept_languages": languages})
    if phone:
        options.add_experimental_option("mobileEmulation", {"deviceName": "Pixel 7"})
    # The console, where chromium says what the content security policy refused.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    return driver


def csp_violations(driver: Any) -> list[str]:
    """What the content security policy refused since the last call, on any page."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]


# Where screenshots go (README "Development"); CI keeps the folder as an artefact.
SCREENSHOTS = Path(
    os.environ.get(
        "BUREAU_TEST_SCREENSHOTS", Path(__file__).resolve().parent.parent / "artifacts/screenshots"
    )
)


def shoot(driver: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def fits_the_window(driver: Any) -> bool:
    """Nothing sticks out sideways: no horizontal scrolling."""
    return bool(
        driver.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1"
        )
    )


# axe-core from its npm package (README "Development": npm install --prefix .node axe-core@4).
AXE = Path(
    os.environ.get(
        "BUREAU_TEST_AXE",
        Path(__file__).resolve().parent.parent / ".node/node_modules/axe-core/axe.min.js",
    )
)
# The WCAG 2.0 and 2.1 rules at levels A and AA.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_source() -> str:
    """axe.min.js, or the test is skipped saying how to get it (and fails in CI)."""
    if not AXE.is_file():
        message = f"axe-core's axe.min.js is needed at {AXE}"
        if IN_CI:
            pytest.fail(f"{message}; .ci/run installs it with npm", pytrace=False)
        pytest.skip(f"{message}: npm install --prefix .node axe-core@4 (or set BUREAU_TEST_AXE)")
    return AXE.read_text(encoding="utf-8")


def axe_violations(driver: Any, source: str) -> list[str]:
    """What axe-core finds on the page against WCAG 2.1 A and AA: one line per rule, with
    the first few elements. The script goes in through the driver, which the page's content
    security policy does not govern."""
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(source)
    driver.set_script_timeout(60)
    found: list[dict[str, Any]] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
        ".then(r => done(r.violations), e => done([{id: 'axe-error', help: String(e),"
        " nodes: []}]));",
        WCAG_AA,
    )
    return [
        f"{v['id']} ({v['help']}): "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:4] if n.get("target"))
        for v in found
    ]


def scroll_overflow(driver: Any) -> int:
    """How many pixels the page scrolls sideways (0 when it fits the window)."""
    return int(
        driver.execute_script(
            "return Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"
        )
    )
