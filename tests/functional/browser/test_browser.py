"""The lab served to a real browser, and an exported handout opened in one.

Headless Chromium (Debian's ``chromium``, installed by ``.ci/run``) driven by
Playwright pointed at that browser — no browser is downloaded. ``nnlab serve`` runs
as a subprocess on a free port; the test reads what the lab draws from the
websocket frames textual-serve sends the page (the terminal itself is a canvas), so
"the step changed" is read as text, not guessed from pixels. Screenshots are kept in
``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
pytest.importorskip("textual_serve", reason="textual-serve is not installed (pip install -e '.[test]')")

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it as root "
                                                          "with apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def served():
    """``nnlab serve mlp-2layer-backprop`` on a free port; its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "nnlab", "serve", "mlp-2layer-backprop", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    first = proc.stdout.readline()
    try:
        assert first.startswith(f"nnlab serves the lab at http://127.0.0.1:{port}/"), first
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and each tab's lab process
        proc.wait(timeout=10)


class Tab:
    """One browser tab on the served lab, reading what the lab sends it."""

    def __init__(self, browser, url: str) -> None:
        self.frames: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        self.page.goto(url)

    def _frame(self, payload) -> None:
        self.frames.append(payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload)

    def text(self) -> str:
        return ANSI.sub("", "".join(self.frames))

    def wait_for(self, pattern: str, timeout_ms: int = 30_000) -> list[str]:
        """Wait until the lab has drawn ``pattern``; what matched."""
        waited = 0
        while not re.search(pattern, self.text()):
            if waited >= timeout_ms:
                raise AssertionError(f"the lab never drew {pattern!r}; it drew: {self.text()[-600:]!r}")
            self.page.wait_for_timeout(200)  # lets Playwright deliver the frames
            waited += 200
        return re.findall(pattern, self.text())


def test_lab_in_the_browser_steps_forward(browser, served):
    tab = Tab(browser, served)
    assert tab.wait_for(r"step \d+/\d+")[0] == "step 1/10"
    before = len(tab.text())
    tab.page.locator("#terminal").click()
    tab.page.keyboard.press("ArrowRight")
    tab.wait_for(r"step 2/10")
    assert "step 2/10" in tab.text()[before:]
    tab.page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / "served-lab.png"))
    local = [u for u in tab.requests if not u.startswith(served)]
    assert not local, f"the page fetched from elsewhere: {local}"  # works offline: nothing from a CDN

    other = Tab(browser, served)  # a second tab is a session of its own, at its own first step
    assert other.wait_for(r"step \d+/\d+")[0] == "step 1/10"
    other.page.wait_for_timeout(500)
    assert "step 2/10" not in other.text()
    other.page.close()
    tab.page.close()


def test_exported_html_renders_its_math(browser, tmp_path):
    from nnlab.export import export
    from nnlab.session import open_session

    html = export(open_session(str(ROOT / "scenarios" / "mlp-2layer-backprop.yaml")), "html")
    path = tmp_path / "solution.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 1300})
    page.goto(path.as_uri())
    assert page.locator("math").count() > 20
    box = page.locator("div.matrix math").first.bounding_box()
    assert box is not None and box["width"] > 40 and box["height"] > 10  # laid out as math, not hidden
    shown = page.inner_text("body")
    assert "\\frac" not in shown and "\\mathrm" not in shown and "\\begin" not in shown
    assert "0.45" in shown and "−" not in page.title()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export-html.png"))
    page.close()
