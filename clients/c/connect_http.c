#include "connect_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t length;
    size_t capacity;
    int too_large;
} Buffer;

/* libcurl's write callback: appends to a Buffer, refusing to grow past CONNECT_MAX_RESPONSE_BYTES. */
static size_t append_to_buffer(char *chunk, size_t size, size_t count, void *context) {
    Buffer *buffer = context;
    if (count != 0 && size > SIZE_MAX / count) return 0;
    size_t bytes = size * count;
    if (bytes > CONNECT_MAX_RESPONSE_BYTES - buffer->length) {
        buffer->too_large = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    size_t needed = buffer->length + bytes + 1; /* + 1 for the closing NUL */
    if (needed > buffer->capacity) {
        size_t capacity = buffer->capacity == 0 ? 4096 : buffer->capacity;
        while (capacity < needed) capacity *= 2;
        uint8_t *grown = realloc(buffer->data, capacity);
        if (grown == NULL) return 0;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, chunk, bytes);
    buffer->length += bytes;
    buffer->data[buffer->length] = '\0';
    return bytes;
}

/* BASE_URL without trailing slashes, "/", PROCEDURE; malloc'd, NULL when out of memory. */
static char *procedure_url(const char *base_url, const char *procedure) {
    size_t base_length = strlen(base_url);
    while (base_length > 0 && base_url[base_length - 1] == '/') base_length--;
    size_t size = base_length + 1 + strlen(procedure) + 1;
    char *url = malloc(size);
    if (url == NULL) return NULL;
    snprintf(url, size, "%.*s/%s", (int)base_length, base_url, procedure);
    return url;
}

static struct curl_slist *connect_headers(const char *content_type) {
    char content_type_header[128];
    snprintf(content_type_header, sizeof content_type_header, "Content-Type: %s", content_type);
    const char *lines[] = {content_type_header, "Connect-Protocol-Version: 1", "Expect:"};
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct curl_slist *extended = curl_slist_append(headers, lines[i]);
        if (extended == NULL) {
            curl_slist_free_all(headers);
            return NULL;
        }
        headers = extended;
    }
    return headers;
}

int connect_post(const char *base_url, const char *procedure, const char *content_type, const uint8_t *body,
                 size_t length, long timeout_seconds, ConnectResponse *response, char *error, size_t error_size) {
    memset(response, 0, sizeof *response);
    int result = -1;
    Buffer buffer = {0};
    char curl_message[CURL_ERROR_SIZE] = "";
    char *url = procedure_url(base_url, procedure);
    struct curl_slist *headers = connect_headers(content_type);
    CURL *curl = curl_easy_init();
    if (url == NULL || headers == NULL || curl == NULL) {
        snprintf(error, error_size, "internal: out of memory");
        goto done;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body != NULL ? (const char *)body : ""); /* NULL would mean "read callback" */
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)length);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "geopredict-predict-c/1");
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, ""); /* gzip answers are decoded by curl */
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_seconds < 10 ? timeout_seconds : 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_seconds);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_to_buffer);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buffer);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_message);

    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK) {
        if (buffer.too_large) {
            snprintf(error, error_size, "internal: the answer from %s is larger than %zu bytes", url, CONNECT_MAX_RESPONSE_BYTES);
        } else {
            snprintf(error, error_size, "unavailable: cannot reach %s: %s", url,
                     curl_message[0] != '\0' ? curl_message : curl_easy_strerror(code));
        }
        goto done;
    }
    char *type = NULL;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
    response->content_type = strdup(type != NULL ? type : "");
    if (buffer.data == NULL) buffer.data = calloc(1, 1); /* an empty body is still a valid buffer */
    if (response->content_type == NULL || buffer.data == NULL) {
        snprintf(error, error_size, "internal: out of memory");
        free(response->content_type);
        response->content_type = NULL;
        goto done;
    }
    response->body = buffer.data;
    response->length = buffer.length;
    buffer.data = NULL;
    result = 0;
done:
    free(buffer.data);
    if (curl != NULL) curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(url);
    return result;
}

void connect_response_free(ConnectResponse *response) {
    free(response->content_type);
    free(response->body);
    memset(response, 0, sizeof *response);
}
