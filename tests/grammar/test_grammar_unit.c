/* Unit tests of lib/grammar: the shipped grammars parse; each GBNF feature accepts and rejects
 * what it should; UTF-8 split across tokens; error messages with line and column; left recursion;
 * limits; the mask walk equals the one-token question on a synthetic vocabulary.
 * Argument: the folder of the shipped grammars (../shared/testdata/grammars). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "grammar/grammar.h"
#include "grammar/grammar_internal.h"
#include "read_file.h"

static llm_grammar *parse_ok(const char *text, const char *root) {
    llm_grammar *g = NULL;
    llm_err err = {0};
    const llm_status st = llm_grammar_parse(text, (size_t)-1, root, &g, &err);
    CHECK(st == LLM_OK, "parse failed (%d: %s) for:\n%.300s", (int)st, err.msg, text);
    return g;
}

/* Feeds text in pieces of 1..3 bytes: 'F' a whole string of the language, 'P' only a prefix
 * (allowed, cannot end), 'N' not allowed at some point. */
static char classify(llm_gmatcher *m, const char *text, size_t len) {
    llm_gmatcher_reset(m);
    llm_err err = {0};
    size_t piece = 1;
    for (size_t at = 0; at < len; at += piece, piece = piece % 3 + 1) {
        if (piece > len - at) piece = len - at;
        const int a = llm_gmatcher_allows(m, text + at, piece, &err);
        CHECK(a >= 0, "allows failed: %s", err.msg);
        if (a != 1) return 'N';
        CHECK(llm_gmatcher_accept(m, text + at, piece, &err) == LLM_OK, "accept after allows: %s", err.msg);
    }
    return llm_gmatcher_can_end(m) ? 'F' : 'P';
}

/* cases: pairs "expected class", "text" ending with NULL. */
static void expect_cases(const char *grammar, const char *const *cases) {
    llm_grammar *g = parse_ok(grammar, NULL);
    if (!g) return;
    llm_gmatcher *m = NULL;
    llm_err err = {0};
    CHECK(llm_gmatcher_new(g, &m, &err) == LLM_OK, "matcher: %s", err.msg);
    for (int k = 0; m && cases[k]; k += 2) {
        const char got = classify(m, cases[k + 1], strlen(cases[k + 1]));
        CHECK(got == cases[k][0], "grammar [%s] text [%s]: want %c, got %c", grammar, cases[k + 1], cases[k][0], got);
    }
    llm_gmatcher_free(m);
    llm_grammar_free(g);
}
#define CASES(grammar, ...)                                          \
    do {                                                             \
        static const char *const cases_[] = {__VA_ARGS__, NULL};    \
        expect_cases(grammar, cases_);                               \
    } while (0)

static void expect_error(const char *text, llm_status want, const char *want_msg) {
    llm_grammar *g = NULL;
    llm_err err = {0};
    const llm_status st = llm_grammar_parse(text, strlen(text), NULL, &g, &err);
    CHECK(st == want, "grammar [%.300s]: status %d, want %d (%s)", text, (int)st, (int)want, err.msg);
    CHECK(g == NULL, "a failed parse returns no grammar");
    if (want_msg) CHECK(strcmp(err.msg, want_msg) == 0, "grammar [%.300s]:\n  message [%s]\n  want    [%s]", text, err.msg, want_msg);
    llm_grammar_free(g);
}

/* ---- shipped grammars ------------------------------------------------------------------- */
static void test_shipped(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    if (!d) return;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gbnf") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t tl = 0;
        char *text = test_read_file(path, &tl);
        CHECK(text != NULL, "cannot read %s", path);
        if (!text) continue;
        llm_grammar *g = NULL;
        llm_gmatcher *m = NULL;
        llm_err err = {0};
        CHECK(llm_grammar_parse(text, tl, NULL, &g, &err) == LLM_OK, "%s: %s", e->d_name, err.msg);
        if (g) CHECK(llm_gmatcher_new(g, &m, &err) == LLM_OK, "%s: matcher: %s", e->d_name, err.msg);
        llm_gmatcher_free(m);
        llm_grammar_free(g);
        free(text);
        n++;
    }
    closedir(d);
    CHECK(n >= 8, "only %d grammars found in %s", n, dir);
}

static char *read_grammar(const char *dir, const char *name) {
    char path[4096];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = test_read_file(path, &len);
    CHECK(text != NULL, "cannot read %s", path);
    return text;
}

