"""The lessons in notebooks/: committed clean, checked by nbval, run headless by nbclient.

The committed notebooks hold no outputs. nbval compares the cells tagged
``nbval-check-output`` against outputs kept in ``tests/lesson_outputs/``: each lesson is
copied to a temporary folder with those outputs put back (``nbcheck.reference_notebook``)
and nbval runs in a child pytest on the copies, as ``make lessons`` does::

    VESSEL_NB_PRACTICE=1 VESSEL_NB_LOG=/tmp/x/calls.sqlite3 \\
        python -m pytest --nbval-lax COPIES --nbval-sanitize-with tests/nbval-sanitize.cfg

so ``make test`` (plain ``pytest``, testpaths = tests) covers the lessons too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from . import nbcheck
from .run_lessons import lessons

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "nbval-sanitize.cfg"
LESSONS = lessons()
KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Practice mode, a throw-away call log, no keys from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS and not k.endswith("_BASE_URL")}
    env.update(VESSEL_NB_PRACTICE="1", VESSEL_NB_LOG=str(tmp_path / "calls.sqlite3"), PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def references(lessons: list[Path], folder: Path) -> list[Path]:
    """Copies of the lessons with their checked outputs put back, for nbval to compare."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for lesson in lessons:
        copy = folder / lesson.name
        copy.write_text(json.dumps(nbcheck.reference_notebook(lesson), indent=1, ensure_ascii=False), "utf-8")
        copies.append(copy)
    return copies


def _nbval(paths: list[Path], tmp_path: Path) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        "-p",
        "no:cacheprovider",
        "--nbval-lax",
        "--nbval-sanitize-with",
        str(SANITIZE),
        "--nbval-cell-timeout",
        "120",
        "-q",
        *map(str, paths),
    ]
    return subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=900, cwd=ROOT)


