"""Embeddings and scores in the Python binding (Session.embed / score, Model.embed /
create_embedding / score) on the real Gemma 3 270M, and POST /v1/embeddings of examples/server.py
driven by the official `openai` client. The C results themselves are checked against the numpy
reference by tests/embed/test_embed_ref.py; here: the OpenAI shapes, that every path gives the
same numbers, the scores against log-softmax of Session.logits, and bad requests."""
import base64
import json
import math
import struct
import urllib.error
import urllib.request

import pytest

from conftest import running_server

import libllm



def norm(v):
    return math.sqrt(sum(x * x for x in v))


def test_create_embedding_shapes(gemma):
    n_embd = gemma.n_embd
    r = gemma.create_embedding("The quick brown fox")
    assert r["object"] == "list" and r["model"] == gemma.model_id
    assert [d["object"] for d in r["data"]] == ["embedding"] and r["data"][0]["index"] == 0
    vec = r["data"][0]["embedding"]
    assert len(vec) == n_embd and all(isinstance(x, float) for x in vec)
    assert abs(norm(vec) - 1) < 1e-5
    toks = gemma.tokenize("The quick brown fox")
    assert r["usage"] == {"prompt_tokens": len(toks), "total_tokens": len(toks)}
    # the four input forms give the same vectors
    texts = ["The quick brown fox", "jumps over the lazy dog", "Paris"]
    many = gemma.create_embedding(texts)
    assert [d["index"] for d in many["data"]] == [0, 1, 2]
    assert many["data"][0]["embedding"] == vec
    ids = [gemma.tokenize(t) for t in texts]
    assert gemma.create_embedding(ids[0])["data"][0]["embedding"] == vec
    by_ids = gemma.create_embedding(ids)
    assert [d["embedding"] for d in by_ids["data"]] == [d["embedding"] for d in many["data"]]
    assert many["usage"]["prompt_tokens"] == sum(len(i) for i in ids)
    assert many["data"][1]["embedding"] != vec
    # Model.embed and Session.embed, by text and by tokens
    assert gemma.embed("The quick brown fox") == vec
    with gemma.session(n_ctx=128) as s:
        assert s.embed("The quick brown fox") == vec
        assert s.embed(toks) == vec
        assert s.n_past == 0 and s.n_evaluated == len(toks)
    # base64: the little-endian float32 bytes of the same vector
    b = gemma.create_embedding("The quick brown fox", encoding_format="base64")["data"][0]["embedding"]
    raw = base64.b64decode(b)
    assert list(struct.unpack("<%df" % n_embd, raw)) == vec


def test_pooling_and_normalize(gemma):
    toks = gemma.tokenize("Embeddings pool the final hidden states")
    with gemma.session(n_ctx=128) as s:
        states = [s.embed(toks[:k + 1], pooling="last", normalize=False) for k in range(len(toks))]
        assert s.embed(toks, pooling="first", normalize=False) == states[0]
        assert s.embed(toks, pooling=libllm.Pooling.LAST, normalize=False) == states[-1]
        mean = s.embed(toks, pooling="mean", normalize=False)
        avg = [sum(col) / len(states) for col in zip(*states)]
        top = max(abs(x) for x in avg)
        assert max(abs(a - b) for a, b in zip(mean, avg)) / top < 1e-4
        unit = s.embed(toks, pooling="mean")
        assert abs(norm(unit) - 1) < 1e-5 and abs(norm(mean) - 1) > 1e-3
        n = norm(mean)
        assert max(abs(u - m / n) for u, m in zip(unit, mean)) < 1e-6
        r = gemma.create_embedding("Embeddings pool the final hidden states", pooling="last", normalize=False)
        assert r["data"][0]["embedding"] == states[-1]


def test_embedding_errors(gemma):
    with pytest.raises(ValueError, match="dimensions"):
        gemma.create_embedding("x", dimensions=64)
    assert len(gemma.create_embedding("x", dimensions=gemma.n_embd)["data"][0]["embedding"]) == gemma.n_embd
    with pytest.raises(ValueError, match="encoding_format"):
        gemma.create_embedding("x", encoding_format="int8")
    for bad in ([], [[]], ["a", 1], [1.5], [[1, 2], "a"], 42, [True]):
        with pytest.raises(ValueError):
            gemma.create_embedding(bad)
    with pytest.raises(ValueError, match="vocabulary"):
        gemma.create_embedding([2, gemma.n_vocab])
    with pytest.raises(ValueError, match="pooling"):
        gemma.create_embedding("x", pooling="max")
    with pytest.raises(TypeError):
        gemma.create_embedding("x", temperature=0.5)
    with pytest.raises(libllm.ContextFullError):
        gemma.create_embedding([2] * 600, n_ctx=512)
    with gemma.session(n_ctx=64) as s:
        with pytest.raises(libllm.ContextFullError):
            s.embed("word " * 100)
        with pytest.raises(libllm.InvalidArgumentError):
            s.embed([])
        with pytest.raises(ValueError):
            s.embed("x", pooling=7)