static void test_shipped_languages(const char *dir) {
    char *json = read_grammar(dir, "json.gbnf");
    if (json) {
        CASES(json, "F", "{}", "F", "{\"a\": 1}", "F", "{\"a\":[1,2.5e+3,{\"b\":null}],\"c\":\"\\u00e9\\n\"} ",
              "F", "{\"k\": \"é😀\"}", "P", "{\"a\": ", "P", "{\"a\": 1", "N", "{\"a\": 01}", "N", "[1]",
              "N", "{\"a\":\"\\x\"}", "N", "{\"a\": tru}", "P", "{\"a\": tru", "N", "{\"a\":\"\x01\"}",
              "F", "{\"a\": -0.5E-7}\n ", "N", "{,}");
        free(json);
    }
    char *arith = read_grammar(dir, "arithmetic.gbnf");
    if (arith) {
        CASES(arith, "F", "1+2=3\n", "F", "(a *b)=x_1\nq=2\n", "P", "1+2=3", "N", "1++2=3\n", "N", "=3\n");
        free(arith);
    }
    char *chess = read_grammar(dir, "chess.gbnf");
    if (chess) {
        CASES(chess, "F", "1. e4 e5\n2. Nf3 Nc6\n", "P", "1. e4 e5\n", "N", "1. e9", "F", "1. O-O O-O-O\n2. exd8=Q+ Kxd8\n");
        free(chess);
    }
    char *jp = read_grammar(dir, "japanese.gbnf");
    if (jp) {
        CASES(jp, "F", "こんにちは", "F", "カタカナ 漢字", "N", "abc", "P", "こ ", "P", "こ\xe3", "N", "こ\xf0");
        free(jp);
    }
    char *list = read_grammar(dir, "list.gbnf");
    if (list) {
        CASES(list, "F", "- a\n- b\n", "N", "- \r\n", "N", "- \xe2\x80\xa8\n", "F", "- \xe2\x80\xa7\n", "P", "- x");
        free(list);
    }
}

/* ---- syntax ----------------------------------------------------------------------------- */
static void test_syntax(void) {
    /* literals and escapes */
    CASES("root ::= \"ab\" \"c\"", "F", "abc", "P", "ab", "N", "abd", "N", "abcd", "P", "");
    CASES("root ::= \"\\n\\r\\t\\\\\\\"\\[\\]\\-\"", "F", "\n\r\t\\\"[]-");
    CASES("root ::= \"\\x41\\u00e9\\U0001F600\"", "F", "A\xc3\xa9\xf0\x9f\x98\x80", "N", "A\xc3\xa8");
    CASES("root ::= \"é\" \"日本\"", "F", "é日本", "P", "é日", "N", "e");
    CASES("root ::= \"\" \"a\" \"\"", "F", "a");
    /* classes: ranges, negation, escapes, `-` at the edges, `.` */
    CASES("root ::= [a-cx]", "F", "a", "F", "c", "F", "x", "N", "d", "N", "w");
    CASES("root ::= [^a-c\\n]", "F", "d", "F", "é", "N", "b", "N", "\n", "F", "\xf0\x9f\x98\x80");
    CASES("root ::= [-+]", "F", "-", "F", "+", "N", ",");
    CASES("root ::= [a-]", "F", "a", "F", "-", "N", "b");
    CASES("root ::= [\\]\\[\\\\\\x00-\\x08]", "F", "]", "F", "[", "F", "\\", "F", "\x08", "N", "\t");
    CASES("root ::= [,-.]", "F", ",", "F", "-", "F", ".", "N", "/");
    CASES("root ::= [ぁ-ゟ]+", "F", "ひらがな", "N", "カ");
    CASES("root ::= . .", "F", "ab", "F", "\n\xc3\xa9", "P", "a", "N", "abc");
    CASES("root ::= []", "N", "a", "P", "");
    CASES("root ::= [^]", "F", "q", "F", "\xf4\x8f\xbf\xbf");
    /* grouping, alternation, empty alternatives */
    CASES("root ::= (\"a\" | \"b\") \"c\" | \"d\"", "F", "ac", "F", "bc", "F", "d", "N", "dc", "N", "c");
    CASES("root ::= | \"x\"", "F", "", "F", "x");
    CASES("root ::= \"a\" ( | \"b\" ) \"c\"", "F", "ac", "F", "abc", "N", "abbc");
    CASES("root ::= ()", "F", "", "N", "a");
    /* repetition */
    CASES("root ::= \"a\"*", "F", "", "F", "aaaa", "N", "ab");
    CASES("root ::= \"ab\"+", "F", "ab", "F", "abab", "P", "aba", "P", "");
    CASES("root ::= \"a\"? \"b\"", "F", "b", "F", "ab", "N", "aab");
    CASES("root ::= \"a\"{3}", "F", "aaa", "P", "aa", "N", "aaaa");
    CASES("root ::= \"a\"{2,}", "F", "aa", "F", "aaaaaaa", "P", "a");
    CASES("root ::= \"a\"{1,3} \"b\"", "F", "ab", "F", "aaab", "N", "aaaab", "P", "aaa");
    CASES("root ::= \"a\"{0,2}", "F", "", "F", "aa", "N", "aaa");
    CASES("root ::= \"a\"{0}", "F", "", "N", "a");
    CASES("root ::= \"a\" { 2 , 3 }", "F", "aa", "F", "aaa", "N", "aaaa");
    CASES("root ::= (\"ab\" | \"c\"){2}", "F", "abc", "F", "cc", "F", "abab", "N", "abcc");
    CASES("root ::= [0-9]{2}{3}", "F", "123456", "P", "12345", "N", "1234567");
    CASES("root ::= \"x\"*?", "F", "", "F", "xx");
    CASES("root ::= (\"a\"?){3}", "F", "", "F", "aaa", "N", "aaaa");
    /* rules, names with - and _, recursion that consumes first, a different start rule */
    CASES("root ::= item-list_2\nitem-list_2 ::= \"[\" (val (\",\" val)*)? \"]\"\nval ::= [0-9] | item-list_2",
          "F", "[]", "F", "[1,[2,[]],3]", "P", "[[1]", "N", "[1,]");
    CASES("root ::= \"(\" root \")\" | \"x\"", "F", "x", "F", "(((x)))", "P", "((x)", "N", "(()");
    CASES("root ::= a\na ::= \"a\" a | ", "F", "", "F", "aaaa");
    /* layout: comments, newlines inside groups, after | and ::=, CRLF, blank lines */
    CASES("# leading comment\n\nroot ::=\n  \"a\" | # trailing\n  \"b\"\n\n", "F", "a", "F", "b");
    CASES("root ::= (\n  \"a\"\n  \"b\" # c\n)\r\nx ::= \"y\"\r\n", "F", "ab", "N", "y");
    CASES("root::=\"a\"\tb\nb::=\"b\"", "F", "ab");
    llm_grammar *g = parse_ok("root ::= \"r\"\nother ::= \"o\"+", "other");
    if (g) {
        llm_gmatcher *m = NULL;
        llm_err err = {0};
        CHECK(llm_gmatcher_new(g, &m, &err) == LLM_OK, "matcher");
        if (m) CHECK(classify(m, "ooo", 3) == 'F' && classify(m, "r", 1) == 'N', "start rule 'other'");
        llm_gmatcher_free(m);
        llm_grammar_free(g);
    }
}

