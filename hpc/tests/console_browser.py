"""The console at / in a real browser: Debian's Chromium, driven by Selenium through Debian's
chromedriver, against a live `geopredict serve` at 2 ranks with a bearer token.

Checks that the page and its files load without a token and with a Content-Security-Policy that
allows nothing from elsewhere (and that the browser reports no CSP violation or script error), that
calls without the token are refused in the page, that with the token the cluster panel shows what
GetClusterStatus answers (ranks, hosts, memory, rounds, rates, latency percentiles, batch sizes, front
doors; fetched independently just before and after the page's own call) and refreshes by itself, that
the training panel shows GetTrainingStatus and its Train button starts a run the panel follows to the
end (the loss of every ALS iteration drawn as the API reports it), that a prediction is listed and
drawn exactly as the API answers it, that a bad request shows its Connect error with the field
violation decoded from the error detail (and the field's input marked), and that an event ingested
from the page is stored.

Then a page served from another origin (hpc/tests/cross_origin, by a plain HTTP server) calls every
method of the job the way connect-web does (cross_origin_browser.py), and connect-python's GET and
gzip support is checked on the wire (connect_python_web.py).

Last, the browser over HTTP/2 (h2_browser.py): a job of its own served over TLS (a self-signed
certificate), the console loaded at https:// and Chromium's Resource Timing showing that the page, a
prediction from its form, a POST, a Connect GET and a gzip answer all went over h2, each answer the one
curl gets over HTTP/1.1.

Saves screenshots (--screenshots DIR; the README's comes from here).

Prints one line per check and a summary; exits non-zero on any failure.
"""
import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import time

import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from connect_python_web import check_connect_python
from cross_origin_browser import OriginServer, test_cross_origin
from h2_browser import test_h2_browser
from live_checks import Checks, ServedJob
from mpiplug.v1 import error_details_pb2

SERVICE = "/geopredict.v1.GeoPredictService/"
CLUSTER = "/mpiplug.v1.ClusterService/"
TOKEN = "console-test-token"


class Job(ServedJob):
    """`geopredict serve --port P --auth-token-file F --cors-origin ORIGIN` of a small synthetic city,
    with TOKEN."""

    def __init__(self, binary, ranks, port, state, log_path, cors_origin, timeout=600):
        token_file = os.path.join(state, "token")
        with open(token_file, "w") as handle:
            handle.write(TOKEN + "\n")
        super().__init__(binary, ranks, ["--port", str(port), "--state", os.path.join(state, "job"), "--users", "300",
                                         "--store-count", "40", "--auth-token-file", token_file,
                                         "--cors-origin", cors_origin], log_path, timeout)


def api(url, method, message, service=SERVICE):
    return requests.post(url + service + method, data=json.dumps(message), timeout=30,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})


def cluster_status(url):
    return api(url, "GetClusterStatus", {}, service=CLUSTER).json()


def training_status(url):
    return api(url, "GetTrainingStatus", {}).json()


def browser(profile, *extra):
    """Headless Chromium through /usr/bin/chromedriver (Selenium's manager would try to download a
    driver, and nothing outside the machine is reachable); --no-sandbox because tests run as root.
    `extra`: more Chromium arguments."""
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1000,1000", f"--user-data-dir={profile}", "--no-first-run", *extra):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                            options=options)


def set_field(driver, element_id, value):
    element = driver.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(value)


def visible(driver, element_id):
    return driver.find_element(By.ID, element_id).is_displayed()


def test_files_without_token(checks, url):
    page = requests.get(url + "/", timeout=10)
    policy = page.headers.get("Content-Security-Policy", "")
    checks.check(page.status_code == 200 and page.headers.get("Content-Type", "").startswith("text/html")
                 and "GeoPredict console" in page.text,
                 "GET / answers the console page without a token", (page.status_code, page.headers))
    checks.check("default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
                 and "frame-ancestors 'none'" in policy,
                 "the page's Content-Security-Policy allows only this origin's script, style and calls", policy)
    checks.check(page.headers.get("X-Content-Type-Options") == "nosniff", "the page is sent with nosniff", page.headers)
    script = requests.get(url + "/console.js", timeout=10)
    checks.check(script.status_code == 200 and "javascript" in script.headers.get("Content-Type", ""),
                 "GET /console.js answers the script without a token", script.headers)
    posted = requests.post(url + "/", data=b"x", timeout=10)
    checks.check(posted.status_code == 405 and posted.headers.get("Allow") == "GET, HEAD",
                 "POST / is 405 naming GET, HEAD", (posted.status_code, posted.headers))
    unauthorized = requests.post(url + SERVICE + "GetUser", data='{"userId":"u0000001"}', timeout=10,
                                 headers={"Content-Type": "application/json"})
    checks.check(unauthorized.status_code == 401, "the API itself still needs the token", unauthorized.status_code)


