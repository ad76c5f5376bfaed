"""Schemas for the JSON-Schema-to-GBNF tests: hand-picked cases for every supported keyword, then
random combinations of them (deterministic seed), nested, plus the hand-written app schemas in
tests/schema/app_schemas/.

    import gen_schemas
    for name, schema in gen_schemas.schemas():      # [(name, schema dict or bool)], >= 300
        ...
    python3 tests/schema/gen_schemas.py --corpus DIR  # one file per schema (fuzz seed corpus)
    python3 tests/schema/gen_schemas.py --count       # how many of each kind

Every schema here is one the converter must accept; each is also a valid JSON Schema (the test
checks them against the 2020-12 metaschema)."""
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
APP_DIR = os.path.join(HERE, "app_schemas")

# ---- pools ----------------------------------------------------------------------------------------
PATTERNS = [
    "^[a-z]+$", "^[A-Z]{3}-\\d{4}$", "^\\+?[0-9]{7,12}$", "^(foo|bar)baz?$", "[0-9]", "^\\w+@\\w+\\.com$",
    "^[^\\s]{1,10}$", "^\\S+$", "ab*c", "^(\\d{1,3}\\.){3}\\d{1,3}$", "^#[0-9a-fA-F]{6}$", "x$", "^a|b$",
    "^.{2,5}$", "^[\u00e9\u4e2d\U0001F600]+$", "^\\\\[nt]$", "^\"q\"$", "^[\\x00-\\x1f]{1,3}$", "(?:ab){2}",
    "(?P<n>z)+", "^\\D{2}\\W\\s?$", "[^a-z]", "^[a-z0-9_]+$", "^v\\d+\\.\\d+\\.\\d+$", "^(?:[01]\\d|2[0-3]):[0-5]\\d$",
    "^[A-Z][a-z]*( [A-Z][a-z]*)*$", "", "^$", "^(a|)$", "^\\u00e9t\\u00e9$", "^[\\-+*/]$", "^[]a]+$", "^[^]]+$",
    "^a{2,}b{,2}$", "^(?#comment)ok$", "^\\.\\*\\?$", "^[a-c]{3}$|^[x-z]{2}$", "\\Aq\\Z", "^[\\w.-]+$",
    "^(?:|c)+$", "^(a?b?)*c$", "^(x|y?){2,3}z$",
]
FORMATS = ["date", "time", "date-time", "uuid", "email", "idn-email", "ipv4", "ipv6"]
WORDS = ["id", "name", "title", "count", "price", "tags", "done", "due", "owner", "kind", "x", "y", "note",
         "level", "items", "meta", "a b", "caf\u00e9", "quote\"d", "back\\slash", "new\nline", "", "value"]


def _str_schema(r):
    s = {"type": "string"}
    k = r.randrange(6)
    if k == 0:
        s["minLength"] = r.randrange(0, 4)
        if r.random() < 0.7:
            s["maxLength"] = s["minLength"] + r.randrange(0, 12)
    elif k == 1:
        s["pattern"] = r.choice(PATTERNS)
    elif k == 2:
        s["format"] = r.choice(FORMATS)
    elif k == 3:
        s["pattern"] = r.choice(["^[a-z]+$", "^[a-z0-9_]+$", "[0-9]", "ab*c", "^.{2,5}$", "^\\S+$", "x$"])
        s["maxLength"] = r.randrange(5, 20)
        s["minLength"] = r.randrange(0, 4)
    elif k == 4:
        s["enum"] = r.sample(["red", "green", "blue", "caf\u00e9", "a\"b", "tab\t", "", "\u4e2d\u6587"], r.randrange(1, 4))
    return s


def _num_bound(r, integer):
    if integer:
        return r.choice([0, 1, -1, 5, -7, 10, 99, 100, 255, 1000, -1000, 65535, 2 ** 31 - 1, -(2 ** 31),
                         123456789, 2 ** 53 + 1, 9007199254740993, 1.5, -2.5, 1e3])
    return r.choice([0, 1, -1, 0.5, -0.25, 3.75, 100, 1e-3, 2.5e-7, 12.345, -99.99, 0.1, 0.30000000000000004,
                     1e10, -1e15, 7, 1e20])


