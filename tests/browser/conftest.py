"""A real JupyterLab and a real Chromium for the panel tests.

JupyterLab runs on 127.0.0.1 (a free port) with its own settings, workspaces, runtime,
config and data directories, so nothing of the user's set-up leaks in. Chromium is the
Debian one (``/usr/bin/chromium``, or ``$VESSEL_NB_CHROMIUM``) driven by Playwright; no
browser is downloaded. The practice servers run in this process, slowly (0.05 s a word),
so streaming and Stop can be seen, and a test can stop the practice Ollama.

Without Chromium these tests fail under CI (``CI`` set, as ``.ci/run`` does) and are
skipped elsewhere, saying what to install; ``VESSEL_NB_SKIP_BROWSER=1`` skips them on
purpose, for a quick local run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PACE = 0.05


def chromium_path() -> str:
    """The Chromium binary the tests drive."""
    return os.environ.get("VESSEL_NB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in Chromium (needs /usr/bin/chromium)")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test so fixtures can dump the page on failure.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 — 127.0.0.1 only
        return response.read()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ at the repository root (gitignored): screenshots, DOM dumps, logs."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def slow_fleet():
    """The four practice servers, replying at a pace a person (and a test) can watch."""
    from vessel_nb.practice import PracticeFleet

    fleet = PracticeFleet(pace=PACE).start()
    yield fleet
    fleet.stop()


@pytest.fixture(scope="session")
def lab(tmp_path_factory, artifacts):
    """A JupyterLab server of our own: yields (base_url, root_dir)."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    dirs = {name: home / name for name in ("settings", "workspaces", "runtime", "config", "data", "ipython")}
    for d in dirs.values():
        d.mkdir()
    # Every cell stays in the DOM (no virtual scrolling), so views off-screen keep rendering;
    # the kernel starts without a "Select Kernel" dialog; no news prompt over the page.
    settings = {
        "notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
        "apputils-extension/notification": {"fetchNews": "false"},
    }
    for name, values in settings.items():
        path = dirs["settings"] / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONWARNINGS": "ignore",
    }
    for var in ("OLLAMA_HOST", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(var, None)  # the notebook wires its vessels explicitly
    port = _free_port()
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--IdentityProvider.token=", "--ServerApp.password=",
        "--ServerApp.ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    log = (artifacts / "jupyterlab.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}; see {artifacts / 'jupyterlab.log'}")
        try:
            _get(base + "/api/status")
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"JupyterLab did not answer on {base} in 60 s; see {artifacts / 'jupyterlab.log'}"
                ) from None
            time.sleep(0.1)
    yield base, root
    os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    log.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium via Playwright (module scope: Playwright's sync API keeps an
    event loop running in this thread while it is open, which other tests' asyncio.run refuses)."""
    if os.environ.get("VESSEL_NB_SKIP_BROWSER") == "1":
        pytest.skip("VESSEL_NB_SKIP_BROWSER=1")
    exe = chromium_path()
    if not Path(exe).exists():
        message = (
            f"Chromium not found at {exe}: install it (Debian: apt-get install -y chromium, "
            "or sh .ci/install-chromium) or set VESSEL_NB_CHROMIUM"
        )
        if os.environ.get("CI"):
            pytest.fail(message + "; in CI the browser tests must run, not be skipped")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def dump_on_failure(request, artifacts):
    """After a failed browser test: the page's DOM, a screenshot and the console, in test-artifacts/."""
    yield
    report = getattr(request.node, "rep_call", None)
    page = getattr(request.node, "vnb_page", None)
    if report is None or not report.failed or page is None:
        return
    stem = artifacts / f"failure-{request.node.name}"
    try:
        page.screenshot(path=str(stem) + ".png", full_page=True)
        Path(str(stem) + ".html").write_text(page.content())
    except Exception as exc:  # noqa: BLE001 — the dump is best effort, the failure is the news
        Path(str(stem) + ".txt").write_text(f"could not dump the page: {exc}")
    console = getattr(page, "vnb_console", [])
    Path(str(stem) + "-console.txt").write_text("\n".join(console))
