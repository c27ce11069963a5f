"""What a lesson notebook may contain: rules for committed and for executed notebooks.

Committed lessons carry no outputs and no execution counts at all: the notebook a learner
opens is clean. The outputs nbval compares — those of cells tagged ``nbval-check-output`` —
are kept beside the tests, in ``tests/lesson_outputs/<lesson>.json`` (cell id -> outputs,
from a practice-mode run, sanitized). Before nbval runs, :func:`reference_notebook` puts them
back into a temporary copy, so the comparison is real while the committed file stays clean.
No notebook, committed or executed, and no stored output may hold an API key or a path of
the machine that ran it; stored outputs may not hold a port picked at random by a practice
server either.

Also a command for CI or a pre-commit hook, and the way to store a lesson after editing it
(run it in practice mode, then keep only the checked cells' outputs)::

    python tests/nbcheck.py notebooks/*.ipynb
    python tests/run_lessons.py --out /tmp/run notebooks/02-fallback.ipynb
    python tests/nbcheck.py --fix /tmp/run/02-fallback.ipynb notebooks/02-fallback.ipynb
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

CHECK_TAG = "nbval-check-output"
OUTPUTS = Path(__file__).resolve().parent / "lesson_outputs"
ALLOWED_TAGS = {CHECK_TAG, "nbval-ignore-output", "nbval-skip", "raises-exception"}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
KEY_VARS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")

SECRET_PATTERNS = [
    re.compile(r"sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"),  # Anthropic / OpenAI key shapes
    re.compile(r"AIza[0-9A-Za-z_-]{30,}"),  # Google API keys
    re.compile(r"practice-key-\w+"),  # the practice fleet's keys: harmless, but keys never show
    re.compile(r"(?i)(?:x-api-key|x-goog-api-key|authorization)\W+\w{8,}"),
]
# A practice server's port is random; 11434 (Ollama), 8080 (llama.cpp), 1234 (LM Studio)
# are the well-known defaults a lesson may name.
_PORT = re.compile(r"(?:127\.0\.0\.1|localhost):(\d+)")
_KNOWN_PORTS = {"11434", "8080", "1234"}


def machine_paths() -> list[str]:
    """Absolute paths that would tell where (and by whom) a notebook was run."""
    paths = {str(Path.home()), tempfile.gettempdir(), str(Path(__file__).resolve().parents[1]), sys.prefix}
    if log := os.environ.get("VESSEL_NB_LOG"):
        paths.add(str(Path(log).parent))
    return sorted(p for p in paths if len(p) > 1)


_PATH_SHAPES = re.compile(r"(?:/home/|/Users/|/root/|/tmp/|[A-Z]:\\\\Users|site-packages)")


# Base64 image data spells short paths by chance: a plot of this run's timings is new bytes
# every run, and one CI run's PNG held "/tmp". Binary payloads are left out of the search.
_BINARY = re.compile(r'"image/(?:png|jpeg|gif|webp)":\s*(?:"[^"]*"|\[[^\]]*\])')


def leaks(text: str) -> list[str]:
    """Secrets and machine paths found in ``text`` (a whole notebook file, say); base64 image
    data is not searched."""
    text = _BINARY.sub('"image/…": ""', text)
    found = [f"secret-like text {m.group(0)[:12]}…" for p in SECRET_PATTERNS for m in p.finditer(text)]
    for var in KEY_VARS:
        value = os.environ.get(var, "")
        if len(value) >= 8 and value in text:
            found.append(f"the value of ${var}")
    found += [f"machine path {p}" for p in machine_paths() if p in text]
    found += [f"path-like text {m.group(0)!r}" for m in _PATH_SHAPES.finditer(text)]
    return found


def outputs_file(lesson: Path) -> Path:
    """Where the checked outputs of ``lesson`` are kept."""
    return OUTPUTS / f"{lesson.stem}.json"


def load_outputs(lesson: Path) -> dict[str, dict]:
    """Cell id -> {"execution_count", "outputs"} for the lesson's checked cells."""
    file = outputs_file(lesson)
    return json.loads(file.read_text("utf-8"))["cells"] if file.is_file() else {}


def stored_output_problems(path: Path, nb: dict) -> list[str]:
    """The stored outputs must match the checked cells one to one and hold nothing private."""
    stored = load_outputs(path)
    problems = [f"{outputs_file(path).name}: {leak}" for leak in leaks(json.dumps(stored))]
    checked = {c.get("id") for c in nb["cells"] if CHECK_TAG in c.get("metadata", {}).get("tags", [])}
    for cell_id in sorted(checked - set(stored)):
        problems.append(f"{path.name} cell {cell_id}: tagged {CHECK_TAG} but no stored output to compare")
    for cell_id in sorted(set(stored) - checked):
        problems.append(f"{outputs_file(path).name}: outputs for {cell_id}, which is not a checked cell")
    for cell_id, entry in stored.items():
        outputs = entry.get("outputs") or []
        if not outputs or not isinstance(entry.get("execution_count"), int):
            problems.append(f"{outputs_file(path).name} {cell_id}: no output / execution count to compare")
        if any(o.get("output_type") == "error" for o in outputs):
            problems.append(f"{outputs_file(path).name} {cell_id}: stored output is an error")
        ports = {p for p in _PORT.findall(json.dumps(outputs)) if p not in _KNOWN_PORTS}
        if ports:
            problems.append(f"{outputs_file(path).name} {cell_id}: random port(s) {sorted(ports)}")
    return problems


