"""A Connect unary call with plain `requests`: no Connect library, just the protocol.

POST {url}/{package}.{Service}/{Method}, Content-Type application/proto (binary protobuf) or
application/json (proto3 JSON), header Connect-Protocol-Version: 1. A 200 carries the response
message; any other status carries a JSON error {"code": "...", "message": "..."}.
"""
import requests

from geopredict_gen import CODE_FOR_HTTP_STATUS, EXIT_TRANSPORT, fail

SERVICE = "geopredict.v1.GeoPredictService"
TIMEOUT_SECONDS = 30


def call(url, method, body, content_type):
    """POSTs BODY to METHOD of the GeoPredict service; returns the 200 answer's body (bytes), or exits
    with `error: CODE: MESSAGE` for a Connect error and a clear message when the service is unreachable."""
    endpoint = f"{url.rstrip('/')}/{SERVICE}/{method}"
    headers = {"Content-Type": content_type, "Connect-Protocol-Version": "1"}
    try:
        response = requests.post(endpoint, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        fail("unavailable", f"cannot reach {endpoint}: {error}", EXIT_TRANSPORT)
    if response.status_code == 200:
        answer_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if answer_type != content_type:
            fail("internal", f"expected an {content_type} answer, got {answer_type or 'none'}", EXIT_TRANSPORT)
        return response.content
    try:
        error = response.json()
        code, message = error["code"], error.get("message", "")
        if not isinstance(code, str) or not isinstance(message, str) or not code:
            raise ValueError("not a Connect error")
    except (ValueError, KeyError, TypeError):
        code = CODE_FOR_HTTP_STATUS.get(response.status_code, "unknown")
        message = f"HTTP {response.status_code} with no Connect error body"
    fail(code, message)
