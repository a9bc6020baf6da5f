// The GeoPredict console: calls the service's Connect API from this page with fetch (Connect's
// unary protocol, JSON bodies). Served by the service itself; it needs no build step and loads
// nothing from elsewhere (the page's Content-Security-Policy allows only this origin).
"use strict";

const SERVICE = "/geopredict.v1.GeoPredictService/";
const CLUSTER = "/mpiplug.v1.ClusterService/";
const $ = (id) => document.getElementById(id);

// The token lives in the input only: never in the URL, never in storage.
function headers() {
  const result = { "Content-Type": "application/json", "Connect-Protocol-Version": "1" };
  const token = $("token").value.trim();
  if (token) result.Authorization = "Bearer " + token;
  return result;
}

// A Connect error as the page reports it: code, message, details (type, value bytes, debug).
class CallError extends Error {
  constructor(status, body) {
    super(body.message || "HTTP " + status);
    this.status = status;
    this.code = body.code || "unknown";
    this.details = Array.isArray(body.details) ? body.details : [];
  }
}

// One unary call of the GeoPredict API: POST /<service>/<method> with a JSON message. Shows the
// call as curl.
function call(method, message) {
  return callPath(SERVICE + method, message);
}

// One unary call of any route. A quiet call (the panels' refreshes) leaves the curl of the last
// call the user made in place.
async function callPath(path, message, quiet) {
  const body = JSON.stringify(message);
  if (!quiet) showCurl(path, body);
  let response;
  try {
    response = await fetch(path, { method: "POST", headers: headers(), body });
  } catch (failure) {
    throw new CallError(0, { code: "unavailable", message: "the service did not answer (" + failure.message + ")" });
  }
  const text = await response.text();
  let parsed = {};
  try { parsed = text ? JSON.parse(text) : {}; } catch (_) { parsed = { message: text.slice(0, 200) }; }
  if (!response.ok) throw new CallError(response.status, parsed);
  return parsed;
}