def log_softmax_at(row, tok):
    mx = max(row)
    return row[tok] - mx - math.log(sum(math.exp(x - mx) for x in row))


def test_score_matches_logits(gemma):
    prompt, cont = "The capital of France is", " Paris, a city on the Seine."
    p, c = gemma.tokenize(prompt), gemma.tokenize(cont, add_bos=False)
    total, per = gemma.score(prompt, cont, per_token=True)
    assert len(per) == len(c) and abs(sum(per) - total) < 1e-4
    with gemma.session(n_ctx=128, all_logits=True) as ref:
        ref.feed(p + c)
        want = [log_softmax_at(ref.logits(len(p) - 1 + i), c[i]) for i in range(len(c))]
    assert max(abs(a - b) for a, b in zip(per, want)) < 1e-2  # FAST precision: see test_embed.c
    assert gemma.score(p, c) == total  # tokens or texts
    with gemma.session(n_ctx=128) as s:
        s.feed("Something")
        assert s.score(prompt, cont) == total and s.n_past == 0
        assert s.score(prompt, "") == 0.0
        with pytest.raises(libllm.InvalidArgumentError):
            s.score([], c)
        with pytest.raises(libllm.InvalidArgumentError):
            s.score(p, [gemma.n_vocab])
        with pytest.raises(libllm.ContextFullError):
            s.score(p, [5] * 200)


def test_classify_and_rerank(gemma):
    prompt = "The capital of France is"
    labels = [" Berlin", " Paris", " London", " Madrid"]
    scores = {lab: gemma.score(prompt, lab) for lab in labels}
    assert max(scores, key=scores.get) == " Paris", scores
    review = "Review: The food was cold and the waiter was rude. Sentiment:"
    assert gemma.score(review, " negative") > gemma.score(review, " positive")


# -- the server ----------------------------------------------------------------------------------
openai = pytest.importorskip("openai", reason="pip install openai (tests/requirements.txt)")


@pytest.fixture(scope="module")
def server(gemma_file):
    with running_server(gemma_file, "--n-ctx", "256", "--threads", "1", "--model-id", "gemma-embed") as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="none", timeout=120, max_retries=0)


def post(server, path, body):
    req = urllib.request.Request(server + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_server_embeddings_openai_client(client, gemma):
    want = gemma.create_embedding(["The quick brown fox", "Paris"])
    # the client asks for base64 by default and decodes it
    r = client.embeddings.create(model="gemma-embed", input=["The quick brown fox", "Paris"])
    assert r.object == "list" and r.model == "gemma-embed" and len(r.data) == 2
    assert [d.index for d in r.data] == [0, 1]
    assert [d.embedding for d in r.data] == [d["embedding"] for d in want["data"]]
    assert r.usage.prompt_tokens == want["usage"]["prompt_tokens"] == r.usage.total_tokens
    f = client.embeddings.create(model="gemma-embed", input="The quick brown fox", encoding_format="float")
    assert f.data[0].embedding == want["data"][0]["embedding"]
    t = client.embeddings.create(model="gemma-embed", input=gemma.tokenize("Paris"))
    assert t.data[0].embedding == want["data"][1]["embedding"]
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model="gemma-embed", input="x", dimensions=64)
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="gemma-embed", input=[])
    with pytest.raises(openai.BadRequestError, match="context"):
        client.embeddings.create(model="gemma-embed", input=[[2] * 300])


def test_server_embeddings_raw(server, gemma):
    st, body = post(server, "/v1/embeddings", {"input": "Paris", "pooling": "last", "normalize": False})
    assert st == 200, body
    assert body["data"][0]["embedding"] == gemma.embed("Paris", pooling="last", normalize=False)
    st, body = post(server, "/v1/embeddings", {"model": "gemma-embed"})
    assert st == 400 and body["error"]["param"] == "input", body
    st, body = post(server, "/v1/embeddings", {"input": "x", "encoding_format": "int8"})
    assert st == 400 and "encoding_format" in body["error"]["message"], body
    st, body = post(server, "/v1/embeddings", {"input": "x", "pooling": "max"})
    assert st == 400 and "pooling" in body["error"]["message"], body
