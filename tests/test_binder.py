"""binder/: pinned requirements, postBuild and start.

The scripts are run for real with fake ``ollama``/``curl``/``python`` executables on PATH
that record how they were called, so what Binder would do is observed without Ollama or
the internet. One test installs the pinned requirements into a fresh venv and runs every
lesson with them: it needs PyPI (the only network any test uses), reuses pip's cache, and
is skipped without PyPI except in CI, where it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"

FAKE_OLLAMA = """#!/bin/bash
echo "ollama $* | OLLAMA_HOST=${OLLAMA_HOST:-} MODEL=${VESSEL_NB_OLLAMA_MODEL:-}" >>"$FAKE_LOG"
if [ "$1" = serve ]; then echo $$ >"$FAKE_LOG.serve-pid"; exec sleep 60; fi
if [ "$1" = list ]; then [ -f "$FAKE_LOG.serve-pid" ]; exit $?; fi  # up only once serving
exit 0
"""
FAKE_RECORDER = """#!/bin/bash
echo "$(basename "$0") $*" >>"$FAKE_LOG"
"""


def _pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (BINDER / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not pinned with ==: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def test_requirements_pin_everything_the_package_and_lab_need():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for spec in project["dependencies"] + project["optional-dependencies"]["lab"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in binder/requirements.txt"
        assert req.specifier.contains(pins[name]), f"{req.name}=={pins[name]} does not satisfy pyproject's {spec!r}"
    assert "vessel-nb" not in pins  # postBuild installs the package itself


def test_runtime_python_satisfies_requires_python():
    from packaging.specifiers import SpecifierSet

    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-")
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(runtime.removeprefix("python-") + ".0")


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_scripts_are_executable_bash(name):
    script = BINDER / name
    assert os.access(script, os.X_OK), f"binder/{name} must be executable (git update-index --chmod=+x)"
    assert script.read_text().startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n", str(script)], check=True)


# --- start --------------------------------------------------------------------------------
@pytest.fixture
def sandbox(tmp_path):
    """A HOME, a bin dir first on PATH, and the log the fakes write to."""
    home, fakebin = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    fakebin.mkdir()
    log = tmp_path / "calls.log"
    env = {"HOME": str(home), "PATH": f"{fakebin}:{BASE_PATH}", "FAKE_LOG": str(log), "TMPDIR": str(tmp_path)}
    box = type("Sandbox", (), {"home": home, "bin": fakebin, "log": log, "env": env, "tmp": tmp_path})
    yield box
    pid_file = Path(f"{log}.serve-pid")
    if pid_file.exists():  # the fake `ollama serve` this test started
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except ProcessLookupError:
            pass


def _fake(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def _start(sandbox, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BINDER / "start"), *args], env={**sandbox.env, **env}, capture_output=True, text=True, timeout=20
    )


def _wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def test_start_execs_its_arguments(sandbox):
    done = _start(sandbox, "bash", "-c", 'printf "%s|" "$@"; echo "pid=$$"; exit 7', "argv0", "one", "two words")
    assert done.returncode == 7
    assert done.stdout.startswith("one|two words|pid=")
    assert not sandbox.log.exists()  # no ollama anywhere: nothing else was started
    assert done.stderr == ""


def test_start_turns_practice_mode_on_for_what_is_missing(sandbox):
    """A fresh notebook's first %%ask answers on Binder: practice servers stand in ("auto")."""
    show = ["bash", "-c", 'echo "practice=$VESSEL_NB_PRACTICE"']
    assert _start(sandbox, *show).stdout == "practice=auto\n"
    assert _start(sandbox, *show, VESSEL_NB_PRACTICE="0").stdout == "practice=0\n"  # a fork can turn it off


def test_start_replaces_itself_with_the_command(sandbox):
    proc = subprocess.Popen(
        [str(BINDER / "start"), "bash", "-c", "echo $$"], env=sandbox.env, stdout=subprocess.PIPE, text=True
    )
    out, _ = proc.communicate(timeout=20)
    assert int(out) == proc.pid  # exec, not a child: signals from Binder reach the server