/* ---- end conditions, UTF-8, API errors ---------------------------------------------------- */
static void test_end_and_utf8(void) {
    llm_err err = {0};
    llm_grammar *g = parse_ok("root ::= \"a\" | \"a\" \"b\"*", NULL);
    llm_gmatcher *m = NULL;
    if (!g || llm_gmatcher_new(g, &m, &err) != LLM_OK) return;
    CHECK(!llm_gmatcher_can_end(m) && !llm_gmatcher_must_end(m), "start");
    CHECK(llm_gmatcher_allows(m, "", 0, &err) == 1, "n == 0 is allowed at a live position");
    CHECK(llm_gmatcher_accept(m, "a", 1, &err) == LLM_OK, "accept a");
    CHECK(llm_gmatcher_can_end(m) && !llm_gmatcher_must_end(m), "after a: may end, may go on");
    CHECK(llm_gmatcher_accept(m, "c", 1, &err) == LLM_ERR_INVALID_ARGUMENT, "accept of a refused byte");
    CHECK(llm_gmatcher_accept(m, "bbb", 3, &err) == LLM_OK, "the position did not move on the refusal");
    llm_gmatcher_free(m);
    llm_grammar_free(g);

    g = parse_ok("root ::= \"ab\"", NULL);
    if (g && llm_gmatcher_new(g, &m, &err) == LLM_OK) {
        llm_gmatcher_accept(m, "ab", 2, &err);
        CHECK(llm_gmatcher_can_end(m) && llm_gmatcher_must_end(m), "after ab: must end");
        CHECK(llm_gmatcher_allows(m, "", 0, &err) == 1 && llm_gmatcher_allows(m, "b", 1, &err) == 0, "nothing more");
        llm_gmatcher_reset(m);
        CHECK(!llm_gmatcher_can_end(m) && llm_gmatcher_allows(m, "a", 1, &err) == 1, "reset");
    }
    llm_gmatcher_free(m);
    llm_grammar_free(g);

    /* UTF-8: é is C3 A9, ā is C4 81, 日 is E6 97 A5 */
    g = parse_ok("root ::= [a-zé日]+", NULL);
    if (g && llm_gmatcher_new(g, &m, &err) == LLM_OK) {
        CHECK(llm_gmatcher_allows(m, "\xc3", 1, &err) == 1, "a lead byte of an allowed code point");
        CHECK(llm_gmatcher_allows(m, "\xc4", 1, &err) == 0, "a lead byte of no allowed code point");
        CHECK(llm_gmatcher_allows(m, "\xc3\xa8", 2, &err) == 0, "è");
        CHECK(llm_gmatcher_allows(m, "\xe6\x97", 2, &err) == 1 && llm_gmatcher_allows(m, "\xe6\x98", 2, &err) == 0,
              "three-byte prefixes");
        CHECK(llm_gmatcher_allows(m, "\xa9", 1, &err) == 0, "a continuation byte without lead");
        CHECK(llm_gmatcher_allows(m, "\xff", 1, &err) == 0 && llm_gmatcher_allows(m, "\xc0\x80", 2, &err) == 0,
              "bytes never valid in UTF-8");
        CHECK(llm_gmatcher_accept(m, "a\xc3", 2, &err) == LLM_OK, "a token ending inside é");
        CHECK(!llm_gmatcher_can_end(m) && !llm_gmatcher_must_end(m), "inside a sequence: cannot end");
        CHECK(llm_gmatcher_allows(m, "a", 1, &err) == 0, "an ASCII byte inside a sequence");
        CHECK(llm_gmatcher_accept(m, "\xa9\xe6", 2, &err) == LLM_OK, "the rest of é and the start of 日");
        CHECK(llm_gmatcher_accept(m, "\x97", 1, &err) == LLM_OK && llm_gmatcher_accept(m, "\xa5", 1, &err) == LLM_OK,
              "日 byte by byte");
        CHECK(llm_gmatcher_can_end(m), "whole again");
    }
    llm_gmatcher_free(m);
    llm_grammar_free(g);

    /* overlong forms, surrogates and code points past U+10FFFF are refused by `.` */
    g = parse_ok("root ::= .*", NULL);
    if (g && llm_gmatcher_new(g, &m, &err) == LLM_OK) {
        CHECK(llm_gmatcher_allows(m, "\xe0\x80", 2, &err) == 0, "overlong E0 80");
        CHECK(llm_gmatcher_allows(m, "\xed\xa0", 2, &err) == 0, "surrogate ED A0");
        CHECK(llm_gmatcher_allows(m, "\xed\x9f\xbf", 3, &err) == 1, "U+D7FF");
        CHECK(llm_gmatcher_allows(m, "\xf4\x90", 2, &err) == 0, "above U+10FFFF");
        CHECK(llm_gmatcher_allows(m, "\xf0\x8f", 2, &err) == 0, "overlong F0 8F");
        CHECK(llm_gmatcher_allows(m, "\xf4\x8f\xbf\xbf", 4, &err) == 1, "U+10FFFF");
        CHECK(llm_gmatcher_allows(m, "\x00", 1, &err) == 1, "NUL is a code point like others for `.`");
    }
    llm_gmatcher_free(m);
    llm_grammar_free(g);

    /* API misuse */
    CHECK(llm_grammar_parse(NULL, 0, NULL, &g, &err) == LLM_ERR_INVALID_ARGUMENT, "NULL text");
    CHECK(llm_grammar_parse("root ::= \"a\"", (size_t)-1, NULL, NULL, &err) == LLM_ERR_INVALID_ARGUMENT, "NULL out");
    CHECK(llm_gmatcher_new(NULL, &m, &err) == LLM_ERR_INVALID_ARGUMENT && m == NULL, "NULL grammar");
    llm_grammar_free(NULL);
    llm_gmatcher_free(NULL);
    llm_token_trie_free(NULL);
    CHECK(llm_token_trie_build(-1, NULL, NULL, NULL, &err) == LLM_ERR_INVALID_ARGUMENT, "bad trie arguments");
    /* a length excludes what follows it */
    g = NULL;
    CHECK(llm_grammar_parse("root ::= \"a\" junk(", 12, NULL, &g, &err) == LLM_OK, "len bounds the text");
    llm_grammar_free(g);
    g = NULL;
    CHECK(llm_grammar_parse("root ::= \"a\"\0 x", 14, NULL, &g, &err) == LLM_ERR_FORMAT, "a NUL byte in the text");
    llm_grammar_free(g);
}

