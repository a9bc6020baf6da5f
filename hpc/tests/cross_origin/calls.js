// Calls every method of a GeoPredict job from this page's origin, with fetch, as connect-web's
// Connect transport does (connect-web itself needs npm, which this machine does not have):
//   POST <service>/<package.Service>/<Method>, Content-Type application/json or application/proto,
//   Connect-Protocol-Version: 1, Connect-Timeout-Ms, optionally Content-Encoding: gzip; and for the
//   methods marked NO_SIDE_EFFECTS, GET ...?connect=v1&encoding=json|proto[&base64=1][&compression=gzip]&message=...
// Each call is a cross-origin request with non-safelisted headers (Authorization, Connect-*), so the
// browser sends a CORS preflight first; the browser itself decompresses gzip answers.
// The results land in the table and in window.crossOriginResults for the test to compare with the
// API's own answers (hpc/tests/console_browser.py).
"use strict";

const $ = (id) => document.getElementById(id);
const GEO = "/geopredict.v1.GeoPredictService/";
const CLUSTER = "/mpiplug.v1.ClusterService/";
const DIAGNOSTICS = "/mpiplug.v1.DiagnosticsService/";

// --- Protobuf's wire format, as far as these messages need it --------------------------------

class ProtoWriter {
  constructor() { this.bytes = []; }
  varint(value) {
    let rest = Number(value);
    while (rest >= 128) { this.bytes.push((rest % 128) | 128); rest = Math.floor(rest / 128); }
    this.bytes.push(rest);
    return this;
  }
  key(number, wire) { return this.varint(number * 8 + wire); }
  uint(number, value) { return value ? this.key(number, 0).varint(value) : this; }
  bytesField(number, bytes) {
    this.key(number, 2).varint(bytes.length);
    for (const byte of bytes) this.bytes.push(byte);
    return this;
  }
  string(number, text) { return text ? this.bytesField(number, new TextEncoder().encode(text)) : this; }
  double(number, value) {
    if (!value) return this;
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value, true);
    this.key(number, 1);
    for (const byte of new Uint8Array(view.buffer)) this.bytes.push(byte);
    return this;
  }
  message(number, writer) { return this.bytesField(number, writer.bytes); }
  finish() { return new Uint8Array(this.bytes); }
}

// A message's fields as { number: [values] }: varints as numbers, length-delimited fields as bytes.
function readProto(bytes) {
  const fields = {};
  let at = 0;
  const varint = () => {
    let value = 0, scale = 1, byte;
    do {
      if (at >= bytes.length) throw new Error("truncated varint");
      byte = bytes[at++];
      value += (byte & 0x7f) * scale;
      scale *= 128;
    } while (byte & 0x80);
    return value;
  };
  while (at < bytes.length) {
    const key = varint(), number = Math.floor(key / 8), wire = key % 8;
    let value;
    if (wire === 0) value = varint();
    else if (wire === 2) { const length = varint(); value = bytes.subarray(at, at + length); at += length; }
    else if (wire === 1) { value = new DataView(bytes.buffer, bytes.byteOffset + at, 8).getFloat64(0, true); at += 8; }
    else if (wire === 5) { at += 4; continue; }
    else throw new Error("wire type " + wire);
    (fields[number] = fields[number] || []).push(value);
  }
  return fields;
}

const text = (bytes) => (bytes ? new TextDecoder().decode(bytes) : "");
const first = (fields, number, fallback) => (fields[number] ? fields[number][0] : fallback);

// --- Connect unary over fetch ----------------------------------------------------------------

