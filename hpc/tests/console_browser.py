"""The console at / in a real browser: Debian's Chromium, driven by Selenium through Debian's
chromedriver, against a live `geopredict serve` at 2 ranks with a bearer token.

Checks that the page and its files load without a token and with a Content-Security-Policy that
allows nothing from elsewhere (and that the browser reports no CSP violation or script error), that
calls without the token are refused in the page, that with the token a prediction is listed and drawn
exactly as the API answers it, that a bad request shows its Connect error with the field violation
decoded from the error detail (and the field's input marked), and that an event ingested from the
page is stored. Saves screenshots (--screenshots DIR; the README's comes from here).

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

from live_checks import Checks, ServedJob
from mpiplug.v1 import error_details_pb2

SERVICE = "/geopredict.v1.GeoPredictService/"
TOKEN = "console-test-token"


class Job(ServedJob):
    """`geopredict serve --port P --auth-token-file F` of a small synthetic city, with TOKEN."""

    def __init__(self, binary, ranks, port, state, log_path, timeout=600):
        token_file = os.path.join(state, "token")
        with open(token_file, "w") as handle:
            handle.write(TOKEN + "\n")
        super().__init__(binary, ranks, ["--port", str(port), "--state", os.path.join(state, "job"), "--users", "300",
                                         "--store-count", "40", "--auth-token-file", token_file], log_path, timeout)


def api(url, method, message):
    return requests.post(url + SERVICE + method, data=json.dumps(message), timeout=30,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})


def browser(profile):
    """Headless Chromium through /usr/bin/chromedriver (Selenium's manager would try to download a
    driver, and nothing outside the machine is reachable); --no-sandbox because tests run as root."""
    options = Options()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1000,1000", f"--user-data-dir={profile}", "--no-first-run"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
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

        # With the token: the prediction the API gives for the same request, listed and drawn.
        set_field(driver, "token", TOKEN)
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
        if screenshots:
            driver.save_screenshot(os.path.join(screenshots, "console.png"))

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
    parser.add_argument("--screenshots", help="folder for console.png and console-error.png")
    arguments = parser.parse_args()
    checks = Checks()
    started = time.time()
    state = tempfile.mkdtemp(prefix="console-browser-")
    screenshots = arguments.screenshots
    if screenshots:
        os.makedirs(screenshots, exist_ok=True)
    print("console in Chromium at 2 ranks")
    job = Job(arguments.binary, 2, arguments.port, state, os.path.join(state, "job.log"))
    try:
        test_files_without_token(checks, job.url)
        test_bad_request_detail_from_api(checks, job.url)
        test_console(checks, job.url, screenshots)
    except Exception as error:  # a Selenium timeout or a crash is a failed check, with the job's log
        checks.check(False, "the browser test ran to the end", repr(error))
    finally:
        job.stop()
        if checks.failed:
            print(open(os.path.join(state, "job.log")).read()[-3000:])
        shutil.rmtree(state, ignore_errors=True)
    print(f"console-browser: passed={checks.passed} failed={checks.failed} ({time.time() - started:.0f} s)")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
