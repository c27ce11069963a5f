"""Practice mode in a fresh notebook in JupyterLab and in Notebook 7, set up as Binder sets it up.

The kernel gets what binder/start and binder/postBuild give every Binder session: the
``VESSEL_NB_PRACTICE=auto`` environment, and the IPython kernel config line that loads the
extension. No Ollama answers and there is no key. The notebook has no set-up cell: its first
``%%ask`` must answer, from a practice server, and say so — in the sentence printed when
practice mode starts and in the footer. Then ``--vision`` shows a thumbnail of what was sent,
and ``%ask log`` shows its readable columns. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from .conftest import _free_port, _get, stop_kernels
from .test_frontends import WAIT, ask_answer, cell, no_error_outputs, run_all, wait_all_ran

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
BINDER_KERNEL = "vessel-binder"


def _binder_config_line() -> str:
    """The line binder/postBuild appends to the kernel's IPython config (kept in one place)."""
    text = (ROOT / "binder" / "postBuild").read_text()
    return re.search(r"echo '(c\.InteractiveShellApp\.extensions\.append\([^']*)'", text).group(1)


@pytest.fixture(params=["lab", "notebook7"])
def frontend(request):
    """JupyterLab, then Jupyter Notebook 7: yields (name, base_url, root_dir)."""
    base, root = request.getfixturevalue(request.param)
    return request.param, base, root


@pytest.fixture
def binder_kernel(frontend, tmp_path):
    """A kernel spec (in the server under test) whose kernels start as on Binder: yields its name."""
    _name, base, root = frontend
    spec_dir = root.parent / "data" / "kernels" / BINDER_KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(_binder_config_line() + "\n")
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (as on Binder)",
        "language": "python",
        "env": {
            "VESSEL_NB_PRACTICE": "auto",
            "VESSEL_NB_PRACTICE_PACE": "0.02",
            "OLLAMA_HOST": f"127.0.0.1:{_free_port()}",  # nothing listens there
            "VESSEL_NB_LOG": str(tmp_path / "calls.sqlite3"),
            "VESSEL_NB_CONFIG": str(tmp_path / "no-config.toml"),
            "IPYTHONDIR": str(tmp_path / "ipython"),
        },
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    try:
        assert BINDER_KERNEL in json.loads(_get(base + "/api/kernelspecs"))["kernelspecs"]
        yield BINDER_KERNEL
    finally:
        stop_kernels(base, BINDER_KERNEL)
        shutil.rmtree(spec_dir)


def _picture() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (640, 320), (40, 110, 190)).save(buf, format="PNG")
    return buf.getvalue()


def test_a_fresh_notebook_answers_in_practice_mode_with_no_setup_cell(frontend, binder_kernel, fresh_page, artifacts):
    name, base, root = frontend
    picture = base64.b64encode(_picture()).decode()
    cells = [
        nbformat.v4.new_code_cell("%%ask\nHello! Who is answering?"),
        nbformat.v4.new_code_cell(f'import base64\nsky = base64.b64decode("{picture}")'),
        nbformat.v4.new_code_cell("%%ask --vision sky\nWhat colour is this?"),
        nbformat.v4.new_code_cell("%ask log"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": binder_kernel, "display_name": "Python 3 (as on Binder)", "language": "python"}
    nbformat.write(nb, root / "fresh.ipynb")

    page = fresh_page
    if name == "lab":
        page.goto(f"{base}/lab/tree/fresh.ipynb?reset")
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=WAIT)
        run_all(page, page.locator('[title^="Change kernel for"]', has_text="| Idle"))
    else:  # Notebook 7 has no status bar: a blank kernel status (only -fade) means connected
        page.goto(f"{base}/notebooks/fresh.ipynb")
        run_all(page, page.locator(".jp-NotebookKernelStatus-fade:not(.jp-NotebookKernelStatus-info)"))
    wait_all_ran(page, len(cells))
    if name == "lab":
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=WAIT)
    no_error_outputs(page)

    first = cell(page, 0)
    said = first.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stdout']").inner_text()
    assert said.startswith("practice mode: practice servers on 127.0.0.1 answer for ollama, claude, openai, gemini")
    assert "no Ollama answers at 127.0.0.1" in said and "ANTHROPIC_API_KEY is not set" in said, said
    assert "real vessels: none" in said, said
    answer = ask_answer(page, 0)
    assert answer.inner_text().startswith("This is the practice ollama vessel (not a real model)")
    footer = answer.locator("sub").inner_text()
    assert footer.startswith("ollama (practice server) · llama3.2 · first in priority · first token "), footer

    thumb = cell(page, 2).locator(".jp-OutputArea-output[data-mime-type='image/png'] img")
    thumb.wait_for(timeout=WAIT)
    box = thumb.bounding_box()
    assert box is not None and 0 < box["width"] <= 160 and 0 < box["height"] <= 160, box
    seen = ask_answer(page, 2).inner_text()  # the practice Ollama's model cannot see: claude's can
    assert "This is the practice claude vessel" in seen and "I received 1 image" in seen, seen

    table = cell(page, 3).locator(".jp-OutputArea-output table")
    table.wait_for(timeout=WAIT)
    heads = [h.strip() for h in table.locator("thead th").all_inner_texts() if h.strip()]
    assert heads == ["time", "vessel", "outcome", "reason", "fallback from", "first token", "total", "tokens", "prompt"]
    rows = table.locator("tbody tr").all_inner_texts()
    assert "What colour is this?" in rows[0] and "Hello! Who is answering?" in rows[-1], rows

    page.screenshot(path=str(artifacts / f"practice-mode-fresh-notebook-{name}.png"), full_page=True)
    cell(page, 0).screenshot(path=str(artifacts / f"practice-mode-first-ask-{name}.png"))
    cell(page, 2).screenshot(path=str(artifacts / f"practice-mode-vision-thumbnail-{name}.png"))