async function gzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function base64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// One call. `message` is an object (json) or bytes (proto). Returns the status, the headers a page
// may read, and the body: `json` (a JSON answer, errors always) or `proto` (the fields of a binary one).
async function unary(path, { codec = "json", get = false, gzipRequest = false, message = {}, token = currentToken(), headers: extra = {} } = {}) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  let body = codec === "json" ? new TextEncoder().encode(JSON.stringify(message)) : message;
  if (gzipRequest) body = await gzip(body);
  let url = serviceURL() + path;
  const init = { mode: "cors", credentials: "omit", cache: "no-store" };
  if (get) {
    const query = new URLSearchParams({ connect: "v1", encoding: codec });
    if (codec === "json" && !gzipRequest) query.set("message", JSON.stringify(message));
    else { query.set("base64", "1"); query.set("message", base64url(body)); }
    if (gzipRequest) query.set("compression", "gzip");
    url += "?" + query;
    init.method = "GET";
  } else {
    headers["Content-Type"] = codec === "json" ? "application/json" : "application/proto";
    headers["Connect-Protocol-Version"] = "1";
    headers["Connect-Timeout-Ms"] = "20000";
    if (gzipRequest) headers["Content-Encoding"] = "gzip";
    init.method = "POST";
    init.body = body;
  }
  init.headers = Object.assign(headers, extra);
  const response = await fetch(url, init);
  const answer = {
    status: response.status,
    contentType: response.headers.get("Content-Type") || "",
    contentEncoding: response.headers.get("Content-Encoding") || "",
    cacheControl: response.headers.get("Cache-Control") || "",
    wwwAuthenticate: response.headers.get("WWW-Authenticate") || "",
  };
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (response.ok && codec === "proto") {
    if (!answer.contentType.startsWith("application/proto")) throw new Error("a binary call answered " + answer.contentType);
    answer.proto = readProto(bytes);
  } else {
    answer.json = JSON.parse(text(bytes) || "{}");
  }
  return answer;
}

const serviceURL = () => $("service-url").value.trim().replace(/\/+$/, "");
const currentToken = () => $("token").value.trim();

// --- The calls -------------------------------------------------------------------------------

const results = { done: false, origin: location.origin, cases: [], missing: [], routes: [] };
window.crossOriginResults = results;

// Runs one call and records what came back. `read` turns the answer into the values the test
// compares with the API's; `expect` says whether the answer is the one this call should get; a call
// that should never be sent expects the browser's refusal instead (`refused`, a pattern of the error).
async function record(method, how, call, read, expect = (answer) => answer.status === 200, refused = null) {
  const entry = { method, how };
  try {
    const answer = await call();
    entry.status = answer.status;
    entry.contentEncoding = answer.contentEncoding;
    entry.cacheControl = answer.cacheControl;
    entry.values = read(answer);
    entry.ok = !refused && Boolean(expect(answer));
  } catch (failure) {
    entry.failure = String(failure);
    entry.ok = Boolean(refused && refused.test(entry.failure));
  }
  results.cases.push(entry);
  const row = document.createElement("tr");
  row.className = entry.ok ? "pass" : "fail";
  for (const cell of [method, how, entry.status ?? "—", entry.contentEncoding || "", entry.failure || JSON.stringify(entry.values)]) {
    const element = document.createElement("td");
    element.textContent = String(cell);
    row.append(element);
  }
  $("results").tBodies[0].append(row);
  return entry;
}

// A Connect error's code and its BadRequest field violations (decoded from the detail's value).
function errorValues(answer) {
  const json = answer.json || {};
  const fields = [];
  for (const detail of json.details || []) {
    if (detail.type !== "mpiplug.v1.BadRequest") continue;
    let value = detail.value.replace(/-/g, "+").replace(/_/g, "/");
    while (value.length % 4) value += "=";
    const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
    for (const violation of readProto(bytes)[1] || []) fields.push(text(first(readProto(violation), 1)));
  }
  return { code: json.code, fields, wwwAuthenticate: answer.wwwAuthenticate };
}

const clusterJSON = (a) => ({ rankCount: a.json.rankCount, routes: a.json.routes });
const clusterProto = (a) => ({ rankCount: first(a.proto, 1, 0), routes: (a.proto[8] || []).map(text) });
const echoJSON = (a) => ({ message: a.json.message, rankCount: a.json.rankCount, checksum: Number(a.json.checksum) });
const echoProto = (a) => ({ message: text(first(a.proto, 1)), rankCount: first(a.proto, 2, 0), checksum: first(a.proto, 3, 0) });
const predictJSON = (a) => ({ storeIds: (a.json.visits || []).map((v) => v.storeId), modelVersion: a.json.modelVersion });
const predictProto = (a) => ({
  storeIds: (a.proto[1] || []).map((visit) => text(first(readProto(visit), 1))), modelVersion: text(first(a.proto, 3)),
});
const userJSON = (a) => ({ userId: a.json.userId, eventCount: Number(a.json.eventCount || 0), visitCount: Number(a.json.visitCount || 0) });
const userProto = (a) => ({ userId: text(first(a.proto, 1)), eventCount: first(a.proto, 2, 0), visitCount: first(a.proto, 3, 0) });
const ingestJSON = (a) => ({ accepted: a.json.accepted || 0, rejected: a.json.rejected || 0 });
const ingestProto = (a) => ({ accepted: first(a.proto, 1, 0), rejected: first(a.proto, 2, 0) });
const STATES = ["STATE_UNSPECIFIED", "STATE_IDLE", "STATE_RUNNING", "STATE_FAILED"];
const trainingJSON = (a) => ({ state: a.json.state, servingModelVersion: a.json.servingModelVersion });
const trainingProto = (a) => ({ state: STATES[first(a.proto, 1, 0)], servingModelVersion: text(first(a.proto, 7)) });

