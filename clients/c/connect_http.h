/*
 * One Connect unary call over HTTP with libcurl: POST a body, get the status, content type and body.
 */
#ifndef GEOPREDICT_CONNECT_HTTP_H
#define GEOPREDICT_CONNECT_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Responses larger than this are refused (the service's biggest answer is a few KiB). */
#define CONNECT_MAX_RESPONSE_BYTES ((size_t)16 << 20)

typedef struct {
    long status;         /* HTTP status, e.g. 200 */
    char *content_type;  /* malloc'd, "" when the server sent none */
    uint8_t *body;       /* malloc'd (NUL-terminated for convenience; LENGTH excludes it) */
    size_t length;
} ConnectResponse;

/*
 * POSTs BODY to BASE_URL + "/" + PROCEDURE (e.g. "geopredict.v1.GeoPredictService/PredictNextVisits";
 * trailing slashes of BASE_URL are ignored) with the given content type and the Connect protocol
 * headers, waiting at most TIMEOUT_SECONDS. Returns 0 when an HTTP answer arrived (whatever its
 * status) and fills RESPONSE; returns -1 on a transport failure (bad URL, refused connection,
 * timeout, answer too large, out of memory) with a message in ERROR (ERROR_SIZE bytes).
 * Call curl_global_init before; free RESPONSE with connect_response_free.
 */
int connect_post(const char *base_url, const char *procedure, const char *content_type, const uint8_t *body,
                 size_t length, long timeout_seconds, ConnectResponse *response, char *error, size_t error_size);

void connect_response_free(ConnectResponse *response);

#endif