def test_there_are_five_lessons():
    assert [p.name for p in LESSONS] == [
        "01-quickstart.ipynb",
        "02-fallback.ipynb",
        "03-routing.ipynb",
        "04-compare.ipynb",
        "05-your-own-adapter.ipynb",
    ]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_committed_lesson_is_clean(lesson):
    """Outputs only in nbval-check-output cells; no keys, machine paths or random ports."""
    assert nbcheck.committed_problems(lesson) == []


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_starts_with_the_classroom_and_checks_outputs(lesson):
    nb = json.loads(lesson.read_text("utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    first = "".join(code[0]["source"])
    assert "classroom.setup(" in first, "the first code cell says which situation the lesson is in"
    checked = [c for c in code if nbcheck.CHECK_TAG in c["metadata"].get("tags", [])]
    assert len(checked) >= 3, "key cells are compared by nbval, not just run"
    stored = nbcheck.load_outputs(lesson)
    setup_output = "".join(stored[checked[0]["id"]]["outputs"][0]["text"])
    assert (
        setup_output.strip()
        == "practice mode: practice servers on 127.0.0.1 stand in — canned replies, not a real model"
    )


def test_sanitizers_cover_what_a_practice_run_cannot_pin():
    from nbval.plugin import get_sanitize_patterns

    pairs = get_sanitize_patterns(SANITIZE.read_text())
    assert len(pairs) >= 6

    def clean(text: str) -> str:
        for regex, replace in pairs:
            text = re.sub(regex, replace, text)
        return text

    assert clean("ollama at 127.0.0.1:40859: refused") == "ollama at 127.0.0.1:PORT: refused"
    assert clean("call 2660b2b6fe87 at 2026-11-26T14:03:11.123Z") == "call ID at TIMESTAMP"
    assert (
        clean("first token 0.09 s · total 1.01 s · 46 tok/s, 12 ms")
        == "first token DURATION · total DURATION · RATE, DURATION"
    )
    assert clean("log at /tmp/pytest-of-me/x/calls.sqlite3 here") == "log at PATH here"
    # what the lessons print must survive untouched
    for kept in ("qwen2.5:0.5b", "llama3.2", "127.0.0.1:PORT", "answered by ollama | local: True"):
        assert clean(kept) == kept


def test_lessons_pass_nbval(tmp_path):
    """Every lesson top to bottom in practice mode; tagged cells compared with their stored outputs."""
    done = _nbval(references(LESSONS, tmp_path / "reference"), tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", done.stdout)


def test_nbval_notices_a_changed_output(tmp_path):
    """The comparison has teeth: a tagged cell whose stored output is wrong fails."""
    nb = nbcheck.reference_notebook(NOTEBOOKS / "02-fallback.ipynb")
    for cell in nb["cells"]:
        if nbcheck.CHECK_TAG in cell["metadata"].get("tags", []) and "reply.fallback_chain" in "".join(cell["source"]):
            cell["outputs"][0]["text"] = ["answered by ollama\n", "on the way: []\n"]
            break
    else:
        pytest.fail("lesson 2 has no checked fallback cell")
    changed = tmp_path / "02-changed.ipynb"
    changed.write_text(json.dumps(nb))
    done = _nbval([changed], tmp_path)
    assert done.returncode != 0
    assert "Cell outputs differ" in done.stdout and "answered by claude" in done.stdout


@pytest.fixture
def cloud_stand_ins():
    """Practice servers posing as the real cloud: lessons then run as a "mix" with real-looking
    keys that are actually sent, so the saved notebooks can be searched for them."""
    from vessel_nb.practice import PracticeFleet

    fleet = PracticeFleet(providers=("anthropic", "openai", "gemini"), pace=0.0).start()
    yield fleet
    fleet.stop()


@pytest.mark.parametrize("situation", ["practice", "mix-with-keys"])
def test_lessons_run_headless_and_save_no_secret_or_path(situation, tmp_path, request):
    """`make lab`'s lessons, Run All in a headless kernel (nbclient), then the saved files."""
    out = tmp_path / "executed"
    extra: dict[str, str] = {}
    keys = {}
    if situation == "mix-with-keys":
        fleet = request.getfixturevalue("cloud_stand_ins")
        keys = {
            "ANTHROPIC_API_KEY": "sk-ant-api03-canary-" + "A" * 24,
            "OPENAI_API_KEY": "sk-proj-canary-" + "B" * 24,
            "GEMINI_API_KEY": "AIzaSy-canary-" + "C" * 24,
        }
        extra = {k: v for k, v in fleet.env().items() if k.endswith("_BASE_URL")}
        extra.update(keys, OLLAMA_HOST="127.0.0.1:9")  # nothing listens there: the Ollama is practice
    env = _env(tmp_path, **extra)
    args = [sys.executable, str(ROOT / "tests" / "run_lessons.py"), "--out", str(out)]
    env["VESSEL_NB_PRACTICE_PACE"] = "0"  # nbval above runs at the lessons' own pace; here only the result counts
    if situation != "practice":
        env.pop("VESSEL_NB_PRACTICE")
        args.append("--as-is")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert done.stdout.count("ok   ") == len(LESSONS), done.stdout
    for saved in sorted(out.glob("*.ipynb")):
        text = saved.read_text("utf-8")
        expected = "a mix (real: claude" if keys else "practice mode: practice servers"
        assert expected in text, f"{saved.name} does not say which situation it ran in"
        assert '"output_type": "error"' not in text
        for name, key in keys.items():
            assert key not in text and key[:16] not in text, f"{name} leaked into {saved.name}"
        for path in {str(ROOT), str(tmp_path), str(Path.home()), sys.prefix}:
            assert path not in text, f"{path} in {saved.name}"
    if keys:  # the keys were really used: the stand-ins received them
        fleet = request.getfixturevalue("cloud_stand_ins")
        sent = json.dumps([dict(r.headers) for srv in fleet for r in srv.requests])
        assert keys["ANTHROPIC_API_KEY"] in sent and keys["GEMINI_API_KEY"] in sent
