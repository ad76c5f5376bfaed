"""`pip install ./bindings/python` in a fresh virtual environment: pure Python (no compiler), no
dependencies; the installed package finds a library copied beside it, or LIBLLM_LIBRARY."""
import os
import shutil
import subprocess
import sys

from conftest import BINDING

CHECK = ("import libllm, sys; print(libllm.library_path); print(libllm.library_version()); "
         "print(libllm.__file__)")


def test_pip_install_in_fresh_venv(tmp_path):
    lib = os.environ["LIBLLM_LIBRARY"]
    src = tmp_path / "src"
    shutil.copytree(BINDING, src, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__",
                                                                 "libllm.so*"))
    shutil.copyfile(os.path.realpath(lib), src / "libllm" / "libllm.so.0")  # shipped beside the package
    venv = tmp_path / "venv"
    subprocess.check_call([sys.executable, "-m", "venv", str(venv)], timeout=300)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("LIBLLM_LIBRARY", "PYTHONPATH", "PYTHONHOME")}
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(src)], env=env,
                       capture_output=True, text=True, timeout=500)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], env=env, capture_output=True, text=True)
    installed = {line.split("==")[0].lower() for line in r.stdout.split()}
    assert "libllm" in installed and "numpy" not in installed  # no dependencies pulled in
    out = subprocess.run([py, "-c", CHECK], env=env, capture_output=True, text=True, cwd=str(tmp_path), timeout=60)
    assert out.returncode == 0, out.stderr
    path, version, module = out.stdout.split("\n")[:3]
    assert "site-packages" in module and os.path.dirname(path) == os.path.dirname(module)  # the copy beside it
    assert version.startswith("0.")
    out = subprocess.run([py, "-c", CHECK], env={**env, "LIBLLM_LIBRARY": lib}, capture_output=True, text=True,
                         cwd=str(tmp_path), timeout=60)
    assert out.returncode == 0 and out.stdout.split("\n")[0] == lib  # the environment variable comes first
    typed = os.path.join(os.path.dirname(module), "py.typed")
    assert os.path.exists(typed)