/* small tables: the caches are emptied (at every level) many times during the walk */
static void lower_limits(llm_gmatcher *m) {
    m->limit[LLM_GM_T_NODES] = 2048;
    m->limit[LLM_GM_T_SETS] = 512;
    m->limit[LLM_GM_T_MEMBERS] = 4096;
    m->limit[LLM_GM_T_POS] = 512;
}

/* ---- errors ------------------------------------------------------------------------------- */
static void test_errors(void) {
    const llm_status F = LLM_ERR_FORMAT;
    expect_error("root ::= \"a\" \"b", F, "line 1, column 16: unterminated string literal");
    expect_error("root ::= [ab", F, "line 1, column 13: unterminated character class");
    expect_error("root ::= \"a\"\nfoo ::= bar", F, "line 2, column 9: undefined rule 'bar'");
    expect_error("a ::= \"x\"", F, "line 1, column 1: no start rule 'root'");
    expect_error("root ::= \"a\"\n  | \"b\"", F, "line 2, column 3: expected a rule name");
    expect_error("root := \"a\"", F, "line 1, column 6: expected '::='");
    expect_error("root ::= (\"a\" | \"b\"", F, "line 1, column 20: expected ')'");
    expect_error("root ::= \"a\")", F, "line 1, column 13: unbalanced ')'");
    expect_error("root ::= \"a\" ]", F, "line 1, column 14: unexpected character");
    expect_error("root ::= \"\\q\"", F, "line 1, column 11: unknown escape");
    expect_error("root ::= \"\\x4\"", F, "line 1, column 13: expected 2 hexadecimal digits");
    expect_error("root ::= \"\\U00110000\"", F, "line 1, column 13: code point above U+10FFFF");
    expect_error("root ::= [z-a]", F, "line 1, column 11: range end before its start");
    expect_error("root ::= \"a\"{2,1}", F, "line 1, column 17: repetition maximum below its minimum");
    expect_error("root ::= \"a\"{x}", F, "line 1, column 14: expected a number");
    expect_error("root ::= \"a\"{1,2", F, "line 1, column 17: expected '}'");
    expect_error("root ::= \"a\"\nroot ::= \"b\"", F, "line 2, column 1: rule 'root' defined twice");
    expect_error("root ::= \"é\xff\"", F, "line 1, column 12: invalid UTF-8");
    expect_error("# é comment\nroot ::= \"ü\" ü", F, "line 2, column 14: unexpected character");
    /* left recursion: direct, indirect, through a nullable prefix, an unbounded empty repetition */
    expect_error("root ::= expr\nexpr ::= expr \"+\" num | num\nnum ::= [0-9]", F,
                 "line 2, column 1: left recursion: rule 'expr' can reach itself without consuming a character "
                 "(expr -> expr)");
    expect_error("root ::= a\na ::= b \"x\"\nb ::= \"y\" | a", F,
                 "line 2, column 1: left recursion: rule 'a' can reach itself without consuming a character "
                 "(a -> b -> a)");
    expect_error("root ::= ws root \"x\" | \"y\"\nws ::= \" \"*", F,
                 "line 1, column 1: left recursion: rule 'root' can reach itself without consuming a character "
                 "(root -> root)");
    expect_error("root ::= \"a\" (\"b\"?)*", F,
                 "line 1, column 14: left recursion: this repetition can repeat an item that matches the empty "
                 "string, without end");
    expect_error("root ::= x+\nx ::= \"a\" | ", F, NULL);
    expect_error("root ::= (\"a\" root | \"\")*", F, NULL);
    /* but right recursion and a repetition of something that consumes are fine */
    llm_grammar_free(parse_ok("root ::= (\"a\"? \"b\")* x\nx ::= \"c\" x | ", NULL));
}

