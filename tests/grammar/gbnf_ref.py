"""Reference GBNF implementation in Python, written from the notation (not from lib/grammar):
it is the oracle that the C matcher and the JSON-schema converter are checked against.

Usage:
    import gbnf_ref                                   # tests/grammar/ on sys.path
    g = gbnf_ref.parse(text)                          # start rule "root"; parse(text, "other")
    gbnf_ref.recognise(g, '{"a": 1}')                 # True: the whole string is in the language
    gbnf_ref.is_prefix(g, '{"a": ')                   # True: some string of the language starts so
    import random
    s = gbnf_ref.sample(g, random.Random(7), 200)     # a random string of the language (about
                                                      # max_len code points: past it, the shortest
                                                      # way to finish is taken)
Errors: parse raises gbnf_ref.GbnfError("line L, column C: ...") for a syntax error, an undefined
rule, a rule defined twice, a missing start rule and left recursion (a rule that can reach itself
before consuming a character, e.g. through `(x?)*`).

The notation (llama.cpp's GBNF): `name ::= alternatives` with names of [a-zA-Z0-9_-]; a newline
ends a rule except inside ( ) or after `|` or `::=`; `#` comments to the end of the line; items:
"literal", [class] / [^class] with ranges a-z, `.` (any code point), (group), rule names; each
item may be followed by any number of * + ? {m} {m,} {m,n} (each applies to what precedes it).
Escapes in literals and classes: \\n \\r \\t \\\\ \\" \\[ \\] \\- \\xHH \\uHHHH \\UHHHHHHHH.
Strings are matched as sequences of code points.
"""
import sys

MAX_CP = 0x10FFFF
MAX_REPEAT = 10000

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))


class GbnfError(ValueError):
    pass


# Items (tuples, so that identity can key the memo tables):
#   ("chars", ranges)           ranges: tuple of (lo, hi) inclusive, sorted, disjoint, positive
#   ("ref", name, line, col)
#   ("alt", (seq, seq, ...))    seq: tuple of items; a group or a rule body
#   ("rep", item, lo, hi)       hi None: unbounded


class Grammar:
    def __init__(self, rules, root):
        self.rules = rules  # name -> ("alt", ...)
        self.root = root


def _norm(ranges):
    out = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(ranges):
    out, nxt = [], 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CP:
        out.append((nxt, MAX_CP))
    return tuple(out)