const predictRequest = (limit) => ({ json: { userId: "u0000001", limit }, proto: new ProtoWriter().string(1, "u0000001").uint(2, limit).finish() });
const userRequest = (user) => ({ json: { userId: user }, proto: new ProtoWriter().string(1, user).finish() });

function ingestRequest(user, store, seconds) {
  const event = new ProtoWriter().string(1, user).uint(2, seconds).double(3, 40.73).double(4, -73.99).string(5, store);
  return {
    json: { events: [{ userId: user, timestampUnixSeconds: String(seconds), latitude: 40.73, longitude: -73.99, storeId: store }] },
    proto: new ProtoWriter().message(1, event).finish(),
  };
}

// Train, again while the last run (or the log fold after it) still holds the job: failed_precondition.
async function trainWhenFree() {
  const deadline = Date.now() + 60000;
  for (;;) {
    const answer = await unary(GEO + "Train", { codec: "proto", message: new ProtoWriter().uint(2, 2).finish() });
    if (answer.status === 200 || !answer.json || answer.json.code !== "failed_precondition" || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function callEveryMethod() {
  const user = "cross-origin-" + Date.now();
  results.user = user;
  const now = Math.floor(Date.now() / 1000);
  const covered = new Set();
  const method = (path) => { covered.add(path); return path.slice(1); };

  // ClusterService: JSON and binary; its routes say which methods there are.
  const status = await record(method(CLUSTER + "GetClusterStatus"), "POST json",
    () => unary(CLUSTER + "GetClusterStatus"), clusterJSON);
  results.routes = (status.values && status.values.routes) || [];
  await record(method(CLUSTER + "GetClusterStatus"), "POST proto",
    () => unary(CLUSTER + "GetClusterStatus", { codec: "proto", message: new Uint8Array() }), clusterProto);

  // DiagnosticsService: every rank adds value + rank.
  const echo = { json: { message: "from " + location.origin, value: "7" }, proto: new ProtoWriter().string(1, "from " + location.origin).uint(2, 7).finish() };
  await record(method(DIAGNOSTICS + "Echo"), "POST json", () => unary(DIAGNOSTICS + "Echo", { message: echo.json }), echoJSON);
  await record(method(DIAGNOSTICS + "Echo"), "POST proto, gzip request",
    () => unary(DIAGNOSTICS + "Echo", { codec: "proto", message: echo.proto, gzipRequest: true }), echoProto);

  // Predictions (before this page's events and its Train: the test compares them with the API's).
  const predict = GEO + "PredictNextVisits";
  await record(method(predict), "POST json, limit 100 (a large answer)", () => unary(predict, { message: predictRequest(100).json }),
    predictJSON, (a) => a.status === 200 && a.contentEncoding === "gzip");
  await record(method(predict), "POST proto", () => unary(predict, { codec: "proto", message: predictRequest(5).proto }), predictProto);
  await record(method(predict), "GET json", () => unary(predict, { get: true, message: predictRequest(5).json }), predictJSON,
    (a) => a.status === 200 && a.cacheControl.includes("no-store"));
  await record(method(predict), "GET proto base64", () => unary(predict, { get: true, codec: "proto", message: predictRequest(5).proto }),
    predictProto, (a) => a.status === 200 && a.cacheControl.includes("no-store"));

  // Errors from across the origin: readable code, details and WWW-Authenticate.
  await record(method(predict), "POST json, limit 500 (refused)", () => unary(predict, { message: predictRequest(500).json }),
    errorValues, (a) => a.status === 400);
  await record(method(GEO + "GetUser"), "GET json, no token (refused)",
    () => unary(GEO + "GetUser", { get: true, message: userRequest("u0000001").json, token: "" }), errorValues, (a) => a.status === 401);
  await record(method(GEO + "GetUser"), "POST json, unknown user", () => unary(GEO + "GetUser", { message: userRequest(user).json }),
    errorValues, (a) => a.status === 404);
  // A header the service does not allow: the browser's preflight refuses the call before it is sent.
  await record("preflight", "POST json with X-Not-Allowed: the preflight refuses it",
    () => unary(GEO + "GetUser", { message: userRequest("u0000001").json, headers: { "X-Not-Allowed": "1" } }),
    () => ({}), () => false, /Failed to fetch/);

  // Ingest two events (JSON; binary with a gzip body), then read the user back every way.
  const ingest = GEO + "IngestEvents";
  await record(method(ingest), "POST json", () => unary(ingest, { message: ingestRequest(user, "s000001", now - 60).json }), ingestJSON,
    (a) => a.status === 200 && ingestJSON(a).accepted === 1);
  await record(method(ingest), "POST proto, gzip request",
    () => unary(ingest, { codec: "proto", gzipRequest: true, message: ingestRequest(user, "s000002", now - 30).proto }), ingestProto,
    (a) => a.status === 200 && ingestProto(a).accepted === 1);
  const getUser = GEO + "GetUser";
  const expectCached = (a) => a.status === 200 && a.cacheControl.includes("no-store");
  await record(method(getUser), "POST json", () => unary(getUser, { message: userRequest(user).json }), userJSON);
  await record(method(getUser), "POST proto", () => unary(getUser, { codec: "proto", message: userRequest(user).proto }), userProto);
  await record(method(getUser), "GET json", () => unary(getUser, { get: true, message: userRequest(user).json }), userJSON, expectCached);
  await record(method(getUser), "GET proto base64", () => unary(getUser, { get: true, codec: "proto", message: userRequest(user).proto }),
    userProto, expectCached);
  await record(method(getUser), "GET proto base64, compression=gzip",
    () => unary(getUser, { get: true, codec: "proto", gzipRequest: true, message: userRequest(user).proto }), userProto, expectCached);

  // Training: the status both ways, then a run, followed with GET until it serves.
  const training = GEO + "GetTrainingStatus";
  await record(method(training), "GET json", () => unary(training, { get: true }), trainingJSON, expectCached);
  await record(method(training), "POST proto", () => unary(training, { codec: "proto", message: new Uint8Array() }), trainingProto);
  const started = await record(method(GEO + "Train"), "POST proto, 2 iterations", () => trainWhenFree(),
    (a) => ({ modelVersion: text(first(a.proto, 1)) }), (a) => a.status === 200 && text(first(a.proto, 1)) !== "");
  const version = started.values && started.values.modelVersion;
  const deadline = Date.now() + 120000;
  let last = {};
  while (version && Date.now() < deadline) {
    last = trainingJSON(await unary(training, { get: true, codec: "json" }));
    if (last.state !== "STATE_RUNNING" && last.servingModelVersion === version) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await record(method(training), "GET proto base64, after Train", () => unary(training, { get: true, codec: "proto", message: new Uint8Array() }),
    trainingProto, (a) => a.status === 200 && trainingProto(a).servingModelVersion === version);

  results.missing = results.routes.filter((route) => !covered.has(route));
}

async function run(event) {
  event.preventDefault();
  results.done = false;
  results.cases = [];
  $("results").tBodies[0].replaceChildren();
  $("summary").textContent = "calling…";
  try {
    await callEveryMethod();
  } catch (failure) {
    results.failure = String(failure);
  }
  const passed = results.cases.filter((entry) => entry.ok).length;
  const methods = new Set(results.cases.filter((entry) => entry.method !== "preflight").map((entry) => entry.method));
  $("summary").textContent = passed + " of " + results.cases.length + " calls as expected, " + methods.size + " methods from "
    + location.origin + (results.missing.length ? "; not called: " + results.missing.join(", ") : "; every route of the service called")
    + (results.failure ? "; stopped: " + results.failure : "");
  results.done = true;
  document.body.dataset.done = "1";
}

document.addEventListener("DOMContentLoaded", () => $("form").addEventListener("submit", run));