static void test_limits(void) {
    /* text size */
    const size_t big = (size_t)LLM_GRAMMAR_MAX_TEXT + 1;
    char *text = malloc(big + 1);
    if (text) {
        memset(text, ' ', big);
        memcpy(text, "root ::= \"a\"", 12);
        text[big] = 0;
        expect_error(text, LLM_ERR_LIMIT, NULL);
        free(text);
    }
    /* nesting */
    char nest[2 * (LLM_GRAMMAR_MAX_NESTING + 2) + 32];
    int n = snprintf(nest, sizeof nest, "root ::= ");
    for (int k = 0; k <= LLM_GRAMMAR_MAX_NESTING; k++) nest[n++] = '(';
    nest[n++] = '"', nest[n++] = 'a', nest[n++] = '"';
    for (int k = 0; k <= LLM_GRAMMAR_MAX_NESTING; k++) nest[n++] = ')';
    nest[n] = 0;
    expect_error(nest, LLM_ERR_LIMIT, NULL);
    /* the deepest allowed nesting parses */
    n = snprintf(nest, sizeof nest, "root ::= ");
    for (int k = 0; k < LLM_GRAMMAR_MAX_NESTING; k++) nest[n++] = '(';
    nest[n++] = '"', nest[n++] = 'a', nest[n++] = '"';
    for (int k = 0; k < LLM_GRAMMAR_MAX_NESTING; k++) nest[n++] = ')';
    nest[n] = 0;
    llm_grammar_free(parse_ok(nest, NULL));
    /* repetition counts and the compiled size */
    expect_error("root ::= \"a\"{10001}", LLM_ERR_LIMIT, "line 1, column 14: repetition count above 10000");
    llm_grammar_free(parse_ok("root ::= \"a\"{10000}", NULL));
    llm_grammar_free(parse_ok("root ::= ((\"ab\"{10000}){10000}){10000}", NULL)); /* linear, not a product */
    char many[64 * 24];
    n = snprintf(many, sizeof many, "root ::=");
    for (int k = 0; k < 60; k++) n += snprintf(many + n, sizeof many - (size_t)n, " \"a\"{0,10000}");
    expect_error(many, LLM_ERR_LIMIT, NULL);

    /* a position with too many stacks: LLM_ERR_LIMIT from the matcher, never a hang */
    size_t cap = 80000 * 12 + 64, len = 0;
    char *alts = malloc(cap);
    if (alts) {
        len += (size_t)snprintf(alts, cap, "root ::= \"x\"");
        for (int k = 0; k < 70000; k++) len += (size_t)snprintf(alts + len, cap - len, " | \"%d\"", k);
        llm_grammar *g = parse_ok(alts, NULL);
        llm_gmatcher *m = NULL;
        llm_err err = {0};
        if (g) CHECK(llm_gmatcher_new(g, &m, &err) == LLM_ERR_LIMIT && m == NULL, "70000 stacks: %s", err.msg);
        llm_grammar_free(g);
        free(alts);
    }

    /* costly steps: 60000 alternatives sharing their first characters; with a small work budget
     * per call the step fails with LLM_ERR_LIMIT, and the matcher stays usable */
    len = 0;
    alts = malloc(cap);
    if (alts) {
        len += (size_t)snprintf(alts, cap, "root ::= \"x\"");
        for (int k = 0; k < 60000; k++) len += (size_t)snprintf(alts + len, cap - len, " | \"ab%d\"", k);
        llm_grammar *g = parse_ok(alts, NULL);
        llm_gmatcher *m = NULL;
        llm_err err = {0};
        if (g && llm_gmatcher_new(g, &m, &err) == LLM_OK) {
            CHECK(llm_gmatcher_allows(m, "ab123", 5, &err) == 1 && llm_gmatcher_allows(m, "ab60000", 7, &err) == 0,
                  "60000 alternatives");
            /* a step scans the 60001 stacks, and expands those that match: after "ab", "5" matches
             * 1 + 10 + 100 + 1000 + 10000 of them */
            m->work_budget = 70000;
            llm_gmatcher_reset(m);
            CHECK(llm_gmatcher_allows(m, "b", 1, &err) == 0, "a step within the budget");
            CHECK(llm_gmatcher_allows(m, "abc", 3, &err) == 0, "cached steps cost nothing");
            CHECK(llm_gmatcher_allows(m, "ab5", 3, &err) == -1 && err.code == LLM_ERR_LIMIT, "a costly step: %s", err.msg);
            CHECK(llm_gmatcher_allows(m, "x", 1, &err) == 1 && llm_gmatcher_accept(m, "x", 1, &err) == LLM_OK &&
                      llm_gmatcher_must_end(m),
                  "usable after");
        }
        llm_gmatcher_free(m);
        llm_grammar_free(g);
        free(alts);
    }

    /* the caches are emptied past their soft bounds (default bounds: the rows; small bounds:
     * every level) and the position carries over */
    llm_grammar *g = parse_ok("root ::= ([a-z]{0,10000} \"-\"){2} \"!\"", NULL);
    llm_gmatcher *m = NULL;
    llm_err err = {0};
    for (int small = 0; small < 2 && g; small++) {
        if (llm_gmatcher_new(g, &m, &err) != LLM_OK) break;
        if (small) lower_limits(m);
        int ok = 1;
        for (int k = 0; k < 20001 && ok; k++)
            ok = llm_gmatcher_accept(m, k == 10000 ? "-" : &"abcdefghij"[k % 10], 1, &err) == LLM_OK;
        CHECK(ok, "20000 letters: %s", err.msg);
        CHECK(m->flushes > (small ? 20u : 0u), "the caches were emptied on the way (%u)", m->flushes);
        CHECK(llm_gmatcher_allows(m, "a", 1, &err) == 0 && llm_gmatcher_allows(m, "-!", 2, &err) == 1,
              "the count survived the emptying");
        CHECK(llm_gmatcher_accept(m, "-!", 2, &err) == LLM_OK && llm_gmatcher_must_end(m), "the end");
        llm_gmatcher_reset(m);
        CHECK(llm_gmatcher_allows(m, "abc--!", 6, &err) == 1, "the start after emptying");
        llm_gmatcher_free(m);
        m = NULL;
    }
    llm_grammar_free(g);

    /* deep nesting: the stacks grow with the output, bounded */
    g = parse_ok("root ::= \"[\" root \"]\" | \"x\"", NULL);
    m = NULL;
    if (g && llm_gmatcher_new(g, &m, &err) == LLM_OK) {
        lower_limits(m);
        int st = LLM_OK, k = 0;
        for (; k < 100000 && st == LLM_OK; k++) st = llm_gmatcher_accept(m, "[", 1, &err);
        CHECK(st == LLM_ERR_LIMIT && k > 1024 && k <= 2048, "unbounded nesting ends in LLM_ERR_LIMIT (%d after %d)",
              st, k);
        llm_gmatcher_reset(m);
        CHECK(llm_gmatcher_allows(m, "[[x]]", 5, &err) == 1, "usable after the limit and a reset");
    }
    llm_gmatcher_free(m);
    llm_grammar_free(g);
}

