#!/usr/bin/env python3
"""Next-store predictions with plain `requests` and Google's protobuf messages.

    .build-venv/bin/python clients/python/predict_requests.py URL USER_ID [--limit N] [--at UNIX_SECONDS] [--json]

Binary by default: the body is a serialized PredictNextVisitsRequest (Content-Type application/proto).
With --json the same call goes as proto3 JSON (camelCase names, 64-bit integers as strings), built
and read by hand to show the mapping. Prints one `store_id score` line per predicted visit.
"""
import argparse
import json

from geopredict_gen import EXIT_TRANSPORT, fail, geopredict_pb2, print_visits
from google.protobuf import json_format
from google.protobuf.message import DecodeError

import connect_http


def predict_binary(url, user_id, limit, at):
    request = geopredict_pb2.PredictNextVisitsRequest(user_id=user_id, limit=limit, at_unix_seconds=at)
    body = connect_http.call(url, "PredictNextVisits", request.SerializeToString(), "application/proto")
    response = geopredict_pb2.PredictNextVisitsResponse()
    try:
        response.ParseFromString(body)
    except DecodeError as error:
        fail("internal", f"the answer is not a PredictNextVisitsResponse: {error}", EXIT_TRANSPORT)
    return response


def predict_json(url, user_id, limit, at):
    # proto3 JSON: field names in lowerCamelCase, 64-bit integers (atUnixSeconds) as strings.
    request = {"userId": user_id, "limit": limit, "atUnixSeconds": str(at)}
    body = connect_http.call(url, "PredictNextVisits", json.dumps(request).encode(), "application/json")
    try:
        # json_format knows the rest of the mapping ("NaN" scores, int64 strings, unknown fields).
        return json_format.Parse(body, geopredict_pb2.PredictNextVisitsResponse(), ignore_unknown_fields=True)
    except json_format.ParseError as error:
        fail("internal", f"the answer is not a PredictNextVisitsResponse: {error}", EXIT_TRANSPORT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service, e.g. http://127.0.0.1:8530")
    parser.add_argument("user_id", help="e.g. u0000001")
    parser.add_argument("--limit", type=int, default=0, help="stores to return, 1-100 (0: the default, 10)")
    parser.add_argument("--at", type=int, default=0, help="the moment to predict for, unix seconds (0: now)")
    parser.add_argument("--json", action="store_true", help="send and receive proto3 JSON instead of binary")
    args = parser.parse_args()
    if not 0 <= args.limit < 2**32:
        parser.error("--limit must be from 0 to 4294967295 (the service accepts 0-100)")
    predict = predict_json if args.json else predict_binary
    print_visits(predict(args.url, args.user_id, args.limit, args.at))


if __name__ == "__main__":
    main()
