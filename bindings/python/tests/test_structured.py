"""Constrained output through the binding: GBNF grammars and JSON Schemas on sessions, the grammar
helpers, logit bias, log-probabilities (checked against a numpy log-softmax of the logits), seeds,
and the OpenAI-shaped response_format / grammar / logprobs / logit_bias of create_completion and
create_chat_completion.

The models are small random ones: at temperature 1 their output is close to uniform noise, which
makes them adversarial: whatever they produce under a constraint must still satisfy it. The
outputs are checked with independent oracles: jsonschema, and tests/grammar/gbnf_ref.py (a Python
GBNF recogniser written from the notation)."""
import json
import os
import sys

import pytest

import libllm
from conftest import CHATML, REPO, make_model

try:
    import numpy as np
except ImportError:  # pragma: no cover - the message is the point
    pytest.fail("numpy is missing: pip install numpy (tests/requirements.txt)")
try:
    import jsonschema
except ImportError:  # pragma: no cover
    pytest.fail("jsonschema is missing: pip install jsonschema (tests/requirements.txt)")

sys.path.insert(0, os.path.join(REPO, "tests", "grammar"))
import gbnf_ref  # noqa: E402

SEEDS = range(6)

#: Tolerance of log-probabilities against numpy: the library computes a float32 log-softmax over
#: the vocabulary (300 tokens here), numpy a float64 one of the same float32 logits; the
#: difference is float32 rounding of the sum and the log, far below 1e-4.
LOGPROB_TOL = 1e-4

PERSON = {"type": "object",
          "properties": {"name": {"type": "string", "maxLength": 8},
                         "age": {"type": "integer", "minimum": 0, "maximum": 120},
                         "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3},
                         "ok": {"type": "boolean"}},
          "required": ["name", "age"], "additionalProperties": False}


@pytest.fixture(scope="module")
def tiny(tiny_path):
    with libllm.Model(tiny_path, n_ctx=256) as m:
        yield m


@pytest.fixture(scope="module")
def letters(fixtures_dir):
    """A vocabulary of letters only (no byte tokens): text outside [a-z ] cannot be generated."""
    path = make_model(os.path.join(fixtures_dir, "tiny_letters.gguf"), "--arch", "llama", "--type", "F32",
                      "--n-embd", "64", "--n-ff", "128", "--n-vocab", "100", "--ctx", "256",
                      "--set", "tokenizer.chat_template=str:" + CHATML)
    with libllm.Model(path, n_ctx=256) as m:
        yield m


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


# -- grammar helpers ------------------------------------------------------------------------------
def test_validate_grammar():
    libllm.validate_grammar('root ::= "a" [b-d]* other\nother ::= "!"')
    libllm.validate_grammar('start ::= "x"', root="start")
    with pytest.raises(libllm.FormatError, match="line 2"):
        libllm.validate_grammar('root ::= "a"\nbad ::= ( "b"')
    with pytest.raises(libllm.FormatError):
        libllm.validate_grammar('root ::= missing')
    with pytest.raises(libllm.FormatError):
        libllm.validate_grammar('start ::= "x"')  # no rule "root"


def test_json_schema_to_grammar():
    g = libllm.json_schema_to_grammar(PERSON)
    assert "root" in libllm.grammar.rule_names(g)
    libllm.validate_grammar(g)
    assert libllm.json_schema_to_grammar(json.dumps(PERSON)) == g  # dict or JSON text alike
    ref = gbnf_ref.parse(g)
    assert gbnf_ref.recognise(ref, json.dumps({"name": "x", "age": 3}, separators=(",", ":"))) or \
        gbnf_ref.recognise(ref, json.dumps({"name": "x", "age": 3}))
    assert not gbnf_ref.recognise(ref, '{"name": "x"}')  # age is required
    with pytest.raises(libllm.UnsupportedError, match="multipleOf"):
        libllm.json_schema_to_grammar({"type": "integer", "multipleOf": 3})
    with pytest.raises(libllm.InvalidArgumentError):
        libllm.json_schema_to_grammar('{"type": ')
    with pytest.raises(ValueError):
        libllm.json_schema_to_grammar({"type": "number", "minimum": float("nan")})
    with pytest.raises(TypeError):
        libllm.json_schema_to_grammar(42)