def reference_notebook(lesson: Path) -> dict:
    """The committed lesson with its checked cells' stored outputs put back, for nbval."""
    nb = json.loads(lesson.read_text("utf-8"))
    stored = load_outputs(lesson)
    for cell in nb["cells"]:
        if cell.get("id") in stored:
            cell["execution_count"] = stored[cell["id"]]["execution_count"]
            cell["outputs"] = stored[cell["id"]]["outputs"]
    return nb


def committed_problems(path: Path) -> list[str]:
    """Why the committed notebook at ``path`` is not clean (empty list when it is)."""
    text = path.read_text("utf-8")
    nb = json.loads(text)
    problems = [f"{path.name}: {leak}" for leak in leaks(text)]
    meta = nb.get("metadata", {})
    if set(meta) - {"kernelspec", "language_info"}:
        problems.append(f"{path.name}: notebook metadata has {sorted(set(meta) - {'kernelspec', 'language_info'})}")
    if meta.get("kernelspec") != KERNELSPEC:
        problems.append(f"{path.name}: kernelspec is {meta.get('kernelspec')}, want {KERNELSPEC}")
    if meta.get("language_info") not in (None, {"name": "python"}):
        problems.append(f"{path.name}: language_info should be just {{'name': 'python'}} (no machine's version)")
    for i, cell in enumerate(nb["cells"]):
        where = f"{path.name} cell {i}"
        extra = set(cell.get("metadata", {})) - {"tags"}
        if extra:
            problems.append(f"{where}: cell metadata {sorted(extra)}")
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags - ALLOWED_TAGS:
            problems.append(f"{where}: unknown tags {sorted(tags - ALLOWED_TAGS)}")
        if cell["cell_type"] != "code":
            if cell.get("outputs") or cell.get("attachments"):
                problems.append(f"{where}: a {cell['cell_type']} cell with outputs or attachments")
            continue
        if cell.get("outputs"):
            problems.append(
                f"{where}: has outputs (committed lessons are clean; checked outputs live in {OUTPUTS.name}/)"
            )
        if cell.get("execution_count") is not None:
            problems.append(f"{where}: has an execution count")
    problems += stored_output_problems(path, nb)
    return problems


SANITIZE = Path(__file__).resolve().parent / "nbval-sanitize.cfg"


def sanitize(text: str) -> str:
    """Apply nbval's sanitizers (tests/nbval-sanitize.cfg) to ``text``, as nbval does."""
    from nbval.plugin import get_sanitize_patterns  # only --fix needs nbval

    for regex, replace in get_sanitize_patterns(SANITIZE.read_text("utf-8")):
        text = re.sub(regex, replace, text)
    return text


def clean_for_commit(nb: dict) -> tuple[dict, dict]:
    """An executed lesson as it is committed (every output and count cleared, metadata reduced
    to the kernel) and the checked cells' outputs to keep beside the tests (sanitized,
    numbered 1, 2, ...)."""
    count = 0
    stored: dict[str, dict] = {}
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        cell["metadata"] = {"tags": tags} if tags else {}
        if cell["cell_type"] != "code":
            continue
        outputs, cell["outputs"], cell["execution_count"] = cell.get("outputs", []), [], None
        if CHECK_TAG not in tags:
            continue
        count += 1
        for out in outputs:
            if out["output_type"] == "execute_result":
                out["execution_count"] = count
            if "metadata" in out:
                out["metadata"] = {}
            # Stored in the form nbval compares: "127.0.0.1:PORT".
            if out["output_type"] == "stream":
                out["text"] = sanitize("".join(out["text"]))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/"):
                    out["data"][mime] = sanitize("".join(value))
        stored[cell["id"]] = {"execution_count": count, "outputs": outputs}
    nb["metadata"] = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb, stored


def main(argv: list[str]) -> int:
    """Check the given notebooks (or ``--fix EXECUTED TARGET``); exit 1 on any problem."""
    if argv[:1] == ["--fix"] and len(argv) == 3:
        import nbformat

        nb, stored = clean_for_commit(nbformat.read(argv[1], as_version=4))
        nbformat.write(nb, argv[2])
        OUTPUTS.mkdir(exist_ok=True)
        text = json.dumps({"cells": stored}, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
        outputs_file(Path(argv[2])).write_text(text, "utf-8")
        argv = [argv[2]]
    problems = [p for arg in argv for p in committed_problems(Path(arg))]
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
