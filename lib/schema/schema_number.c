/* Integers and numbers within bounds, as digit-by-digit grammars over decimal strings.
 *
 * jsonschema compares an integer instance with a bound exactly (Python int against float) and a
 * number with a fraction after rounding it to a double. Bounds are therefore turned into decimal
 * strings that are safe for both: for a number, the bound's double is moved inward to the next
 * double when the bound is exclusive, its exact decimal value is taken, and that is rounded inward
 * to at most 17 significant digits and 30 decimals; any decimal at or inside that string is then
 * at or inside the bound whether Python reads it as an int or as a float (rounding is monotonic).
 * For integers the bound becomes the exact integer it allows. Numbers under bounds are written
 * without exponents. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema_internal.h"

#define MAX_INT_DIGITS 16  /* integer digits where nothing bounds them */
#define MAX_TAIL_DIGITS 15 /* fraction digits where nothing bounds them further */
#define SIG_DIGITS 17
#define FRAC_DIGITS 30
#define DIG_CAP 1500 /* exact decimal of any double */

/* A signed decimal: ip the integer digits (no leading zeros; "0" for zero), fp the fraction
 * digits (no trailing zeros). */
typedef struct dec {
    bool neg;
    char ip[DIG_CAP];
    char fp[DIG_CAP];
} dec;

static bool all_char(const char *s, char ch) {
    for (; *s; s++)
        if (*s != ch) return false;
    return true;
}

static void normalise(dec *d) {
    size_t z = 0;
    while (d->ip[z] == '0' && d->ip[z + 1]) z++;
    if (z) memmove(d->ip, d->ip + z, strlen(d->ip + z) + 1);
    if (!d->ip[0]) strcpy(d->ip, "0");
    size_t n = strlen(d->fp);
    while (n && d->fp[n - 1] == '0') d->fp[--n] = 0;
    if (strcmp(d->ip, "0") == 0 && !d->fp[0]) d->neg = false;
}

/* Exact decimal of a finite double (glibc's printf prints every digit exactly). */
static void dec_from_double(double x, dec *d) {
    char buf[DIG_CAP * 2];
    snprintf(buf, sizeof buf, "%.1100f", x);
    const char *p = buf;
    d->neg = *p == '-';
    if (d->neg) p++;
    const char *dot = strchr(p, '.');
    size_t il = dot ? (size_t)(dot - p) : strlen(p);
    memcpy(d->ip, p, il);
    d->ip[il] = 0;
    if (dot) {
        size_t fl = strlen(dot + 1);
        if (fl >= DIG_CAP) fl = DIG_CAP - 1;
        memcpy(d->fp, dot + 1, fl);
        d->fp[fl] = 0;
    } else {
        d->fp[0] = 0;
    }
    normalise(d);
}

static void dec_from_int(int64_t i, dec *d) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)i);
    d->neg = buf[0] == '-';
    strcpy(d->ip, buf + d->neg);
    d->fp[0] = 0;
}

/* Adds one to a digit string in place (it has room for one more digit). */
static void mag_inc(char *s) {
    size_t n = strlen(s);
    for (size_t i = n; i-- > 0;) {
        if (s[i] != '9') {
            s[i]++;
            return;
        }
        s[i] = '0';
    }
    memmove(s + 1, s, n + 1);
    s[0] = '1';
}

/* Subtracts one from a positive digit string in place. */
static void mag_dec(char *s) {
    size_t n = strlen(s);
    for (size_t i = n; i-- > 0;) {
        if (s[i] != '0') {
            s[i]--;
            break;
        }
        s[i] = '9';
    }
    size_t z = 0;
    while (s[z] == '0' && s[z + 1]) z++;
    if (z) memmove(s, s + z, strlen(s + z) + 1);
}

/* Rounds the magnitude to at most SIG_DIGITS significant digits and max_frac decimals, up
 * (away from zero) or down (towards zero). */