def test_start_runs_ollama_serve_when_installed(sandbox):
    _fake(sandbox.bin / "ollama", FAKE_OLLAMA)
    config = sandbox.home / ".config" / "vessel_nb"
    config.mkdir(parents=True)
    (config / "binder-ollama-model").write_text("qwen2.5:0.5b\n")
    started = time.monotonic()
    done = _start(sandbox, "bash", "-c", 'echo "model=$VESSEL_NB_OLLAMA_MODEL host=$OLLAMA_HOST"')
    assert time.monotonic() - started < 5  # did not wait for `ollama serve`, which runs on
    assert done.returncode == 0
    assert done.stdout.strip() == "model=qwen2.5:0.5b host=127.0.0.1:11434"
    line = _wait_for(lambda: sandbox.log.exists() and sandbox.log.read_text())
    assert line.strip() == "ollama serve | OLLAMA_HOST=127.0.0.1:11434 MODEL=qwen2.5:0.5b"
    pid = int(
        _wait_for(lambda: Path(f"{sandbox.log}.serve-pid").exists() and Path(f"{sandbox.log}.serve-pid").read_text())
    )
    os.kill(pid, 0)  # still serving after start handed over to the command


def test_start_finds_ollama_where_postbuild_puts_it(sandbox):
    _fake(sandbox.home / ".local" / "bin" / "ollama", FAKE_OLLAMA)  # not on PATH
    done = _start(sandbox, "true", OLLAMA_HOST="127.0.0.1:9999", VESSEL_NB_OLLAMA_MODEL="llama3.2")
    assert done.returncode == 0
    line = _wait_for(lambda: sandbox.log.exists() and sandbox.log.read_text())
    assert line.strip() == "ollama serve | OLLAMA_HOST=127.0.0.1:9999 MODEL=llama3.2"  # the user's settings win


def test_start_can_be_told_not_to_start_ollama(sandbox):
    _fake(sandbox.bin / "ollama", FAKE_OLLAMA)
    done = _start(sandbox, "bash", "-c", "echo ran", VESSEL_NB_NO_OLLAMA="1")
    assert done.stdout == "ran\n"
    time.sleep(0.3)  # proving an absence: give a wrongly started server time to show up
    assert not sandbox.log.exists()