def test_bad_request_detail_from_api(checks, url):
    """The error detail decoded by protobuf's Python runtime, independently of the page's decoder."""
    response = api(url, "PredictNextVisits", {"userId": "u0000001", "limit": 500})
    details = response.json().get("details", []) if response.status_code == 400 else []
    violations = []
    for detail in details:
        if detail.get("type") == "mpiplug.v1.BadRequest":
            value = detail["value"]
            message = error_details_pb2.BadRequest.FromString(base64.b64decode(value + "=" * (-len(value) % 4)))
            violations += [(v.field, v.description) for v in message.field_violations]
    checks.check([field for field, _ in violations] == ["limit"] and "100" in violations[0][1],
                 "the API's invalid_argument carries a mpiplug.v1.BadRequest detail naming limit", response.text)


# Every figure of a panel as the page shows it: its API field (data-field) and value (data-value).
READ_PANEL = """
const read = (root) => Object.fromEntries([...root.querySelectorAll("[data-field]")].map((e) => [e.dataset.field, e.dataset.value]));
return {
  ranks: [...document.querySelectorAll("#cluster-ranks tbody tr")].map(read),
  figures: read(document.getElementById("cluster-figures")),
  histogram: read(document.getElementById("batch-histogram")),
  updates: Number(document.getElementById("cluster").dataset.updates || 0),
  rankCount: document.getElementById("cluster-summary").dataset.rankCount,
  training: read(document.getElementById("training-figures")),
  losses: [...document.querySelectorAll("#loss-chart circle.loss-point")].map((e) =>
    [e.dataset.model, Number(e.dataset.iteration), Number(e.dataset.loss)]),
};
"""


def number(value):
    return float(value or 0)


def between(value, before, after, slack=0.0):
    """Whether `value` lies between two readings taken around it (either order), give or take `slack`
    (a fraction)."""
    low, high = sorted((number(before), number(after)))
    return low * (1 - slack) <= number(value) <= high * (1 + slack)


def cluster_snapshot(driver, url, wait):
    """The cluster panel's figures, bracketed by GetClusterStatus called just before and just after the
    page's own call: the live refresh is paused, one refresh is made, and the panel read."""
    live = driver.find_element(By.ID, "cluster-live")
    if live.is_selected():
        live.click()
        time.sleep(0.5)  # a refresh already on its way lands before the count is read
    updates = driver.execute_script(READ_PANEL)["updates"]
    before = cluster_status(url)
    live.click()  # ticking it refreshes at once
    wait.until(lambda d: d.execute_script(READ_PANEL)["updates"] > updates)
    live.click()
    shown = driver.execute_script(READ_PANEL)
    after = cluster_status(url)
    return before, shown, after