/* ---- the mask walk against the one-token question ----------------------------------------- */
static uint64_t g_rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng % n);
}

typedef struct vocab {
    char piece[4000][12];
    size_t len[4000];
    int n;
} vocab;

static const char *vocab_piece(void *ud, int32_t id, size_t *len) {
    const vocab *v = ud;
    *len = v->len[id];
    return v->piece[id];
}

static size_t put_utf8(char *out, uint32_t c) {
    if (c < 0x80) return out[0] = (char)c, 1;
    if (c < 0x800) return out[0] = (char)(0xC0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000)
        return out[0] = (char)(0xE0 | c >> 12), out[1] = (char)(0x80 | ((c >> 6) & 0x3F)), out[2] = (char)(0x80 | (c & 0x3F)), 3;
    out[0] = (char)(0xF0 | c >> 18), out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F)), out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Single bytes, then random ASCII strings, UTF-8 strings (BMP and astral), their fragments cut
 * anywhere, random bytes, duplicates and empty pieces. */
static void make_vocab(vocab *v) {
    static const uint32_t cps[] = {0xE9, 0x3042, 0x30AB, 0x65E5, 0x1F600, 0x2028, 0x85, 0x7F, 0xFF, 0x10FFFF};
    v->n = 0;
    for (int b = 0; b < 256; b++) v->piece[v->n][0] = (char)b, v->len[v->n++] = 1;
    static const char ascii[] = "{}[]\",: \n\t0123456789-+.eEabcnrtuflsx\\/";
    while (v->n < 4000) {
        char *p = v->piece[v->n];
        size_t n = 0;
        const uint32_t kind = rnd(10);
        if (kind < 4) {
            for (size_t k = 1 + rnd(6); k > 0; k--) p[n++] = ascii[rnd(sizeof ascii - 1)];
        } else if (kind < 7) {
            while (n < 8) {
                if (rnd(2)) n += put_utf8(p + n, cps[rnd(10)]);
                else p[n++] = ascii[rnd(sizeof ascii - 1)];
            }
            size_t from = rnd((uint32_t)n), to = from + 1 + rnd((uint32_t)(n - from));
            memmove(p, p + from, to - from); /* a fragment, maybe cut inside sequences */
            n = to - from;
        } else if (kind < 9) {
            for (size_t k = 1 + rnd(4); k > 0; k--) p[n++] = (char)rnd(256);
        } else if (kind == 9 && rnd(4) == 0) {
            n = 0; /* an empty piece: out of the tree */
        } else {
            const int src = (int)rnd((uint32_t)v->n); /* a duplicate */
            memcpy(p, v->piece[src], v->len[src]);
            n = v->len[src];
        }
        v->len[v->n++] = n;
    }
}

