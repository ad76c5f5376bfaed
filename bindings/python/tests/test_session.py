"""Sessions and generation: feed/generate/step/reset/chat/logits, streaming, stop strings,
per-call settings, errors, cancel, threads (tiny generated models and the real Gemma 3 270M)."""
import math
import os
import threading

import pytest

import libllm
from batch_steps import alone_and_batched


@pytest.fixture()
def tiny(tiny_path):
    with libllm.Model(tiny_path, n_ctx=64) as m:
        yield m


def test_greedy_is_deterministic_and_stream_matches(tiny):
    s = tiny.session(temperature=0)
    a = s.generate("hello", max_tokens=8)
    assert s.finish_reason == "length" and s.last_completion_tokens == 8
    s.reset()
    pieces = list(s.generate("hello", max_tokens=8, stream=True))
    assert "".join(pieces) == a and all(pieces)
    s.reset()
    s.set(max_tokens=8)
    steps = []
    s.feed("hello")
    while True:
        st = s.step()
        steps.append(st)
        if st.finished:
            break
    assert "".join(x.text for x in steps) == a and steps[-1].finish == libllm.Finish.LENGTH
    assert all(x.token >= 0 for x in steps)


def test_sampling_seed_and_per_call_settings(tiny):
    s = tiny.session(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=42)
    a = s.generate("abc", max_tokens=10)
    s.reset()
    assert s.generate("abc", max_tokens=10) == a  # reset restarts the sampler from its seed
    s.reset()
    b = s.generate("abc", max_tokens=10, seed=7)
    s.reset()
    assert s.generate("abc", max_tokens=10, seed=7) == b
    before = s.settings
    s.generate("abc", max_tokens=3, temperature=0.0, top_k=5)
    after = s.settings
    assert after["temperature"] == before["temperature"] and after["top_k"] == before["top_k"]
    with pytest.raises(libllm.InvalidArgumentError):
        s.generate("abc", max_tokens=3, top_p=5.0)
    assert s.settings["top_p"] == before["top_p"]
    with pytest.raises(TypeError):
        s.set(no_such_setting=1)


def test_errors(tiny):
    s = tiny.session(n_ctx=32)
    with pytest.raises(libllm.ContextFullError) as e:
        s.feed("word " * 200)
    assert e.value.status == libllm.Status.CONTEXT_FULL and "do not fit" in e.value.message
    assert s.n_past == 0  # nothing fed
    with pytest.raises(libllm.InvalidUtf8Error):
        s.feed(b"\xc3\x28 broken")
    with pytest.raises(libllm.InvalidUtf8Error):
        s.chat("user", "bad \udcff")
    with pytest.raises(libllm.StateError):
        s.step()  # nothing fed yet
    with pytest.raises(libllm.InvalidArgumentError):
        s.feed([1, 2, 100000])
    with pytest.raises(libllm.StateError):
        s.logits()
    s.feed("abc")
    assert s.generate(max_tokens=2)
    # generation that reaches the end of the context finishes with "length"
    s.reset()
    s.feed("abc")
    s.generate(max_tokens=0)
    assert s.last_finish == libllm.Finish.CONTEXT and s.finish_reason == "length"
    with pytest.raises(libllm.ContextFullError):
        s.feed("more text")


def test_chat_needs_a_format(fixtures_dir):
    from conftest import make_model
    import os
    path = make_model(os.path.join(fixtures_dir, "tiny_nochat.gguf"), "--arch", "llama", "--type", "F32",
                      "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300")
    with libllm.Model(path) as m:
        with pytest.raises(libllm.UnsupportedError):
            m.session().chat("user", "hi")


def test_logits(tiny):
    s = tiny.session(temperature=0, all_logits=True)
    s.feed([1, 5, 6, 7])
    rows = [s.logits(i) for i in range(4)]
    assert all(len(r) == tiny.n_vocab for r in rows)
    assert list(s.logits(-1)) == list(rows[3])
    mv = memoryview(rows[0])
    assert mv.format == "f" and len(mv) == 300 and all(math.isfinite(x) for x in rows[0])
    with pytest.raises(libllm.InvalidArgumentError):
        s.logits(4)
    best = max(range(300), key=lambda i: rows[3][i])
    assert s.step().token == best  # greedy picks the arg-max of the last row


