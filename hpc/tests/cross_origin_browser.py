"""Every method of a live job called from a page on another origin, in Chromium, the way connect-web
calls (the page is hpc/tests/cross_origin; what it sends is described in its calls.js): JSON and
binary bodies, gzip request bodies, GET for the NO_SIDE_EFFECTS methods (JSON, base64 binary,
compressed), CORS preflights, gzip answers, errors readable across the origin. Each answer the page
got is compared with the API's own, fetched here with requests. The same page served from an origin
the job does not allow must get nothing through. Called by console_browser.py against its job.
"""
import functools
import http.server
import json
import os
import shutil
import tempfile
import threading

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

GEO = "/geopredict.v1.GeoPredictService/"
CLUSTER = "/mpiplug.v1.ClusterService/"
DIAGNOSTICS = "/mpiplug.v1.DiagnosticsService/"


class OriginServer:
    """A plain HTTP server of `directory` on 127.0.0.1 and a port the system picks: an origin of its own."""

    def __init__(self, directory):
        handler = functools.partial(_QuietHandler, directory=directory)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *arguments):
        pass


def api(url, token, path, message):
    return requests.post(url + path, data=json.dumps(message), timeout=30,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}).json()


def run_page(driver, origin, url, token, timeout=240):
    """Loads the page from `origin`, runs every call against `url` and returns its results."""
    driver.get(origin + "/index.html")
    for element_id, value in (("service-url", url), ("token", token)):
        element = driver.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "run").click()
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.body.dataset.done === '1'"))
    return json.loads(driver.execute_script("return JSON.stringify(window.crossOriginResults)"))