def _num_schema(r, integer):
    s = {"type": "integer" if integer else "number"}
    lo = _num_bound(r, integer)
    hi = _num_bound(r, integer)
    if lo > hi:
        lo, hi = hi, lo
    k = r.randrange(6)
    if k == 0:
        s["minimum"] = lo
    elif k == 1:
        s["maximum"] = hi
    elif k == 2:
        s["minimum"], s["maximum"] = lo, hi
    elif k == 3:
        s["exclusiveMinimum"] = lo
        if r.random() < 0.6 and hi > lo:
            s["exclusiveMaximum"] = hi
    elif k == 4:
        s["minimum"] = lo
        s["exclusiveMaximum"] = hi + 1
    return s


def _leaf(r):
    k = r.randrange(10)
    if k <= 2:
        return _str_schema(r)
    if k == 3:
        return _num_schema(r, True)
    if k == 4:
        return _num_schema(r, False)
    if k == 5:
        return {"type": "boolean"}
    if k == 6:
        return {"type": r.choice([["string", "null"], ["integer", "boolean"], ["number", "string", "null"]])}
    if k == 7:
        return {"enum": r.sample([1, 2.5, "a", None, True, False, [1, 2], {"k": "v"}, -3, "caf\u00e9"], r.randrange(1, 5))}
    if k == 8:
        return {"const": r.choice([42, "fixed", None, True, {"a": [1, "b"]}, [0, 0.5], -0.0, 1e21])}
    return r.choice([{}, True, {"type": "null"}, {"description": "anything", "title": "Any"}])


def _schema(r, depth):
    if depth <= 0:
        return _leaf(r)
    k = r.randrange(12)
    if k <= 3:
        return _leaf(r)
    if k <= 6:
        return _object(r, depth)
    if k <= 8:
        return _array(r, depth)
    if k == 9:
        return {"anyOf": [_schema(r, depth - 1) for _ in range(r.randrange(2, 4))]}
    if k == 10:
        return _one_of(r, depth)
    return _all_of(r, depth)


def _object(r, depth):
    names = r.sample(WORDS, r.randrange(1, 6))
    props = {n: _schema(r, depth - 1) for n in names}
    s = {"type": "object", "properties": props}
    req = [n for n in names if r.random() < 0.5]
    if req:
        s["required"] = req
    k = r.randrange(5)
    if k == 0:
        s["additionalProperties"] = False
    elif k == 1:
        s["additionalProperties"] = True
    elif k == 2:
        s["additionalProperties"] = _leaf(r)
    if r.random() < 0.1:
        s["maxProperties"] = len(names) + r.randrange(0, 3)
    if r.random() < 0.1 and req:
        s["minProperties"] = len(req)
    return s


def _array(r, depth):
    s = {"type": "array"}
    k = r.randrange(4)
    if k == 0:
        s["items"] = _schema(r, depth - 1)
    elif k == 1:
        s["prefixItems"] = [_schema(r, depth - 1) for _ in range(r.randrange(1, 4))]
        if r.random() < 0.5:
            s["items"] = r.choice([False, _leaf(r)])
    elif k == 2:
        s["items"] = _leaf(r)
        s["uniqueItems"] = False
    lo = r.randrange(0, 3)
    if r.random() < 0.5:
        s["minItems"] = lo
    if r.random() < 0.5:
        s["maxItems"] = lo + r.randrange(0, 5)
    return s


