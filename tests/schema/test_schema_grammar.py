"""JSON Schema to GBNF against Python jsonschema: every schema of gen_schemas.schemas() (hand-picked
cases, random combinations, app schemas) is converted by the driver schema_gbnf (the public
llm_json_schema_to_grammar; the driver also checks that the library's GBNF parser accepts the
grammar), strings are drawn from the grammar with the reference sampler
tests/grammar/gbnf_ref.py, and each must parse as JSON and validate with jsonschema and its
FormatChecker: 100% of them. Unsupported keywords, malformed schemas and limits must give their
documented errors.

Environment: LLM_SCHEMA_GBNF (the driver; default build/schema_gbnf)."""
import json
import os
import random
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "grammar"))

import gbnf_ref  # noqa: E402
import gen_schemas  # noqa: E402
import jsonschema  # noqa: E402

DRIVER = os.environ.get("LLM_SCHEMA_GBNF", os.path.join(HERE, "..", "..", "build", "schema_gbnf"))
SAMPLES = int(os.environ.get("LLM_SCHEMA_SAMPLES", "24"))
MAX_LENS = (8, 40, 160, 600)


def convert(schema_text):
    """(grammar, None) or (None, stderr) from the driver."""
    p = subprocess.run([DRIVER, "-"], input=schema_text.encode("utf-8"), capture_output=True, timeout=60)
    if p.returncode == 0:
        return p.stdout.decode("utf-8"), None
    assert p.returncode == 2, "driver failed: rc %d, %s" % (p.returncode, p.stderr.decode(errors="replace"))
    return None, p.stderr.decode("utf-8", errors="replace")


def checker(cls):
    """The format checker of the schema's draft. Not a bare jsonschema.FormatChecker(): that one
    holds every draft's checks in one table where draft 3's "time" (%H:%M:%S, no offset) replaces
    the RFC 3339 "time" of drafts 7 to 2020-12 (which needs an offset), so no time string could
    pass both; the drafts' own checkers are otherwise the same functions."""
    return cls.FORMAT_CHECKER


def test_format_checker_checks_formats():
    """The checks below mean something only if the checker rejects bad dates, times and uuids
    (date-time and time need rfc3339-validator installed)."""
    fc = checker(jsonschema.Draft202012Validator)
    for fmt, bad in [("date-time", "2020-13-01T00:00:00Z"), ("time", "25:00:00Z"), ("date", "2021-02-29"),
                     ("uuid", "123"), ("email", "nobody"), ("ipv4", "1.2.3.04"), ("ipv6", "1::2::3"), ("time", "12:00:00")]:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, {"type": "string", "format": fmt}, format_checker=fc)


def test_enough_schemas():
    all_ = gen_schemas.schemas()
    assert len(all_) >= 300
    assert len(gen_schemas.app_schemas()) >= 8
    assert len({n for n, _ in all_}) == len(all_)


@pytest.mark.parametrize("name,schema", gen_schemas.schemas(), ids=[n for n, _ in gen_schemas.schemas()])
def test_samples_validate(name, schema):
    # the schema itself is a valid JSON Schema (of its declared draft)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=checker(cls))
    grammar, err = convert(json.dumps(schema, ensure_ascii=False))
    assert grammar is not None, "%s: conversion failed: %s" % (name, err)
    g = gbnf_ref.parse(grammar)
    rng = random.Random(name)
    seen = set()
    for i in range(SAMPLES):
        text = gbnf_ref.sample(g, rng, MAX_LENS[i % len(MAX_LENS)])
        try:
            doc = json.loads(text)
        except ValueError as e:
            pytest.fail("%s: sample %r is not JSON: %s\n%s" % (name, text, e, grammar))
        errors = list(validator.iter_errors(doc))
        assert not errors, "%s: sample %r is invalid: %s\n%s" % (name, text, errors[0].message, grammar)
        seen.add(text)
    # the grammar is not degenerate: a schema with many values gives different samples
    if schema not in ({"type": "null"}, {"type": "boolean"}) and not isinstance(schema, bool) and \
            "const" not in schema and "enum" not in schema and len(seen) == 1 and SAMPLES > 8:
        assert len(grammar) < 400 or "const" in json.dumps(schema), "%s: every sample was %r" % (name, text)