static void round_mag(dec *d, bool up, size_t max_frac) {
    char all[DIG_CAP * 2];
    size_t il = strlen(d->ip);
    snprintf(all, sizeof all, "%s%s", d->ip, d->fp);
    size_t n = strlen(all), first = 0;
    while (first < n && all[first] == '0') first++;
    if (first == n) return; /* zero */
    size_t keep = first + SIG_DIGITS;
    if (keep > il + max_frac) keep = il + max_frac;
    if (keep >= n) return;
    bool dropped = !all_char(all + keep, '0');
    if (keep < il) { /* dropping integer digits: they become zeros */
        for (size_t i = keep; i < il; i++) all[i] = '0';
    }
    all[keep > il ? keep : il] = 0;
    if (up && dropped) {
        /* add one unit in the last kept place */
        size_t pos = keep;
        for (;;) {
            if (pos == 0) {
                memmove(all + 1, all, strlen(all) + 1);
                all[0] = '1';
                il++;
                break;
            }
            pos--;
            if (all[pos] != '9') {
                all[pos]++;
                break;
            }
            all[pos] = '0';
        }
    }
    memcpy(d->ip, all, il);
    d->ip[il] = 0;
    snprintf(d->fp, sizeof d->fp, "%s", all + il);
    normalise(d);
}

static int mag_cmp_int(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb) return la < lb ? -1 : 1;
    int k = strcmp(a, b);
    return k < 0 ? -1 : k > 0;
}

static int mag_cmp(const dec *a, const dec *b) {
    int k = mag_cmp_int(a->ip, b->ip);
    if (k) return k;
    k = strcmp(a->fp, b->fp); /* no trailing zeros: plain comparison is by value */
    return k < 0 ? -1 : k > 0;
}

static int dec_cmp(const dec *a, const dec *b) {
    if (a->neg != b->neg) return a->neg ? -1 : 1;
    int k = mag_cmp(a, b);
    return a->neg ? -k : k;
}

/* The double bound of a number moved inward past an exclusive value. lower: a minimum. Returns
 * false when no finite double is inside. */
static bool inward_double(const snum *b, bool lower, double *out) {
    double x = b->is_int ? (double)b->i : b->f;
    bool equal = true;
    if (b->is_int) {
        snum xd = {.set = true, .f = x};
        int k = sv_cmp_snum(b, &xd); /* the int64 against its nearest double, exactly */
        if (lower && k > 0) x = nextafter(x, INFINITY);
        if (!lower && k < 0) x = nextafter(x, -INFINITY);
        equal = k == 0;
    }
    if (b->excl && equal) x = nextafter(x, lower ? INFINITY : -INFINITY);
    *out = x;
    return isfinite(x);
}

/* Shortest decimal that reads back as x (Python's repr), as a dec; its significant digits in *sig. */
static void dec_shortest(double x, dec *d, int *sig) {
    char tmp[48];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, x);
        if (strtod(tmp, NULL) == x) break;
    }
    *sig = prec;
    /* tmp is [-]D.DDDDe[+-]XX: place the point */
    const char *p = tmp;
    d->neg = *p == '-';
    if (d->neg) p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int e = atoi(p + 1); /* the first digit's power of ten */
    if (e >= 0) {
        size_t il = (size_t)e + 1;
        for (size_t i = 0; i < il; i++) d->ip[i] = i < nd ? digits[i] : '0';
        d->ip[il] = 0;
        size_t fl = nd > il ? nd - il : 0;
        memcpy(d->fp, digits + il, fl);
        d->fp[fl] = 0;
    } else {
        strcpy(d->ip, "0");
        size_t z = (size_t)(-e - 1);
        memset(d->fp, '0', z);
        memcpy(d->fp + z, digits, nd);
        d->fp[z + nd] = 0;
    }
    normalise(d);
}

