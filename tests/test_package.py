"""The package namespace: ``import vessel_nb`` and ``%load_ext vessel_nb`` import nothing heavy,
and every public name is still there (loaded from its module on first use)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import vessel_nb

#: what a bare import or loading the extension must not pay for (each is tens of ms or more)
HEAVY = ("httpx", "httpcore", "pandas", "ipywidgets", "anywidget", "pygments", "mistune", "tornado", "sqlite3")


def _new_modules(setup: str, action: str) -> list[str]:
    """Top-level modules that ``action`` imports in a fresh interpreter after ``setup``."""
    code = (
        f"import sys, json\n{setup}\nbefore = set(sys.modules)\n{action}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_import_imports_nothing_heavy():
    new = _new_modules("", "import vessel_nb")
    assert "vessel_nb" in new
    assert [m for m in HEAVY if m in new] == []


def test_load_ext_imports_nothing_heavy():
    new = _new_modules(
        "from IPython.core.interactiveshell import InteractiveShell\nsh = InteractiveShell.instance()",
        "sh.run_line_magic('load_ext', 'vessel_nb')\nassert 'ask' in sh.magics_manager.magics['cell']",
    )
    assert "vessel_nb" in new
    assert [m for m in HEAVY if m in new] == []
    assert "asyncio" not in new  # the background loop starts (and is imported) with the first call


def test_first_use_of_a_name_loads_its_module():
    code = (
        "import sys, vessel_nb; a = 'vessel_nb.orchestrator' in sys.modules; vessel_nb.AIOrchestrator; "
        "print(a, 'vessel_nb.orchestrator' in sys.modules, 'AIOrchestrator' in vars(vessel_nb))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"]  # loaded once, then a plain module attribute


def test_every_public_name_is_importable():
    for name in vessel_nb.__all__:
        assert getattr(vessel_nb, name) is not None, name
    from vessel_nb import AIOrchestrator, CompareWidget, OllamaAdapter, Timeouts  # noqa: F401

    assert AIOrchestrator.__module__ == "vessel_nb.orchestrator"
    assert CompareWidget.__module__ == "vessel_nb.widgets.compare"


def test_all_names_every_lazy_name():
    assert sorted(vessel_nb.__all__) == sorted(
        [*vessel_nb._WHERE, "load_ipython_extension", "unload_ipython_extension"]
    )


def test_dir_and_star_import():
    assert set(vessel_nb.__all__) <= set(dir(vessel_nb))
    code = "from vessel_nb import *; print(sorted(k for k in dir() if not k.startswith('_')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == sorted(vessel_nb.__all__)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        vessel_nb.NoSuchThing  # noqa: B018
