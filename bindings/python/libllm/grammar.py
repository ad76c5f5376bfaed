"""Constrained output without a session: checking GBNF grammars, turning JSON Schemas into GBNF,
and composing grammars (renaming a grammar's rules so that several fit in one text).

    import libllm
    gbnf = libllm.json_schema_to_grammar({"type": "object", "properties": {"n": {"type": "integer"}}})
    libllm.validate_grammar(gbnf)              # raises FormatError / LimitError when it is not usable
    session.set_grammar(gbnf)                  # or session.set_json_schema(schema)

GBNF is the grammar notation of llama.cpp's grammar files (see llm.h, "Constrained output").
"""
from __future__ import annotations

import json
import re
from typing import Any, List, Mapping, Union

from . import _ffi
from ._util import check, encode, read_string
from .errors import error_for

Schema = Union[Mapping[str, Any], str, bool]


def require(name: str) -> None:
    """Raises UnsupportedError when the loaded library predates the C function ``name``."""
    if not _ffi.has(name):
        raise error_for(_ffi.Status.UNSUPPORTED, f"the loaded libllm has no {name} (constrained output)")


def schema_text(schema: Schema) -> bytes:
    """A JSON Schema given as a dict (or bool) or as JSON text, as the UTF-8 JSON the C API takes.
    A dict that json cannot serialise is a caller's mistake: ValueError, not a library status."""
    if isinstance(schema, (str, bytes)):
        return encode(schema)
    if not isinstance(schema, (Mapping, bool)):
        raise TypeError(f"a JSON Schema is a dict, a bool or JSON text, not {type(schema).__name__}")
    try:
        return encode(json.dumps(schema, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"the JSON Schema is not serialisable as JSON: {e}") from None


def json_schema_to_grammar(schema: Schema) -> str:
    """llm_json_schema_to_grammar: the GBNF grammar (start rule "root") of the JSON documents
    valid against ``schema`` (a dict or JSON text). Raises UnsupportedError naming a keyword that
    would change which documents are valid and is not supported, InvalidArgumentError for a
    malformed schema."""
    require("llm_json_schema_to_grammar")
    data = schema_text(schema)
    opts = _ffi.lib.llm_options_new()  # carries the error message (llm_last_error(options))
    if not opts:
        raise MemoryError("llm_options_new failed")
    try:
        raw = read_string(lambda buf, cap, needed: _ffi.lib.llm_json_schema_to_grammar(data, opts, buf, cap, needed),
                          opts, initial=4096)
    finally:
        _ffi.lib.llm_options_free(opts)
    return raw.decode("utf-8")


def validate_grammar(gbnf: str, root: str = "root") -> None:
    """llm_grammar_validate: returns when ``gbnf`` parses with start rule ``root``; raises
    FormatError ("line L, column C: ...") or LimitError otherwise."""
    require("llm_grammar_validate")
    opts = _ffi.lib.llm_options_new()
    if not opts:
        raise MemoryError("llm_options_new failed")
    try:
        check(_ffi.lib.llm_grammar_validate(encode(gbnf), encode(root), opts), opts)
    finally:
        _ffi.lib.llm_options_free(opts)


# One lexical item of GBNF, for renaming rules: string literals, character classes and {m,n}
# repetition counts are copied unchanged (their letters and digits are not rule names), comments
# too; every other word is a rule name (GBNF has no keywords).
_GBNF_TOKEN = re.compile(r'''
    (?P<string> "(?:[^"\\]|\\.)*" )
  | (?P<cls> \[(?:[^\]\\]|\\.)*\] )
  | (?P<count> \{[^}]*\} )
  | (?P<comment> \#[^\n]* )
  | (?P<name> [A-Za-z0-9_-]+ )
  | (?P<other> . )
''', re.VERBOSE | re.DOTALL)

_RULE_DEF = re.compile(r"^[ \t]*([A-Za-z0-9_-]+)[ \t]*::=", re.MULTILINE)


def rule_names(gbnf: str) -> List[str]:
    """The names of the rules a GBNF text defines, in order."""
    return _RULE_DEF.findall(gbnf)


def prefix_rules(gbnf: str, prefix: str) -> str:
    """The same grammar with every rule name (definitions and references) prefixed, so that it can
    be pasted next to another grammar and referenced as ``prefix + "root"`` from rules of one's own."""
    out = []
    for m in _GBNF_TOKEN.finditer(gbnf):
        name = m.group("name")
        out.append(prefix + name if name is not None else m.group(0))
    return "".join(out)


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal (quotes, backslashes and control characters escaped)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\x%02X" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


#: The schema of OpenAI's response_format {"type": "json_object"}: any JSON object.
JSON_OBJECT_SCHEMA = {"type": "object"}


def json_object_grammar() -> str:
    """GBNF of any JSON object (response_format json_object), from the library's own converter
    so that its whitespace rules match those of the JSON Schema grammars."""
    return json_schema_to_grammar(JSON_OBJECT_SCHEMA)


__all__ = ["json_schema_to_grammar", "validate_grammar", "rule_names", "prefix_rules", "gbnf_literal",
           "json_object_grammar", "JSON_OBJECT_SCHEMA"]