/* The decimal bound for numbers. */
static bool number_bound(const snum *b, bool lower, dec *d) {
    double x = b->is_int ? (double)b->i : b->f;
    bool exact_small = fabs(x) < 9007199254740992.0 && (!b->is_int || (double)b->i == x);
    if (exact_small) {
        /* below 2^53 no integer lies between a double and its shortest decimal, and a decimal
         * at or inside that decimal reads back at or inside the double */
        int sig;
        dec_shortest(x, d, &sig);
        if (!b->excl) return true;
        if (x == 0) { /* strictly positive (negative): the smallest step the grammar writes */
            strcpy(d->ip, "0");
            memset(d->fp, '0', FRAC_DIGITS - 1);
            d->fp[FRAC_DIGITS - 1] = '1';
            d->fp[FRAC_DIGITS] = 0;
            d->neg = !lower;
            return true;
        }
        size_t il = strcmp(d->ip, "0") == 0 ? 0 : strlen(d->ip), fl = strlen(d->fp);
        size_t place = fl + 3; /* decimals of the step */
        if (sig <= 12 && il <= 12 && place <= FRAC_DIGITS) {
            /* one unit three places past the last significant digit, inward: at least 1e-15 of
             * x away from it (more than a double's 2^-52), so no decimal beyond reads back as x */
            char all[DIG_CAP * 2];
            snprintf(all, sizeof all, "%s%s", d->ip, d->fp);
            size_t n = strlen(all);
            memset(all + n, '0', 3);
            all[n + 3] = 0;
            if (lower == d->neg) mag_dec(all); /* inward moves the magnitude down */
            else mag_inc(all);
            n = strlen(all);
            if (n < place + 1) { /* leading zeros were dropped */
                memmove(all + (place + 1 - n), all, n + 1);
                memset(all, '0', place + 1 - n);
                n = place + 1;
            }
            memcpy(d->ip, all, n - place);
            d->ip[n - place] = 0;
            strcpy(d->fp, all + n - place);
            normalise(d);
            return true;
        }
    }
    /* large or many-digit bounds: the next double inward, exactly, rounded inward */
    if (!inward_double(b, lower, &x)) return false;
    dec_from_double(x, d);
    round_mag(d, lower != d->neg, FRAC_DIGITS); /* inward: a minimum goes up, a maximum down */
    return true;
}

/* The decimal bound for integers: the first/last integer inside. */
static void integer_bound(const snum *b, bool lower, dec *d) {
    if (b->is_int) {
        dec_from_int(b->i, d);
    } else {
        double r = lower ? ceil(b->f) : floor(b->f);
        dec_from_double(r, d);
        if (r != b->f) { /* the bound itself is not an integer: exclusive or not, r is inside */
            round_mag(d, lower != d->neg, 0);
            return;
        }
    }
    if (b->excl) { /* one step inward */
        if (lower) {
            if (d->neg) mag_dec(d->ip);
            else mag_inc(d->ip);
        } else {
            if (d->neg || strcmp(d->ip, "0") == 0) {
                if (strcmp(d->ip, "0") == 0) d->neg = true;
                mag_inc(d->ip);
            } else {
                mag_dec(d->ip);
            }
        }
        normalise(d);
    }
    round_mag(d, lower != d->neg, 0);
}

/* ---- grammar pieces over digit strings -------------------------------------------------------- */
static void put_class(sctx *c, llm_buf *b, char lo, char hi) {
    if (lo == hi) sc_printf(c, b, "\"%c\"", lo);
    else if (lo == '0' && hi == '9') sc_puts(c, b, "[0-9]");
    else sc_printf(c, b, "[%c-%c]", lo, hi);
}

static void put_digits(sctx *c, llm_buf *b, size_t n) { /* n >= 1 any digits */
    if (n == 1) sc_puts(c, b, "[0-9]");
    else sc_printf(c, b, "[0-9]{%zu}", n);
}

static void put_lit(sctx *c, llm_buf *b, const char *s, size_t n) {
    if (n > 4 && strspn(s, "0") >= n) {
        sc_printf(c, b, "\"0\"{%zu}", n);
        return;
    }
    sc_put(c, b, "\"", 1);
    sc_put(c, b, s, n);
    sc_put(c, b, "\"", 1);
}

/* Digit strings of length n that are >= s (lexicographically = numerically). */
static void ge_fixed(sctx *c, llm_buf *b, const char *s, size_t n) {
    size_t zeros = strspn(s, "0");
    if (zeros >= n) {
        put_digits(c, b, n);
        return;
    }
    if (strspn(s, "9") >= n) {
        put_lit(c, b, s, n);
        return;
    }
    /* s[0] then >= the rest, or a larger first digit and anything */
    bool rest_zero = strspn(s + 1, "0") >= n - 1;
    if (rest_zero) {
        put_class(c, b, s[0], '9');
        if (n > 1) {
            sc_puts(c, b, " ");
            put_digits(c, b, n - 1);
        }
        return;
    }
    sc_puts(c, b, "( ");
    sc_printf(c, b, "\"%c\" ", s[0]);
    ge_fixed(c, b, s + 1, n - 1);
    if (s[0] < '9') {
        sc_puts(c, b, " | ");
        put_class(c, b, (char)(s[0] + 1), '9');
        sc_puts(c, b, " ");
        put_digits(c, b, n - 1);
    }
    sc_puts(c, b, " )");
}

