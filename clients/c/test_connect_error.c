/* Tests of the Connect error reader (make -C clients/c check); exits non-zero on any failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect_error.h"

static int failures = 0;

/* Parses BODY (without its NUL) and checks the outcome: EXPECT_CODE NULL means "must be rejected". */
static void expect(const char *body, size_t length, const char *expect_code, const char *expect_message) {
    ConnectError error;
    /* An exact-size heap copy, so that valgrind or -fsanitize=address catch any read past the end. */
    char *copy = malloc(length > 0 ? length : 1);
    if (copy == NULL) abort();
    memcpy(copy, body, length);
    int status = connect_error_parse(copy, length, &error);
    free(copy);
    if (expect_code == NULL) {
        if (status == 0 || error.code != NULL || error.message != NULL) {
            printf("FAIL accepted %.*s\n", (int)length, body);
            failures++;
        }
        connect_error_free(&error);
        return;
    }
    if (status != 0) {
        printf("FAIL rejected %.*s\n", (int)length, body);
        failures++;
        return;
    }
    if (strcmp(error.code, expect_code) != 0 || strcmp(error.message, expect_message) != 0) {
        printf("FAIL %.*s gave code=[%s] message=[%s]\n", (int)length, body, error.code, error.message);
        failures++;
    }
    connect_error_free(&error);
}

#define EXPECT(literal, code, message) expect(literal, sizeof(literal) - 1, code, message)

int main(void) {
    EXPECT("{\"code\":\"invalid_argument\",\"message\":\"limit: must be 0\"}", "invalid_argument", "limit: must be 0");
    EXPECT(" \n{ \"message\" : \"m\" , \"code\" : \"not_found\" } \n", "not_found", "m");
    EXPECT("{\"code\":\"unavailable\"}", "unavailable", "");
    /* details and unknown members of any shape are skipped */
    EXPECT("{\"code\":\"internal\",\"details\":[{\"type\":\"x\",\"value\":\"AA==\",\"debug\":{\"a\":[1,-2.5e3,true,null]}}],"
           "\"message\":\"boom\",\"n\":12}",
           "internal", "boom");
    /* escapes, \u escapes, surrogate pairs; a lone surrogate and an escaped NUL become U+FFFD */
    EXPECT("{\"code\":\"unknown\",\"message\":\"a\\\"b\\\\c\\/d\\n\\u00e9\\u20ac\\ud83d\\ude00\"}", "unknown",
           "a\"b\\c/d\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    EXPECT("{\"code\":\"unknown\",\"message\":\"\\ud83d!\\u0000\"}", "unknown", "\xef\xbf\xbd!\xef\xbf\xbd");
    /* the last of duplicate members wins */
    EXPECT("{\"code\":\"a\",\"code\":\"b\",\"message\":\"1\",\"message\":\"2\"}", "b", "2");
    /* a code that is not a string is ignored, hence no code */
    EXPECT("{\"code\":3,\"message\":\"x\"}", NULL, NULL);
    /* rejected: not JSON, truncated anywhere, trailing junk, bad escapes, raw control characters */
    EXPECT("", NULL, NULL);
    EXPECT("<html>502 Bad Gateway</html>", NULL, NULL);
    EXPECT("{}", NULL, NULL);
    EXPECT("{\"code\":\"\"}", NULL, NULL);
    EXPECT("[\"code\",\"x\"]", NULL, NULL);
    EXPECT("{\"code\":\"x\"} {", NULL, NULL);
    EXPECT("{\"code\":\"x\\q\"}", NULL, NULL);
    EXPECT("{\"code\":\"x\\u12\"}", NULL, NULL);
    EXPECT("{\"code\":\"a\nb\"}", NULL, NULL);
    EXPECT("{\"code\":\"x\",}", NULL, NULL);
    EXPECT("{\"code\" \"x\"}", NULL, NULL);
    const char whole[] = "{\"code\":\"invalid_argument\",\"details\":[{\"a\":\"\\u00e9\"}],\"message\":\"m\\n\"}";
    for (size_t cut = 0; cut < sizeof whole - 1; cut++) expect(whole, cut, NULL, NULL);
    expect(whole, sizeof whole - 1, "invalid_argument", "m\n");
    /* nesting: 60 levels are skipped, 100 are refused without recursing that deep */
    char nested[512];
    for (int depth = 60; depth <= 100; depth += 40) {
        size_t n = 0;
        n += (size_t)snprintf(nested + n, sizeof nested - n, "{\"code\":\"c\",\"x\":");
        for (int i = 0; i < depth; i++) nested[n++] = '[';
        for (int i = 0; i < depth; i++) nested[n++] = ']';
        nested[n++] = '}';
        expect(nested, n, depth == 60 ? "c" : NULL, "");
    }
    /* the terminal sanitiser */
    char text[] = "a\nb\tc\x7f\xc3\xa9";
    connect_sanitize_for_terminal(text);
    if (strcmp(text, "a?b?c?\xc3\xa9") != 0) {
        printf("FAIL sanitize gave [%s]\n", text);
        failures++;
    }
    if (strcmp(connect_code_for_http_status(503), "unavailable") != 0 ||
        strcmp(connect_code_for_http_status(404), "unimplemented") != 0 ||
        strcmp(connect_code_for_http_status(418), "unknown") != 0) {
        printf("FAIL HTTP status mapping\n");
        failures++;
    }
    printf("connect_error tests: %s (%d failures)\n", failures == 0 ? "passed" : "FAILED", failures);
    return failures == 0 ? 0 : 1;
}
