/*
 * A small, strict JSON reader for Connect error bodies. It walks the top-level object, decodes the
 * string values of "code" and "message" (escapes, \u escapes and surrogate pairs included) and skips
 * every other value, however nested, up to a fixed depth. Every read is checked against the end of
 * the buffer, so a truncated or hostile body is rejected, never overrun.
 */
#include "connect_error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deeper values than this are rejected rather than recursed into (the stack stays small). */
enum { MAX_DEPTH = 64 };

typedef struct {
    const char *position;
    const char *end;
} Cursor;

static int at_end(const Cursor *cursor) { return cursor->position >= cursor->end; }

static void skip_whitespace(Cursor *cursor) {
    while (!at_end(cursor)) {
        char c = *cursor->position;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        cursor->position++;
    }
}

/* Consumes CHARACTER if it is next (after whitespace); returns 1 if it was. */
static int consume(Cursor *cursor, char character) {
    skip_whitespace(cursor);
    if (at_end(cursor) || *cursor->position != character) return 0;
    cursor->position++;
    return 1;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape (the cursor is just after "\u"). */
static int read_hex4(Cursor *cursor, uint32_t *value) {
    if (cursor->end - cursor->position < 4) return -1;
    uint32_t result = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_value(cursor->position[i]);
        if (digit < 0) return -1;
        result = (result << 4) | (uint32_t)digit;
    }
    cursor->position += 4;
    *value = result;
    return 0;
}