/* Digit strings of length n that are <= s. */
static void le_fixed(sctx *c, llm_buf *b, const char *s, size_t n) {
    if (strspn(s, "9") >= n) {
        put_digits(c, b, n);
        return;
    }
    if (strspn(s, "0") >= n) {
        put_lit(c, b, s, n);
        return;
    }
    bool rest_nine = strspn(s + 1, "9") >= n - 1;
    if (rest_nine) {
        put_class(c, b, '0', s[0]);
        if (n > 1) {
            sc_puts(c, b, " ");
            put_digits(c, b, n - 1);
        }
        return;
    }
    sc_puts(c, b, "( ");
    if (s[0] > '0') {
        put_class(c, b, '0', (char)(s[0] - 1));
        sc_puts(c, b, " ");
        put_digits(c, b, n - 1);
        sc_puts(c, b, " | ");
    }
    sc_printf(c, b, "\"%c\" ", s[0]);
    le_fixed(c, b, s + 1, n - 1);
    sc_puts(c, b, " )");
}

/* Digit strings of length n between lo and hi (lo <= hi). */
static void range_fixed(sctx *c, llm_buf *b, const char *lo, const char *hi, size_t n) {
    size_t p = 0;
    while (p < n && lo[p] == hi[p]) p++;
    if (p == n) {
        put_lit(c, b, lo, n);
        return;
    }
    if (p) {
        put_lit(c, b, lo, p);
        sc_puts(c, b, " ");
    }
    const char *l = lo + p, *h = hi + p;
    size_t r = n - p - 1;
    bool lo_full = strspn(l + 1, "0") >= r, hi_full = strspn(h + 1, "9") >= r;
    char from = lo_full ? l[0] : (char)(l[0] + 1), to = hi_full ? h[0] : (char)(h[0] - 1);
    if (lo_full && hi_full) {
        put_class(c, b, from, to);
        if (r) {
            sc_puts(c, b, " ");
            put_digits(c, b, r);
        }
        return;
    }
    sc_puts(c, b, "( ");
    bool first = true;
    if (!lo_full) {
        sc_printf(c, b, "\"%c\" ", l[0]);
        ge_fixed(c, b, l + 1, r);
        first = false;
    }
    if (from <= to) {
        if (!first) sc_puts(c, b, " | ");
        put_class(c, b, from, to);
        if (r) {
            sc_puts(c, b, " ");
            put_digits(c, b, r);
        }
        first = false;
    }
    if (!hi_full) {
        if (!first) sc_puts(c, b, " | ");
        sc_printf(c, b, "\"%c\" ", h[0]);
        le_fixed(c, b, h + 1, r);
    }
    sc_puts(c, b, " )");
}

/* "[1-9] [0-9]{a,b}": every integer with a+1..b+1 digits. */
static void put_lengths(sctx *c, llm_buf *b, size_t from, size_t to) {
    sc_puts(c, b, "[1-9]");
    if (to <= 1) return;
    if (from == to) sc_printf(c, b, " [0-9]{%zu}", to - 1);
    else if (to - 1 == 1 && from - 1 == 0) sc_puts(c, b, " [0-9]?");
    else sc_printf(c, b, " [0-9]{%zu,%zu}", from - 1, to - 1);
}

/* Integer digit strings (no leading zeros) from lo to hi (hi NULL: up to MAX_INT_DIGITS digits
 * or lo's length), as alternatives separated by " | ". */
static void int_range(sctx *c, llm_buf *b, const char *lo, const char *hi) {
    bool first = true;
    if (strcmp(lo, "0") == 0) {
        sc_puts(c, b, "\"0\"");
        if (hi && strcmp(hi, "0") == 0) return;
        first = false;
        lo = "1";
    }
    size_t ll = strlen(lo);
    size_t lh = hi ? strlen(hi) : (ll > MAX_INT_DIGITS ? ll : MAX_INT_DIGITS);
    bool full_lo = lo[0] == '1' && strspn(lo + 1, "0") == ll - 1; /* the smallest of its length */
    bool full_hi = !hi || strspn(hi, "9") == lh;                  /* the largest of its length */
    size_t from = full_lo ? ll : ll + 1, to = full_hi ? lh : lh - 1;
    char *buf = malloc(lh + 2);
    if (!buf) {
        sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        return;
    }
    if (ll == lh && !(full_lo && full_hi)) {
        if (!first) sc_puts(c, b, " | ");
        memset(buf, '9', ll);
        buf[ll] = 0;
        range_fixed(c, b, lo, hi ? hi : buf, ll);
        free(buf);
        return;
    }
    if (!full_lo) {
        if (!first) sc_puts(c, b, " | ");
        memset(buf, '9', ll);
        buf[ll] = 0;
        range_fixed(c, b, lo, buf, ll);
        first = false;
    }
    if (from <= to) {
        if (!first) sc_puts(c, b, " | ");
        put_lengths(c, b, from, to);
        first = false;
    }
    if (!full_hi) {
        if (!first) sc_puts(c, b, " | ");
        buf[0] = '1';
        memset(buf + 1, '0', lh - 1);
        buf[lh] = 0;
        range_fixed(c, b, buf, hi, lh);
    }
    free(buf);
}

