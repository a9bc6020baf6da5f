#!/usr/bin/env python3
"""Records one check-in with plain `requests` and prints how many events the service accepted.

    .build-venv/bin/python clients/python/ingest_requests.py URL USER_ID STORE_ID
        [--latitude LAT --longitude LON] [--at UNIX_SECONDS] [--json]

Prints `accepted N rejected M`, then one `event INDEX: FIELD: MESSAGE` line per rejected event.
A rejected event is not a call error (good events of a batch are kept); the exit status is 0 when
every event was accepted and 1 otherwise.
"""
import argparse
import sys
import time

from geopredict_gen import EXIT_TRANSPORT, describe_event_error, fail, geopredict_pb2
from google.protobuf import json_format
from google.protobuf.message import DecodeError

import connect_http


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service, e.g. http://127.0.0.1:8530")
    parser.add_argument("user_id", help="e.g. u0000001")
    parser.add_argument("store_id", help="a store of the catalogue, e.g. s000001")
    parser.add_argument("--latitude", type=float, default=40.7306, help="default: the synthetic city's centre")
    parser.add_argument("--longitude", type=float, default=-73.9866)
    parser.add_argument("--at", type=int, default=None, help="the event's time, unix seconds (default: now)")
    parser.add_argument("--json", action="store_true", help="send and receive proto3 JSON instead of binary")
    args = parser.parse_args()
    at = int(time.time()) if args.at is None else args.at
    event = geopredict_pb2.LocationEvent(user_id=args.user_id, store_id=args.store_id, latitude=args.latitude,
                                         longitude=args.longitude, timestamp_unix_seconds=at)
    request = geopredict_pb2.IngestEventsRequest(events=[event])
    response = geopredict_pb2.IngestEventsResponse()
    try:
        if args.json:
            # In proto3 JSON the int64 timestamp is a string: {"timestampUnixSeconds": "1763700000", ...}
            body = json_format.MessageToJson(request).encode()
            answer = connect_http.call(args.url, "IngestEvents", body, "application/json")
            json_format.Parse(answer, response, ignore_unknown_fields=True)
        else:
            answer = connect_http.call(args.url, "IngestEvents", request.SerializeToString(), "application/proto")
            response.ParseFromString(answer)
    except (json_format.ParseError, DecodeError) as error:
        fail("internal", f"the answer is not an IngestEventsResponse: {error}", EXIT_TRANSPORT)
    print(f"accepted {response.accepted} rejected {response.rejected}")
    for error in response.errors:
        print(describe_event_error(error))
    sys.exit(0 if response.rejected == 0 else 1)


if __name__ == "__main__":
    main()