/* Returns how many times the caches were emptied. */
static unsigned compare_masks(const char *grammar, const vocab *v, const llm_token_trie *trie, int steps, int small) {
    llm_grammar *g = parse_ok(grammar, NULL);
    llm_gmatcher *m = NULL;
    llm_err err = {0};
    if (!g || llm_gmatcher_new(g, &m, &err) != LLM_OK) {
        CHECK(0, "setup %s", err.msg);
        llm_grammar_free(g);
        return 0;
    }
    if (small) lower_limits(m);
    uint8_t mask[4000], again[4000];
    int32_t allowed[4000];
    int mismatches = 0, states = 0;
    long total_allowed = 0;
    for (int step = 0; step < steps; step++) {
        if (llm_gmatcher_fill_mask(m, trie, mask, &err) != LLM_OK) {
            CHECK(0, "fill_mask: %s", err.msg);
            break;
        }
        states++;
        int n_allowed = 0;
        for (int t = 0; t < v->n; t++) {
            const int a = v->len[t] ? llm_gmatcher_allows(m, v->piece[t], v->len[t], &err) : 0;
            if (a != mask[t] && mismatches++ < 5)
                fprintf(stderr, "[%s] step %d token %d: mask %d, allows %d\n", grammar, step, t, mask[t], a);
            if (mask[t]) allowed[n_allowed++] = t;
        }
        total_allowed += n_allowed;
        CHECK(llm_gmatcher_fill_mask(m, trie, again, &err) == LLM_OK && memcmp(mask, again, (size_t)v->n) == 0,
              "the cached mask equals the walked one");
        if (n_allowed == 0 || (llm_gmatcher_can_end(m) && rnd(6) == 0)) {
            llm_gmatcher_reset(m);
            continue;
        }
        const int32_t t = allowed[rnd((uint32_t)n_allowed)];
        CHECK(llm_gmatcher_accept(m, v->piece[t], v->len[t], &err) == LLM_OK, "accept of a masked-in token");
    }
    CHECK(mismatches == 0, "[%s]: %d mask mismatches", grammar, mismatches);
    CHECK(total_allowed > states, "[%s]: the walk allowed almost nothing (%ld over %d states)", grammar,
          total_allowed, states);
    const unsigned flushes = m->flushes;
    llm_gmatcher_free(m);
    llm_grammar_free(g);
    return flushes;
}

