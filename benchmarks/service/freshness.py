"""Ingest -> changed prediction: for N users, ingest one check-in and time until a prediction differs.

  freshness.py URL USERS N      prints freshness_p50_ms, freshness_p99_ms, changed_fraction
"""
import random
import sys
import time

import requests

from geopredict.v1 import geopredict_pb2

PATH = "/geopredict.v1.GeoPredictService/"


def post(session, url, method, message, reply_type):
    response = session.post(url + PATH + method, data=message.SerializeToString(),
                            headers={"Content-Type": "application/proto"}, timeout=60)
    response.raise_for_status()
    return reply_type.FromString(response.content)


def main():
    url, users, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    generator = random.Random(11)
    session = requests.Session()
    latencies, changed = [], 0
    for _ in range(count):
        user = f"u{generator.randint(1, users):07d}"
        request = geopredict_pb2.PredictNextVisitsRequest(user_id=user, limit=10)
        before = post(session, url, "PredictNextVisits", request, geopredict_pb2.PredictNextVisitsResponse)
        listed = {visit.store_id for visit in before.visits}
        store = next(f"s{index:06d}" for index in generator.sample(range(1, 201), 50) if f"s{index:06d}" not in listed)
        event = geopredict_pb2.LocationEvent(user_id=user, timestamp_unix_seconds=int(time.time()) - 60,
                                             latitude=40.73, longitude=-73.99, store_id=store)
        started = time.perf_counter()
        post(session, url, "IngestEvents", geopredict_pb2.IngestEventsRequest(events=[event]),
             geopredict_pb2.IngestEventsResponse)
        after = post(session, url, "PredictNextVisits", request, geopredict_pb2.PredictNextVisitsResponse)
        latencies.append((time.perf_counter() - started) * 1000)
        if [(v.store_id, v.score) for v in after.visits] != [(v.store_id, v.score) for v in before.visits]:
            changed += 1
    latencies.sort()
    print(f"freshness_p50_ms: {latencies[len(latencies) // 2]:.2f}")
    print(f"freshness_p99_ms: {latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]:.2f}")
    print(f"changed_fraction: {changed / count:.3f}")


if __name__ == "__main__":
    main()
