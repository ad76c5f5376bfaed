"""Saved sessions: session.save_state() -> bytes, model.session(state=...) and
session.load_state(bytes) continue bit for bit (tokens, texts, logits), in this process and in
another one; the binding's copies of settings and stop strings follow the state; errors map to
the binding's exceptions."""
import json
import os
import struct
import subprocess
import sys
import zlib

import pytest

from conftest import CHATML, child_env, make_model

import libllm


@pytest.fixture(scope="module")
def tiny(tiny_path):
    with libllm.Model(tiny_path, n_ctx=256) as m:
        yield m


@pytest.fixture(scope="module")
def other_path(fixtures_dir):
    """The same shapes as tiny_chatml.gguf, other weights."""
    return make_model(os.path.join(fixtures_dir, "tiny_chatml_seed9.gguf"), "--arch", "llama", "--type", "F32",
                      "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300", "--ctx", "256", "--seed", "9",
                      "--set", "tokenizer.chat_template=str:" + CHATML)


def run(session, n):
    out = []
    for _ in range(n):
        st = session.step()
        out.append((st.token, st.text, int(st.finish), bytes(session.logits())))
    return out


def prepared(model):
    s = model.session(temperature=1.2, top_k=0, top_p=1.0, min_p=0.0, seed=77, stop=["ab"], max_tokens=7)
    s.feed([1, 20, 30, 40, 50])
    run(s, 3)
    return s


def test_round_trip_same_process(tiny):
    s = prepared(tiny)
    state = s.save_state()
    assert isinstance(state, bytes) and state[:4] == b"LLMS"
    ref = run(s, 12)
    assert len({t for t, *_ in ref}) > 1
    restored = tiny.session(state=state)
    assert run(restored, 12) == ref
    other = tiny.session(temperature=0)
    other.feed("something else")
    other.load_state(state)
    assert run(other, 12) == ref
    # the binding's copies follow the state
    assert other.stops == ["ab"]
    assert other.settings["max_tokens"] == 7 and other.settings["seed"] == 77
    assert abs(other.settings["temperature"] - 1.2) < 1e-6


def test_chat_round_trip(tiny):
    s = tiny.session(temperature=0.9, seed=5, max_tokens=6)
    s.chat("user", "Hello there")
    run(s, 2)
    state = s.save_state()
    ref = run(s, 6)
    s.chat("user", "More")
    ref += run(s, 6)
    r = tiny.session(state=state)
    got = run(r, 6)
    r.chat("user", "More")
    got += run(r, 6)
    assert got == ref


def test_file_round_trip(tiny, tmp_path):
    s = prepared(tiny)
    path = str(tmp_path / "s.llms")
    s.save_state_file(path)
    with open(path, "rb") as f:
        assert f.read() == s.save_state()
    ref = run(s, 8)
    r = tiny.session()
    r.load_state_file(path)
    assert run(r, 8) == ref


def test_another_process(tiny, tiny_path, tmp_path):
    s = prepared(tiny)
    path = tmp_path / "state.llms"
    path.write_bytes(s.save_state())
    ref = [(t, txt, f) for t, txt, f, _ in run(s, 10)]
    child = (
        "import json, sys, libllm\n"
        "m = libllm.Model(sys.argv[1], n_ctx=256)\n"
        "s = m.session(state=open(sys.argv[2], 'rb').read())\n"
        "out = []\n"
        "for _ in range(10):\n"
        "    st = s.step()\n"
        "    out.append([st.token, st.text, int(st.finish)])\n"
        "print(json.dumps(out))\n")
    res = subprocess.run([sys.executable, "-c", child, tiny_path, str(path)], env=child_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert [tuple(x) for x in json.loads(res.stdout)] == ref


def test_errors(tiny, other_path):
    s = prepared(tiny)
    state = s.save_state()
    r = tiny.session()
    r.feed([1, 2, 3])
    with pytest.raises(libllm.FormatError):
        r.load_state(state[:-1])
    with pytest.raises(libllm.FormatError):
        r.load_state(state[:40])
    flipped = bytearray(state)
    flipped[len(state) // 2] ^= 1
    with pytest.raises(libllm.FormatError):
        r.load_state(bytes(flipped))
    newer = bytearray(state)
    newer[4:8] = struct.pack("<I", 99)
    newer[-4:] = struct.pack("<I", zlib.crc32(bytes(newer[:-4])))
    with pytest.raises(libllm.UnsupportedError):
        r.load_state(bytes(newer))
    with pytest.raises(libllm.InvalidArgumentError):
        tiny.session(n_ctx=4, state=state)
    with libllm.Model(other_path, n_ctx=256) as other:
        with pytest.raises(libllm.InvalidArgumentError, match="model"):
            other.session(state=state)
    assert r.n_past == 3  # unchanged by the failed loads