def cluster_problems(before, shown, after):
    """What of the panel disagrees with the API's two answers around it, by group (empty: nothing)."""
    problems = {"ranks": [], "memory": [], "work": [], "recent": [], "batches": []}
    if shown["rankCount"] != str(before["rankCount"]) or len(shown["ranks"]) != before["rankCount"]:
        problems["ranks"].append(("rank count", shown["rankCount"], len(shown["ranks"]), before["rankCount"]))
    for row, first, last in zip(shown["ranks"], before["ranks"], after["ranks"]):
        door = first.get("frontDoor", {})
        for field, expected in (("rank", first.get("rank", 0)), ("host", first["host"]), ("processId", first["processId"]),
                                ("frontDoor.port", door.get("port", ""))):
            if row.get(field) != str(expected):
                problems["ranks"].append((field, row.get(field), expected))
        if not between(row["peakResidentMemoryBytes"], first["peakResidentMemoryBytes"], last["peakResidentMemoryBytes"]):
            problems["memory"].append(("peak", row["peakResidentMemoryBytes"], first["peakResidentMemoryBytes"]))
        if not between(row["residentMemoryBytes"], first["residentMemoryBytes"], last["residentMemoryBytes"], 0.2):
            problems["memory"].append(("resident", row["residentMemoryBytes"], first["residentMemoryBytes"]))
        for field in ("roundsServed", "requestsHandled", "keyedRequests"):
            if not between(row[field], first.get(field), last.get(field)):
                problems["work"].append((first.get("rank", 0), field, row[field], first.get(field), last.get(field)))
    figures = shown["figures"]
    if not between(figures["roundsServed"], before.get("roundsServed"), after.get("roundsServed")):
        problems["work"].append(("roundsServed", figures["roundsServed"], before.get("roundsServed"), after.get("roundsServed")))
    recent_before, recent_after = before.get("recent", {}), after.get("recent", {})
    for field, slack in (("roundsPerSecond", 0.1), ("requestsPerSecond", 0.1)):
        if not between(figures["recent." + field], recent_before.get(field), recent_after.get(field), slack):
            problems["recent"].append((field, figures["recent." + field], recent_before.get(field), recent_after.get(field)))
    latency_before, latency_after = recent_before.get("requestLatency", {}), recent_after.get("requestLatency", {})
    for field in ("count", "p50Seconds", "p90Seconds", "p99Seconds", "maxSeconds"):
        if not between(figures["recent.requestLatency." + field], latency_before.get(field), latency_after.get(field)):
            problems["recent"].append((field, figures["recent.requestLatency." + field], latency_before.get(field), latency_after.get(field)))
    if not (0 < number(figures["recent.requestLatency.p50Seconds"]) <= number(figures["recent.requestLatency.p90Seconds"])
            <= number(figures["recent.requestLatency.p99Seconds"]) <= number(figures["recent.requestLatency.maxSeconds"])):
        problems["recent"].append(("percentiles out of order or zero", figures))
    batches_before, batches_after = before.get("batchSizes", {}), after.get("batchSizes", {})
    if not (between(figures["batchSizes.max"], batches_before.get("max"), batches_after.get("max"))
            and between(figures["batchSizes.mean"], batches_before.get("mean"), batches_after.get("mean"), 0.01)):
        problems["batches"].append((figures["batchSizes.max"], figures["batchSizes.mean"], batches_before))
    for index, count in enumerate(batches_before.get("histogram", [])):
        shown_count = shown["histogram"].get(f"batchSizes.histogram.{index}", "0")
        if not between(shown_count, count, batches_after.get("histogram", [])[index]):
            problems["batches"].append((index, shown_count, count))
    return problems


def test_cluster_panel(checks, driver, url, wait):
    # The figures move between calls: up to three tries for a reading that both API answers bracket.
    for _ in range(3):
        before, shown, after = cluster_snapshot(driver, url, wait)
        problems = cluster_problems(before, shown, after)
        if not any(problems.values()):
            break
    doors = [door.get("rank", 0) for door in before.get("frontDoors", [])]
    checks.check(not problems["ranks"] and len(shown["ranks"]) == 2 and doors == [0],
                 "the cluster panel shows both ranks with the API's hosts, process ids and front door (rank 0's)",
                 problems["ranks"])
    checks.check(not problems["memory"], "the cluster panel shows each rank's memory (resident and peak) as the API reports it",
                 problems["memory"])
    checks.check(not problems["work"], "the cluster panel's rounds and requests per rank and in all lie between two API answers around it",
                 problems["work"])
    checks.check(not problems["recent"] and number(shown["figures"]["recent.requestsPerSecond"]) > 0,
                 "the cluster panel's rounds/s, calls/s and latency p50 <= p90 <= p99 <= max are the API's (last minute)",
                 (problems["recent"], shown["figures"]))
    checks.check(not problems["batches"] and shown["histogram"],
                 "the cluster panel's batch sizes (mean, max, rounds by size) are the API's", (problems["batches"], shown["histogram"]))
    # Ticked again, it refreshes by itself every 2 s.
    driver.find_element(By.ID, "cluster-live").click()
    updates = driver.execute_script(READ_PANEL)["updates"]
    time.sleep(4.5)
    later = driver.execute_script(READ_PANEL)["updates"]
    checks.check(later >= updates + 2, "the cluster panel refreshes live (every 2 s)", (updates, later))