# ---- errors ---------------------------------------------------------------------------------------
UNSUPPORTED = [
    ({"type": "integer", "multipleOf": 3}, "multipleOf"),
    ({"type": "object", "patternProperties": {"^x": {}}}, "patternProperties"),
    ({"not": {"type": "string"}}, "not"),
    ({"if": {"type": "string"}, "then": {"minLength": 2}}, "\"if\""),
    ({"type": "object", "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
    ({"type": "object", "dependentSchemas": {"a": {}}}, "dependentSchemas"),
    ({"type": "object", "propertyNames": {"maxLength": 3}}, "propertyNames"),
    ({"type": "array", "contains": {"type": "integer"}}, "contains"),
    ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, "uniqueItems"),
    ({"type": "object", "unevaluatedProperties": False}, "unevaluatedProperties"),
    ({"type": "object", "properties": {"a": {}, "b": {}}, "minProperties": 1}, "minProperties"),
    ({"type": "object", "properties": {"a": {}, "b": {}, "c": {}}, "maxProperties": 2}, "maxProperties"),
    ({"type": "string", "format": "uri"}, "format \"uri\""),
    ({"type": "string", "format": "hostname"}, "format \"hostname\""),
    ({"type": "string", "format": "date", "pattern": "^2"}, "pattern together with format"),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, "oneOf"),
    ({"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}, "oneOf"),
    ({"allOf": [{"pattern": "^a"}, {"pattern": "b$"}]}, "two different patterns"),
    ({"type": "string", "pattern": "(a)\\1"}, "backreferences"),
    ({"type": "string", "pattern": "(?=a)a"}, "lookahead"),
    ({"type": "string", "pattern": "(?i)abc"}, "inline flags"),
    ({"type": "string", "pattern": "\\bword"}, "word boundaries"),
    ({"type": "string", "pattern": "a^b"}, "^ and $"),
    ({"type": "string", "pattern": "^(ab|abcd)+$", "minLength": 3, "maxLength": 3}, "lengths cannot"),
    ({"$ref": "other.json#/x"}, "only references inside the schema"),
    ({"$ref": "#anchor"}, "anchors"),
]


@pytest.mark.parametrize("schema,needle", UNSUPPORTED, ids=[n for _, n in UNSUPPORTED])
def test_unsupported(schema, needle):
    grammar, err = convert(json.dumps(schema))
    assert grammar is None, "accepted: %s" % json.dumps(schema)
    assert "unsupported" in err and "(5)" in err and needle in err, err


INVALID = [
    ('{"type": "strin"}', "unknown type"),
    ('{"type": 5}', "type must be"),
    ('{"minLength": -1}', "minLength must be a non-negative integer"),
    ('{"maxItems": 1.5}', "maxItems must be a non-negative integer"),
    ('{"required": "a"}', "required must be an array of strings"),
    ('{"properties": []}', "properties must be an object"),
    ('{"enum": 3}', "enum must be an array"),
    ('{"anyOf": []}', "anyOf must be a non-empty array"),
    ('{"minimum": "1"}', "minimum must be a finite number"),
    ('{"pattern": "(ab"}', "missing ')'"),
    ('{"pattern": "[z-a]"}', "bad character range"),
    ('{"pattern": "*a"}', "nothing to repeat"),
    ('{"pattern": "a{3,2}"}', "min repeat greater than max repeat"),
    ('{"$ref": "#/$defs/nope"}', "names nothing"),
    ('{"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}', "refers to itself"),
    ('{"type": "object", "properties": {"a": {"$ref": "#/properties/a"}}}', "refers to itself"),
    ('{"properties": {"x": 3}}', "a schema must be an object or a boolean"),
    ('3', "a schema must be an object or a boolean"),
    ('{"type": "string", "maxLength": 2, "minLength": 3}', "allows no JSON document"),
    ('false', "allows no JSON document"),
    ('{"enum": []}', "allows no JSON document"),
    ('{"type": "integer", "minimum": 5, "exclusiveMaximum": 5}', "allows no JSON document"),
    ('{"$defs": {"l": {"type": "object", "properties": {"n": {"$ref": "#/$defs/l"}}, "required": ["n"]}}, "$ref": "#/$defs/l"}',
     "allows no JSON document"),
    ('{"const": NaN}', "NaN or Infinity"),
    ('{"type": "object"', "not valid JSON"),
    ('{"a": 1} x', "not valid JSON"),
    ('{"type": "string", "pattern": "\\\\q"}', "bad escape"),
    ('{"enum": ["\\ud800"]}', "not valid JSON"),
]


@pytest.mark.parametrize("text,needle", INVALID, ids=[n for _, n in INVALID])
def test_invalid(text, needle):
    grammar, err = convert(text)
    assert grammar is None, "accepted: %s" % text
    assert "invalid argument" in err and "(1)" in err and needle in err, err


LIMITS = [
    ('{"type": "array", "minItems": 20000}', "minItems 20000 is above the limit"),
    ('{"type": "string", "minLength": 100000}', "minLength 100000 is above the limit"),
    ("[" * 200 + "]" * 200, "not valid JSON"),
    ('{"items": ' * 70 + "{}" + "}" * 70, "nested deeper than 64"),
    ('{"type": "string", "pattern": "' + "(" * 70 + "a" + ")" * 70 + '"}', "more than 64 groups"),
    ('{"type": "string", "pattern": "a{20000}"}', "at least 20000 times"),
    ('{"allOf": [' + ",".join(['{"anyOf": [{"minimum": %d}, {"maximum": %d}, {"type": "string"}]}' % (i, i) for i in range(14)]) + "]}",
     "schema nodes"),
]


@pytest.mark.parametrize("text,needle", LIMITS, ids=[n for _, n in LIMITS])
def test_limits(text, needle):
    grammar, err = convert(text)
    assert grammar is None
    assert needle in err, err
    assert ("limit reached" in err and "(12)" in err) or "not valid JSON" in needle, err


def test_input_size_limit():
    big = '{"enum": ["' + "x" * (1 << 20) + '"]}'
    grammar, err = convert(big)
    assert grammar is None and "limit reached" in err and "larger than the limit" in err, err


def test_large_but_fine():
    """Many properties and definitions stay within the bounds and convert quickly."""
    schema = {"type": "object", "properties": {"p%d" % i: {"$ref": "#/$defs/d%d" % (i % 50)} for i in range(300)},
              "$defs": {"d%d" % i: {"type": "integer", "minimum": i} for i in range(50)}}
    grammar, err = convert(json.dumps(schema))
    assert grammar is not None, err
    g = gbnf_ref.parse(grammar)
    doc = json.loads(gbnf_ref.sample(g, random.Random(1), 3000))
    jsonschema.validate(doc, schema)


def test_grammar_is_compact_json():
    """Whitespace is bounded: no run of more than one newline plus 16 spaces."""
    grammar, _ = convert(json.dumps({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}))
    g = gbnf_ref.parse(grammar)
    assert gbnf_ref.recognise(g, '{"a":[1,2]}')
    assert gbnf_ref.recognise(g, '{\n  "a": [\n    1,\n    2\n  ]\n}')
    assert not gbnf_ref.recognise(g, '{"a":  [1]}')
    assert not gbnf_ref.recognise(g, '{\n' + " " * 17 + '"a":[]}')
    assert not gbnf_ref.recognise(g, '{"a":[1]} ')


REGRESSIONS = os.path.join(HERE, "..", "fuzz", "schema_regressions")


@pytest.mark.parametrize("name", sorted(os.listdir(REGRESSIONS)))
def test_fuzz_regressions(name):
    """Inputs fuzz_schema once crashed on: a clean result or a documented error now, and any
    grammar parses (the driver checks it with the library's parser too)."""
    with open(os.path.join(REGRESSIONS, name), encoding="utf-8") as f:
        grammar, err = convert(f.read())
    if grammar is not None:
        gbnf_ref.parse(grammar)
    else:
        assert err.startswith("error: "), err
