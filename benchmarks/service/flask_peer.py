"""The peer the service issue compares against: precomputed top-10 lists served by Flask on CherryPy.

Loads `user_id -> serialized PredictNextVisitsResponse` (length-prefixed records written by
prepare.py from GeoPredict's own answers) and answers `POST /geopredict.v1.GeoPredictService/
PredictNextVisits` by looking the user up: no model work at all, the best case for that stack.
"""
import sys

import cherrypy
from flask import Flask, Response, request

from geopredict.v1 import geopredict_pb2


def load(path):
    answers = {}
    with open(path, "rb") as file:
        data = file.read()
    position = 0
    while position < len(data):
        key_length = int.from_bytes(data[position:position + 4], "big")
        key = data[position + 4:position + 4 + key_length].decode()
        position += 4 + key_length
        length = int.from_bytes(data[position:position + 4], "big")
        answers[key] = data[position + 4:position + 4 + length]
        position += 4 + length
    return answers


def make_app(answers):
    app = Flask(__name__)

    @app.post("/geopredict.v1.GeoPredictService/PredictNextVisits")
    def predict():
        message = geopredict_pb2.PredictNextVisitsRequest.FromString(request.get_data())
        answer = answers.get(message.user_id)
        if answer is None:
            return Response('{"code":"not_found","message":"unknown user"}', status=404, mimetype="application/json")
        return Response(answer, mimetype="application/proto")

    return app


def main():
    answers_path, port = sys.argv[1], int(sys.argv[2])
    cherrypy.tree.graft(make_app(load(answers_path)), "/")
    cherrypy.config.update({"server.socket_host": "127.0.0.1", "server.socket_port": port,
                            "server.thread_pool": 32, "engine.autoreload.on": False, "log.screen": False,
                            "environment": "production"})
    cherrypy.engine.start()
    cherrypy.engine.block()


if __name__ == "__main__":
    main()
