/* Strings: plain ones with minLength/maxLength, "pattern" (schema_regex.c) and "format".
 *
 * Each supported format is written as an anchored pattern that generates only strings that
 * jsonschema's FormatChecker accepts (with rfc3339-validator installed for date-time and time):
 * date (years 0001-9999, days that exist in every year: February 29 is left out), time and
 * date-time (RFC 3339 with an offset, no leap second), uuid (8-4-4-4-12 hex digits), email and
 * idn-email (the checker asks for an '@'), ipv4 (no leading zeros), ipv6 (the full eight-group
 * form). Going through the pattern code gives minLength/maxLength handling for free. Formats
 * that jsonschema checks but that are not generated here are refused (LLM_ERR_UNSUPPORTED);
 * names it does not know are annotations and ignored. */
#include <string.h>

#include "schema/schema_internal.h"

#define YEAR "([0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
#define MONTH_DAY "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
#define TIME "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
#define OCTET "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
#define H16 "[0-9a-fA-F]{1,4}"

static const struct {
    const char *name;
    sfmt f;
    const char *pattern;
} FORMATS[] = {
    {"date", FMT_DATE, "^" YEAR "-" MONTH_DAY "$"},
    {"time", FMT_TIME, "^" TIME "$"},
    {"date-time", FMT_DATE_TIME, "^" YEAR "-" MONTH_DAY "T" TIME "$"},
    {"uuid", FMT_UUID, "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
    {"email", FMT_EMAIL, "^[a-zA-Z0-9_+-]{1,32}(\\.[a-zA-Z0-9_+-]{1,32})?@([a-zA-Z0-9]{1,32}\\.){1,2}[a-zA-Z]{2,8}$"},
    {"idn-email", FMT_EMAIL, NULL},
    {"ipv4", FMT_IPV4, "^" OCTET "(\\." OCTET "){3}$"},
    {"ipv6", FMT_IPV6, "^" H16 "(:" H16 "){7}$"},
};

/* Formats jsonschema's FormatChecker checks (with its optional packages) that are not generated. */
static const char *const UNSUPPORTED_FORMATS[] = {
    "hostname", "idn-hostname", "uri", "uri-reference", "iri", "iri-reference", "uri-template",
    "json-pointer", "relative-json-pointer", "regex", "duration", "color",
};

static const char *format_pattern(sfmt f) {
    for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++)
        if (FORMATS[i].f == f && FORMATS[i].pattern) return FORMATS[i].pattern;
    return NULL;
}

sfmt ss_format_lookup(const char *name, size_t n, bool *unsupported) {
    *unsupported = false;
    for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++)
        if (strlen(FORMATS[i].name) == n && memcmp(FORMATS[i].name, name, n) == 0) return FORMATS[i].f;
    for (size_t i = 0; i < sizeof UNSUPPORTED_FORMATS / sizeof *UNSUPPORTED_FORMATS; i++)
        if (strlen(UNSUPPORTED_FORMATS[i]) == n && memcmp(UNSUPPORTED_FORMATS[i], name, n) == 0) *unsupported = true;
    return FMT_NONE;
}

const char *ss_format_name(sfmt f) {
    for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++)
        if (FORMATS[i].f == f) return FORMATS[i].name;
    return "";
}

vres ss_format_check(sctx *c, sfmt f, const char *s, size_t n) {
    if (f == FMT_NONE) return V_YES;
    if (f == FMT_EMAIL) return memchr(s, '@', n) ? V_YES : V_NO; /* all the checker asks */
    const char *p = format_pattern(f);
    /* the generated form is a subset of the valid one: a string outside it may still be valid */
    return sr_match(c, p, strlen(p), s, n) == V_YES ? V_YES : V_UNKNOWN;
}

llm_status ss_emit(sctx *c, const sch *s, llm_buf *out, bool *empty) {
    *empty = true;
    if (s->max_len >= 0 && s->min_len > s->max_len) return c->st;
    if (s->min_len > SCHEMA_MAX_REPEAT)
        return sc_fail_at(c, s->path, LLM_ERR_LIMIT, "minLength %lld is above the limit of %d", (long long)s->min_len,
                          SCHEMA_MAX_REPEAT);
    if (s->pattern && s->fmt != FMT_NONE)
        return sc_fail_at(c, s->path, LLM_ERR_UNSUPPORTED, "pattern together with format \"%s\" is not supported",
                          ss_format_name(s->fmt));
    if (s->fmt != FMT_NONE) {
        const char *p = format_pattern(s->fmt);
        return sr_emit(c, p, strlen(p), s->min_len, s->max_len, s->path, out, empty);
    }
    if (s->pattern) return sr_emit(c, s->pattern, s->pattern_len, s->min_len, s->max_len, s->pattern_path, out, empty);
    int64_t hi = s->max_len > SCHEMA_MAX_REPEAT ? SCHEMA_MAX_REPEAT : s->max_len; /* shorter strings are valid too */
    *empty = false;
    if (s->min_len == 0 && hi < 0) {
        sc_puts(c, out, RULE_STRING);
        return c->st;
    }
    if (hi == 0) {
        sc_puts(c, out, "\"\\\"\\\"\"");
        return c->st;
    }
    sc_puts(c, out, "\"\\\"\" " RULE_CHAR);
    if (hi < 0) sc_printf(c, out, "{%lld,}", (long long)s->min_len);
    else if (hi == s->min_len) sc_printf(c, out, "{%lld}", (long long)hi);
    else sc_printf(c, out, "{%lld,%lld}", (long long)s->min_len, (long long)hi);
    sc_puts(c, out, " \"\\\"\"");
    return c->st;
}
