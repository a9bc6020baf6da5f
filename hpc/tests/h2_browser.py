"""The browser over HTTP/2. Browsers speak HTTP/2 only over TLS, so this starts a job of its own with
a self-signed certificate made here (openssl, as http2_live.py does), opens the console at
https://127.0.0.1:PORT/ in Chromium (--ignore-certificate-errors) and checks, in the browser, from
the Resource Timing entries' nextHopProtocol, that the page and its calls went over h2:
- the page itself (the navigation entry);
- a prediction run from the console's form: the listed stores are those of the same call made with
  curl over HTTP/1.1;
- a POST `fetch` of PredictNextVisits, a Connect GET of GetUser (`?message=...&encoding=json`) and a
  gzip-compressed answer (PredictNextVisits, limit 40: Content-Encoding gzip, fewer bytes on the wire
  than decoded), each answer as the page decoded it the one curl gets over HTTP/1.1 (uncompressed):
  GetUser's byte for byte; a prediction's scores and next-trip window move with the clock, so those
  within 1e-3 and 60 s, the rest exactly.
Called by console_browser.py, which passes its way of starting Chromium.
"""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from live_checks import ServedJob

SERVICE = "/geopredict.v1.GeoPredictService/"
USER = "u0000001"

# Runs in the page: one fetch, then its Resource Timing entry (the timings of a call are recorded
# once its body has been read; they are polled for a moment in case they land a little later).
FETCH = """
const [path, init] = arguments;
const done = arguments[arguments.length - 1];
(async () => {
  performance.clearResourceTimings();
  const response = await fetch(path, init);
  const body = await response.text();
  const url = new URL(path, location.href).href;
  let entry;
  for (let tries = 0; tries < 40 && !entry; tries++) {
    entry = performance.getEntriesByType("resource").find((e) => e.name === url);
    if (!entry) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { status: response.status, body, contentEncoding: response.headers.get("content-encoding"),
           protocol: entry ? entry.nextHopProtocol : null,
           encodedBodySize: entry ? entry.encodedBodySize : null, decodedBodySize: entry ? entry.decodedBodySize : null };
})().then(done, (failure) => done({ failure: String(failure) }));
"""


class TLSJob(ServedJob):
    """`geopredict serve --tls-cert C --tls-key K` of a small synthetic city, without a token."""

    def __init__(self, binary, port, state, cert, key):
        super().__init__(binary, 2, ["--port", str(port), "--state", os.path.join(state, "tls-job"), "--users", "300",
                                     "--store-count", "40", "--tls-cert", cert, "--tls-key", key],
                         os.path.join(state, "tls-job.log"), 600)


def certificate(directory):
    """A self-signed certificate for 127.0.0.1 (and its key), valid for a day."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


def curl_http1(cert, url, *arguments):
    """(HTTP version, status, body) of one curl call over HTTP/1.1, uncompressed (curl asks for no
    encoding unless told)."""
    with tempfile.NamedTemporaryFile() as body:
        result = subprocess.run(["curl", "-sS", "--http1.1", "--cacert", cert, "--max-time", "30", "-o", body.name,
                                 "-w", "%{http_version} %{http_code}", *arguments, url], capture_output=True, text=True)
        version, _, status = result.stdout.partition(" ")
        return version, status, open(body.name, "rb").read().decode()


def post_json(cert, url, method, message):
    return curl_http1(cert, url + SERVICE + method, "-H", "Content-Type: application/json", "-d", json.dumps(message))


def prediction_differences(page_body, curl_body):
    """How a prediction the page got differs from curl's (empty: none). Scores and the next-trip
    window move with the clock (recency), so those two may differ a little between two calls; all the
    rest (stores in order, positions, categories, model, probability) must be the same."""
    try:
        page, reference = json.loads(page_body), json.loads(curl_body)
    except (TypeError, ValueError) as error:
        return [f"not JSON: {error}"]
    differences = []
    page_visits, reference_visits = page.pop("visits", []), reference.pop("visits", [])
    if len(page_visits) != len(reference_visits):
        differences.append(("visit count", len(page_visits), len(reference_visits)))
    for index, (shown, expected) in enumerate(zip(page_visits, reference_visits)):
        if abs(shown.pop("score", 0) - expected.pop("score", 0)) > 1e-3 or shown != expected:
            differences.append((index, shown, expected))
    page_trip, reference_trip = page.pop("nextTrip", {}), reference.pop("nextTrip", {})
    for field in ("earliestUnixSeconds", "latestUnixSeconds"):
        if abs(int(page_trip.pop(field, 0)) - int(reference_trip.pop(field, 0))) > 60:
            differences.append(("nextTrip." + field,))
    if page_trip != reference_trip or page != reference:
        differences.append((page_trip, reference_trip, page, reference))
    return differences


def page_fetch(driver, path, init):
    return driver.execute_async_script(FETCH, path, init)


def post_init(message):
    return {"method": "POST", "body": json.dumps(message),
            "headers": {"Content-Type": "application/json", "Connect-Protocol-Version": "1"}}


def summary(answer):
    """What a failed check shows of a page's call: everything but most of the body."""
    return {key: (value[:200] if key == "body" and isinstance(value, str) else value) for key, value in answer.items()}