def preflights(driver, url):
    """The CORS preflights Chromium sent to the job and their statuses, from its performance log:
    {path: [status, ...]}."""
    sent, statuses = {}, {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            request = params.get("request", {})
            if request.get("method") == "OPTIONS" and request.get("url", "").startswith(url):
                sent[params["requestId"]] = request["url"][len(url):].split("?")[0]
        elif message.get("method") == "Network.responseReceived":
            statuses[params.get("requestId")] = params.get("response", {}).get("status")
    found = {}
    for request_id, path in sent.items():
        found.setdefault(path, []).append(statuses.get(request_id))
    return found


def cases_of(results, method):
    return [case for case in results["cases"] if case["method"] == method.lstrip("/")]


def test_cross_origin(checks, make_driver, url, token, allowed, refused, screenshots):
    routes = api(url, token, CLUSTER + "GetClusterStatus", {})["routes"]
    predict5 = [v["storeId"] for v in api(url, token, GEO + "PredictNextVisits", {"userId": "u0000001", "limit": 5})["visits"]]
    predict100 = [v["storeId"] for v in api(url, token, GEO + "PredictNextVisits", {"userId": "u0000001", "limit": 100})["visits"]]
    echo = api(url, token, DIAGNOSTICS + "Echo", {"message": "from " + allowed.origin, "value": "7"})
    profile = tempfile.mkdtemp(prefix="cross-origin-chromium-")
    driver = make_driver(profile)
    try:
        results = run_page(driver, allowed.origin, url, token)
        if screenshots:
            driver.set_window_size(1200, driver.execute_script("return document.body.scrollHeight") + 40)
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(os.path.join(screenshots, "cross-origin.png"))
        seen_preflights = preflights(driver, url)
        failed = [(case["method"], case["how"], case.get("status"), case.get("failure"), case.get("values"))
                  for case in results["cases"] if not case["ok"]]
        checks.check(results["origin"] == allowed.origin and not results.get("failure") and not failed and len(results["cases"]) == 23,
                     f"from {allowed.origin}, all {len(results['cases'])} calls got the answer they should", failed or results.get("failure"))
        checks.check(sorted(results["routes"]) == sorted(routes) and not results["missing"] and len(routes) == 7,
                     f"the page called every one of the job's {len(routes)} routes (GetClusterStatus lists them)", results["missing"])

        def values(method):
            return [case.get("values") for case in cases_of(results, method) if case["ok"]]

        cluster = values(CLUSTER + "GetClusterStatus")
        checks.check(len(cluster) == 2 and all(v["rankCount"] == 2 and sorted(v["routes"]) == sorted(routes) for v in cluster),
                     "GetClusterStatus, JSON and binary: 2 ranks and the API's routes", cluster)
        echoes = values(DIAGNOSTICS + "Echo")
        checks.check(len(echoes) == 2 and all(v["checksum"] == int(echo["checksum"]) == 15 and v["rankCount"] == 2 for v in echoes),
                     "Echo, JSON and binary with a gzip request body: checksum 15 from both ranks, as the API", echoes)

        predictions = cases_of(results, GEO + "PredictNextVisits")
        large = [c for c in predictions if "limit 100" in c["how"]]
        small = [c for c in predictions if c["ok"] and c.get("status") == 200 and "limit 100" not in c["how"]]
        checks.check(len(large) == 1 and large[0]["ok"] and large[0]["contentEncoding"] == "gzip"
                     and large[0]["values"]["storeIds"] == predict100 and len(predict100) > 20,
                     f"PredictNextVisits: a {len(predict100)}-store answer comes gzip-compressed (Content-Encoding readable) "
                     "and the browser decodes it to the API's stores", large)
        checks.check(len(small) == 3 and all(c["values"]["storeIds"] == predict5 for c in small)
                     and all("no-store" in c["cacheControl"] for c in small if c["how"].startswith("GET")),
                     "PredictNextVisits by POST proto, GET json and GET proto: the API's 5 stores; GET answers no-store",
                     [(c["how"], c["values"]) for c in small])
        refused_limit = [c for c in predictions if "limit 500" in c["how"]]
        checks.check(len(refused_limit) == 1 and refused_limit[0]["values"]["code"] == "invalid_argument"
                     and refused_limit[0]["values"]["fields"] == ["limit"],
                     "a refused call's Connect error and its BadRequest detail are readable across the origin", refused_limit)

        users = cases_of(results, GEO + "GetUser")
        stored = api(url, token, GEO + "GetUser", {"userId": results.get("user", "")})
        ingests = values(GEO + "IngestEvents")
        checks.check(len(ingests) == 2 and all(v["accepted"] == 1 for v in ingests) and stored.get("eventCount") == "2",
                     "IngestEvents, JSON and binary with a gzip body: both events stored (the API's GetUser counts 2)",
                     (ingests, stored))
        reads = [c for c in users if c["ok"] and c.get("status") == 200]
        checks.check(len(reads) == 5 and all(c["values"]["eventCount"] == 2 and c["values"]["visitCount"] == int(stored.get("visitCount", -1))
                                             for c in reads),
                     "GetUser by POST json/proto and GET json/proto/gzip-compressed proto: the API's counts",
                     [(c["how"], c["values"]) for c in reads])
        unauthorized = [c for c in users if c.get("status") == 401]
        not_found = [c for c in users if c.get("status") == 404]
        checks.check(len(unauthorized) == 1 and unauthorized[0]["values"]["code"] == "unauthenticated"
                     and unauthorized[0]["values"]["wwwAuthenticate"].startswith("Bearer")
                     and len(not_found) == 1 and not_found[0]["values"]["code"] == "not_found",
                     "errors across the origin: 401 with WWW-Authenticate: Bearer readable, 404 not_found", (unauthorized, not_found))

        train = values(GEO + "Train")
        status = api(url, token, GEO + "GetTrainingStatus", {})
        trainings = values(GEO + "GetTrainingStatus")
        checks.check(len(train) == 1 and train[0]["modelVersion"] == status["servingModelVersion"]
                     and len(trainings) == 3 and trainings[-1]["servingModelVersion"] == status["servingModelVersion"]
                     and trainings[-1]["state"] == "STATE_IDLE",
                     "Train from the page runs to the end: GetTrainingStatus by GET (JSON, binary) and POST follows it to the "
                     "new model, as the API reports", (train, trainings, status.get("servingModelVersion")))

        header_refused = [c for c in results["cases"] if c["method"] == "preflight"]
        checks.check(len(header_refused) == 1 and header_refused[0]["ok"],
                     "a call with a header the job does not allow is stopped by the browser's preflight", header_refused)
        answered = {path: statuses for path, statuses in seen_preflights.items() if set(statuses) == {204}}
        checks.check(len(answered) >= 7 and all(route in answered for route in routes),
                     f"Chromium sent CORS preflights (OPTIONS) for every route, each answered 204 ({sum(map(len, seen_preflights.values()))} seen)",
                     seen_preflights)

        # The same page from an origin the job does not name: the browser lets nothing through.
        blocked = run_page(driver, refused.origin, url, token, timeout=120)
        through = [(c["method"], c["how"], c.get("status")) for c in blocked["cases"]
                   if "Failed to fetch" not in (c.get("failure") or "")]
        never_stored = requests.post(url + GEO + "GetUser", timeout=30, data=json.dumps({"userId": blocked.get("user", "")}),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        checks.check(len(blocked["cases"]) >= 10 and not through and never_stored.status_code == 404,
                     f"from {refused.origin} (not allowed) every call fails in the browser and its events never reach the job",
                     (through, never_stored.status_code))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