class _Parser:
    def __init__(self, text):
        self.t = text
        self.i = 0
        self.rules = {}
        self.where = {}  # name -> (line, col) of its definition

    def pos(self, i=None):
        i = self.i if i is None else i
        line = self.t.count("\n", 0, i) + 1
        col = i - (self.t.rfind("\n", 0, i) + 1) + 1
        return line, col

    def fail(self, what, i=None):
        line, col = self.pos(i)
        raise GbnfError(f"line {line}, column {col}: {what}")

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else ""

    def space(self, newlines):
        while self.i < len(self.t):
            c = self.t[self.i]
            if c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(self.t) and self.t[self.i] not in "\r\n":
                    self.i += 1
            else:
                break

    @staticmethod
    def is_name(c):
        return c != "" and (c.isascii() and (c.isalnum() or c in "-_"))

    def name(self):
        s = self.i
        while self.is_name(self.peek()):
            self.i += 1
        if s == self.i:
            self.fail("expected a rule name")
        return self.t[s:self.i]

    def hexnum(self, n):
        s = self.t[self.i:self.i + n]
        if len(s) != n or any(c not in "0123456789abcdefABCDEF" for c in s):
            self.fail(f"expected {n} hexadecimal digits")
        self.i += n
        v = int(s, 16)
        if v > MAX_CP:
            self.fail("code point above U+10FFFF", self.i - n)
        return v

    def char(self, closing):
        """One code point of a literal (closing '"') or class (closing ']')."""
        c = self.peek()
        if c == "":
            self.fail("unterminated " + ("string literal" if closing == '"' else "character class"))
        if c != "\\":
            self.i += 1
            return ord(c)
        e = self.peek(1)
        simple = {"n": 10, "r": 13, "t": 9, "\\": 92, '"': 34, "[": 91, "]": 93, "-": 45}
        if e in simple:
            self.i += 2
            return simple[e]
        if e in ("x", "u", "U"):
            self.i += 2
            return self.hexnum({"x": 2, "u": 4, "U": 8}[e])
        self.fail("unknown escape")

    def repeat_count(self):
        s = self.i
        while self.peek().isdigit() and self.peek().isascii():
            self.i += 1
        if s == self.i:
            self.fail("expected a number")
        v = int(self.t[s:self.i])
        if v > MAX_REPEAT:
            self.fail(f"repetition count above {MAX_REPEAT}", s)
        return v

    def sequence(self, nested):
        items = []
        while True:
            c = self.peek()
            start = self.i
            if c == '"':
                self.i += 1
                cps = []
                while self.peek() != '"':
                    cps.append(self.char('"'))
                self.i += 1
                item = ("alt", (tuple(("chars", ((cp, cp),)) for cp in cps),))
            elif c == "[":
                self.i += 1
                neg = self.peek() == "^"
                if neg:
                    self.i += 1
                rs = []
                while self.peek() != "]":
                    lo_at = self.i
                    lo = self.char("]")
                    hi = lo
                    if self.peek() == "-" and self.peek(1) not in ("]", ""):
                        self.i += 1
                        hi = self.char("]")
                        if hi < lo:
                            self.fail("range end before its start", lo_at)
                    rs.append((lo, hi))
                self.i += 1
                rs = _norm(rs)
                item = ("chars", _complement(rs) if neg else rs)
            elif c == ".":
                self.i += 1
                item = ("chars", ((0, MAX_CP),))
            elif c == "(":
                self.i += 1
                self.space(True)
                item = self.alternatives(True)
                if self.peek() != ")":
                    self.fail("expected ')'")
                self.i += 1
            elif self.is_name(c):
                line, col = self.pos()
                item = ("ref", self.name(), line, col)
            else:
                return tuple(items)
            self.space(nested)
            while self.peek() in ("*", "+", "?", "{") and self.peek() != "":
                op = self.peek()
                self.i += 1
                if op == "*":
                    item = ("rep", item, 0, None, self.pos(start))
                elif op == "+":
                    item = ("rep", item, 1, None, self.pos(start))
                elif op == "?":
                    item = ("rep", item, 0, 1, self.pos(start))
                else:
                    self.space(nested)
                    lo = self.repeat_count()
                    self.space(nested)
                    hi = lo
                    if self.peek() == ",":
                        self.i += 1
                        self.space(nested)
                        hi = self.repeat_count() if self.peek().isdigit() else None
                        self.space(nested)
                        if hi is not None and hi < lo:
                            self.fail("repetition maximum below its minimum")
                    if self.peek() != "}":
                        self.fail("expected '}'")
                    self.i += 1
                    item = ("rep", item, lo, hi, self.pos(start))
                self.space(nested)
            items.append(item)

    def alternatives(self, nested):
        seqs = [self.sequence(nested)]
        while self.peek() == "|":
            self.i += 1
            self.space(True)
            seqs.append(self.sequence(nested))
        return ("alt", tuple(seqs))

    def grammar(self):
        self.space(True)
        while self.i < len(self.t):
            at = self.i
            name = self.name()
            if name in self.rules:
                self.fail(f"rule '{name}' defined twice", at)
            self.space(False)
            if self.t[self.i:self.i + 3] != "::=":
                self.fail("expected '::='")
            self.i += 3
            self.space(True)
            body = self.alternatives(False)
            c = self.peek()
            if c == "\r":
                self.i += 2 if self.peek(1) == "\n" else 1
            elif c == "\n":
                self.i += 1
            elif c != "":
                self.fail("unexpected character" if c not in ")" else "unbalanced ')'")
            self.rules[name] = body
            self.where[name] = self.pos(at)
            self.space(True)


def _items(item):
    """Every item inside item (itself included)."""
    yield item
    if item[0] == "alt":
        for seq in item[1]:
            for it in seq:
                yield from _items(it)
    elif item[0] == "rep":
        yield from _items(item[1])


def _nullable_fn(rules):
    nullable = {}

    def null(item):
        k = item[0]
        if k == "chars":
            return False
        if k == "ref":
            return nullable.get(item[1], False)
        if k == "alt":
            return any(all(null(it) for it in seq) for seq in item[1])
        return item[2] == 0 or null(item[1])

    changed = True
    while changed:
        changed = False
        for name, body in rules.items():
            if not nullable.get(name, False) and null(body):
                nullable[name] = True
                changed = True
    return null


