/*
 * Reading a Connect unary error body: {"code": "invalid_argument", "message": "...", "details": [...]}.
 */
#ifndef GEOPREDICT_CONNECT_ERROR_H
#define GEOPREDICT_CONNECT_ERROR_H

#include <stddef.h>

/* A Connect error; both strings are NUL-terminated, malloc'd, UTF-8 (as the server sent them). */
typedef struct {
    char *code;
    char *message;
} ConnectError;

/*
 * Parses BODY (LENGTH bytes, not necessarily NUL-terminated) as a Connect error. Returns 0 and fills
 * ERROR when the body is one JSON object with a string "code" ("message" defaults to ""); returns -1
 * otherwise (not JSON, truncated, nested too deep, no code, out of memory) and leaves ERROR empty.
 * Never reads outside BODY. Free the result with connect_error_free.
 */
int connect_error_parse(const char *body, size_t length, ConnectError *error);

/* Frees the strings of ERROR and empties it; safe on an empty or already freed error. */
void connect_error_free(ConnectError *error);

/*
 * The Connect code the protocol assigns to an HTTP status when the body is not a Connect error
 * (a proxy's error page, say): 400 internal, 401 unauthenticated, 403 permission_denied,
 * 404 unimplemented, 429/502/503/504 unavailable, anything else unknown.
 */
const char *connect_code_for_http_status(long status);

/* Replaces control characters of TEXT in place with '?', so that a message prints on one line. */
void connect_sanitize_for_terminal(char *text);

#endif
