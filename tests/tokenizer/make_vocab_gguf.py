"""Builds vocab-only GGUF files for the tokenizer tests from Hugging Face tokenizer.json files and
from SentencePiece .model files, the way a converter would, and caches them in LLM_FIXTURES.

  python3 make_vocab_gguf.py {llama3,qwen3,mistral,gemma3,llama2-spm} OUT.gguf

Choices (they decide what the C tokenizer sees; the tests check the result against the references):
- llama3 -> tokenizer.ggml.model "gpt2", pre "llama-bpe": tokens in id order (model vocab plus
  added tokens), merges in rank order, added special tokens typed control (3), other added
  tokens user-defined (4).
- qwen3 -> model "gpt2", pre "qwen2", the same way (the vocab of Qwen 2, 2.5 and 3).
- mistral, gemma3 -> model "llama" (score-merged SentencePiece style). HF stores these as BPE with a
  merge list; the score of a token is minus the rank of the first merge producing it, so
  "highest score first" is "lowest rank first" (SentencePiece's own scores have the same order:
  checked against the real gemma3 GGUF). <0xXX> tokens are bytes (6), added special tokens control
  (3), <unk> unknown (2); other added tokens are user-defined (4), except gemma3's <unusedN> and
  <mask>, control as in the real gemma3 file. Like the real gemma3 file, user-defined tokens store
  U+2581 as a plain space (they are matched in the raw text, before spaces become U+2581).
- llama2-spm -> from the SentencePiece model: pieces, scores and types as the processor reports.
"""
import json
import os
import re
import sys

import gguf

FORMAT_VERSION = "5"  # bump when the output changes, to invalidate cached fixtures

T_NORMAL, T_UNKNOWN, T_CONTROL, T_USER, T_UNUSED, T_BYTE = 1, 2, 3, 4, 5, 6
BYTE_RE = re.compile(r"^<0x[0-9A-F]{2}>$")


def _write(path, arch, model, pre, tokens, types, scores=None, merges=None, bos=None, eos=None,
           unk=None, add_bos=True, add_space_prefix=None):
    tmp = path + ".tmp"
    w = gguf.GGUFWriter(tmp, arch)
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    if scores is not None:
        w.add_token_scores(scores)
    if merges is not None:
        w.add_token_merges(merges)
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    if unk is not None:
        w.add_unk_token_id(unk)
    w.add_add_bos_token(add_bos)
    w.add_add_eos_token(False)
    if add_space_prefix is not None:
        w.add_add_space_prefix(add_space_prefix)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, path)


def _hf_vocab(j):
    vocab = dict(j["model"]["vocab"])
    for a in j["added_tokens"]:
        vocab[a["content"]] = a["id"]
    n = max(vocab.values()) + 1
    tokens = [None] * n
    for t, i in vocab.items():
        if tokens[i] is None:
            tokens[i] = t
    for i, t in enumerate(tokens):
        if t is None:
            tokens[i] = "<missing_%d>" % i
    return tokens


def _merges(j):
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]


def _byte_level_bpe(hf_dir):
    j = json.load(open(os.path.join(hf_dir, "tokenizer.json"), encoding="utf-8"))
    tokens = _hf_vocab(j)
    types = [T_NORMAL] * len(tokens)
    for a in j["added_tokens"]:
        types[a["id"]] = T_CONTROL if a["special"] else T_USER
    merges = [a + " " + b for a, b in _merges(j)]
    ids = {t: i for i, t in enumerate(tokens)}
    return tokens, types, merges, ids


def build_llama3(hf_dir, out):
    tokens, types, merges, ids = _byte_level_bpe(hf_dir)
    _write(out, "llama", "gpt2", "llama-bpe", tokens, types, merges=merges,
           bos=ids["<|begin_of_text|>"], eos=ids["<|end_of_text|>"], add_bos=True)


def build_qwen2(hf_dir, out):
    """Qwen 2/2.5/3 share one byte-level BPE vocabulary: pre "qwen2" (the C side applies the NFC
    normalizer of tokenizer.json), no BOS added, <|endoftext|> as BOS and EOS ids."""
    tokens, types, merges, ids = _byte_level_bpe(hf_dir)
    _write(out, "qwen3", "gpt2", "qwen2", tokens, types, merges=merges,
           bos=ids["<|endoftext|>"], eos=ids["<|endoftext|>"], add_bos=False)