static void test_masks(const char *dir) {
    static vocab v;
    make_vocab(&v);
    llm_token_trie *trie = NULL;
    llm_err err = {0};
    CHECK(llm_token_trie_build(v.n, vocab_piece, &v, &trie, &err) == LLM_OK, "trie: %s", err.msg);
    if (!trie) return;
    CHECK(llm_token_trie_n_tokens(trie) == 4000, "n_tokens");
    static const char *const names[] = {"json.gbnf", "japanese.gbnf", "list.gbnf", "english.gbnf", "arithmetic.gbnf"};
    unsigned flushes = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char *text = read_grammar(dir, names[k]);
        if (text) compare_masks(text, &v, trie, 60, 0);
        if (text) flushes += compare_masks(text, &v, trie, 150, 1);
        free(text);
    }
    CHECK(flushes > 10, "small tables were emptied only %u times", flushes);
    compare_masks("root ::= [^\\x00-\\x7f]* \"\\n\"", &v, trie, 40, 0);
    compare_masks("root ::= (\"é\" | \"日本\" | [\\U0001F600-\\U0001F64F] | \"\\u2028\")+", &v, trie, 40, 0);
    compare_masks("root ::= .{0,5}", &v, trie, 40, 0);
    llm_token_trie_free(trie);

    /* an empty vocabulary, and tokens outside the tree */
    CHECK(llm_token_trie_build(0, vocab_piece, &v, &trie, &err) == LLM_OK && llm_token_trie_n_tokens(trie) == 0,
          "empty vocabulary");
    llm_grammar *g = parse_ok("root ::= \"a\"", NULL);
    llm_gmatcher *m = NULL;
    if (g && trie && llm_gmatcher_new(g, &m, &err) == LLM_OK)
        CHECK(llm_gmatcher_fill_mask(m, trie, NULL, &err) == LLM_OK, "a mask of no tokens");
    llm_gmatcher_free(m);
    llm_grammar_free(g);
    llm_token_trie_free(trie);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "../shared/testdata/grammars";
    test_shipped(dir);
    test_shipped_languages(dir);
    test_syntax();
    test_end_and_utf8();
    test_errors();
    test_limits();
    test_masks(dir);
    return check_summary("test_grammar_unit");
}