def test_training_panel(checks, driver, url, wait, screenshots):
    status = training_status(url)
    wait.until(lambda d: d.execute_script(READ_PANEL)["training"].get("servingModelVersion"))
    shown = driver.execute_script(READ_PANEL)["training"]
    checks.check(shown.get("state") == status["state"] == "STATE_IDLE"
                 and shown.get("servingModelVersion") == status["servingModelVersion"]
                 and shown.get("iteration") == str(status.get("iteration", "")),
                 "the training panel shows the API's state, serving version and stage", (shown, status))

    set_field(driver, "train-iterations", "30")
    driver.find_element(By.ID, "train-button").click()
    wait.until(lambda d: d.find_element(By.ID, "train-result").get_attribute("data-model-version"))
    version = driver.find_element(By.ID, "train-result").get_attribute("data-model-version")
    checks.check(version and training_status(url).get("runModelVersion") == version,
                 "Train from the page starts the run the API reports", (version, training_status(url)))
    # Follow the panel as it follows the run: running, then idle with the new model serving.
    seen, deadline = [], time.time() + 180
    while time.time() < deadline:
        training = driver.execute_script(READ_PANEL)["training"]
        if not seen or seen[-1] != training.get("state"):
            seen.append(training.get("state"))
        if training.get("state") == "STATE_IDLE" and training.get("servingModelVersion") == version:
            break
        time.sleep(0.1)
    checks.check("STATE_RUNNING" in seen and seen[-1] == "STATE_IDLE",
                 "the training panel shows the run going and then over, the new model serving", seen)
    status = training_status(url)
    shown = driver.execute_script(READ_PANEL)
    iterations = status.get("alsIterations", [])
    # Iterations of a model with no visits to train on have no loss (0, left out of JSON): not drawn.
    expected = [[entry.get("model"), entry.get("iteration", 0), entry["loss"]] for entry in iterations if entry.get("loss")]
    serving = [entry for entry in expected if entry[0] == "MODEL_SERVING"]
    checks.check(status.get("plannedAlsIterations") == 60 and len(iterations) == 60 and len(serving) == 30
                 and shown["losses"] == expected and shown["training"].get("alsIterations.length") == "60",
                 f"the loss chart draws the loss of the run's ALS iterations as the API reports them "
                 f"({len(expected)} of 60 have one: 2 models x 30)",
                 (shown["losses"][:3], expected[:3], len(shown["losses"]), len(expected)))
    if screenshots:
        driver.set_window_size(1200, driver.execute_script("return document.body.scrollHeight") + 40)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(os.path.join(screenshots, "console.png"))
        driver.set_window_size(1200, 1000)