def test_prefix_rules_renames_only_rule_names():
    g = 'root ::= item{2,3} "root item" [a-z] # root\nitem ::= "\\"" root-2 | [\\]item]\nroot-2 ::= "x"'
    p = libllm.grammar.prefix_rules(g, "p-")
    assert p == ('p-root ::= p-item{2,3} "root item" [a-z] # root\np-item ::= "\\"" p-root-2 | [\\]item]\n'
                 'p-root-2 ::= "x"')
    assert libllm.grammar.rule_names(p) == ["p-root", "p-item", "p-root-2"]
    gbnf_ref.parse(p, "p-root")
    assert libllm.grammar.gbnf_literal('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


# -- grammars on a session --------------------------------------------------------------------------
def test_grammar_constrains_every_generation(tiny):
    gbnf = 'root ::= "n=" [0-9]{1,3} ("," " "? [0-9]{1,3}){0,4} ";"'
    ref = gbnf_ref.parse(gbnf)
    with tiny.session(temperature=1.0, max_tokens=64) as s:
        s.set_grammar(gbnf)
        for seed in SEEDS:
            s.reset()
            text = s.generate("Hello", seed=seed)
            assert s.finish_reason == "stop", (seed, text)
            assert gbnf_ref.recognise(ref, text), (seed, text)
            # each generation after a feed starts from the grammar's start again
            more = s.generate(" and", seed=seed + 100)
            assert gbnf_ref.recognise(ref, more), (seed, more)
        assert s.sampling_ns > 0  # the time spent choosing tokens (grammar included) is counted
        s.reset()
        assert s.sampling_ns == 0


def test_grammar_prefix_when_cut_and_root_rule(tiny):
    gbnf = 'digits ::= [0-9]+ "."\nroot ::= "unused"'
    ref = gbnf_ref.parse(gbnf, "digits")
    with tiny.session(temperature=1.0, max_tokens=5, seed=3) as s:
        s.set_grammar(gbnf, root="digits")
        text = s.generate("x")
        assert s.finish_reason in ("length", "stop")
        if s.finish_reason == "length":
            assert gbnf_ref.is_prefix(ref, text) and text
        else:
            assert gbnf_ref.recognise(ref, text)


def test_bad_grammar_keeps_the_previous_one(tiny):
    with tiny.session(temperature=1.0, max_tokens=16, seed=1) as s:
        s.set_grammar('root ::= "yes" | "no"')
        with pytest.raises(libllm.FormatError, match="line 1"):
            s.set_grammar('root ::= ("a"')
        for seed in SEEDS:
            s.reset()
            assert s.generate("q", seed=seed) in ("yes", "no")
        s.clear_grammar()
        outs = set()
        for seed in SEEDS:
            s.reset()
            outs.add(s.generate("q", seed=seed))
        assert outs - {"yes", "no"}, outs  # free again


def test_json_schema_on_a_session(tiny):
    with tiny.session(temperature=1.0, max_tokens=200) as s:
        s.set_json_schema(PERSON)
        for seed in SEEDS:
            s.reset()
            text = s.generate("Person:", seed=seed)
            assert s.finish_reason == "stop", (seed, text)
            jsonschema.validate(json.loads(text), PERSON)
        with pytest.raises(libllm.UnsupportedError, match="multipleOf"):
            s.set_json_schema({"type": "integer", "multipleOf": 2})


def test_grammar_dead_end_finishes_with_grammar(letters):
    with letters.session(temperature=1.0, max_tokens=16, seed=2) as s:
        s.set_grammar('root ::= "ab" "\u00e9"')  # no token of this vocabulary writes é
        steps = []
        s.feed("q")
        while True:
            st = s.step()
            steps.append(st)
            if st.finished:
                break
        assert steps[-1].finish == libllm.Finish.GRAMMAR
        assert "".join(x.text for x in steps) == "ab"
        s.reset()
        assert s.generate("q") == "ab" and s.finish_reason == "grammar" and s.last_finish == libllm.Finish.GRAMMAR


# -- logit bias -------------------------------------------------------------------------------------
def test_logit_bias(tiny):
    with tiny.session(temperature=0, max_tokens=1) as s:
        s.feed("Hello")
        greedy = s.step().token
        s.reset()
        s.set_logit_bias({greedy: float("-inf")})
        s.feed("Hello")
        assert s.step().token != greedy
        with pytest.raises(libllm.InvalidArgumentError):
            s.set_logit_bias({tiny.n_vocab: 1.0})
        s.reset()
        s.feed("Hello")
        assert s.step().token != greedy  # the refused call changed nothing
        s.set_logit_bias(None)
        s.reset()
        s.feed("Hello")
        assert s.step().token == greedy
    forced = 37
    with tiny.session(temperature=1.0, max_tokens=12, seed=5) as s:
        s.set_logit_bias({forced: 100.0})
        s.feed("Hello")
        toks = []
        while True:
            st = s.step()
            if st.token >= 0:
                toks.append(st.token)
            if st.finished:
                break
        assert toks and set(toks) == {forced}


# -- log-probabilities --------------------------------------------------------------------------------
def _steps(s, n):
    out = []
    for _ in range(n):
        st = s.step()
        out.append((st, np.frombuffer(s.logits(), dtype=np.float32).copy()))
        if st.finished:
            break
    return out


def test_logprobs_match_numpy(tiny):
    with tiny.session(temperature=1.0, max_tokens=12, seed=11, top_logprobs=5) as s:
        s.feed("Once upon")
        steps = _steps(s, 12)
        assert len(steps) >= 2
        for st, logits in steps:
            if st.token < 0:
                continue
            ls = log_softmax(logits)
            assert abs(st.logprob - ls[st.token]) < LOGPROB_TOL, (st.logprob, ls[st.token])
            want = np.argsort(-ls, kind="stable")[:5]
            assert [t for t, _ in st.top_logprobs] == list(want)
            for t, lp in st.top_logprobs:
                assert abs(lp - ls[t]) < LOGPROB_TOL
        last = steps[-1][0]
        if last.token >= 0:
            assert s.logprobs() == (last.logprob, last.top_logprobs)
    with tiny.session(temperature=1.0, max_tokens=4, seed=11, top_logprobs=0) as s:
        s.feed("Once upon")
        st, logits = _steps(s, 1)[0]
        assert st.top_logprobs == () and abs(st.logprob - log_softmax(logits)[st.token]) < LOGPROB_TOL
        s.set(top_logprobs=-1)
        assert s.step().logprob is None


def test_logprobs_with_bias_and_grammar(tiny):
    """The logprob is that of the distribution with the bias added (before temperature and the
    other samplers); the alternatives are only tokens the grammar allows."""
    allowed = {t for t in range(tiny.n_vocab)
               if tiny.token_to_piece(t) and all(c in b"abcde" for c in tiny.token_to_piece(t))}
    assert len(allowed) >= 10  # the letters, as letter tokens and as byte tokens
    a, b = sorted(allowed)[:2]
    bias = {a: 3.0, b: -2.0, 40: 1.5}
    with tiny.session(temperature=1.7, top_k=3, max_tokens=8, seed=4, top_logprobs=20) as s:
        s.set_logit_bias(bias)
        s.set_grammar('root ::= [a-e]+')
        s.feed("Once upon")
        for st, logits in _steps(s, 8):
            if st.token < 0 or st.finish == libllm.Finish.EOG:
                continue
            biased = logits.astype(np.float64)
            for t, b in bias.items():
                biased[t] += b
            ls = log_softmax(biased)
            assert abs(st.logprob - ls[st.token]) < LOGPROB_TOL
            assert st.token in allowed
            tops = [t for t, _ in st.top_logprobs]
            values = [v for _, v in st.top_logprobs]
            assert set(tops) <= allowed | {tiny.token_eos} and len(tops) >= min(20, len(allowed))
            assert values == sorted(values, reverse=True)
            for t, v in st.top_logprobs:
                assert abs(v - ls[t]) < LOGPROB_TOL
            # the best allowed tokens: none left out is likelier than the last one listed
            assert all(ls[t] <= values[-1] + LOGPROB_TOL for t in allowed - set(tops))


# -- OpenAI-shaped calls ----------------------------------------------------------------------------
def test_completion_grammar_logprobs_bias_seed(tiny):
    gbnf = 'root ::= [a-z]{1,6} (" " [a-z]{1,6}){0,3} "."'
    ref = gbnf_ref.parse(gbnf)
    for seed in SEEDS:
        r = tiny.create_completion("Say:", max_tokens=60, temperature=1.0, seed=seed, grammar=gbnf, logprobs=3)
        text = r["choices"][0]["text"]
        assert r["choices"][0]["finish_reason"] == "stop" and gbnf_ref.recognise(ref, text), text
        lp = r["choices"][0]["logprobs"]
        assert "".join(lp["tokens"]) == text
        assert len(lp["token_logprobs"]) == len(lp["tokens"]) == len(lp["top_logprobs"]) == len(lp["text_offset"])
        assert lp["text_offset"] == sorted(lp["text_offset"]) and lp["text_offset"][0] == 0
        for tok, value, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]):
            assert value <= 0 and 1 <= len(top) <= 3 and all(v <= 0 for v in top.values())
        # the same seed, the same text; streamed alike
        again = tiny.create_completion("Say:", max_tokens=60, temperature=1.0, seed=seed, grammar=gbnf, logprobs=3)
        assert again["choices"][0]["text"] == text
        chunks = list(tiny.create_completion("Say:", max_tokens=60, temperature=1.0, seed=seed, grammar=gbnf,
                                             logprobs=3, stream=True))
        assert "".join(c["choices"][0]["text"] for c in chunks) == text
        assert [t for c in chunks if c["choices"][0]["logprobs"] for t in c["choices"][0]["logprobs"]["tokens"]] \
            == lp["tokens"]
    # logit_bias keys are token id strings
    r = tiny.create_completion("Say:", max_tokens=5, temperature=1.0, seed=1, logit_bias={"37": 100})
    assert r["usage"]["completion_tokens"] == 5 and r["choices"][0]["text"] == tiny.detokenize([37]) * 5
    for bad in ({"x": 1}, {"37": 101}, {str(tiny.n_vocab): 1}, {"37": "1"}, [1]):
        with pytest.raises(ValueError):
            tiny.create_completion("Say:", max_tokens=2, logit_bias=bad)
    with pytest.raises(ValueError):
        tiny.create_completion("Say:", max_tokens=2, logprobs=21)
    with pytest.raises(libllm.FormatError):
        tiny.create_completion("Say:", max_tokens=2, grammar='root ::= ("')


