"""Encode speed of the C tokenizer against HF `tokenizers`, one thread each, same text.

  python3 tests/tokenizer/bench_speed.py [--bin BUILD_DIR] [--mb 1.0] [--reps 5] [VOCAB ...]

VOCAB is one of llama3, gemma3, qwen3 (default: llama3 gemma3). The text is ~1 MB of mixed lines
generated deterministically (English prose, code, and tests/tokenizer/corpus.py's words: many
scripts, emoji, digits, combining marks, whitespace runs). Two ways, both sides alike:
- "whole": the text as one string (C: one llm_tokenizer_encode; HF: Tokenizer.encode);
- "lines": each line as its own string (C: one llm_tokenizer_encode per line; HF:
  Tokenizer.encode_batch of the lines, on one thread) -- the usual way HF is driven.
Added/special tokens are recognized on both sides (HF's default; the C side with parse_special),
no BOS. Timed: the C library's encode calls (tok_driver's encode_ms) and HF's encode calls,
loading excluded; the best of --reps runs of each. The ids of the two are compared, so both did
the same work. HF runs with RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false, set before it
is imported.
"""
import argparse
import os
import random
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import corpus  # noqa: E402
import make_vocab_gguf  # noqa: E402
import tokdrv  # noqa: E402

PROSE = ("The quick brown fox jumps over the lazy dog. In 2024, researchers reported that large "
         "language models can't always count the r's in strawberry; they're improving, though. "
         "Tokenizers split text into pieces: words, numbers like 3.14159 or 1,000,000, and symbols.")


def make_text(mb, seed=1234):
    """Lines mixing English prose (about half the bytes), code and the corpus' multilingual mix."""
    rng = random.Random(seed)
    words = corpus.WORDS
    lines, size, target = [], 0, int(mb * 1e6)
    while size < target:
        r = rng.random()
        if r < 0.45:
            ws = PROSE.split(" ")
            start = rng.randrange(len(ws))
            line = " ".join(ws[start:start + rng.randint(5, 30)])
        elif r < 0.6:
            line = "    " * rng.randint(0, 3) + rng.choice(
                ["for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }", "def f(x, y=2):", "return {'k': [1, 2, 3]}",
                 "if (p != NULL && p->next) p = p->next;", "#include <stdio.h>", "print(f\"{x:.2f}\")"])
        else:
            parts = []
            for _ in range(rng.randint(3, 15)):
                k = rng.choice(list(words))
                parts.append(rng.choice(words[k]))
                parts.append(" " if rng.random() < 0.7 else rng.choice(words["space"]))
            line = "".join(parts)
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
    return "\n".join(lines)


def bench_c(model, strings, reps):
    best = None
    for _ in range(reps):
        res, t = tokdrv.run(model, strings, special=True)
        best = t["encode_ms"] if best is None else min(best, t["encode_ms"])
    assert all(r[0] == 0 for r in res)
    return best / 1e3, [r[1] for r in res]


def bench_hf(name, strings, reps):
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(os.path.join(tokdrv.TESTDATA, "tokenizers", "hf", name, "tokenizer.json"))
    best, ids = None, None
    for _ in range(reps):
        a = time.perf_counter()
        if len(strings) == 1:
            encs = [t.encode(strings[0], add_special_tokens=False)]
        else:
            encs = t.encode_batch(strings, add_special_tokens=False)
        d = time.perf_counter() - a
        best = d if best is None else min(best, d)
        ids = [e.ids for e in encs]
    return best, ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("LLM_BIN_DIR", os.path.join(HERE, "..", "..", "build")))
    ap.add_argument("--mb", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("vocabs", nargs="*", default=["llama3", "gemma3"])
    a = ap.parse_args()
    tokdrv.BIN_DIR = os.path.abspath(a.bin)
    tokdrv.TESTDATA = os.environ.get("LLM_TESTDATA", os.path.join(HERE, "..", "..", "..", "shared", "testdata"))
    tokdrv.FIXTURES = os.environ.get("LLM_FIXTURES", os.path.join(tokdrv.BIN_DIR, "fixtures"))
    text = make_text(a.mb)
    nbytes = len(text.encode("utf-8"))
    print("text: %d bytes, %d lines; best of %d runs, one thread each" % (nbytes, text.count("\n") + 1, a.reps))
    print("| vocab | input | libllm MB/s | HF tokenizers MB/s | tokens | ids equal |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in a.vocabs:
        model = make_vocab_gguf.cached(name, tokdrv.TESTDATA, tokdrv.FIXTURES)
        for mode, strings in (("whole", [text]), ("lines", text.split("\n"))):
            nb = sum(len(x.encode("utf-8")) for x in strings)
            tc, ids_c = bench_c(model, strings, a.reps)
            th, ids_h = bench_hf(name, strings, a.reps)
            print("| %s | %s | %.1f | %.1f | %d | %s |" % (name, mode, nb / tc / 1e6, nb / th / 1e6,
                                                        sum(map(len, ids_c)), ids_c == ids_h), flush=True)


if __name__ == "__main__":
    main()