/* Fraction digit strings f (nonempty) with 0.lo <= 0.f and, unless hi is NULL, 0.f <= 0.hi. */
static void frac_digits(sctx *c, llm_buf *b, const char *lo, const char *hi) {
    size_t zeros = strspn(lo, "0");
    if (!hi && zeros >= 2 && lo[zeros]) {
        /* a run of zeros in lo: a nonzero digit inside the run, or the run and then >= the rest */
        sc_printf(c, b, "( \"0\"{0,%zu} [1-9] [0-9]{0,%d} | \"0\"{%zu} ", zeros - 1, MAX_TAIL_DIGITS, zeros);
        frac_digits(c, b, lo + zeros, NULL);
        sc_puts(c, b, " )");
        return;
    }
    char a = lo[0] ? lo[0] : '0';
    char z = hi ? (hi[0] ? hi[0] : '0') : '9';
    const char *lr = lo[0] ? lo + 1 : lo;
    const char *hr = hi ? (hi[0] ? hi + 1 : hi) : NULL;
    sc_puts(c, b, "( ");
    bool first = true;
    if (a == z) {
        /* a, then: the end if nothing of lo remains, and more digits within the rest */
        sc_printf(c, b, "\"%c\"", a);
        bool end_ok = !*lr;
        if (!*lr && !hr) {
            sc_printf(c, b, " [0-9]{0,%d}", MAX_TAIL_DIGITS);
        } else if (!*lr && hr && !*hr) {
            sc_printf(c, b, " \"0\"{0,%d}", MAX_TAIL_DIGITS);
        } else {
            sc_puts(c, b, " ");
            frac_digits(c, b, lr, hr);
            if (end_ok) sc_puts(c, b, "?");
        }
        sc_puts(c, b, " )");
        return;
    }
    /* first digit a: rest >= lr (end allowed when lr is empty) */
    char mid_from = a, mid_to = z;
    if (*lr) {
        sc_printf(c, b, "\"%c\" ", a);
        frac_digits(c, b, lr, NULL);
        first = false;
        mid_from = (char)(a + 1);
    }
    bool z_full = !hr; /* z followed by anything */
    if (!z_full) mid_to = (char)(z - 1);
    if (mid_from <= mid_to) {
        if (!first) sc_puts(c, b, " | ");
        put_class(c, b, mid_from, mid_to);
        sc_printf(c, b, " [0-9]{0,%d}", MAX_TAIL_DIGITS);
        first = false;
    }
    if (!z_full) {
        if (!first) sc_puts(c, b, " | ");
        sc_printf(c, b, "\"%c\"", z);
        if (*hr) {
            sc_puts(c, b, " ");
            frac_digits(c, b, "", hr);
            sc_puts(c, b, "?");
        } else {
            sc_printf(c, b, " \"0\"{0,%d}", MAX_TAIL_DIGITS);
        }
    }
    sc_puts(c, b, " )");
}

/* The fraction part (with its dot; optional where a whole number is inside). */
static void frac_part(sctx *c, llm_buf *b, const char *lo, const char *hi) {
    bool whole_ok = !lo[0];
    sc_puts(c, b, whole_ok ? "( \".\" " : "\".\" ");
    if (!lo[0] && !hi) sc_printf(c, b, "[0-9]{1,%d}", MAX_TAIL_DIGITS + 1);
    else frac_digits(c, b, lo, hi);
    if (whole_ok) sc_puts(c, b, " )?");
}