def _check_left_recursion(p, rules):
    """A rule that can reach itself, or an unbounded repetition of a nullable item (it can repeat
    nothing forever), before consuming a character."""
    null = _nullable_fn(rules)

    def firsts(item, out):
        """Rule names item can call before consuming; raises on a nullable open repetition."""
        k = item[0]
        if k == "ref":
            out.add(item[1])
        elif k == "alt":
            for seq in item[1]:
                for it in seq:
                    firsts(it, out)
                    if not null(it):
                        break
        elif k == "rep" and item[3] != 0:
            firsts(item[1], out)
        return out

    for body in rules.values():  # anywhere, not only at the start of a rule
        for it in _items(body):
            if it[0] == "rep" and it[3] is None and null(it[1]):
                line, col = it[4]
                raise GbnfError(f"line {line}, column {col}: left recursion: an unbounded repetition "
                                "of an item that can match the empty string")

    edges = {name: sorted(firsts(body, set())) for name, body in rules.items()}
    state = {}

    def visit(name, path):
        state[name] = 1
        for nxt in edges[name]:
            if state.get(nxt) == 1:
                cyc = path[path.index(nxt):] + [nxt]
                line, col = p.where[nxt]
                raise GbnfError(f"line {line}, column {col}: left recursion: rule '{nxt}' can reach "
                                f"itself without consuming a character ({' -> '.join(cyc)})")
            if state.get(nxt) is None:
                visit(nxt, path + [nxt])
        state[name] = 2

    for name in rules:
        if name not in state:
            visit(name, [name])


def parse(text, root="root"):
    """The grammar of GBNF text (str), with start rule root; raises GbnfError."""
    p = _Parser(text)
    p.grammar()
    for body in p.rules.values():
        for it in _items(body):
            if it[0] == "ref" and it[1] not in p.rules:
                raise GbnfError(f"line {it[2]}, column {it[3]}: undefined rule '{it[1]}'")
    if root not in p.rules:
        raise GbnfError(f"line 1, column 1: no start rule '{root}'")
    _check_left_recursion(p, p.rules)
    return Grammar(p.rules, root)


# ---- recognition: sets of end positions, memoised per (item, start) ---------------------------
class _Recogniser:
    def __init__(self, g, text):
        self.g = g
        self.cps = [ord(c) for c in text]
        self.memo = {}

    def ends(self, item, i):
        key = (id(item), i)
        got = self.memo.get(key)
        if got is not None:
            return got
        k = item[0]
        if k == "chars":
            out = set()
            if i < len(self.cps):
                c = self.cps[i]
                if any(lo <= c <= hi for lo, hi in item[1]):
                    out.add(i + 1)
        elif k == "ref":
            out = self.ends(self.g.rules[item[1]], i)
        elif k == "alt":
            out = set()
            for seq in item[1]:
                out |= self.seq_ends(seq, i)
        else:
            out = self.rep_ends(item, i)
        out = frozenset(out)
        self.memo[key] = out
        return out

    def seq_ends(self, seq, i):
        cur = {i}
        for it in seq:
            nxt = set()
            for p in cur:
                nxt |= self.ends(it, p)
            cur = nxt
            if not cur:
                break
        return cur

    def rep_ends(self, item, i):
        sub, lo, hi = item[1], item[2], item[3]
        cur, out, k = {i}, set(), 0
        while cur:
            if k >= lo:
                out |= cur
            if hi is not None and k == hi:
                break
            nxt = set()
            for p in cur:
                nxt |= self.ends(sub, p)
            k += 1
            if k > lo:
                nxt -= out  # past the minimum, a position reached with fewer repeats covers it
            cur = nxt
        return out


def recognise(g, text):
    """True when the whole of text (str) is a string of the language."""
    return len(text) in _Recogniser(g, text).ends(g.rules[g.root], 0)


# ---- prefixes: Earley-style sets of positions in the grammar ----------------------------------
def is_prefix(g, text):
    """True when some string of the language starts with text."""
    return _Prefix(g).feed(text)


