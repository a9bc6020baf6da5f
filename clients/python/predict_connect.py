#!/usr/bin/env python3
"""Next-store predictions with connect-python and the client protoc-gen-connect-python generates.

    .build-venv/bin/python clients/python/predict_connect.py URL USER_ID [--limit N] [--at UNIX_SECONDS] [--json]
        [--ingest STORE_ID --latitude LAT --longitude LON]

Prints one `store_id score` line per predicted visit. --json switches the wire format to proto3
JSON (same answer). --ingest first records a check-in of the user at STORE_ID now, and reports
`accepted N rejected M` on stderr, so stdout stays the prediction lines.
"""
import argparse
import sys
import time

from geopredict_gen import EXIT_RPC_ERROR, EXIT_TRANSPORT, describe_event_error, fail, geopredict_pb2, print_visits

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from geopredict.v1.geopredict_connect import GeoPredictServiceClientSync

TIMEOUT_MS = 30_000


def ingest_check_in(client, user_id, store_id, latitude, longitude):
    event = geopredict_pb2.LocationEvent(user_id=user_id, store_id=store_id, latitude=latitude,
                                         longitude=longitude, timestamp_unix_seconds=int(time.time()))
    response = client.ingest_events(geopredict_pb2.IngestEventsRequest(events=[event]))
    print(f"accepted {response.accepted} rejected {response.rejected}", file=sys.stderr)
    for error in response.errors:
        print(f"  {describe_event_error(error)}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the service, e.g. http://127.0.0.1:8530")
    parser.add_argument("user_id", help="e.g. u0000001")
    parser.add_argument("--limit", type=int, default=0, help="stores to return, 1-100 (0: the default, 10)")
    parser.add_argument("--at", type=int, default=0, help="the moment to predict for, unix seconds (0: now)")
    parser.add_argument("--json", action="store_true", help="use proto3 JSON on the wire instead of binary")
    parser.add_argument("--ingest", metavar="STORE_ID", help="first record a check-in at this store, now")
    parser.add_argument("--latitude", type=float, default=40.7306, help="the check-in's position (default: the "
                        "synthetic city's centre)")
    parser.add_argument("--longitude", type=float, default=-73.9866)
    args = parser.parse_args()
    if not 0 <= args.limit < 2**32:
        parser.error("--limit must be from 0 to 4294967295 (the service accepts 0-100)")
    # The default request compression (gzip) is fine: the service accepts gzip bodies.
    with GeoPredictServiceClientSync(args.url.rstrip("/"), proto_json=args.json, timeout_ms=TIMEOUT_MS) as client:
        try:
            if args.ingest is not None:
                ingest_check_in(client, args.user_id, args.ingest, args.latitude, args.longitude)
            request = geopredict_pb2.PredictNextVisitsRequest(user_id=args.user_id, limit=args.limit,
                                                              at_unix_seconds=args.at)
            response = client.predict_next_visits(request)
        except ConnectError as error:
            # connect-python reports transport failures as ConnectErrors too (unavailable, deadline_exceeded).
            transport = error.code in (Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED) and "HTTP" not in error.message
            fail(error.code.value, error.message, EXIT_TRANSPORT if transport else EXIT_RPC_ERROR)
        except OSError as error:
            fail("unavailable", f"cannot reach {args.url}: {error}", EXIT_TRANSPORT)
    print_visits(response)


if __name__ == "__main__":
    main()
