/* Unit tests of the text-release rules: whole UTF-8 code points and stop-string hold-back. */
#include <string.h>

#include "check.h"
#include "runtime/textout.h"

int main(void) {
    /* "é" is C3 A9; "🙂" is F0 9F 99 82 */
    CHECK(llm_utf8_complete_prefix("ab\xc3", 3) == 2, "incomplete 2-byte held");
    CHECK(llm_utf8_complete_prefix("ab\xc3\xa9", 4) == 4, "complete 2-byte released");
    CHECK(llm_utf8_complete_prefix("\xf0\x9f\x99", 3) == 0, "incomplete emoji held");
    CHECK(llm_utf8_complete_prefix("a\xff" "b", 3) == 3, "invalid byte does not block");
    CHECK(llm_utf8_complete_prefix("a\xf0" "b", 3) == 3, "broken sequence does not block");
    llm_buf b = {0};
    CHECK(llm_utf8_append_valid(&b, "a\xff" "b\xc3", 4) == 0 && strcmp(b.data, "a\xef\xbf\xbd" "b\xef\xbf\xbd") == 0,
          "invalid bytes become U+FFFD");
    llm_buf_free(&b);
    CHECK(llm_utf8_is_valid("\xed\xa0\x80", 3) == 0, "surrogate invalid");
    CHECK(llm_utf8_is_valid("\xe0\x80\xaf", 3) == 0, "overlong invalid");
    CHECK(llm_utf8_is_valid("\xf4\x90\x80\x80", 4) == 0, "above U+10FFFF invalid");
    CHECK(llm_utf8_is_valid("h\xc3\xa9llo \xf0\x9f\x99\x82", 11) == 1, "valid text");

    char *stops[] = {"STOP", "\nUser:"};
    size_t pos = 0;
    CHECK(llm_stops_find(stops, 2, "abc STOP x", 10, &pos) == 1 && pos == 4, "find");
    CHECK(llm_stops_find(stops, 2, "a\nUser: STOP", 12, &pos) == 1 && pos == 1, "earliest of several");
    CHECK(llm_stops_find(stops, 2, "abc", 3, &pos) == 0, "none");
    CHECK(llm_stops_holdback(stops, 2, "abc ST", 6) == 2, "hold 'ST'");
    CHECK(llm_stops_holdback(stops, 2, "abc\nUs", 6) == 3, "hold '\\nUs'");
    CHECK(llm_stops_holdback(stops, 2, "abc", 3) == 0, "hold nothing");
    CHECK(llm_stops_holdback(stops, 2, "S", 1) == 1, "hold a lone prefix");
    return check_summary("test_textout");
}
