// The GeoPredict console: calls the service's Connect API from this page with fetch (Connect's
// unary protocol, JSON bodies). Served by the service itself; it needs no build step and loads
// nothing from elsewhere (the page's Content-Security-Policy allows only this origin).
"use strict";

const SERVICE = "/geopredict.v1.GeoPredictService/";
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

// One unary call: POST /<service>/<method> with a JSON message. Shows the call as curl.
async function call(method, message) {
  const body = JSON.stringify(message);
  showCurl(SERVICE + method, body);
  let response;
  try {
    response = await fetch(SERVICE + method, { method: "POST", headers: headers(), body });
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
  refreshHealth();
  setInterval(refreshHealth, 5000);
});
