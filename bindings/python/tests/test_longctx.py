"""Long conversations and shared prefixes through the binding: context_shift / shift_keep /
kv_type / prefix_cache session options, n_reused / n_shifts / kv_bytes, and OpenAI's
usage.prompt_tokens_details.cached_tokens of create_chat_completion on the real Gemma 3 270M."""
import pytest

import libllm


@pytest.fixture()
def tiny(tiny_path):
    with libllm.Model(tiny_path, n_ctx=96) as m:
        yield m


def test_chat_goes_past_the_context_with_a_shift(tiny):
    for mode in ("shift", "recompute"):
        s = tiny.session(n_ctx=96, context_shift=mode, temperature=0.8, seed=3, max_tokens=20)
        for turn in range(12):
            s.chat("user", f"turn {turn} hello there")
            s.generate()
            assert s.n_past <= 96
        assert s.n_shifts >= 3, mode


def test_without_shift_the_context_ends(tiny):
    s = tiny.session(n_ctx=96, temperature=0.8, seed=3, max_tokens=0)
    s.feed([5, 6, 7, 8, 9, 10])
    for _ in range(100):  # an end-of-generation token may come first: go on after it
        s.generate()
        if s.finish_reason != "stop":
            break
        s.feed([5])
    assert s.finish_reason == "length" or s.n_past == 96
    assert s.n_shifts == 0 and s.n_past == 96


def test_bad_option_names(tiny):
    with pytest.raises(ValueError):
        tiny.session(context_shift="sometimes")
    with pytest.raises(ValueError):
        tiny.session(kv_type="q4")


def test_kv_types_and_prefix_reuse(tiny):
    text = [(7 * i) % 290 + 5 for i in range(80)]
    sizes = {}
    with pytest.raises(libllm.UnsupportedError):  # Q8_0 blocks of 32 need head dimensions that allow them
        tiny.session(kv_type="q8_0")
    for kv in ("f32", "f16"):
        a = tiny.session(n_ctx=96, kv_type=kv, max_sessions=2, temperature=0)
        b = tiny.session(share_context=a, temperature=0)
        a.feed(text)
        assert a.n_reused == 0
        b.feed(text + [3])
        assert b.n_reused >= 64  # the first whole page of the prompt came from the prefix cache
        sizes[kv] = a.kv_bytes
        a.close()
        b.close()
    assert sizes["f16"] * 2 == sizes["f32"]


def test_no_prefix_cache(tiny):
    a = tiny.session(n_ctx=96, max_sessions=2, prefix_cache=0, temperature=0)
    b = tiny.session(share_context=a, temperature=0)
    text = [(7 * i) % 290 + 5 for i in range(80)]
    a.feed(text)
    b.feed(text)
    assert b.n_reused == 0


def test_chat_completions_report_cached_tokens(gemma):
    system = "You answer questions about a small hardware shop. " + " ".join(
        f"Rule {i}: item {i * 7} is in aisle {i % 5 + 1}." for i in range(1, 30))
    usages = []
    for q in ("Where is item 14?", "Where is item 21?"):
        r = gemma.create_chat_completion([{"role": "system", "content": system}, {"role": "user", "content": q}],
                                         max_tokens=4, temperature=0)
        usages.append(r["usage"])
    assert usages[0]["prompt_tokens_details"]["cached_tokens"] == 0
    assert usages[1]["prompt_tokens_details"]["cached_tokens"] >= 64
    assert usages[1]["prompt_tokens_details"]["cached_tokens"] <= usages[1]["prompt_tokens"]