function showCurl(path, body) {
  const quoted = "'" + body.replace(/'/g, "'\\''") + "'";
  const auth = $("token").value.trim() ? " -H \"Authorization: Bearer $TOKEN\"" : "";
  $("curl").textContent = "curl -s -H 'Content-Type: application/json'" + auth + " -d " + quoted + " " + location.origin + path;
  $("call-section").hidden = false;
}

// --- Error details -------------------------------------------------------------------------

function base64Bytes(text) {
  let standard = text.replace(/-/g, "+").replace(/_/g, "/");
  while (standard.length % 4) standard += "=";
  return Uint8Array.from(atob(standard), (c) => c.charCodeAt(0));
}

// Reads protobuf's wire format far enough for BadRequest: varints and length-delimited fields.
function* protoFields(bytes) {
  let at = 0;
  const varint = () => {
    let value = 0, shift = 0, byte;
    do {
      if (at >= bytes.length) throw new Error("truncated");
      byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return value;
  };
  while (at < bytes.length) {
    const key = varint(), number = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) yield [number, varint()];
    else if (wire === 2) { const length = varint(); yield [number, bytes.subarray(at, at + length)]; at += length; }
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error("wire type " + wire);
  }
}

// mpiplug.v1.BadRequest (wire-compatible with google.rpc.BadRequest): field_violations = 1, each
// with field = 1 and description = 2. Decoded from the detail's value, not from its debug JSON.
function fieldViolations(detail) {
  if (detail.type !== "mpiplug.v1.BadRequest" && detail.type !== "google.rpc.BadRequest") return null;
  const text = new TextDecoder();
  const violations = [];
  for (const [number, value] of protoFields(base64Bytes(detail.value || ""))) {
    if (number !== 1 || !(value instanceof Uint8Array)) continue;
    const violation = { field: "", description: "" };
    for (const [inner, part] of protoFields(value)) {
      if (inner === 1) violation.field = text.decode(part);
      if (inner === 2) violation.description = text.decode(part);
    }
    violations.push(violation);
  }
  return violations;
}

function clearError() {
  $("error").hidden = true;
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// Shows an error; a BadRequest detail marks the form's input for each refused field.
function showError(error, form) {
  $("error-code").textContent = error.code ? "(" + error.code + (error.status ? ", HTTP " + error.status : "") + ")" : "";
  $("error-message").textContent = error.message;
  const list = $("error-details");
  list.replaceChildren();
  $("error-details-caption").hidden = !(error.details || []).length;
  for (const detail of error.details || []) {
    let violations = null;
    try { violations = fieldViolations(detail); } catch (_) { violations = null; }
    if (!violations) {
      list.append(item("detail " + detail.type));
      continue;
    }
    for (const violation of violations) {
      const entry = item("", "field-violation");
      const name = document.createElement("code");
      name.textContent = violation.field;
      entry.append(name, ": " + violation.description);
      list.append(entry);
      const input = form && form.querySelector("[name='" + CSS.escape(violation.field) + "']");
      if (input) input.setAttribute("aria-invalid", "true");
    }
  }
  $("error").hidden = false;
}

function item(text, className) {
  const element = document.createElement("li");
  if (className) element.className = className;
  element.textContent = text;
  return element;
}

// --- Health --------------------------------------------------------------------------------

async function refreshHealth() {
  const badge = $("health");
  try {
    const answer = await (await fetch("/healthz", { cache: "no-store" })).json();
    // The detail says what is wrong (or only the rank count again while serving).
    badge.textContent = answer.status + " · " + answer.ranks + " rank" + (answer.ranks === 1 ? "" : "s")
      + (answer.detail && answer.status !== "serving" ? " · " + answer.detail : "");
    badge.className = "badge " + (answer.status === "serving" ? "serving" : answer.ready ? "degraded" : "down");
  } catch (_) {
    badge.textContent = "unreachable";
    badge.className = "badge down";
  }
}

// --- Predictions ---------------------------------------------------------------------------

function optionalNumber(id) {
  const text = $(id).value.trim();
  return text === "" ? undefined : Number(text);
}

function timeOf(seconds) {
  return new Date(Number(seconds) * 1000).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
}

async function predict(event) {
  event.preventDefault();
  clearError();
  const request = { userId: $("predict-user").value, limit: optionalNumber("predict-limit") };
  const latitude = optionalNumber("predict-latitude"), longitude = optionalNumber("predict-longitude");
  if (latitude !== undefined) request.latitude = latitude;
  if (longitude !== undefined) request.longitude = longitude;
  try {
    const answer = await call("PredictNextVisits", request);
    showPrediction(answer, request);
  } catch (error) {
    $("prediction").hidden = true;
    showError(error, $("predict-form"));
  }
}

function showPrediction(answer, request) {
  const visits = answer.visits || [];
  const trip = answer.nextTrip || {};
  let summary = visits.length + " store" + (visits.length === 1 ? "" : "s") + " for " + request.userId;
  if (answer.coldStart) summary += " (cold start: an unknown user or one without visits)";
  if (trip.earliestUnixSeconds) {
    summary += " · next trip " + timeOf(trip.earliestUnixSeconds) + " – " + timeOf(trip.latestUnixSeconds)
      + ", " + Math.round(100 * (trip.probabilityWithin24h || 0)) + " % within 24 h";
  }
  if (answer.modelVersion) summary += " · model " + answer.modelVersion;
  $("prediction-summary").textContent = summary;
  const list = $("prediction-list");
  list.replaceChildren(...visits.map((visit) => {
    const entry = item("", "visit");
    entry.dataset.storeId = visit.storeId;
    const distance = visit.distanceMeters === undefined ? "" : ", " + (visit.distanceMeters / 1000).toFixed(1) + " km";
    entry.textContent = visit.storeId + " · " + (visit.category || "store") + " · score " + (visit.score || 0).toFixed(3) + distance;
    return entry;
  }));
  drawMap(visits, request);
  $("prediction").hidden = false;
}

// The stores by position (an equirectangular sketch of their bounding box; no tiles), best in red,
// and the given position as a ring.
function drawMap(visits, request) {
  const svg = $("prediction-map");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const points = visits.map((visit) => [visit.latitude || 0, visit.longitude || 0]);
  const here = request.latitude !== undefined && request.longitude !== undefined ? [request.latitude, request.longitude] : null;
  const all = here ? points.concat([here]) : points;
  if (all.length === 0) return;
  const lats = all.map((p) => p[0]), lons = all.map((p) => p[1]);
  const minLat = Math.min(...lats), maxLat = Math.max(...lats), minLon = Math.min(...lons), maxLon = Math.max(...lons);
  // Longitude shrinks with the latitude's cosine; one scale for both axes keeps distances true, and
  // the box is centred in the 280 x 200 drawing area.
  const shrink = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const width = (maxLon - minLon) * shrink, height = maxLat - minLat;
  const scale = Math.min(280 / Math.max(width, 1e-6), 200 / Math.max(height, 1e-6));
  const left = 20 + (280 - width * scale) / 2, bottom = 220 - (200 - height * scale) / 2;
  const place = ([lat, lon]) => [left + (lon - minLon) * shrink * scale, bottom - (lat - minLat) * scale];
  const shape = (name, attributes) => {
    const element = document.createElementNS(ns, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    svg.append(element);
    return element;
  };
  points.forEach((point, index) => {
    const [x, y] = place(point);
    shape("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 6, class: index === 0 ? "store first" : "store",
      "data-store-id": visits[index].storeId });
    shape("text", { x: (x + 8).toFixed(1), y: (y + 4).toFixed(1) }).textContent = String(index + 1);
  });
  if (here) {
    const [x, y] = place(here);
    shape("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 9, class: "here" });
  }
}

// --- Ingest --------------------------------------------------------------------------------

async function ingest(event) {
  event.preventDefault();
  clearError();
  const store = $("ingest-store").value.trim();
  const location = {
    userId: $("ingest-user").value,
    timestampUnixSeconds: String(Math.floor(Date.now() / 1000)),
    latitude: optionalNumber("ingest-latitude") ?? 0,
    longitude: optionalNumber("ingest-longitude") ?? 0,
  };
  if (store) location.storeId = store;
  const result = $("ingest-result");
  try {
    const answer = await call("IngestEvents", { events: [location] });
    const errors = (answer.errors || []).map((e) => e.field + ": " + e.message);
    result.textContent = "accepted " + (answer.accepted || 0) + ", rejected " + (answer.rejected || 0)
      + (errors.length ? " — " + errors.join("; ") : "");
    for (const e of answer.errors || []) {
      const input = $("ingest-form").querySelector("[name='" + CSS.escape(e.field) + "']");
      if (input) input.setAttribute("aria-invalid", "true");
    }
    result.hidden = false;
  } catch (error) {
    result.hidden = true;
    showError(error, $("ingest-form"));
  }
}

// --- Figures -------------------------------------------------------------------------------

// proto3 JSON sends 64-bit integers as strings and leaves out zeros: read either as a number.
const num = (value) => Number(value || 0);

function bytesText(value) {
  const mib = num(value) / 1048576;
  return mib >= 1024 ? (mib / 1024).toFixed(2) + " GiB" : mib.toFixed(1) + " MiB";
}

function secondsText(value) {
  const seconds = num(value);
  if (seconds === 0) return "0";
  if (seconds < 1e-3) return (seconds * 1e6).toFixed(0) + " µs";
  if (seconds < 1) return (seconds * 1e3).toFixed(seconds < 0.01 ? 2 : 1) + " ms";
  return seconds.toFixed(seconds < 10 ? 2 : 0) + " s";
}

function durationText(value) {
  const seconds = Math.floor(num(value));
  if (seconds < 60) return seconds + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
}

const rateText = (value) => num(value).toFixed(num(value) < 10 ? 2 : 1) + "/s";

// An element showing a figure, with the API's value as it came (data-value) for programs and tests.
function figureElement(name, field, value, text) {
  const element = document.createElement(name);
  element.dataset.field = field;
  element.dataset.value = value === undefined ? "" : String(value);
  element.textContent = text;
  return element;
}

// A definition list of figures: [label, field, value, text] each.
function showFigures(list, figures) {
  list.replaceChildren();
  for (const [label, field, value, text] of figures) {
    const term = document.createElement("dt");
    term.textContent = label;
    list.append(term, figureElement("dd", field, value, text));
  }
}

// A refresh that failed: unauthenticated means the token field is empty or wrong.
function refreshFailure(error) {
  return error.code === "unauthenticated"
    ? "needs the bearer token (the service runs with --auth-token-file): enter it above"
    : error.code + ": " + error.message;
}

// --- Cluster -------------------------------------------------------------------------------

async function refreshCluster() {
  try {
    showCluster(await callPath(CLUSTER + "GetClusterStatus", {}, true));
  } catch (error) {
    $("cluster-status").textContent = refreshFailure(error);
    $("cluster-status").hidden = false;
  }
}

function showCluster(status) {
  const ranks = status.ranks || [];
  const hosts = new Set(ranks.map((rank) => rank.host));
  const doors = status.frontDoors || [];
  const recent = status.recent || {};
  const latency = recent.requestLatency || {};
  const batches = status.batchSizes || {};
  $("cluster-summary").textContent = num(status.rankCount) + " rank" + (num(status.rankCount) === 1 ? "" : "s")
    + " on " + hosts.size + " host" + (hosts.size === 1 ? "" : "s") + " · " + doors.length + " front door"
    + (doors.length === 1 ? "" : "s") + " · up " + durationText(status.uptimeSeconds) + " · MPI thread level "
    + (status.threadLevel || "?") + " · " + (status.routes || []).length + " routes";
  $("cluster-summary").dataset.rankCount = String(num(status.rankCount));
  showFigures($("cluster-figures"), [
    ["Rounds/s", "recent.roundsPerSecond", recent.roundsPerSecond, rateText(recent.roundsPerSecond)],
    ["Calls/s", "recent.requestsPerSecond", recent.requestsPerSecond, rateText(recent.requestsPerSecond)],
    ["Latency p50", "recent.requestLatency.p50Seconds", latency.p50Seconds, secondsText(latency.p50Seconds)],
    ["p90", "recent.requestLatency.p90Seconds", latency.p90Seconds, secondsText(latency.p90Seconds)],
    ["p99", "recent.requestLatency.p99Seconds", latency.p99Seconds, secondsText(latency.p99Seconds)],
    ["max", "recent.requestLatency.maxSeconds", latency.maxSeconds, secondsText(latency.maxSeconds)],
    ["Calls in window", "recent.requestLatency.count", latency.count, num(latency.count) + " in " + num(recent.windowSeconds).toFixed(0) + " s"],
    ["Rounds served", "roundsServed", status.roundsServed, String(num(status.roundsServed))],
    ["Batch mean", "batchSizes.mean", batches.mean, num(batches.mean).toFixed(2)],
    ["Batch max", "batchSizes.max", batches.max, String(num(batches.max))],
    ["Queue", "queueDepth", status.queueDepth, String(num(status.queueDepth))],
  ]);
  $("cluster-ranks").tBodies[0].replaceChildren(...ranks.map(rankRow));
  showBatchHistogram(batches.histogram || []);
  $("cluster-updated").textContent = "· updated " + new Date().toLocaleTimeString();
  $("cluster-status").hidden = true;
  const panel = $("cluster");
  panel.dataset.updates = String(Number(panel.dataset.updates || 0) + 1);
  panel.hidden = false;
}

function rankRow(rank) {
  const row = document.createElement("tr");
  row.dataset.rank = String(num(rank.rank));
  const door = rank.frontDoor;
  const recent = rank.recent || {};
  const latency = recent.requestLatency || {};
  row.append(
    figureElement("td", "rank", num(rank.rank), String(num(rank.rank))),
    figureElement("td", "host", rank.host, rank.host || ""),
    figureElement("td", "processId", rank.processId, String(num(rank.processId))),
    figureElement("td", "residentMemoryBytes", rank.residentMemoryBytes, bytesText(rank.residentMemoryBytes)),
    figureElement("td", "peakResidentMemoryBytes", rank.peakResidentMemoryBytes, bytesText(rank.peakResidentMemoryBytes)),
    figureElement("td", "roundsServed", rank.roundsServed, String(num(rank.roundsServed))),
    figureElement("td", "requestsHandled", rank.requestsHandled, String(num(rank.requestsHandled))),
    figureElement("td", "keyedRequests", rank.keyedRequests, String(num(rank.keyedRequests))),
    figureElement("td", "busySeconds", rank.busySeconds, secondsText(rank.busySeconds)),
    figureElement("td", "frontDoor.port", door ? door.port : "",
      door ? ":" + num(door.port) + " · " + num(door.requestsAccepted) + " calls · queue " + num(door.queueDepth) : "—"),
    figureElement("td", "recent.requestsPerSecond", recent.requestsPerSecond, door ? rateText(recent.requestsPerSecond) : ""),
    figureElement("td", "recent.requestLatency.p50Seconds", latency.p50Seconds, door ? secondsText(latency.p50Seconds) : ""),
    figureElement("td", "recent.requestLatency.p99Seconds", latency.p99Seconds, door ? secondsText(latency.p99Seconds) : ""),
  );
  return row;
}

// Bucket i counts rounds of (2^(i-1), 2^i] requests, bucket 0 rounds of one.
function showBatchHistogram(histogram) {
  const entries = [];
  histogram.forEach((count, index) => {
    if (num(count) === 0) return;
    const low = index === 0 ? 1 : 2 ** (index - 1) + 1, high = 2 ** index;
    const entry = figureElement("span", "batchSizes.histogram." + index, count,
      (low === high ? String(high) : low + "–" + high) + ": " + num(count));
    entry.className = "chip";
    entries.push(entry);
  });
  $("batch-histogram").replaceChildren(...entries);
}

// --- Training ------------------------------------------------------------------------------

const STATES = { STATE_IDLE: "idle", STATE_RUNNING: "running", STATE_FAILED: "failed" };
let trainingTimer = null;

async function refreshTraining() {
  clearTimeout(trainingTimer);
  let running = false;
  try {
    const status = await callPath(SERVICE + "GetTrainingStatus", {}, true);
    running = status.state === "STATE_RUNNING";
    showTraining(status);
  } catch (error) {
    $("training-status").textContent = refreshFailure(error);
    $("training-status").hidden = false;
  }
  // Every second while a run goes on, to follow it; every 5 s otherwise. (Cleared again: another
  // refresh may have started meanwhile, and one timer is enough.)
  clearTimeout(trainingTimer);
  trainingTimer = setTimeout(refreshTraining, running ? 1000 : 5000);
}

function showTraining(status) {
  const state = STATES[status.state] || "unknown";
  const iterations = status.alsIterations || [];
  const list = $("training-figures");
  showFigures(list, [
    ["State", "state", status.state, state],
    ["Serving", "servingModelVersion", status.servingModelVersion, status.servingModelVersion || "—"],
    ["Run", "runModelVersion", status.runModelVersion, status.runModelVersion || "—"],
    ["Stage", "iteration", status.iteration, num(status.iteration) + " of " + num(status.iterations)],
    ["ALS iterations", "alsIterations.length", iterations.length, iterations.length + " of " + num(status.plannedAlsIterations)],
    ["Elapsed", "elapsedSeconds", status.elapsedSeconds, secondsText(status.elapsedSeconds)],
    ["Fit objective", "loss", status.loss, num(status.loss).toFixed(5)],
  ]);
  list.querySelector("[data-field='state']").className = "state " + state;
  if (status.error) list.append(figureElement("dd", "error", status.error, "error: " + status.error));
  drawLoss(iterations);
  $("training-status").hidden = true;
  $("training").hidden = false;
}

// The loss after each ALS iteration, one line per model (before the fit window, and serving), on a
// shared loss axis.
function drawLoss(iterations) {
  const svg = $("loss-chart");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const legend = [];
  if (iterations.length === 0) {
    $("loss-legend").textContent = "No ALS iterations recorded yet: the model the job started with keeps none; Train records them.";
    return;
  }
  // A model with no visits to train on has no loss (0): nothing to draw for it.
  iterations = iterations.filter((entry) => num(entry.loss) > 0);
  if (iterations.length === 0) {
    $("loss-legend").textContent = "No loss to draw: the run's models had no visits to train on.";
    return;
  }
  const losses = iterations.map((entry) => num(entry.loss));
  const low = Math.min(...losses), high = Math.max(...losses);
  const longest = Math.max(...iterations.map((entry) => num(entry.iteration)));
  const x = (iteration) => 30 + (longest <= 1 ? 0 : (iteration - 1) * 280 / (longest - 1));
  const y = (loss) => 140 - (high === low ? 60 : (loss - low) * 120 / (high - low));
  const shape = (name, attributes) => {
    const element = document.createElementNS(ns, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    svg.append(element);
    return element;
  };
  shape("line", { x1: 30, y1: 145, x2: 310, y2: 145, class: "axis" });
  shape("text", { x: 2, y: 24 }).textContent = high.toPrecision(3);
  shape("text", { x: 2, y: 144 }).textContent = low.toPrecision(3);
  for (const [model, name] of [["MODEL_FIT_WINDOW", "fit window"], ["MODEL_SERVING", "serving"]]) {
    const points = iterations.filter((entry) => entry.model === model);
    if (points.length === 0) continue;
    const className = model === "MODEL_SERVING" ? "serving" : "fit-window";
    shape("polyline", {
      points: points.map((entry) => x(num(entry.iteration)).toFixed(1) + "," + y(num(entry.loss)).toFixed(1)).join(" "),
      class: "loss " + className,
    });
    for (const entry of points) {
      const point = shape("circle", { cx: x(num(entry.iteration)).toFixed(1), cy: y(num(entry.loss)).toFixed(1), r: 2.5,
        class: "loss-point " + className, "data-model": model, "data-iteration": num(entry.iteration), "data-loss": num(entry.loss) });
      const title = document.createElementNS(ns, "title");
      title.textContent = name + " iteration " + num(entry.iteration) + ": loss " + num(entry.loss).toPrecision(5);
      point.append(title);
    }
    const last = points[points.length - 1];
    legend.push(name + " model: loss " + num(last.loss).toPrecision(4) + " after iteration " + num(last.iteration));
  }
  $("loss-legend").textContent = legend.join(" · ");
}

async function train(event) {
  event.preventDefault();
  clearError();
  const request = {};
  const factors = optionalNumber("train-factors"), iterations = optionalNumber("train-iterations");
  if (factors !== undefined) request.factors = factors;
  if (iterations !== undefined) request.iterations = iterations;
  const result = $("train-result");
  try {
    const answer = await call("Train", request);
    result.textContent = "started: it will serve as " + answer.modelVersion;
    result.dataset.modelVersion = answer.modelVersion;
    result.hidden = false;
  } catch (error) {
    result.hidden = true;
    showError(error, $("train-form"));
  }
  refreshTraining();
}

// --- Refreshing ----------------------------------------------------------------------------

let clusterTimer = null;

// The cluster panel refreshes every 2 s while its box is ticked and the page is in view (each
// refresh is a round on every rank: cheap, but not free).
function scheduleCluster() {
  clearInterval(clusterTimer);
  clusterTimer = null;
  if ($("cluster-live").checked && !document.hidden) {
    refreshCluster();
    clusterTimer = setInterval(refreshCluster, 2000);
  }
}

// A new token: the panels try again at once.
function tokenChanged() {
  scheduleCluster();
  refreshTraining();
}

async function copyCurl() {
  const text = $("curl").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copy-curl").textContent = "Copied";
  } catch (_) {
    // No clipboard outside secure contexts (http on another host): select the text instead.
    window.getSelection().selectAllChildren($("curl"));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("predict-form").addEventListener("submit", predict);
  $("ingest-form").addEventListener("submit", ingest);
  $("copy-curl").addEventListener("click", copyCurl);
  $("train-form").addEventListener("submit", train);
  $("cluster-live").addEventListener("change", scheduleCluster);
  $("token").addEventListener("change", tokenChanged);
  document.addEventListener("visibilitychange", scheduleCluster);
  refreshHealth();
  setInterval(refreshHealth, 5000);
  scheduleCluster();
  refreshTraining();
});