def _one_of(r, depth):
    k = r.randrange(3)
    if k == 0:  # disjoint by type
        types = r.sample(["string", "integer", "boolean", "null", "array", "object"], r.randrange(2, 4))
        return {"oneOf": [{"type": t} if t != "string" else _str_schema(r) | {"type": "string"} for t in types]}
    if k == 1:  # objects with a discriminator
        branches = []
        for tag in r.sample(["add", "remove", "list", "move", "say"], r.randrange(2, 4)):
            o = _object(r, depth)
            o["properties"] = {"op": {"const": tag}} | o["properties"]
            o["required"] = ["op"] + [q for q in o.get("required", []) if q != "op"]
            o.pop("minProperties", None)
            if "maxProperties" in o:
                o["maxProperties"] = len(o["properties"])
            branches.append(o)
        return {"oneOf": branches}
    # disjoint numeric ranges / enums
    return {"oneOf": [{"type": "integer", "maximum": -1}, {"type": "integer", "minimum": 0, "maximum": 9},
                      {"enum": ["x", "y"]}]}


def _all_of(r, depth):
    k = r.randrange(3)
    if k == 0:
        a = _object(r, depth)
        b = {"properties": {"extra": _leaf(r)}, "required": ["extra"]}
        a.pop("additionalProperties", None)
        a.pop("maxProperties", None)
        return {"allOf": [a, b]}
    if k == 1:
        return {"allOf": [{"type": "integer", "minimum": -50}, {"maximum": 50}, {"exclusiveMinimum": -10}]}
    return {"allOf": [{"type": "string", "minLength": 2}, {"maxLength": 6}, {"pattern": "^[a-f]+$"}]}


