/* Unit tests of the template engine (lib/template): rendering cases with known jinja2 output,
 * errors with their statuses, limits, and the JSON reader. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/json_read.h"
#include "template/template.h"

static int failures = 0;

static llm_status render(const char *tmpl, const char *vars, const llm_tmpl_limits *lim, llm_buf *out, char *msg,
                         size_t cap) {
    llm_tmpl *t = NULL;
    llm_status st = llm_tmpl_parse(tmpl, strlen(tmpl), lim, &t, msg, cap);
    if (st == LLM_OK) st = llm_tmpl_render(t, vars, strlen(vars), lim, out, msg, cap);
    llm_tmpl_free(t);
    return st;
}

static void expect(const char *tmpl, const char *vars, const char *want, int line) {
    llm_buf out = {0};
    char msg[256];
    llm_status st = render(tmpl, vars, NULL, &out, msg, sizeof msg);
    const char *got = out.data ? out.data : "";
    if (st != LLM_OK || strlen(got) != strlen(want) || memcmp(got, want, strlen(want)) != 0) {
        fprintf(stderr, "line %d: %s\n  want [%s]\n  got  [%s] (status %d: %s)\n", line, tmpl, want, got, (int)st,
                st ? msg : "");
        failures++;
    }
    llm_buf_free(&out);
}

static void expect_err(const char *tmpl, const char *vars, const llm_tmpl_limits *lim, llm_status want,
                       const char *msg_part, int line) {
    llm_buf out = {0};
    char msg[256] = "";
    llm_status st = render(tmpl, vars, lim, &out, msg, sizeof msg);
    if (st != want || (msg_part && !strstr(msg, msg_part))) {
        fprintf(stderr, "line %d: %s\n  want status %d with [%s]\n  got %d [%s]\n", line, tmpl, (int)want,
                msg_part ? msg_part : "", (int)st, msg);
        failures++;
    }
    llm_buf_free(&out);
}

#define OK(t, v, w) expect(t, v, w, __LINE__)
#define ERR(t, v, lim, st, m) expect_err(t, v, lim, st, m, __LINE__)

static void test_basics(void) {
    OK("Hello {{ name }}!", "{\"name\": \"W\"}", "Hello W!");
    OK("{{ x }}|{{ 1.0 }}|{{ 1e-5 }}|{{ 0.1 + 0.2 }}|{{ 10 / 4 }}|{{ 7 // -2 }}|{{ -7 % 3 }}", "{\"x\": null}",
       "None|1.0|1e-05|0.30000000000000004|2.5|-4|2");
    OK("{{ 2 ** 3 ** 2 }} {{ -3 | abs }} {{ (1, 2) }} {{ (1,) }}", "{}", "64 3 (1, 2) (1,)");
    OK("{{ {'a': [1, \"x'y\", none, true, 1.5e20]} }}", "{}", "{'a': [1, \"x'y\", None, True, 1.5e+20]}");
    OK("{{ 'ab' * 2 }}{{ [1] + [2] }}{{ 'a' ~ 1 ~ none }}", "{}", "abab[1, 2]a1None");
    OK("{{ missing }}{{ missing is defined }}{{ d.nope is defined }}", "{\"d\": {}}", "FalseFalse");
    OK("{{ 'Hello World'[1:5] }}{{ [1,2,3,4][::-1] }}{{ 'héllo'[-2:] }}", "{}", "ello[4, 3, 2, 1]lo");
    OK("{{ 1 if false }}|{{ 'y' if x else 'n' }}", "{\"x\": 0}", "|n");
    OK("{{ a and b }}|{{ a or b }}|{{ not a }}", "{\"a\": 0, \"b\": 5}", "0|5|True");
}

static void test_whitespace(void) {
    OK("  {% if true %}\nx\n  {% endif %}\ny", "{}", "x\ny");
    OK("a  {%- if true -%}  b  {%- endif %}", "{}", "ab");
    OK("  {%+ if true %}x{% endif %}", "{}", "  x");
    OK("{# c #}\nz\n", "{}", "z");
    OK("{% raw %}{{ x }}{% endraw %}", "{}", "{{ x }}");
    OK("a\r\nb\n", "{}", "a\nb");
}

static void test_statements(void) {
    OK("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
       "{\"xs\": [\"a\", \"b\"]}", "1a,2b");
    OK("{% for x in [] %}a{% else %}empty{% endfor %}", "{}", "empty");
    OK("{% for x in range(10) if x is odd %}{{ x }}{% endfor %}", "{}", "13579");
    OK("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "{\"d\": {\"b\": 1, \"a\": 2}}", "b=1;a=2;");
    OK("{% for x in range(5) %}{% if x == 3 %}{% break %}{% endif %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% endfor %}",
       "{}", "02");
    OK("{% set ns = namespace(n=0) %}{% for x in range(3) %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", "{}", "3");
    OK("{% set y = 1 %}{% for i in range(2) %}{% set y = y + 1 %}{{ y }}{% endfor %}{{ y }}", "{}", "221");
    OK("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c %}x{{ a }}{% endset %}{{ c }}", "{}", "12x1");
    OK("{% macro m(a, b=2) %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(1, b=3) }}", "{}", "1213");
    OK("{% macro m() %}[{{ caller() }}]{% endmacro %}{% call m() %}in{% endcall %}", "{}", "[in]");
    OK("{% filter upper %}abc{% endfilter %}", "{}", "ABC");
    OK("{% for x in 'ab' %}{{ loop.cycle('o', 'e') }}{{ loop.previtem }}{% endfor %}", "{}", "oea");
}

static void test_filters(void) {
    OK("{{ ' a '|trim }}{{ [3,1,2]|sort }}{{ [1,2]|length }}{{ 'x'|upper }}", "{}", "a[1, 2, 3]2X");
    OK("{{ {'a': 'é<'}|tojson }}{{ [1, {'a': 2}]|tojson(indent=1) }}", "{}", "{\"a\": \"é<\"}[\n 1,\n {\n  \"a\": 2\n }\n]");
    OK("{{ xs|map(attribute='n')|join(',') }}{{ xs|selectattr('n', 'gt', 1)|list|length }}",
       "{\"xs\": [{\"n\": 1}, {\"n\": 2}]}", "1,21");
    OK("{{ none|default('d') }}{{ missing|default('d') }}{{ ''|default('e', true) }}", "{}", "Noned" "e");
    OK("{{ 'a<b'|e }}{{ 2.5|round }}{{ '3.7'|int }}{{ 'hello world'|title }}", "{}", "a&lt;b2.03Hello World");
}

static void test_errors(void) {
    ERR("{{ raise_exception('boom') }}", "{}", NULL, LLM_ERR_FORMAT, "boom");
    ERR("{{ 1 + 'a' }}", "{}", NULL, LLM_ERR_FORMAT, "line 1");
    ERR("{{ x|nofilter }}", "{}", NULL, LLM_ERR_FORMAT, "nofilter");
    ERR("{% if %}", "{}", NULL, LLM_ERR_FORMAT, "line 1");
    ERR("{{ 1 / 0 }}", "{}", NULL, LLM_ERR_FORMAT, "ZeroDivisionError");
    ERR("{{ u.x }}", "{}", NULL, LLM_ERR_FORMAT, "undefined");
    ERR("{{ [].append(1) }}", "{}", NULL, LLM_ERR_FORMAT, NULL);
    ERR("x", "[1]", NULL, LLM_ERR_INVALID_ARGUMENT, NULL);
    ERR("x", "{\"a\": \"\\ud800\"}", NULL, LLM_ERR_INVALID_ARGUMENT, NULL);
}

static void test_limits(void) {
    llm_tmpl_limits lim = {0};
    /* the sandbox's MAX_RANGE refuses a long range as jinja2 does; nested loops meet max_steps */
    ERR("{% for i in range(10**12) %}{% endfor %}", "{}", NULL, LLM_ERR_FORMAT, "MAX_RANGE");
    ERR("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "{}", NULL, LLM_ERR_LIMIT,
        "max_steps");
    ERR("{{ 'x' * 10**9 }}", "{}", NULL, LLM_ERR_LIMIT, "max_memory");
    ERR("{{ 2 ** 100 }}", "{}", NULL, LLM_ERR_LIMIT, "64-bit");
    ERR("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "{}", NULL, LLM_ERR_LIMIT, "depth");
    lim.max_output = 10;
    ERR("{% for i in range(100) %}xx{% endfor %}", "{}", &lim, LLM_ERR_LIMIT, "max_output");
    lim.max_output = 0;
    lim.max_steps = 100;
    ERR("{% for i in range(1000) %}{% endfor %}", "{}", &lim, LLM_ERR_LIMIT, "max_steps");
    char deep[4096];
    size_t k = 0;
    k += (size_t)sprintf(deep, "{{ ");
    for (int i = 0; i < 1000; i++) deep[k++] = '(';
    deep[k++] = '1';
    for (int i = 0; i < 1000; i++) deep[k++] = ')';
    k += (size_t)sprintf(deep + k, " }}");
    ERR(deep, "{}", NULL, LLM_ERR_LIMIT, "depth");
}