/* Appends CODE_POINT as UTF-8 at *OUT (which has room: the escape it came from was longer). */
static void put_utf8(char **out, uint32_t code_point) {
    unsigned char *o = (unsigned char *)*out;
    if (code_point < 0x80) {
        *o++ = (unsigned char)code_point;
    } else if (code_point < 0x800) {
        *o++ = (unsigned char)(0xC0 | (code_point >> 6));
        *o++ = (unsigned char)(0x80 | (code_point & 0x3F));
    } else if (code_point < 0x10000) {
        *o++ = (unsigned char)(0xE0 | (code_point >> 12));
        *o++ = (unsigned char)(0x80 | ((code_point >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (code_point & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | (code_point >> 18));
        *o++ = (unsigned char)(0x80 | ((code_point >> 12) & 0x3F));
        *o++ = (unsigned char)(0x80 | ((code_point >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (code_point & 0x3F));
    }
    *out = (char *)o;
}

/* The code point of a \u escape, joining a surrogate pair; a lone surrogate becomes U+FFFD. */
static int read_unicode_escape(Cursor *cursor, uint32_t *code_point) {
    uint32_t first;
    if (read_hex4(cursor, &first) != 0) return -1;
    if (first >= 0xDC00 && first <= 0xDFFF) {
        *code_point = 0xFFFD;
        return 0;
    }
    if (first < 0xD800 || first > 0xDBFF) {
        /* An escaped NUL would cut the C string short; show it as U+FFFD like a bad surrogate. */
        *code_point = first == 0 ? 0xFFFD : first;
        return 0;
    }
    Cursor lookahead = *cursor;
    uint32_t second;
    if (lookahead.end - lookahead.position >= 2 && lookahead.position[0] == '\\' && lookahead.position[1] == 'u') {
        lookahead.position += 2;
        if (read_hex4(&lookahead, &second) != 0) return -1;
        if (second >= 0xDC00 && second <= 0xDFFF) {
            *cursor = lookahead;
            *code_point = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            return 0;
        }
    }
    *code_point = 0xFFFD;
    return 0;
}

/*
 * Reads a JSON string (the cursor is at its opening quote). With OUT, stores the decoded string in a
 * new malloc'd buffer; without, only validates and skips it.
 */
static int read_string(Cursor *cursor, char **out) {
    if (!consume(cursor, '"')) return -1;
    char *buffer = NULL, *write = NULL;
    if (out != NULL) {
        /* Decoding never makes a string longer, so the rest of the body bounds it. */
        buffer = malloc((size_t)(cursor->end - cursor->position) + 1);
        if (buffer == NULL) return -1;
        write = buffer;
    }
    while (!at_end(cursor)) {
        unsigned char c = (unsigned char)*cursor->position++;
        if (c == '"') {
            if (out != NULL) {
                *write = '\0';
                *out = buffer;
            }
            return 0;
        }
        if (c < 0x20) break; /* raw control characters are not allowed in JSON strings */
        if (c != '\\') {
            if (write != NULL) *write++ = (char)c;
            continue;
        }
        if (at_end(cursor)) break;
        char escape = *cursor->position++;
        uint32_t code_point;
        switch (escape) {
        case '"': code_point = '"'; break;
        case '\\': code_point = '\\'; break;
        case '/': code_point = '/'; break;
        case 'b': code_point = '\b'; break;
        case 'f': code_point = '\f'; break;
        case 'n': code_point = '\n'; break;
        case 'r': code_point = '\r'; break;
        case 't': code_point = '\t'; break;
        case 'u':
            if (read_unicode_escape(cursor, &code_point) != 0) goto fail;
            break;
        default: goto fail;
        }
        if (write != NULL) put_utf8(&write, code_point);
    }
fail:
    free(buffer);
    return -1;
}

static int skip_value(Cursor *cursor, int depth);

/* Skips an object or array body (the cursor is just after the opening bracket). */
static int skip_container(Cursor *cursor, char close, int depth) {
    if (consume(cursor, close)) return 0;
    for (;;) {
        if (close == '}') {
            skip_whitespace(cursor);
            if (read_string(cursor, NULL) != 0 || !consume(cursor, ':')) return -1;
        }
        if (skip_value(cursor, depth + 1) != 0) return -1;
        if (consume(cursor, close)) return 0;
        if (!consume(cursor, ',')) return -1;
    }
}

/* Skips a number or a literal (true, false, null): a run of the characters they are made of. */
static int skip_scalar(Cursor *cursor) {
    const char *start = cursor->position;
    while (!at_end(cursor)) {
        char c = *cursor->position;
        int allowed = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' || c == 'E';
        if (!allowed) break;
        cursor->position++;
    }
    return cursor->position > start ? 0 : -1;
}

static int skip_value(Cursor *cursor, int depth) {
    if (depth > MAX_DEPTH) return -1;
    skip_whitespace(cursor);
    if (at_end(cursor)) return -1;
    switch (*cursor->position) {
    case '"': return read_string(cursor, NULL);
    case '{': cursor->position++; return skip_container(cursor, '}', depth);
    case '[': cursor->position++; return skip_container(cursor, ']', depth);
    default: return skip_scalar(cursor);
    }
}

/* Reads the value of a member we want: a string replaces *SLOT (the last duplicate wins). */
static int read_wanted_string(Cursor *cursor, char **slot) {
    skip_whitespace(cursor);
    char *value = NULL;
    if (read_string(cursor, &value) != 0) return -1;
    free(*slot);
    *slot = value;
    return 0;
}

int connect_error_parse(const char *body, size_t length, ConnectError *error) {
    error->code = NULL;
    error->message = NULL;
    if (body == NULL) return -1;
    Cursor cursor = {body, body + length};
    char *code = NULL, *message = NULL;
    if (!consume(&cursor, '{')) goto fail;
    if (!consume(&cursor, '}')) {
        for (;;) {
            char *key = NULL;
            skip_whitespace(&cursor);
            if (read_string(&cursor, &key) != 0) goto fail;
            int is_code = strcmp(key, "code") == 0, is_message = strcmp(key, "message") == 0;
            free(key);
            if (!consume(&cursor, ':')) goto fail;
            skip_whitespace(&cursor);
            int is_string = !at_end(&cursor) && *cursor.position == '"';
            int status;
            if (is_code && is_string) {
                status = read_wanted_string(&cursor, &code);
            } else if (is_message && is_string) {
                status = read_wanted_string(&cursor, &message);
            } else {
                status = skip_value(&cursor, 1);
            }
            if (status != 0) goto fail;
            if (consume(&cursor, '}')) break;
            if (!consume(&cursor, ',')) goto fail;
        }
    }
    skip_whitespace(&cursor);
    if (!at_end(&cursor) || code == NULL || code[0] == '\0') goto fail;
    if (message == NULL) {
        message = calloc(1, 1);
        if (message == NULL) goto fail;
    }
    error->code = code;
    error->message = message;
    return 0;
fail:
    free(code);
    free(message);
    return -1;
}

void connect_error_free(ConnectError *error) {
    free(error->code);
    free(error->message);
    error->code = NULL;
    error->message = NULL;
}

const char *connect_code_for_http_status(long status) {
    switch (status) {
    case 400: return "internal";
    case 401: return "unauthenticated";
    case 403: return "permission_denied";
    case 404: return "unimplemented";
    case 429:
    case 502:
    case 503:
    case 504: return "unavailable";
    default: return "unknown";
    }
}

void connect_sanitize_for_terminal(char *text) {
    for (unsigned char *c = (unsigned char *)text; *c != '\0'; c++) {
        if (*c < 0x20 || *c == 0x7F) *c = '?';
    }
}