def test_console(checks, url, screenshots):
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    driver = browser(profile)
    wait = WebDriverWait(driver, 20)
    try:
        driver.get(url + "/")
        wait.until(lambda d: "serving" in d.find_element(By.ID, "health").text)
        checks.check("2 ranks" in driver.find_element(By.ID, "health").text,
                     "the health badge shows a serving job of 2 ranks (/healthz needs no token)",
                     driver.find_element(By.ID, "health").text)

        # Without the token the page loads but its calls are refused.
        set_field(driver, "predict-user", "u0000001")
        set_field(driver, "predict-limit", "5")
        driver.find_element(By.ID, "predict-button").click()
        wait.until(lambda d: visible(d, "error"))
        checks.check("unauthenticated" in driver.find_element(By.ID, "error-code").text,
                     "a call without the token shows unauthenticated", driver.find_element(By.ID, "error").text)
        wait.until(lambda d: "bearer token" in d.find_element(By.ID, "cluster-status").text)
        checks.check("bearer token" in driver.find_element(By.ID, "training-status").text
                     and not visible(driver, "cluster"),
                     "without the token the cluster and training panels ask for it",
                     driver.find_element(By.ID, "training-status").text)

        # With the token (entered: the panels refresh at once) the cluster and training panels fill in.
        set_field(driver, "token", TOKEN)
        driver.find_element(By.ID, "predict-user").click()
        wait.until(lambda d: visible(d, "cluster") and visible(d, "training"))
        test_cluster_panel(checks, driver, url, wait)

        # The prediction the API gives for the same request, listed and drawn.
        driver.find_element(By.ID, "predict-button").click()
        wait.until(lambda d: visible(d, "prediction"))
        expected = [v["storeId"] for v in api(url, "PredictNextVisits", {"userId": "u0000001", "limit": 5}).json()["visits"]]
        listed = [e.get_attribute("data-store-id") for e in driver.find_elements(By.CSS_SELECTOR, "#prediction-list li")]
        drawn = [e.get_attribute("data-store-id") for e in driver.find_elements(By.CSS_SELECTOR, "#prediction-map circle.store")]
        checks.check(len(expected) == 5 and listed == expected, "the page lists the API's 5 predicted stores in order",
                     (listed, expected))
        checks.check(drawn == expected and "first" in driver.find_element(By.CSS_SELECTOR, "#prediction-map circle.store")
                     .get_attribute("class"), "the map draws each predicted store, the best one marked", drawn)
        checks.check(not visible(driver, "error"), "a successful call clears the error")
        curl = driver.find_element(By.ID, "curl").text
        checks.check(curl.startswith("curl ") and "PredictNextVisits" in curl and TOKEN not in curl,
                     "the call is shown as curl, with the token left out", curl)
        test_training_panel(checks, driver, url, wait, screenshots)

        # A bad request: the error detail's field violation, decoded by the page, names the input.
        set_field(driver, "predict-limit", "500")
        driver.find_element(By.ID, "predict-button").click()
        wait.until(lambda d: visible(d, "error"))
        code = driver.find_element(By.ID, "error-code").text
        violations = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#error-details li.field-violation")]
        checks.check("invalid_argument" in code and "400" in code, "a limit of 500 shows invalid_argument (HTTP 400)", code)
        checks.check(len(violations) == 1 and violations[0].startswith("limit: ") and "100" in violations[0],
                     "the page shows the field violation decoded from the error detail", violations)
        checks.check(driver.find_element(By.ID, "predict-limit").get_attribute("aria-invalid") == "true"
                     and driver.find_element(By.ID, "predict-user").get_attribute("aria-invalid") is None,
                     "the refused field's input alone is marked invalid")
        if screenshots:
            driver.save_screenshot(os.path.join(screenshots, "console-error.png"))

        # Ingest from the page: stored (GetUser sees it); a bad event is reported by field.
        user = f"console-{int(time.time())}"
        set_field(driver, "ingest-user", user)
        set_field(driver, "ingest-store", "s000001")
        driver.find_element(By.ID, "ingest-button").click()
        wait.until(lambda d: visible(d, "ingest-result"))
        result = driver.find_element(By.ID, "ingest-result").text
        stored = api(url, "GetUser", {"userId": user}).json()
        checks.check(result.startswith("accepted 1, rejected 0") and stored.get("eventCount") == "1",
                     "an event ingested from the page is stored", (result, stored))
        set_field(driver, "ingest-latitude", "100")
        driver.find_element(By.ID, "ingest-button").click()
        wait.until(lambda d: "rejected 1" in d.find_element(By.ID, "ingest-result").text)
        checks.check("latitude" in driver.find_element(By.ID, "ingest-result").text
                     and driver.find_element(By.ID, "ingest-latitude").get_attribute("aria-invalid") == "true",
                     "a bad event is reported by field and its input marked",
                     driver.find_element(By.ID, "ingest-result").text)

        # Expected: the refused calls' "Failed to load resource" lines. Not expected: CSP or script errors.
        problems = [entry["message"] for entry in driver.get_log("browser")
                    if "Content Security Policy" in entry["message"] or "Uncaught" in entry["message"]]
        checks.check(not problems, "the browser reports no CSP violation and no script error", problems)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-port", type=int, default=0, help="the port of the HTTPS job of the HTTP/2 part")
    parser.add_argument("--screenshots", help="folder for console.png, console-error.png and cross-origin.png")
    arguments = parser.parse_args()
    checks = Checks()
    started = time.time()
    state = tempfile.mkdtemp(prefix="console-browser-")
    screenshots = arguments.screenshots
    if screenshots:
        os.makedirs(screenshots, exist_ok=True)
    print("console in Chromium at 2 ranks")
    # Two plain HTTP servers of the same page on ports of their own: another origin the job allows
    # (--cors-origin), and one it does not.
    pages = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cross_origin")
    allowed, refused = OriginServer(pages), OriginServer(pages)
    job = None
    try:
        job = Job(arguments.binary, 2, arguments.port, state, os.path.join(state, "job.log"), allowed.origin)
        test_files_without_token(checks, job.url)
        test_bad_request_detail_from_api(checks, job.url)
        print("connect-python: GET and gzip")
        check_connect_python(checks, job.url, TOKEN)
        print("the console")
        test_console(checks, job.url, screenshots)
        print(f"every method from another origin ({allowed.origin}; refused from {refused.origin})")
        test_cross_origin(checks, browser, job.url, TOKEN, allowed, refused, screenshots)
        job.stop()
        job = None
        print("the console over HTTP/2 (h2 by ALPN, a job of its own with TLS)")
        test_h2_browser(checks, browser, arguments.binary, state, arguments.tls_port)
    except Exception as error:  # a Selenium timeout or a crash is a failed check, with the job's log
        checks.check(False, "the browser test ran to the end", repr(error))
    finally:
        if job:
            job.stop()
        allowed.stop()
        refused.stop()
        if checks.failed:
            for log in ("job.log", "tls-job.log"):
                if os.path.exists(os.path.join(state, log)):
                    print(f"--- {log}\n" + open(os.path.join(state, log)).read()[-3000:])
        shutil.rmtree(state, ignore_errors=True)
    print(f"console-browser: passed={checks.passed} failed={checks.failed} ({time.time() - started:.0f} s)")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
