"""Run every lesson top to bottom in a headless kernel (nbclient), as a learner's "Run All"
in ``make lab`` would, and check each saved result holds no key and no machine path.

    python tests/run_lessons.py [--out DIR] [--practice | --as-is] [NOTEBOOK ...]

Practice mode (``VESSEL_NB_PRACTICE=1``) is the default, so the run is the same on every
machine; ``--as-is`` runs in whatever situation this machine is in (real Ollama, keys).
The call log goes to a temporary file unless ``VESSEL_NB_LOG`` is set. Exit status 1 when a
lesson fails or leaks. Runs in any environment with nbclient and the package (the Binder
test uses it in a fresh venv made from ``binder/requirements.txt``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nbcheck  # noqa: E402  (importable both as a script and from pytest)

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def lessons() -> list[Path]:
    """The lesson notebooks, in course order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def run(notebook: Path, out_dir: Path, *, timeout: int = 180) -> Path:
    """Execute ``notebook`` (cwd = its folder) and save the result in ``out_dir``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}
    )
    client.execute()
    out = out_dir / notebook.name
    nbformat.write(nb, out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the lessons, print one line per lesson, exit 1 on any failure or leak."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, help="where to save the executed notebooks (default: a temp dir)")
    parser.add_argument("--as-is", action="store_true", help="do not force practice mode")
    args = parser.parse_args(argv)
    if not args.as_is:
        os.environ["VESSEL_NB_PRACTICE"] = "1"
    tmp = tempfile.TemporaryDirectory(prefix="vessel-nb-lessons-")
    os.environ.setdefault("VESSEL_NB_LOG", str(Path(tmp.name) / "calls.sqlite3"))
    out_dir = args.out or Path(tmp.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for notebook in args.notebooks or lessons():
        start = time.perf_counter()
        try:
            saved = run(notebook, out_dir)
        except Exception as exc:  # a failing cell: say which lesson and why, go on with the rest
            failed += 1
            print(f"FAIL {notebook.name}: {type(exc).__name__}: {str(exc)[-2000:]}", flush=True)
            continue
        leaks = nbcheck.leaks(saved.read_text("utf-8"))
        if leaks:
            failed += 1
            print(f"LEAK {notebook.name}: {'; '.join(leaks)}", flush=True)
        else:
            print(f"ok   {notebook.name} ({time.perf_counter() - start:.1f} s)", flush=True)
    tmp.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