def test_stop_strings_session_and_call(gemma):
    s = gemma.session(temperature=0)
    prompt = "The capital of France is"
    full = s.generate(prompt, max_tokens=8)
    words = full.split()
    assert len(words) >= 3
    stop = " " + words[2]
    s.reset()
    out = s.generate(prompt, max_tokens=8, stop=["zzzz", stop])
    assert out == full[:full.index(stop)] and s.finish_reason == "stop" and s.last_finish == libllm.Finish.STOP
    assert s.stops == []
    s.reset()
    assert s.generate(prompt, max_tokens=8) == full  # the per-call stop is gone
    s.add_stop(stop)
    s.reset()
    assert s.generate(prompt, max_tokens=8) == out
    s.clear_stops()


def test_cancel_from_another_thread(tiny):
    s = tiny.session(temperature=0, n_ctx=256)
    got = []
    for piece in s.generate("abc", max_tokens=0, stream=True):
        got.append(piece)
        if len(got) == 3:
            threading.Thread(target=s.cancel).start()
    assert s.last_finish == libllm.Finish.ABORTED and len(got) < 200
    assert s.generate(" next", max_tokens=3)  # still usable


def test_early_break_of_stream_restores_settings(tiny):
    s = tiny.session(temperature=0)
    it = s.generate("abc", max_tokens=20, stream=True, temperature=1.5, stop=["zzz"])
    next(it)
    it.close()
    assert s.settings["temperature"] == 0 and s.stops == []
    assert s.generate(" x", max_tokens=2) is not None


# -- real model --------------------------------------------------------------------------------
def test_gemma_greedy_paris(gemma):
    s = gemma.session(temperature=0)
    text = s.generate("Question: What is the capital of France?\nAnswer:", max_tokens=8)
    assert "Paris" in text
    # the session continues the conversation
    more = s.generate(" And the capital of Italy is", max_tokens=6)
    assert isinstance(more, str) and s.n_past > 20


def test_gemma_stream_and_stop(gemma):
    s = gemma.session(temperature=0)
    full = s.generate("The capital of France is", max_tokens=10)
    s.reset()
    assert "".join(s.generate("The capital of France is", max_tokens=10, stream=True)) == full
    s.reset()
    cut = s.generate("The capital of France is", max_tokens=10, stop=["France"])
    if "France" in full:
        assert cut == full[:full.index("France")] and s.finish_reason == "stop"


def test_gemma_chat_session(gemma):
    s = gemma.session(temperature=0)
    s.chat("user", "What is the capital of France? Answer in one word.")
    a = s.generate(max_tokens=6)
    assert isinstance(a, str)
    s.chat("user", "And of Italy?")
    b = s.generate(max_tokens=6)
    assert isinstance(b, str) and s.n_past > 20


def test_two_threads_match_sequential(gemma):
    prompts = ["The capital of France is", "Once upon a time, a dragon"]
    seq = []
    for p in prompts:
        with gemma.session(temperature=0, n_ctx=128, n_threads=1) as s:
            seq.append(s.generate(p, max_tokens=8))
    results = [None, None]
    errors = []

    def worker(i):
        try:
            with gemma.session(temperature=0, n_ctx=128, n_threads=1) as s:
                results[i] = s.generate(prompts[i], max_tokens=8)
        except BaseException as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors and results == seq


def test_two_threads_sampled_with_seeds_match(tiny):
    def run(seed):
        with tiny.session(temperature=0.9, seed=seed) as s:
            return s.generate("abc", max_tokens=12)
    want = [run(1), run(2)]
    got = [None, None]
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, run(i + 1))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert got == want


