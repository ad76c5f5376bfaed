"""Builds an HF `tokenizers` Tokenizer from a GGUF vocab and the pre-tokenizer (and normalizer)
configuration of its family, as that family's tokenizer.json has it. Used as the reference for
the GGUF vocabs whose tokenizer.json is not shipped: the rebuilt tokenizer must first give the
shipped vectors (test_pretok_differential.py checks), which vouches for the configuration here.

Each PRE entry lists (normalizer, pre_tokenizer) in tokenizer.json form."""
import json


def _split(regex):
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


BYTE_LEVEL_REGEX = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
BYTE_LEVEL_PLAIN = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
NFC = {"type": "NFC"}
DEEPSEEK_CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
DEEPSEEK_LETTERS = (
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af"
    "\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5"
    "\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba"
    "\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45"
    "\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe"
    "\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc"
    "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3"
    "\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06"
    "\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
    "\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df"
    "\U0001e900-\U0001e943]+")

PRE = {
    "gpt-2": (None, BYTE_LEVEL_REGEX),
    "mpt": (NFC, BYTE_LEVEL_REGEX),
    "starcoder": (None, {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, BYTE_LEVEL_REGEX]}),
    "falcon": (None, {"type": "Sequence", "pretokenizers": [
        {"type": "Punctuation", "behavior": "Contiguous"}, BYTE_LEVEL_REGEX,
        {"type": "Digits", "individual_digits": False}, _split("[0-9][0-9][0-9]")]}),
    "deepseek-coder": (None, {"type": "Sequence", "pretokenizers": [
        _split("[\r\n]"), _split("\\s?\\p{L}+"), _split("\\s?\\p{P}+"), _split(DEEPSEEK_CJK),
        {"type": "Digits", "individual_digits": True}, BYTE_LEVEL_PLAIN]}),
    "deepseek-llm": (None, {"type": "Sequence", "pretokenizers": [
        _split("[\r\n]"), _split(DEEPSEEK_LETTERS),
        _split("\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"), _split("\\s+$"),
        _split(DEEPSEEK_CJK), {"type": "Digits", "individual_digits": False}, BYTE_LEVEL_PLAIN]}),
}
PRE["refact"] = PRE["starcoder"]
# SmolLM / SmolLM2 (llama.cpp's "smollm"): their tokenizer.json has StarCoder's pre-tokenizer,
# Sequence[Digits(individual_digits=true), ByteLevel(add_prefix_space=false, use_regex=true)]
PRE["smollm"] = PRE["starcoder"]


def _arrays(path):
    import gguf
    r = gguf.GGUFReader(path)

    def arr(key):
        f = r.fields.get(key)
        return None if f is None else [f.parts[i] for i in f.data]

    tokens = [bytes(p).decode("utf-8") for p in arr("tokenizer.ggml.tokens")]
    types = [int(p[0]) for p in arr("tokenizer.ggml.token_type")]
    merges = arr("tokenizer.ggml.merges")
    merges = None if merges is None else [bytes(p).decode("utf-8") for p in merges]
    return tokens, types, merges


def _added(tokens, types):
    return [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": types[i] == 4, "special": types[i] == 3}
            for i, t in enumerate(tokens) if types[i] in (3, 4)]


def bpe(path, family):
    from tokenizers import Tokenizer
    tokens, types, merges = _arrays(path)
    norm, pre = PRE[family]
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    j = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": _added(tokens, types),
         "normalizer": norm, "pre_tokenizer": pre, "post_processor": None,
         "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
         "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                   "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                   "vocab": vocab, "merges": merges}}
    return Tokenizer.from_str(json.dumps(j))


def wordpiece(path):
    """BERT (uncased): the GGUF's phantom-space vocab mapped back ("\u2581x" -> "x", "x" -> "##x")."""
    from tokenizers import Tokenizer
    tokens, types, _ = _arrays(path)
    vocab = {}
    for i, t in enumerate(tokens):
        if t.startswith("\u2581"):
            w = t[1:]
        elif t.startswith("[") and t.endswith("]"):
            w = t
        else:
            w = "##" + t
        vocab.setdefault(w, i)
    j = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": _added(tokens, types),
         "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                        "strip_accents": None, "lowercase": True},
         "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": None, "decoder": None,
         "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                   "max_input_chars_per_word": 100, "vocab": vocab}}
    return Tokenizer.from_str(json.dumps(j))