def build_spm_from_hf(hf_dir, out, add_space_prefix, gemma):
    j = json.load(open(os.path.join(hf_dir, "tokenizer.json"), encoding="utf-8"))
    tokens = _hf_vocab(j)
    n = len(tokens)
    first_rank = {}
    for r, (a, b) in enumerate(_merges(j)):
        first_rank.setdefault(a + b, r)
    types = [T_NORMAL] * n
    scores = [0.0] * n
    for i, t in enumerate(tokens):
        if BYTE_RE.match(t):
            types[i] = T_BYTE
        elif t in first_rank:
            scores[i] = -float(first_rank[t])
    unk = None
    for a in j["added_tokens"]:
        i = a["id"]
        if i >= n:
            continue
        c = a["content"]
        if c == j["model"].get("unk_token"):
            types[i] = T_UNKNOWN
            unk = i
        elif a["special"] or (gemma and (re.match(r"^<unused\d+>$", c) or c == "<mask>")):
            types[i] = T_CONTROL
        else:
            types[i] = T_USER
            tokens[i] = c.replace("\u2581", " ")
        scores[i] = -1000.0 if types[i] != T_UNKNOWN else 0.0
    ids = {t: i for i, t in enumerate(tokens)}
    bos = ids["<bos>"] if gemma else ids["<s>"]
    eos = ids["<eos>"] if gemma else ids["</s>"]
    _write(out, "gemma3" if gemma else "llama", "llama", "default", tokens, types, scores=scores,
           bos=bos, eos=eos, unk=unk, add_bos=True, add_space_prefix=add_space_prefix)


def build_llama2_spm(model_path, out):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=model_path)
    n = sp.get_piece_size()
    tokens, scores, types = [], [], []
    for i in range(n):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        if sp.is_unknown(i):
            types.append(T_UNKNOWN)
        elif sp.is_control(i):
            types.append(T_CONTROL)
        elif sp.is_byte(i):
            types.append(T_BYTE)
        elif sp.is_unused(i):
            types.append(T_UNUSED)
        else:
            types.append(T_NORMAL)
    _write(out, "llama", "llama", "default", tokens, types, scores=scores, bos=sp.bos_id(),
           eos=sp.eos_id(), unk=sp.unk_id(), add_bos=True, add_space_prefix=True)


def source_of(name, testdata):
    tk = os.path.join(testdata, "tokenizers")
    return {
        "llama3": os.path.join(tk, "hf", "llama3", "tokenizer.json"),
        "qwen3": os.path.join(tk, "hf", "qwen3", "tokenizer.json"),
        "mistral": os.path.join(tk, "hf", "mistral", "tokenizer.json"),
        "gemma3": os.path.join(tk, "hf", "gemma3", "tokenizer.json"),
        "llama2-spm": os.path.join(tk, "spm", "llama2-tokenizer.model"),
    }[name]


def build(name, out, testdata):
    src = source_of(name, testdata)
    if name == "llama3":
        build_llama3(os.path.dirname(src), out)
    elif name == "qwen3":
        build_qwen2(os.path.dirname(src), out)
    elif name == "mistral":
        build_spm_from_hf(os.path.dirname(src), out, add_space_prefix=True, gemma=False)
    elif name == "gemma3":
        build_spm_from_hf(os.path.dirname(src), out, add_space_prefix=False, gemma=True)
    elif name == "llama2-spm":
        build_llama2_spm(src, out)
    else:
        raise ValueError(name)


def cached(name, testdata, fixtures):
    """Path of the fixture GGUF for name, (re)built when missing or stale."""
    os.makedirs(fixtures, exist_ok=True)
    out = os.path.join(fixtures, "tok-%s.gguf" % name)
    stamp = out + ".stamp"
    src = source_of(name, testdata)
    key = "%s %s %d" % (FORMAT_VERSION, src, int(os.path.getmtime(src)))
    if os.path.exists(out) and os.path.exists(stamp) and open(stamp).read() == key:
        return out
    # built under a private name and renamed: tests running in parallel may ask for the same
    # fixture, and a reader must never see a half-written file
    tmp = "%s.%d.tmp" % (out, os.getpid())
    build(name, tmp, testdata)
    os.replace(tmp, out)
    with open(stamp + ".%d.tmp" % os.getpid(), "w") as f:
        f.write(key)
    os.replace(stamp + ".%d.tmp" % os.getpid(), stamp)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    td = os.environ.get("LLM_TESTDATA", os.path.join(os.path.dirname(__file__), "../../../shared/testdata"))
    build(sys.argv[1], sys.argv[2], td)