def test_completion_json_schema(tiny):
    rf = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    for seed in SEEDS:
        r = tiny.create_completion("Person:", max_tokens=200, temperature=1.0, seed=seed, response_format=rf)
        assert r["choices"][0]["finish_reason"] == "stop"
        jsonschema.validate(json.loads(r["choices"][0]["text"]), PERSON)


def test_pooled_sessions_are_unconstrained_afterwards(tiny):
    for _ in range(3):
        r = tiny.create_completion("Q", max_tokens=8, temperature=1.0, grammar='root ::= "x"', logprobs=2,
                                   logit_bias={"40": -100})
        assert r["choices"][0]["text"] == "x"
    outs = {tiny.create_completion("Q", max_tokens=8, temperature=1.0, seed=seed)["choices"][0]["text"]
            for seed in SEEDS}
    assert outs - {"x"}
    r = tiny.create_completion("Q", max_tokens=4, temperature=1.0, seed=1)
    assert r["choices"][0]["logprobs"] is None


def test_chat_response_format(tiny):
    # json_object has no bound on its strings, and noise rarely closes one: the reply is an object,
    # or (cut by max_tokens) the start of one
    any_object = gbnf_ref.parse(libllm.grammar.json_object_grammar())
    for seed in SEEDS:
        r = tiny.create_chat_completion([{"role": "user", "content": "Give JSON"}], max_tokens=60, temperature=1.0,
                                        seed=seed, response_format={"type": "json_object"})
        text = r["choices"][0]["message"]["content"]
        if r["choices"][0]["finish_reason"] == "stop":
            assert isinstance(json.loads(text), dict)
        else:
            assert r["choices"][0]["finish_reason"] == "length" and text.startswith("{")
            assert gbnf_ref.is_prefix(any_object, text), text
        r = tiny.create_chat_completion([{"role": "user", "content": "Give JSON"}], max_tokens=200, temperature=1.0,
                                        seed=seed, response_format={"type": "json_schema", "json_schema": {
                                            "name": "person", "schema": PERSON}})
        jsonschema.validate(json.loads(r["choices"][0]["message"]["content"]), PERSON)
    with pytest.raises(ValueError):
        tiny.create_chat_completion([{"role": "user", "content": "x"}], response_format={"type": "yaml"})
    with pytest.raises(ValueError):
        tiny.create_chat_completion([{"role": "user", "content": "x"}], response_format={"type": "json_schema"})
    with pytest.raises(libllm.UnsupportedError):
        tiny.create_chat_completion([{"role": "user", "content": "x"}], max_tokens=2, response_format={
            "type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "number", "multipleOf": 2}}})


def test_chat_logprobs_shape_and_values(tiny):
    msgs = [{"role": "user", "content": "Hi"}]
    # the byte tokens 0x80-0xFF (ids 3 + byte) banned: every token is whole ASCII text
    ascii_only = {str(3 + b): -100 for b in range(0x80, 0x100)}
    r = tiny.create_chat_completion(msgs, max_tokens=10, temperature=1.0, seed=3, logprobs=True, top_logprobs=4,
                                    logit_bias=ascii_only)
    content = r["choices"][0]["logprobs"]["content"]
    assert len(content) == r["usage"]["completion_tokens"]
    assert "".join(e["token"] for e in content) == r["choices"][0]["message"]["content"]
    assert all(max(e["bytes"]) < 0x80 for e in content)
    for e in content:
        assert set(e) == {"token", "logprob", "bytes", "top_logprobs"}
        assert bytes(e["bytes"]).decode("utf-8", "replace") == e["token"] and e["logprob"] <= 0
        assert len(e["top_logprobs"]) == 4
        values = [a["logprob"] for a in e["top_logprobs"]]
        assert values == sorted(values, reverse=True) and e["logprob"] <= values[0] + LOGPROB_TOL
        assert all(set(a) == {"token", "logprob", "bytes"} for a in e["top_logprobs"])
    # the values are those of the model: the same step by hand
    with tiny.session(temperature=1.0, seed=3, max_tokens=1) as s:
        s.set_logit_bias({int(t): b for t, b in ascii_only.items()})
        s.chat("user", "Hi")
        st = s.step()
        logits = np.frombuffer(s.logits(), dtype=np.float32).astype(np.float64)
        for t, b in ascii_only.items():
            logits[int(t)] += b
        assert bytes(content[0]["bytes"]) == tiny.token_to_piece(st.token)
        assert abs(content[0]["logprob"] - log_softmax(logits)[st.token]) < LOGPROB_TOL
    plain = tiny.create_chat_completion(msgs, max_tokens=3, temperature=1.0, seed=3, logprobs=True)
    assert all(e["top_logprobs"] == [] for e in plain["choices"][0]["logprobs"]["content"])
    assert tiny.create_chat_completion(msgs, max_tokens=3)["choices"][0]["logprobs"] is None
    chunks = list(tiny.create_chat_completion(msgs, max_tokens=10, temperature=1.0, seed=3, logprobs=True,
                                              top_logprobs=4, logit_bias=ascii_only, stream=True))
    streamed = [e for c in chunks if c["choices"][0]["logprobs"] for e in c["choices"][0]["logprobs"]["content"]]
    assert streamed == content
    for bad in (dict(top_logprobs=3), dict(logprobs=True, top_logprobs=21), dict(logprobs="yes")):
        with pytest.raises(ValueError):
            tiny.create_chat_completion(msgs, max_tokens=2, **bad)


def test_session_finish_reasons_mapping():
    from libllm.session import FINISH_REASONS, OPENAI_FINISH_REASONS
    assert FINISH_REASONS[libllm.Finish.GRAMMAR] == "grammar"
    assert OPENAI_FINISH_REASONS[libllm.Finish.GRAMMAR] == "length"  # an unfinished output
