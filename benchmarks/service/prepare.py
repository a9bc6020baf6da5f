"""Writes the request bodies for wrk and the Flask peer's precomputed answers.

  prepare.py URL USERS SAMPLE OUT_DIR
    predict.bodies   SAMPLE PredictNextVisitsRequest bodies for random users of u0000001..uUSERS
    answers.bin      GeoPredict's answers for those users (the peer serves them precomputed)
    ingest-1.bodies, ingest-100.bodies   IngestEventsRequest bodies with 1 and 100 check-ins
"""
import random
import sys
import time

import requests

from geopredict.v1 import geopredict_pb2

PATH = "/geopredict.v1.GeoPredictService/"


def framed(payload):
    return len(payload).to_bytes(4, "big") + payload


def main():
    url, users, sample, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    generator = random.Random(7)
    ids = [f"u{generator.randint(1, users):07d}" for _ in range(sample)]
    session = requests.Session()
    with open(f"{out}/predict.bodies", "wb") as bodies, open(f"{out}/answers.bin", "wb") as answers:
        for user in ids:
            body = geopredict_pb2.PredictNextVisitsRequest(user_id=user, limit=10).SerializeToString()
            bodies.write(framed(body))
            response = session.post(url + PATH + "PredictNextVisits", data=body,
                                    headers={"Content-Type": "application/proto"}, timeout=60)
            response.raise_for_status()
            answers.write(framed(user.encode()) + framed(response.content))
    stores = [f"s{index:06d}" for index in range(1, 201)]
    now = int(time.time())
    for size in (1, 100):
        with open(f"{out}/ingest-{size}.bodies", "wb") as bodies:
            for request in range(2_000):
                events = [geopredict_pb2.LocationEvent(
                    user_id=f"u{generator.randint(1, users):07d}", timestamp_unix_seconds=now - 3_600 + request,
                    latitude=40.73, longitude=-73.99, store_id=generator.choice(stores)) for _ in range(size)]
                bodies.write(framed(geopredict_pb2.IngestEventsRequest(events=events).SerializeToString()))


if __name__ == "__main__":
    main()