static void test_json(void) {
    llm_json_doc *doc = NULL;
    const llm_json *root = NULL;
    const char *src = "{\"b\": 1, \"a\": [1.5, \"\\ud83d\\ude00\"], \"b\": 2}";
    llm_status st = llm_json_parse(src, strlen(src), 0, 0, &doc, &root, NULL, 0);
    if (st != LLM_OK || root->type != LLM_JSON_OBJECT || root->u.obj.n != 2 || strcmp(root->u.obj.members[0].key, "b") ||
        root->u.obj.members[0].value->u.i != 2 || root->u.obj.members[1].value->u.arr.items[0]->type != LLM_JSON_FLOAT ||
        strcmp(root->u.obj.members[1].value->u.arr.items[1]->u.str.s, "\xf0\x9f\x98\x80")) {
        fprintf(stderr, "json: object read wrong\n");
        failures++;
    }
    llm_json_doc_free(doc);
    const char *bad[] = {"[1,]", "{\"a\" 1}", "01", "\"\\x\"", "[", "\"\xff\"", "1e", "\"a\nb\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        doc = NULL;
        if (llm_json_parse(bad[i], strlen(bad[i]), 0, 0, &doc, &root, NULL, 0) == LLM_OK) {
            fprintf(stderr, "json: accepted %s\n", bad[i]);
            failures++;
            llm_json_doc_free(doc);
        }
    }
}

int main(void) {
    test_basics();
    test_whitespace();
    test_statements();
    test_filters();
    test_errors();
    test_limits();
    test_json();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("template unit tests passed\n");
    return 0;
}