class _Prefix:
    """Breadth-first over stacks of (item, state) continuations; small grammars and texts only."""

    def __init__(self, g):
        self.g = g
        self.null = _nullable_fn(g.rules)
        self.minlen = _minlen_fn(g)

    def feed(self, text):
        # a configuration: tuple of pending items (the first is matched next)
        confs = {(g_root_item(self.g),)}
        for ch in text:
            c = ord(ch)
            nxt = set()
            for conf in self._closure(confs):
                if conf and conf[0][0] == "chars" and any(lo <= c <= hi for lo, hi in conf[0][1]):
                    nxt.add(conf[1:])
            if not nxt:
                return False
            confs = nxt
            if len(confs) > 200000:
                raise RuntimeError("is_prefix: too many configurations")
        # alive: some configuration can still be completed
        return any(all(self.minlen(it) != float("inf") for it in conf) for conf in self._closure(confs))

    def _closure(self, confs):
        seen, todo, out = set(), list(confs), []
        while todo:
            conf = todo.pop()
            if conf in seen:
                continue
            seen.add(conf)
            if not conf:
                out.append(conf)
                continue
            head, rest = conf[0], conf[1:]
            k = head[0]
            if k == "chars":
                out.append(conf)
            elif k == "ref":
                todo.append((self.g.rules[head[1]],) + rest)
            elif k == "alt":
                for seq in head[1]:
                    todo.append(tuple(seq) + rest)
            else:
                sub, lo, hi = head[1], head[2], head[3]
                if lo > 0:
                    left = ("rep", sub, lo - 1, None if hi is None else hi - 1, head[4])
                    todo.append((sub, left) + rest)
                else:
                    todo.append(rest)
                    if hi is None or hi > 0:  # (an unbounded nullable item is rejected by parse)
                        left = ("rep", sub, 0, None if hi is None else hi - 1, head[4])
                        todo.append((sub, left) + rest)
        return out


def g_root_item(g):
    return ("ref", g.root, 0, 0)


# ---- sampling ---------------------------------------------------------------------------------
def _minlen_fn(g):
    INF = float("inf")
    rule_min = {name: INF for name in g.rules}

    def ml(item):
        k = item[0]
        if k == "chars":
            return 1 if item[1] else INF
        if k == "ref":
            return rule_min[item[1]]
        if k == "alt":
            return min((sum(ml(it) for it in seq) for seq in item[1]), default=INF)
        return 0 if item[2] == 0 else item[2] * ml(item[1])

    changed = True
    while changed:
        changed = False
        for name, body in g.rules.items():
            v = ml(body)
            if v < rule_min[name]:
                rule_min[name] = v
                changed = True
    return ml


_SURR_LO, _SURR_HI = 0xD800, 0xDFFF


def _pick_char(rng, ranges):
    # mostly printable ASCII (what models write), sometimes anything in the class
    if rng.random() < 0.7:
        ascii_ok = [(max(lo, 0x20), min(hi, 0x7E)) for lo, hi in ranges if lo <= 0x7E and hi >= 0x20]
        if ascii_ok:
            lo, hi = rng.choice(ascii_ok)
            return chr(rng.randint(lo, hi))
    for _ in range(100):
        lo, hi = rng.choice(ranges)
        c = rng.randint(lo, hi)
        if not (_SURR_LO <= c <= _SURR_HI):
            return chr(c)
    for lo, hi in ranges:  # a class of surrogates only, in practice never
        for c in range(lo, hi + 1):
            if not (_SURR_LO <= c <= _SURR_HI):
                return chr(c)
    raise ValueError("character class without a character")


def sample(g, rng, max_len=100):
    """A random string of the language; past about max_len code points, the shortest way to
    finish. Raises ValueError when the language is empty."""
    ml = _minlen_fn(g)
    root = g.rules[g.root]
    if ml(root) == float("inf"):
        raise ValueError("the language is empty")
    out = []

    def closing(depth):
        return len(out) >= max_len or depth > 40

    def gen(item, depth):
        k = item[0]
        if k == "chars":
            out.append(_pick_char(rng, item[1]))
        elif k == "ref":
            gen(g.rules[item[1]], depth + 1)
        elif k == "alt":
            seqs = [s for s in item[1] if sum(ml(it) for it in s) != float("inf")]
            if closing(depth):
                best = min(sum(ml(it) for it in s) for s in seqs)
                seqs = [s for s in seqs if sum(ml(it) for it in s) == best]
            for it in rng.choice(seqs):
                gen(it, depth + 1)
        else:
            sub, lo, hi = item[1], item[2], item[3]
            n = lo
            if ml(sub) != float("inf"):
                while (hi is None or n < hi) and not closing(depth) and rng.random() < 0.65:
                    n += 1
            for _ in range(n):
                gen(sub, depth + 1)

    gen(root, 0)
    return "".join(out)


if __name__ == "__main__":
    import random
    grammar = parse(open(sys.argv[1], encoding="utf-8").read())
    r = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    for _ in range(5):
        s = sample(grammar, r, 80)
        print(repr(s), recognise(grammar, s))
