/*
 * geopredict-predict URL USER_ID [LIMIT [AT_UNIX_SECONDS]]
 *
 * Asks a GeoPredict service for a user's likely next stores: POSTs a binary PredictNextVisitsRequest
 * (protobuf-c) to URL/geopredict.v1.GeoPredictService/PredictNextVisits over the Connect protocol
 * (libcurl) and prints one "store_id score" line per predicted visit, best first. Scores depend on
 * the moment predicted for (now, unless AT_UNIX_SECONDS is given).
 *
 * Exit status: 0 success; 1 the service answered with an error (printed as "error: CODE: MESSAGE");
 * 2 bad command line; 3 no usable answer (connection failure, timeout, malformed answer).
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connect_error.h"
#include "connect_http.h"
#include "geopredict/v1/geopredict.pb-c.h"

enum { EXIT_RPC_ERROR = 1, EXIT_USAGE = 2, EXIT_TRANSPORT = 3 };

static const char PROCEDURE[] = "geopredict.v1.GeoPredictService/PredictNextVisits";
static const long TIMEOUT_SECONDS = 30;

static int usage(const char *program) {
    fprintf(stderr,
            "usage: %s URL USER_ID [LIMIT [AT_UNIX_SECONDS]]\n"
            "  URL              the service, e.g. http://127.0.0.1:8530\n"
            "  USER_ID          the user to predict for, e.g. u0000001\n"
            "  LIMIT            how many stores (the service accepts 1-100; 0 or absent: its default, 10)\n"
            "  AT_UNIX_SECONDS  the moment to predict for, seconds since 1970 (0 or absent: now)\n",
            program);
    return EXIT_USAGE;
}

/* Parses a decimal uint32 (digits only, no sign, no spaces); returns 0 on success. */
static int parse_limit(const char *text, uint32_t *limit) {
    if (text[0] == '\0' || strspn(text, "0123456789") != strlen(text)) return -1;
    errno = 0;
    unsigned long long value = strtoull(text, NULL, 10);
    if (errno != 0 || value > UINT32_MAX) return -1;
    *limit = (uint32_t)value;
    return 0;
}

/* Parses a decimal int64 (an optional '-', then digits only); returns 0 on success. */
static int parse_int64(const char *text, int64_t *number) {
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (digits[0] == '\0' || strspn(digits, "0123456789") != strlen(digits)) return -1;
    errno = 0;
    long long value = strtoll(text, NULL, 10);
    if (errno != 0 || value < INT64_MIN || value > INT64_MAX) return -1;
    *number = (int64_t)value;
    return 0;
}

/* Prints the service's error: the Connect JSON body when there is one, else the HTTP status's code. */
static void print_service_error(const ConnectResponse *response) {
    ConnectError error;
    if (connect_error_parse((const char *)response->body, response->length, &error) == 0) {
        connect_sanitize_for_terminal(error.code);
        connect_sanitize_for_terminal(error.message);
        fprintf(stderr, "error: %s: %s\n", error.code, error.message);
        connect_error_free(&error);
    } else {
        fprintf(stderr, "error: %s: HTTP %ld with no Connect error body\n",
                connect_code_for_http_status(response->status), response->status);
    }
}

/* "application/proto", ignoring case and any parameters (";charset=..."). */
static int is_binary_proto(const char *content_type) {
    static const char expected[] = "application/proto";
    size_t length = sizeof expected - 1;
    if (strncasecmp(content_type, expected, length) != 0) return 0;
    char next = content_type[length];
    return next == '\0' || next == ';' || next == ' ';
}

/* Decodes and prints a successful answer; returns the exit status. */
static int print_visits(const ConnectResponse *response) {
    if (!is_binary_proto(response->content_type)) {
        fprintf(stderr, "error: internal: expected an application/proto answer, got \"%s\"\n", response->content_type);
        return EXIT_TRANSPORT;
    }
    Geopredict__V1__PredictNextVisitsResponse *answer =
        geopredict__v1__predict_next_visits_response__unpack(NULL, response->length, response->body);
    if (answer == NULL) {
        fprintf(stderr, "error: internal: the answer is not a valid PredictNextVisitsResponse (%zu bytes)\n", response->length);
        return EXIT_TRANSPORT;
    }
    for (size_t i = 0; i < answer->n_visits; i++) {
        const Geopredict__V1__PredictedVisit *visit = answer->visits[i];
        printf("%s %.6f\n", visit->store_id, visit->score);
    }
    geopredict__v1__predict_next_visits_response__free_unpacked(answer, NULL);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "error: internal: cannot write the output: %s\n", strerror(errno));
        return EXIT_TRANSPORT;
    }
    return EXIT_SUCCESS;
}

/* Packs the request; returns a malloc'd buffer (NULL when out of memory) and its length. */
static uint8_t *pack_request(char *user_id, uint32_t limit, int64_t at_unix_seconds, size_t *length) {
    Geopredict__V1__PredictNextVisitsRequest request = GEOPREDICT__V1__PREDICT_NEXT_VISITS_REQUEST__INIT;
    request.user_id = user_id;
    request.limit = limit;
    request.at_unix_seconds = at_unix_seconds;
    *length = geopredict__v1__predict_next_visits_request__get_packed_size(&request);
    uint8_t *bytes = malloc(*length > 0 ? *length : 1);
    if (bytes == NULL) return NULL;
    size_t written = geopredict__v1__predict_next_visits_request__pack(&request, bytes);
    if (written != *length) {
        free(bytes);
        return NULL;
    }
    return bytes;
}

int main(int argc, char **argv) {
    const char *program = argc > 0 ? argv[0] : "geopredict-predict";
    if (argc < 3 || argc > 5) return usage(program);
    uint32_t limit = 0;
    if (argc >= 4 && parse_limit(argv[3], &limit) != 0) {
        fprintf(stderr, "error: LIMIT must be a whole number from 0 to %u, not \"%s\"\n", UINT32_MAX, argv[3]);
        return usage(program);
    }
    int64_t at_unix_seconds = 0;
    if (argc == 5 && parse_int64(argv[4], &at_unix_seconds) != 0) {
        fprintf(stderr, "error: AT_UNIX_SECONDS must be a whole number of seconds, not \"%s\"\n", argv[4]);
        return usage(program);
    }
    size_t request_length = 0;
    uint8_t *request = pack_request(argv[2], limit, at_unix_seconds, &request_length);
    if (request == NULL) {
        fprintf(stderr, "error: internal: out of memory\n");
        return EXIT_TRANSPORT;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "error: internal: cannot initialise libcurl\n");
        free(request);
        return EXIT_TRANSPORT;
    }
    int status;
    char transport_error[CURL_ERROR_SIZE + 512];
    ConnectResponse response;
    if (connect_post(argv[1], PROCEDURE, "application/proto", request, request_length, TIMEOUT_SECONDS, &response,
                     transport_error, sizeof transport_error) != 0) {
        fprintf(stderr, "error: %s\n", transport_error);
        status = EXIT_TRANSPORT;
    } else {
        if (response.status == 200) {
            status = print_visits(&response);
        } else {
            print_service_error(&response);
            status = EXIT_RPC_ERROR;
        }
        connect_response_free(&response);
    }
    free(request);
    curl_global_cleanup();
    return status;
}