# --- postBuild ----------------------------------------------------------------------------
def _postbuild(sandbox, **env: str) -> subprocess.CompletedProcess:
    _fake(sandbox.bin / "python", FAKE_RECORDER)  # stands in for pip installing the package
    _fake(sandbox.bin / "curl", '#!/bin/bash\necho "curl $*" >>"$FAKE_LOG"\ncat "$FAKE_TARBALL"\n')
    _fake(
        sandbox.bin / "zstd", '#!/bin/bash\necho "zstd $*" >>"$FAKE_LOG"\ncat\n'
    )  # the fake "download" is a plain tar
    env = {"NB_PYTHON_PREFIX": str(sandbox.tmp / "prefix"), **env}
    return subprocess.run(
        ["bash", str(BINDER / "postBuild")],
        cwd=ROOT,
        env={**sandbox.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_postbuild_installs_the_package_and_no_ollama_by_default(sandbox):
    done = _postbuild(sandbox)
    assert done.returncode == 0, done.stderr
    assert sandbox.log.read_text().splitlines() == ["python -m pip install --no-cache-dir --no-deps ."]
    assert not (sandbox.home / ".local" / "bin" / "ollama").exists()
    # widget state is saved with notebooks: the settings override JupyterLab and Notebook 7 read
    installed = sandbox.tmp / "prefix" / "share/jupyter/lab/settings/overrides.d/vessel_nb.json"
    assert json.loads(installed.read_text()) == {
        "@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True},
        # no "Would you like to get notified about official Jupyter news?" pop-up: JupyterLab
        # 4 asks whenever this setting is unset (news_url=None alone does not stop it)
        "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
    }
    config = (sandbox.home / ".ipython" / "profile_default" / "ipython_kernel_config.py").read_text()
    assert 'c.InteractiveShellApp.extensions.append("vessel_nb")' in config  # %%ask with no set-up cell


def test_postbuild_optional_ollama_block(sandbox):
    # What the Ollama download holds, in small: the binary, CPU and GPU libraries.
    tree = sandbox.tmp / "tree"
    _fake(tree / "bin" / "ollama", FAKE_OLLAMA)
    for lib in ("libggml-cpu-haswell.so", "cuda_v12/libggml-cuda.so", "rocm/librocblas.so"):
        _fake(tree / "lib" / "ollama" / lib, "lib")
    tarball = sandbox.tmp / "ollama.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(tree / "bin", arcname="bin")
        tar.add(tree / "lib", arcname="lib")
    done = _postbuild(sandbox, VESSEL_NB_BINDER_OLLAMA="1", FAKE_TARBALL=str(tarball))
    assert done.returncode == 0, done.stderr
    calls = sandbox.log.read_text().splitlines()
    assert calls[0] == "python -m pip install --no-cache-dir --no-deps ."
    assert "curl -fsSL https://ollama.com/download/ollama-linux-amd64.tar.zst" in calls
    assert any(c.startswith("ollama serve") for c in calls)
    assert calls[-1].startswith("ollama pull qwen2.5:0.5b")
    local = sandbox.home / ".local"
    assert (local / "bin" / "ollama").exists() and (local / "lib" / "ollama" / "libggml-cpu-haswell.so").exists()
    assert not (local / "lib" / "ollama" / "cuda_v12").exists() and not (local / "lib" / "ollama" / "rocm").exists()
    assert (sandbox.home / ".config" / "vessel_nb" / "binder-ollama-model").read_text() == "qwen2.5:0.5b\n"
    pid = int(Path(f"{sandbox.log}.serve-pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the build-time `ollama serve` was stopped (and reaped) by postBuild
    Path(f"{sandbox.log}.serve-pid").unlink()


# --- the pinned requirements, for real ------------------------------------------------------
def _pypi_reachable() -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def _repo_copy(dest: Path) -> Path:
    """The files a fresh clone would have, plus uncommitted work (tracked or not ignored)."""
    names = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_pinned_requirements_install_in_a_fresh_venv_and_the_lessons_pass(tmp_path):
    """What Binder builds, minus Docker: a fresh venv from requirements.txt, then postBuild,
    then every lesson run top to bottom with that venv's nbclient and kernel.

    A real install rather than ``pip install --dry-run``: resolution alone would not show
    that the lessons run with these versions. pip's cache makes a repeat run ~40 s."""
    if os.environ.get("VESSEL_NB_SKIP_BINDER_INSTALL") == "1":
        pytest.skip("VESSEL_NB_SKIP_BINDER_INSTALL=1")
    if not _pypi_reachable():
        if os.environ.get("CI"):
            pytest.fail("PyPI is not reachable; CI must run the Binder install test")
        pytest.skip("PyPI is not reachable")
    repo = _repo_copy(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "VESSEL_NB_BINDER_OLLAMA")}
    env.update(
        PATH=f"{venv / 'bin'}:{env['PATH']}", HOME=str(tmp_path / "home"), JUPYTER_DATA_DIR=str(tmp_path / "jupyter")
    )
    env["VESSEL_NB_PRACTICE_PACE"] = "0"
    env["NB_PYTHON_PREFIX"] = str(venv)  # what repo2docker sets: the notebook server's environment
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")  # keep the real cache

    def sh(*cmd: str | Path, **kw) -> subprocess.CompletedProcess:
        done = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=900, **kw)
        assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    sh(py, "-m", "pip", "install", "--quiet", "-r", repo / "binder" / "requirements.txt")
    sh("bash", repo / "binder" / "postBuild", cwd=repo)
    sh(py, "-m", "pip", "check")
    assert (venv / "share/jupyter/lab/settings/overrides.d/vessel_nb.json").is_file()
    where = sh(py, "-c", "import vessel_nb, sys; print(vessel_nb.__file__)", cwd=tmp_path).stdout
    assert where.startswith(str(venv)), where  # the installed package, not this checkout
    run = sh(py, repo / "tests" / "run_lessons.py", "--out", tmp_path / "executed", cwd=tmp_path)
    assert run.stdout.count("ok   ") == len(list((repo / "notebooks").glob("[0-9][0-9]-*.ipynb"))) >= 5, run.stdout