def test_console_over_h2(checks, driver, url, cert):
    wait = WebDriverWait(driver, 30)
    driver.set_script_timeout(30)
    driver.get(url + "/")
    wait.until(lambda d: "serving" in d.find_element(By.ID, "health").text)
    navigation = driver.execute_script(
        "const [n] = performance.getEntriesByType('navigation'); return n ? n.nextHopProtocol : null")
    checks.check(navigation == "h2", f"the console page at {url}/ came over h2 (navigation nextHopProtocol)", navigation)

    # A prediction from the console's own form.
    expected = post_json(cert, url, "PredictNextVisits", {"userId": USER, "limit": 5})
    stores = [visit["storeId"] for visit in json.loads(expected[2] or "{}").get("visits", [])]
    driver.execute_script("performance.clearResourceTimings()")
    for element_id, value in (("predict-user", USER), ("predict-limit", "5")):
        element = driver.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "predict-button").click()
    wait.until(lambda d: d.find_element(By.ID, "prediction").is_displayed()
               or d.find_element(By.ID, "error").is_displayed())
    listed = [e.get_attribute("data-store-id") for e in driver.find_elements(By.CSS_SELECTOR, "#prediction-list li")]
    protocols = driver.execute_script(
        "return performance.getEntriesByType('resource').filter((e) => e.name.endsWith(arguments[0])).map((e) => e.nextHopProtocol)",
        SERVICE + "PredictNextVisits")
    checks.check(expected[:2] == ("1.1", "200") and len(stores) == 5 and listed == stores and protocols == ["h2"],
                 "a prediction run from the console's form went over h2 and lists the stores curl gets over HTTP/1.1",
                 (listed, stores, protocols, expected[:2]))

    # The same call by fetch.
    answer = page_fetch(driver, SERVICE + "PredictNextVisits", post_init({"userId": USER, "limit": 5}))
    differences = prediction_differences(answer.get("body"), expected[2])
    checks.check(answer.get("status") == 200 and answer.get("protocol") == "h2" and not differences,
                 "POST PredictNextVisits by fetch over h2: curl's answer over HTTP/1.1 (scores and trip window "
                 "within 1e-3 and 60 s: they move with the clock)", (summary(answer), differences))

    # Connect's GET of a NO_SIDE_EFFECTS method.
    query = "?" + urllib.parse.urlencode({"message": json.dumps({"userId": USER}, separators=(",", ":")), "encoding": "json",
                                          "connect": "v1"}, quote_via=urllib.parse.quote)
    path = SERVICE + "GetUser" + query
    expected = curl_http1(cert, url + path)
    answer = page_fetch(driver, path, {"method": "GET"})
    checks.check(expected[:2] == ("1.1", "200") and answer.get("status") == 200 and answer.get("protocol") == "h2"
                 and answer.get("body") == expected[2] and json.loads(expected[2]).get("userId") == USER,
                 "GET GetUser?message=...&encoding=json by fetch over h2: the body is curl's GET over HTTP/1.1",
                 (summary(answer), expected))

    # A gzip answer: the browser asks for it by itself (Accept-Encoding) and decodes it.
    expected = post_json(cert, url, "PredictNextVisits", {"userId": USER, "limit": 40})
    answer = page_fetch(driver, SERVICE + "PredictNextVisits", post_init({"userId": USER, "limit": 40}))
    encoded, decoded = answer.get("encodedBodySize") or 0, answer.get("decodedBodySize") or 0
    visits = len(json.loads(expected[2] or "{}").get("visits", []))
    differences = prediction_differences(answer.get("body"), expected[2])
    checks.check(expected[:2] == ("1.1", "200") and answer.get("status") == 200 and answer.get("protocol") == "h2"
                 and answer.get("contentEncoding") == "gzip" and 0 < encoded < decoded == len((answer.get("body") or "").encode())
                 and not differences and visits > 20,
                 f"a {visits}-store PredictNextVisits over h2 comes gzip-compressed ({encoded} bytes on the wire, "
                 f"{decoded} decoded) and decodes to curl's uncompressed answer over HTTP/1.1",
                 (summary(answer), differences))

    problems = [entry["message"] for entry in driver.get_log("browser") if "Uncaught" in entry["message"]]
    checks.check(not problems, "the console over h2: no script error", problems)


def test_h2_browser(checks, make_driver, binary, state, port=0):
    """Starts the TLS job, runs the checks in a Chromium of its own and stops the job."""
    cert, key = certificate(state)
    job = TLSJob(binary, port, state, cert, key)
    profile = tempfile.mkdtemp(prefix="h2-chromium-")
    driver = None
    try:
        checks.check(job.url.startswith("https://"), "the TLS job serves https", job.url)
        driver = make_driver(profile, "--ignore-certificate-errors")
        test_console_over_h2(checks, driver, job.url, cert)
    finally:
        if driver:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        job.stop()