def test_step_batch_matches_separate_steps(tiny):
    """libllm.step_batch: the same tokens as stepping each session alone, with sessions that
    share one context (a chat session's reply header is evaluated on its own first), finishing
    at different times; the argument errors; the context outlives whichever session goes first."""
    first = tiny.session(temperature=0, max_sessions=3, max_tokens=5)
    others = [tiny.session(temperature=0, share_context=first, max_tokens=m) for m in (9, 0)]
    ss = [first] + others

    def start():
        for s in ss:
            s.reset()
        ss[0].feed("hello")
        ss[1].feed("a longer prompt than the first one")
        ss[2].chat("user", "hi")

    alone, together = alone_and_batched(ss, start, 12)
    assert together == alone
    assert alone[0][-1][2] == libllm.Finish.LENGTH and len(alone[0]) == 5 and len(alone[1]) == 9

    with pytest.raises(libllm.InvalidArgumentError, match="same session"):
        libllm.step_batch([ss[0], ss[0]])
    lone = tiny.session(temperature=0)
    lone.feed("x")
    with pytest.raises(libllm.InvalidArgumentError, match="different contexts"):
        libllm.step_batch([ss[0], lone])
    assert libllm.step_batch([]) == []
    with pytest.raises(TypeError):
        tiny.session(share_context=object())
    # freeing the context's creator first: the others keep working, the last frees it
    first.close()
    assert len(libllm.step_batch(others)) == 2
    for s in others:
        s.close()


def _prompt_and_decode_logits(model, prompt_tokens, n_steps):
    """Logits after feeding the prompt (prefill), then after each of n_steps greedy steps."""
    s = model.session(temperature=0)
    s.feed(prompt_tokens)
    out = [bytes(memoryview(s.logits()))]
    for _ in range(n_steps):
        s.step()
        out.append(bytes(memoryview(s.logits())))
    s.close()
    return out


def _expects_x16():
    """Whether the model is repacked: the path it loads for (LLM_CPU_ISA when this CPU runs it,
    else the best) has 16-row kernels for some of its matrices. The test model has Q5_0 / Q8_0
    matrices, which have them on every x86-64 SIMD path: AVX2 (AVX2 + FMA + F16C) and AVX-512
    (its VNNI kernels, or the AVX2 ones on a CPU without VNNI); the scalar path has none."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return {"avx2", "fma", "f16c"} <= flags and os.environ.get("LLM_CPU_ISA", "") != "scalar"


def test_repack_changes_nothing_but_memory(gemma_file):
    """The row-interleaved copies (repack, the default) feed the FAST decode kernels and the
    prefill kernel; the logits must be bit for bit those of the file layout (repack=False), for a
    12-token prefill and 6 decode steps, whether the file is mapped or read."""
    runs = {}
    for repack, mmap in ((True, True), (False, True), (True, False)):
        with libllm.Model(gemma_file, n_ctx=128, repack=repack, use_mmap=mmap) as m:
            if repack and _expects_x16():
                assert 0 < m.repacked_bytes <= m.size_bytes
            else:
                assert m.repacked_bytes == 0
            runs[(repack, mmap)] = (m.repacked_bytes,
                                    _prompt_and_decode_logits(m, m.tokenize("The capital of France is a city where"), 6))
    assert runs[(True, True)][1] == runs[(False, True)][1]
    assert runs[(True, False)][1] == runs[(False, True)][1]
    assert runs[(True, True)][0] == runs[(True, False)][0]


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_repack_keeps_resident_memory_near_the_model_size(gemma_file):
    """With the file mapped, the copied tensors' mapped pages are released after repacking: the
    process's resident memory grows by about the model's size, not twice it (the copy and the
    mapping). Measured after loading and a short prompt (which reads every copied weight)."""
    if not _expects_x16():
        pytest.skip("this CPU path has no 16-row kernels: nothing is repacked")
    before = _rss_bytes()
    with libllm.Model(gemma_file, n_ctx=128) as m:
        s = m.session(temperature=0)
        s.feed(m.tokenize("The capital of France is"))
        s.step()
        grown = _rss_bytes() - before
        assert m.repacked_bytes > 0.5 * m.size_bytes
        # the copy (~size) plus the tensors read in place (embeddings rows, norms), scratch and
        # the KV cache; without the release it would be ~2x size
        assert grown < 1.5 * m.size_bytes, (grown, m.size_bytes)
        s.close()