# ---- hand-picked cases: every keyword, edge values -------------------------------------------------
def _cases():
    c = []
    add = lambda name, s: c.append((name, s))
    add("empty", {})
    add("true", True)
    add("annotations", {"title": "T", "description": "d", "default": 1, "examples": [1], "$comment": "c",
                        "deprecated": False, "readOnly": True, "writeOnly": False, "$schema":
                        "https://json-schema.org/draft/2020-12/schema", "$id": "https://example.com/s"})
    for t in ["string", "number", "integer", "boolean", "null", "object", "array"]:
        add("type-" + t, {"type": t})
    add("type-list", {"type": ["string", "integer", "null"]})
    add("type-all", {"type": ["string", "number", "integer", "boolean", "null", "object", "array"]})
    add("enum-mixed", {"enum": ["a", 1, 2.5, None, True, [1, {"b": "c"}], {"x": None}]})
    add("enum-escapes", {"enum": ["quote\"", "back\\", "nl\n", "tab\t", "ctl\u0001", "uni\u00e9\u4e2d\U0001F600", ""]})
    add("enum-filtered", {"type": "string", "enum": ["ok", 3, "toolong", None], "maxLength": 3})
    add("const-object", {"const": {"a": [1, 2, {"b": None}], "c": "d"}})
    add("const-and-enum", {"const": 2, "enum": [1, 2.0, 3]})
    add("const-float", {"const": 0.1})
    add("const-bigint", {"const": 123456789012345678})
    add("str-len", {"type": "string", "minLength": 2, "maxLength": 5})
    add("str-exact-len", {"type": "string", "minLength": 3, "maxLength": 3})
    add("str-max0", {"type": "string", "maxLength": 0})
    add("str-min-only", {"type": "string", "minLength": 4})
    add("str-huge-max", {"type": "string", "maxLength": 1000000})
    for i, p in enumerate(PATTERNS):
        add("pattern-%d" % i, {"type": "string", "pattern": p})
    add("pattern-len-1", {"type": "string", "pattern": "^[a-z0-9_]+$", "minLength": 3, "maxLength": 8})
    add("pattern-len-2", {"type": "string", "pattern": "[0-9]", "minLength": 4, "maxLength": 6})
    add("pattern-len-3", {"type": "string", "pattern": "^[A-Z]+-[0-9]+$", "maxLength": 7})
    add("pattern-len-4", {"type": "string", "pattern": "^(ab|c)+$", "minLength": 3, "maxLength": 5})
    add("pattern-len-5", {"type": "string", "pattern": "^x", "maxLength": 1})
    for f in FORMATS:
        add("format-" + f, {"type": "string", "format": f})
    add("format-len", {"type": "string", "format": "time", "maxLength": 12})
    add("format-email-len", {"type": "string", "format": "email", "maxLength": 40})
    add("format-unknown", {"type": "string", "format": "my-custom-format"})
    add("format-no-type", {"format": "date"})
    for name, s in [("int-min", {"minimum": 0}), ("int-max", {"maximum": -3}), ("int-range", {"minimum": -17, "maximum": 123}),
                    ("int-excl", {"exclusiveMinimum": 0, "exclusiveMaximum": 10}), ("int-one", {"minimum": 7, "maximum": 7}),
                    ("int-big", {"minimum": 9007199254740993, "maximum": 9223372036854775807}),
                    ("int-neg-big", {"minimum": -9223372036854775808, "maximum": -9007199254740993}),
                    ("int-float-bounds", {"minimum": 1.5, "maximum": 10.5}), ("int-float-excl", {"exclusiveMinimum": 2.0, "exclusiveMaximum": 6.0}),
                    ("int-huge-float", {"minimum": 1e20, "maximum": 1e21}), ("int-tiny-range", {"minimum": 0.1, "maximum": 0.9, "type": ["integer", "null"]}),
                    ("int-draft4-excl", {"minimum": 0, "exclusiveMinimum": True, "maximum": 5, "exclusiveMaximum": True,
                                         "$schema": "http://json-schema.org/draft-04/schema#"}),
                    ("int-both-min", {"minimum": 3, "exclusiveMinimum": 3})]:
        s = dict(s)
        s.setdefault("type", "integer")
        add(name, s)
    for name, s in [("num-min", {"minimum": 0}), ("num-excl0", {"exclusiveMinimum": 0}), ("num-max-neg-excl", {"exclusiveMaximum": 0}),
                    ("num-frac", {"minimum": -2.5, "maximum": 3.75}), ("num-frac-excl", {"exclusiveMinimum": 0.1, "exclusiveMaximum": 0.2}),
                    ("num-tiny", {"minimum": 1e-7, "maximum": 1e-3}), ("num-huge", {"minimum": -1e300, "exclusiveMaximum": -1e299}),
                    ("num-ugly", {"exclusiveMinimum": 0.1, "maximum": 0.30000000000000004}), ("num-point", {"minimum": 5, "maximum": 5}),
                    ("num-int-bounds", {"minimum": -10, "exclusiveMaximum": 10}), ("num-big-int", {"minimum": 9007199254740993}),
                    ("num-same-int", {"minimum": 4.5, "maximum": 5.25}), ("num-1e20", {"maximum": 1e20, "minimum": 1e19})]:
        s = dict(s)
        s["type"] = "number"
        add(name, s)
    add("obj-basic", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a"]})
    add("obj-all-optional", {"type": "object", "properties": {n: {"type": "boolean"} for n in "abcdef"}})
    add("obj-req-not-listed", {"type": "object", "properties": {"a": {"type": "null"}}, "required": ["z", "a"]})
    add("obj-addl-false", {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False})
    add("obj-addl-true", {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": True})
    add("obj-addl-schema", {"type": "object", "properties": {"ab": {"type": "integer"}, "a": {}}, "additionalProperties": {"type": "string", "maxLength": 3}})
    add("obj-map", {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}})
    add("obj-map-min1", {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1, "maxProperties": 3})
    add("obj-free", {"type": "object"})
    add("obj-prop-false", {"type": "object", "properties": {"a": False, "b": {"type": "integer"}}, "required": ["b"]})
    add("obj-max-props", {"type": "object", "properties": {"a": {}, "b": {}}, "maxProperties": 2, "minProperties": 1, "required": ["a"]})
    add("obj-weird-keys", {"type": "object", "properties": {k: {"type": "integer"} for k in WORDS}, "required": ["", "new\nline"]})
    inner = {"type": "array", "items": {"type": "object", "properties": {"d": {"type": "integer"}}, "required": ["d"]}}
    add("obj-nested", {"type": "object", "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "object", "properties": {"c": inner}}}}}})
    add("arr-items", {"type": "array", "items": {"type": "integer"}})
    add("arr-minmax", {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4})
    add("arr-exact", {"type": "array", "items": {"type": "boolean"}, "minItems": 3, "maxItems": 3})
    add("arr-max0", {"type": "array", "maxItems": 0})
    add("arr-prefix", {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False})
    add("arr-prefix-rest", {"type": "array", "prefixItems": [{"const": "head"}], "items": {"type": "number"}, "minItems": 2, "maxItems": 5})
    add("arr-prefix-min", {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}, {"type": "integer"}], "minItems": 2})
    add("arr-prefix-max", {"type": "array", "prefixItems": [{"type": "null"}, {"type": "null"}, {"type": "null"}], "maxItems": 1})
    add("arr-items-false", {"type": "array", "items": False})
    add("arr-free", {"type": "array", "minItems": 1})
    add("arr-unique-1", {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "maxItems": 1})
    add("arr-draft7-tuple", {"$schema": "http://json-schema.org/draft-07/schema#", "type": "array",
                              "items": [{"type": "string"}, {"type": "integer"}], "additionalItems": False})
    add("arr-draft7-tuple-rest", {"$schema": "http://json-schema.org/draft-07/schema#", "type": "array",
                                   "items": [{"type": "string"}], "additionalItems": {"type": "boolean"}, "maxItems": 3})
    add("anyof", {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 100}]})
    add("anyof-overlap", {"anyOf": [{"type": "integer"}, {"type": "number"}, {"minimum": 5}]})
    add("anyof-siblings", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                           "anyOf": [{"required": ["a"]}, {"required": ["b"]}]})
    add("oneof-types", {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})
    add("oneof-disc", {"oneOf": [{"type": "object", "properties": {"kind": {"const": "circle"}, "r": {"type": "number", "minimum": 0}}, "required": ["kind", "r"]},
                                 {"type": "object", "properties": {"kind": {"const": "rect"}, "w": {"type": "number"}, "h": {"type": "number"}}, "required": ["kind", "w", "h"]}]})
    add("oneof-required", {"oneOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                                     {"type": "object", "properties": {"b": {"type": "integer"}}, "required": ["b"]}]})
    add("oneof-ranges", {"type": "integer", "oneOf": [{"maximum": 0}, {"minimum": 1, "maximum": 10}, {"exclusiveMinimum": 10}]})
    add("oneof-enum", {"oneOf": [{"enum": ["a", "b"]}, {"enum": ["c"]}, {"const": 1}]})
    add("oneof-formats", {"type": "string", "oneOf": [{"format": "date"}, {"format": "uuid"}]})
    add("oneof-nested", {"oneOf": [{"type": "string"}, {"anyOf": [{"type": "integer"}, {"type": "boolean"}]}]})
    add("allof-objects", {"allOf": [{"type": "object", "properties": {"a": {"type": "integer", "minimum": 0}}, "required": ["a"]},
                                    {"properties": {"a": {"maximum": 10}, "b": {"type": "string"}}, "required": ["b"]}]})
    add("allof-addl-false", {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}, "b": {}}, "additionalProperties": False},
                                       {"properties": {"b": {"type": "boolean"}, "c": {"type": "string"}}}]})
    add("allof-enum", {"allOf": [{"enum": [1, 2, 3, "x"]}, {"enum": [2, 3, 4]}, {"type": "integer"}]})
    add("allof-anyof", {"allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}, {"anyOf": [{"minimum": 3}, {"maxLength": 2}]}]})
    add("allof-arrays", {"allOf": [{"type": "array", "prefixItems": [{"type": "integer"}], "items": {"type": "number"}},
                                   {"items": {"maximum": 5}, "maxItems": 3}]})
    add("allof-ref", {"$defs": {"base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}},
                      "allOf": [{"$ref": "#/$defs/base"}, {"properties": {"name": {"type": "string"}}, "required": ["name"]}]})
    add("ref-defs", {"$defs": {"pos": {"type": "integer", "minimum": 1}}, "type": "array", "items": {"$ref": "#/$defs/pos"}})
    add("ref-definitions", {"definitions": {"s": {"type": "string", "maxLength": 2}}, "$ref": "#/definitions/s"})
    add("ref-siblings", {"$defs": {"n": {"type": "number"}}, "$ref": "#/$defs/n", "minimum": 2, "maximum": 3})
    add("ref-tree", {"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}}, "required": ["value"]}}, "$ref": "#/$defs/node"})
    add("ref-list", {"$defs": {"cell": {"type": "object", "properties": {"v": {"type": "string", "maxLength": 2},
        "next": {"anyOf": [{"$ref": "#/$defs/cell"}, {"type": "null"}]}}, "required": ["v", "next"]}}, "$ref": "#/$defs/cell"})
    add("ref-root", {"type": "object", "properties": {"sub": {"$ref": "#"}, "n": {"type": "integer"}}, "required": ["n"]})
    add("ref-chain", {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/c"}, "c": {"type": "boolean"}}, "$ref": "#/$defs/a"})
    add("ref-pointer", {"properties": {"x": {"type": "integer", "minimum": 3}}, "type": "object",
                        "additionalProperties": {"$ref": "#/properties/x"}})
    add("ref-escaped", {"$defs": {"a/b": {"type": "null"}, "c~d": {"type": "boolean"}, "e f": {"type": "integer"}},
                        "type": "array", "prefixItems": [{"$ref": "#/$defs/a~1b"}, {"$ref": "#/$defs/c~0d"}, {"$ref": "#/$defs/e%20f"}]})
    add("ref-mutual", {"$defs": {"even": {"type": "array", "items": {"$ref": "#/$defs/odd"}, "maxItems": 2},
                                 "odd": {"type": "array", "items": {"$ref": "#/$defs/even"}, "maxItems": 1}}, "$ref": "#/$defs/even"})
    add("ref-unproductive-optional", {"$defs": {"loop": {"type": "object", "properties": {"again": {"$ref": "#/$defs/loop"}}, "required": ["again"]}},
                                      "type": "object", "properties": {"maybe": {"$ref": "#/$defs/loop"}, "ok": {"type": "integer"}}, "required": ["ok"]})
    add("if-true", {"if": True, "type": "integer"})
    add("then-without-if", {"then": {"type": "string"}, "type": "integer"})
    add("nullable-openapi", {"type": "string", "nullable": True, "x-extension": 1})
    return c


def generated(count=260, seed=20260101):
    r = random.Random(seed)
    out = []
    for i in range(count):
        depth = 1 + i % 3
        k = i % 5
        if k == 0:
            s = _object(r, depth)
        elif k == 1:
            s = _array(r, depth)
        elif k == 2:
            s = _one_of(r, depth)
        elif k == 3:
            s = _all_of(r, depth)
        else:
            s = _schema(r, depth)
        out.append(("gen-%03d" % i, s))
    return out


def app_schemas():
    out = []
    for name in sorted(os.listdir(APP_DIR)):
        if name.endswith(".json"):
            with open(os.path.join(APP_DIR, name), encoding="utf-8") as f:
                out.append(("app-" + name[:-5], json.load(f)))
    return out


def schemas():
    """Every schema the converter must accept: [(name, schema)]."""
    return _cases() + generated() + app_schemas()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--corpus":
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, s in schemas():
            with open(os.path.join(sys.argv[2], name + ".json"), "w", encoding="utf-8") as f:
                json.dump(s, f, ensure_ascii=False)
    else:
        all_ = schemas()
        print(len(all_), "schemas:", len(_cases()), "cases,", len(generated()), "generated,", len(app_schemas()), "app")