/* Magnitudes from a to b (b NULL: unbounded), as alternatives. */
static void mag_range(sctx *c, llm_buf *out, const dec *a, const dec *b, bool integers) {
    if (integers) {
        int_range(c, out, a->ip, b ? b->ip : NULL);
        return;
    }
    if (b && strcmp(a->ip, b->ip) == 0) {
        sc_printf(c, out, "\"%s\" ", a->ip);
        frac_part(c, out, a->fp, b->fp);
        return;
    }
    /* the integer part of a (when a has a fraction), those between, then b's. +1 is only taken
     * of an integer part with a fraction (at most 16 digits): +1 of a long run of trailing zeros
     * would give a digit grammar as deep as the run */
    if (a->fp[0]) {
        sc_printf(c, out, "\"%s\" ", a->ip);
        frac_part(c, out, a->fp, NULL);
    }
    char *next = malloc(strlen(a->ip) + 2), *prev = b ? malloc(strlen(b->ip) + 2) : NULL;
    if (!next || (b && !prev)) {
        free(next);
        free(prev);
        sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        return;
    }
    strcpy(next, a->ip);
    if (a->fp[0]) mag_inc(next);
    bool has_mid = true;
    if (b) {
        strcpy(prev, b->ip);
        if (strcmp(prev, "0") == 0) has_mid = false;
        else mag_dec(prev);
        has_mid = has_mid && mag_cmp_int(next, prev) <= 0;
    }
    if (has_mid) {
        if (a->fp[0]) sc_puts(c, out, " | ");
        sc_puts(c, out, "( ");
        int_range(c, out, next, prev);
        sc_printf(c, out, " ) ( \".\" [0-9]{1,%d} )?", MAX_TAIL_DIGITS + 1);
    }
    if (b) {
        if (a->fp[0] || has_mid) sc_puts(c, out, " | ");
        sc_printf(c, out, "\"%s\" ", b->ip);
        frac_part(c, out, "", b->fp);
    }
    free(next);
    free(prev);
}

llm_status sn_emit(sctx *c, const snum *lo, const snum *hi, bool integers, llm_buf *out, bool *empty) {
    *empty = false;
    if (!lo->set && !hi->set) {
        sc_puts(c, out, integers ? RULE_INTEGER : RULE_NUMBER);
        return c->st;
    }
    dec *L = malloc(sizeof *L), *U = malloc(sizeof *U), *zero = calloc(1, sizeof *zero), *m = malloc(sizeof *m);
    if (!L || !U || !zero || !m) {
        free(L);
        free(U);
        free(zero);
        free(m);
        return sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    strcpy(zero->ip, "0");
    bool has_lo = lo->set, has_hi = hi->set, none = false;
    if (integers) {
        if (has_lo) integer_bound(lo, true, L);
        if (has_hi) integer_bound(hi, false, U);
    } else {
        if (has_lo && !number_bound(lo, true, L)) none = true;
        if (has_hi && !number_bound(hi, false, U)) none = true;
    }
    if (!none && has_lo && has_hi && dec_cmp(L, U) > 0) none = true;
    if (none) {
        *empty = true;
    } else {
        llm_buf alts = {0};
        size_t n = 0;
        /* negative values: magnitudes from |U| (U < 0) or 0 (1 for integers: no "-0") to |L| */
        if (!has_lo || L->neg) {
            if (has_hi && U->neg) {
                *m = *U;
                m->neg = false;
            } else {
                memset(m, 0, sizeof *m);
                strcpy(m->ip, integers ? "1" : "0");
            }
            dec *to = NULL;
            if (has_lo) {
                to = malloc(sizeof *to);
                if (!to) {
                    sc_fail(c, LLM_ERR_OUT_OF_MEMORY, "out of memory");
                } else {
                    *to = *L;
                    to->neg = false;
                }
            }
            if (c->st == LLM_OK && (!to || mag_cmp(m, to) <= 0)) {
                sc_puts(c, &alts, "\"-\" ( ");
                mag_range(c, &alts, m, to, integers);
                sc_puts(c, &alts, " )");
                n++;
            }
            free(to);
        }
        /* non-negative values: from max(L, 0) to U */
        if (!has_hi || !U->neg) {
            const dec *from = has_lo && !L->neg ? L : zero;
            if (n) sc_puts(c, &alts, " | ");
            mag_range(c, &alts, from, has_hi ? U : NULL, integers);
            n++;
        }
        if (n > 0) {
            sc_puts(c, out, "( ");
            sc_put(c, out, alts.data, alts.len);
            sc_puts(c, out, " )");
        } else {
            *empty = true;
        }
        llm_buf_free(&alts);
    }
    free(L);
    free(U);
    free(zero);
    free(m);
    return c->st;
}
