/*! django-task-api 2.0.0 | BSD-3-Clause */
"use strict";

// src/errors.ts
var TaskAPIError = class extends Error {
  constructor(code, message, task = null, httpStatus = null, body = null) {
    super(message);
    withTask(Object.assign(this, { name: "TaskAPIError", code, httpStatus, body }), task);
  }
};
var withTask = (err, task) => Object.assign(err, task, { json: task });
var taskError = (t) => new TaskAPIError(
  t.status == "cancelled" ? "cancelled" : "failed",
  t.error ? t.error.type + ": " + t.error.message : "Task " + t.status,
  t
);

// src/http.ts
function cookie(name) {
  for (const part of (globalThis.document?.cookie || "").split(";")) {
    const i = part.indexOf("=");
    if (part.slice(0, i).trim() == name) return decodeURIComponent(part.slice(i + 1).trim());
  }
}
var flatten = (v, path) => v && typeof v == "object" ? Object.entries(v).flatMap(([k, x]) => flatten(x, Array.isArray(v) ? path : path ? path + "." + k : k)) : [(path && path != "detail" ? path + ": " : "") + v];
var apiError = (status, data, fallback = "") => new TaskAPIError(status == 400 ? "bad_request" : "http_error", data && flatten(data, "").join("; ") || fallback, null, status, data);
async function request(o, method, path, body, key) {
  const headers = { Accept: "application/json" };
  const token = method != "GET" && cookie(o.csrfCookieName);
  if (token) headers[o.csrfHeaderName] = token;
  if (body) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  let res, text;
  const url = o.baseURL.replace(/\/?$/, "/") + path;
  const ctl = globalThis.AbortController && new AbortController();
  const timer = setTimeout(() => ctl?.abort(), o.timeout);
  try {
    res = await fetch(url, { method, headers, credentials: o.credentials, body: body && JSON.stringify(body), signal: ctl?.signal });
    text = await res.text();
  } catch (e) {
    const why = ctl?.signal.aborted ? "no answer in " + o.timeout + " ms" : e.message;
    throw Object.assign(new TaskAPIError("network", "Network error: " + why), { cause: e });
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
  }
  if (res.ok && data) return data;
  throw apiError(
    res.status,
    data,
    // Not the API's JSON: say where it went wrong, loudly.
    `${method} ${url}: HTTP ${res.status}, not the task API's JSON` + (res.status == 404 ? " (is task_api.urls included, and options.baseURL right?)" : "") + (res.status == 403 ? ` (Django's CSRF check: is there a ${o.csrfCookieName} cookie? ensure_csrf_cookie on the page's view sets it)` : "")
  );
}

// src/options.ts
var options = {
  baseURL: "/tasks/",
  wsURL: "/ws/tasks/",
  csrfCookieName: "csrftoken",
  csrfHeaderName: "X-CSRFToken",
  pollInterval: 1e3,
  transport: "auto",
  maxRetries: 5,
  credentials: "same-origin",
  timeout: 15e3,
  connectTimeout: 5e3,
  startFrame: true
};
var isTerminal = (t) => /^(succeeded|failed|cancelled)$/.test(t.status);
var backoff = (base, n) => Math.min(base * 2 ** n, 3e4) * (1 - Math.random() / 2);

// src/socket.ts
var conns = /* @__PURE__ */ new Map();
function socketURL(url) {
  const u = new URL(url, globalThis.location?.href);
  u.protocol = u.protocol.replace("http", "ws");
  return u.href;
}
var connection = (url) => conns.get(url) || open(url);
var existing = (url) => conns.get(socketURL(url));
var IDLE = 2e3;
var BEAT = 25e3;
function open(url) {
  const subs = /* @__PURE__ */ new Set();
  let ws = null;
  let live = false;
  let failures = 0;
  let quiet = false;
  let retry;
  let opening;
  let idle;
  let beat;
  const asks = /* @__PURE__ */ new Map();
  let refs = 0;
  const send = (type, uuid, batch) => live && ws.send(JSON.stringify(batch ? { type, batch: uuid } : { type, uuid }));
  const about = (sub, f) => sub.batch ? f.batch == sub.uuid : f.uuid == sub.uuid;
  function connect() {
    retry = void 0;
    let s;
    try {
      s = ws = new WebSocket(url);
    } catch {
      return lost(ws = null);
    }
    opening = setTimeout(() => lost(s), options.connectTimeout);
    s.onopen = () => {
      clearTimeout(opening);
      live = true;
      quiet = false;
      beat = setInterval(() => quiet ? lost(s) : (quiet = true, send("ping")), BEAT);
      for (const sub of subs) sub.down(0), conn.subscribe(sub);
    };
    s.onmessage = (e) => {
      let f;
      quiet = false;
      failures = 0;
      try {
        f = JSON.parse(e.data);
      } catch {
        return;
      }
      asks.get(f.ref)?.(f);
      for (const sub of subs) if (about(sub, f)) sub.frame(f);
    };
    s.onerror = s.onclose = () => lost(s);
  }
  function lost(s) {
    if (s != ws) return;
    close();
    failures++;
    for (const sub of subs) sub.down(failures);
    if (subs.size) retry = setTimeout(connect, backoff(1e3, failures - 1));
  }
  function close() {
    const s = ws;
    ws = null;
    live = false;
    clearInterval(beat);
    clearTimeout(retry);
    clearTimeout(opening);
    for (const answer of asks.values()) answer(null);
    if (s) s.onopen = s.onmessage = s.onerror = s.onclose = null, s.close();
  }
  const conn = {
    add(sub) {
      clearTimeout(idle);
      subs.add(sub);
      if (live) conn.subscribe(sub);
      else {
        if (failures) sub.down(failures);
        if (!ws && !retry) connect();
      }
    },
    remove(sub) {
      if (!subs.delete(sub)) return;
      if (![...subs].some((x) => x.uuid == sub.uuid && x.batch == sub.batch)) send("unsubscribe", sub.uuid, sub.batch);
      if (!subs.size) idle = setTimeout(() => (close(), conns.delete(url)), IDLE);
    },
    subscribe: (sub) => send("subscribe", sub.uuid, sub.batch),
    start(body, ms) {
      const ref = "" + ++refs;
      const text = JSON.stringify({ type: "start", ref, ...body });
      if (live && new TextEncoder().encode(text).length <= 4096)
        return new Promise((y) => {
          const timer = setTimeout(() => answer(null), ms);
          const answer = (f) => (asks.delete(ref), clearTimeout(timer), y(f));
          asks.set(ref, answer);
          ws.send(text);
        });
    }
  };
  conns.set(url, conn);
  return conn;
}

// src/batch.ts
var settings = (o) => ({ ...options, ...o });
var isFinal = (b) => b.total > 0 && b.status != "pending" && b.status != "running";
var startBatch = (starts, o) => request(settings(o), "POST", "batches/", { tasks: starts.map((s) => ({ task: s.task, inputs: s.inputs || {} })) });
var getBatch = (uuid, o) => request(settings(o), "GET", "batches/" + uuid + "/");
var cancelBatch = (uuid, o) => request(settings(o), "POST", "batches/" + uuid + "/cancel/");
async function results(o, b) {
  const found = /* @__PURE__ */ new Map();
  for (let page = 1; ; page++) {
    const data = await request(o, "GET", `?batch=${b.uuid}&page_size=200&page=${page}`);
    for (const t of data.results) found.set(t.uuid, t);
    if (!data.next) break;
  }
  const order = b.tasks || [...found.keys()];
  return order.map((uuid) => found.get(uuid)).filter(Boolean);
}
var runAll = (starts, o) => track(settings(o), null, () => startBatch(starts, o));
var watchBatch = (uuid, o) => track(settings(o), uuid);
function call(fn, arg) {
  try {
    fn && fn(arg);
  } catch (e) {
    console.error(e);
  }
}
function track(o, uuid, create) {
  let done = false;
  let last = null;
  let stopFollowing = () => {
  };
  let resolve;
  let reject;
  let ready;
  let unready;
  const started = new Promise((y, n) => (ready = y, unready = n));
  const promise = new Promise((y, n) => (resolve = y, reject = n));
  started.catch(() => {
  });
  if (o.onError) promise.catch(() => {
  });
  function fail(err) {
    if (done) return;
    done = true;
    stopFollowing();
    unready(err);
    call(o.onError, err);
    reject(err);
  }
  function update(b) {
    if (done || last && b.seq <= last.seq) return;
    last = { ...b, tasks: b.tasks || last?.tasks };
    ready(last);
    call(o.onProgress, last);
    if (!isFinal(last)) return;
    done = true;
    stopFollowing();
    const final = last;
    results(o, final).then(
      (tasks) => {
        const result = { batch: final, tasks };
        call(o.onSuccess, result);
        resolve(result);
      },
      (e) => (done = false, fail(e))
    );
  }
  function begin(id, known) {
    uuid = id;
    if (known) update(known);
    if (!done) stopFollowing = follow(id, o, update, fail);
  }
  const cancel2 = () => (uuid ? Promise.resolve(uuid) : started.then((b) => b.uuid)).then(
    (id) => done ? null : cancelBatch(id, o).then((b) => (update(b), b), () => null),
    () => null
  );
  if (create) create().then((b) => begin(b.uuid, b), fail);
  else begin(uuid, null);
  return Object.assign(promise, { started, cancel: cancel2 });
}
function follow(uuid, o, update, fail) {
  let timer;
  let gen = 0;
  let polling = false;
  let conn;
  async function poll(g, failures = 0) {
    let delay = o.pollInterval;
    try {
      const b = await getBatch(uuid, o);
      if (g == gen) update(b);
    } catch (e) {
      const err = e;
      if (g != gen) return;
      if (!(err.code == "network" || err.httpStatus >= 500 || err.httpStatus == 429) || ++failures > o.maxRetries)
        return fail(err);
      delay = backoff(delay, failures);
    }
    if (g == gen) timer = setTimeout(() => poll(g, failures), delay);
  }
  function setPolling(on) {
    if (on == polling) return;
    polling = on;
    clearTimeout(timer);
    if (on) poll(++gen);
    else gen++;
  }
  const sub = {
    uuid,
    batch: true,
    frame(f) {
      const data = f;
      if (f.type == "batch_snapshot" && data.data) update(data.data);
      else if (f.type == "batch_update" && data.set) update(data.set);
      else if (f.type == "error") {
        conn?.remove(sub);
        conn = void 0;
        if (o.transport != "websocket") setPolling(true);
        else fail(new TaskAPIError("http_error", f.detail || f.code, null, f.code == "not_found" ? 404 : null, f));
      }
    },
    down(failures) {
      if (o.transport != "websocket") setPolling(failures > 0);
      else if (failures > o.maxRetries) fail(new TaskAPIError("network", "WebSocket unavailable"));
    }
  };
  let url = "";
  try {
    url = o.transport != "polling" && typeof WebSocket == "function" ? socketURL(o.wsURL) : "";
  } catch {
  }
  if (url) (conn = connection(url)).add(sub);
  else if (o.transport != "websocket") setPolling(true);
  else fail(new TaskAPIError("network", "WebSocket unavailable"));
  return () => {
    setPolling(false);
    conn?.remove(sub);
    conn = void 0;
  };
}

// src/watcher.ts
function follow2(uuid, o, known, update, fail) {
  let task = known;
  let conn;
  let timer;
  let gen = 0;
  let polling = false;
  let resyncing = false;
  function push(t) {
    if (task && t.seq < task.seq) return;
    resyncing = false;
    if (JSON.stringify(t) != JSON.stringify(task)) update(task = t);
  }
  async function poll(g, failures = 0) {
    let delay = o.pollInterval;
    try {
      const t = await request(o, "GET", uuid + "/");
      if (g == gen) push(t);
    } catch (e) {
      const err = e;
      if (g != gen) return;
      if (!(err.code == "network" || err.httpStatus >= 500 || err.httpStatus == 429 || err.httpStatus == 408))
        return fail(withTask(err, task));
      delay = backoff(delay, ++failures);
    }
    if (g == gen) timer = setTimeout(() => poll(g, failures), delay);
  }
  function setPolling(on) {
    if (on == polling) return;
    polling = on;
    clearTimeout(timer);
    if (on) poll(++gen);
    else gen++;
  }
  function detach() {
    conn?.remove(sub);
    conn = void 0;
  }
  const sub = {
    uuid,
    frame(f) {
      if (f.type == "snapshot") push(f.task);
      else if (f.type == "update" && task && f.seq > task.seq) {
        if ((f.base ?? f.seq - 1) == task.seq) {
          const append = f.append || [];
          push({
            ...task,
            ...f.set,
            seq: f.seq,
            messages: task.messages.concat(append.map((e) => e.value)),
            message_log: task.message_log.concat(append)
          });
        } else if (!resyncing) {
          resyncing = true;
          conn.subscribe(sub);
        }
      } else if (f.type == "error") {
        detach();
        if (o.transport != "websocket") setPolling(true);
        else fail(new TaskAPIError("http_error", f.detail || f.code, task, f.code == "not_found" ? 404 : null, f));
      }
    },
    down(failures) {
      resyncing = false;
      if (o.transport != "websocket") setPolling(failures > 0);
      else if (failures > o.maxRetries) fail(new TaskAPIError("network", "WebSocket unavailable", task));
    }
  };
  let url = "";
  try {
    url = o.transport != "polling" && typeof WebSocket == "function" ? socketURL(o.wsURL) : "";
  } catch {
  }
  if (url) (conn = connection(url)).add(sub);
  else if (o.transport != "websocket") setPolling(true);
  else fail(new TaskAPIError("network", "WebSocket unavailable", task));
  return {
    push,
    stop() {
      setPolling(false);
      detach();
    }
  };
}

// src/index.ts
var settings2 = (o) => ({ ...TaskAPI.options, ...o });
var callSettings = (a, b, c) => settings2(a && typeof a == "object" ? a : { onProgress: a, onSuccess: b, onError: c });
var start = (name, inputs = {}, o) => {
  const s = settings2(o);
  const body = { task: name, inputs };
  const key = s.idempotencyKey || globalThis.crypto?.randomUUID?.() || Math.random() + "-" + Date.now();
  const post = () => request(s, "POST", "", body, key);
  let sent;
  try {
    sent = s.startFrame && s.transport != "polling" && existing(s.wsURL)?.start({ ...body, idempotency_key: key }, s.timeout);
  } catch {
  }
  return sent ? sent.then(
    (f) => !f || f.code == "too_many" ? post() : f.type == "started" ? f.task : Promise.reject(apiError(f.status, f.errors || { detail: f.detail }))
  ) : post();
};
var cancel = (uuid, o) => request(settings2(o), "POST", uuid + "/cancel/");
var get = (uuid, o) => request(settings2(o), "GET", uuid + "/");
var run = (name, inputs, a, b, c) => {
  const o = callSettings(a, b, c);
  return track2(o, null, () => start(name, inputs, o));
};
var watch = (uuid, a, b, c) => track2(callSettings(a, b, c), uuid);
function guard(o, fn, arg, task) {
  try {
    fn && fn(arg);
  } catch (e) {
    const err = Object.assign(new TaskAPIError("callback_error", "Callback failed: " + e, task), { cause: e });
    try {
      ;
      (o.onCallbackError || console.error)(err);
    } catch (x) {
      console.error(x);
    }
  }
}
function track2(o, uuid, create) {
  const { signal } = o;
  let done = false;
  let last = null;
  let follower;
  let resolve;
  let reject;
  let ready;
  let unready;
  const started = new Promise((y, n) => (ready = y, unready = n));
  const promise = new Promise((y, n) => (resolve = y, reject = n));
  function settle(err, t) {
    if (done) return;
    done = true;
    follower?.stop();
    signal?.removeEventListener("abort", abort);
    if (err) unready(err), guard(o, o.onError, err, last), reject(err);
    else guard(o, o.onSuccess, t, t), resolve(t);
  }
  function update(t) {
    if (done) return;
    ready(last = t);
    guard(o, o.onProgress, t, t);
    if (isTerminal(t)) settle(t.status == "succeeded" ? null : taskError(t), t);
  }
  function begin(uuid2, known) {
    if (known) update(known);
    if (!done) follower = follow2(uuid2, o, known, update, settle);
    if (done) follower?.stop();
  }
  function stop() {
    return (uuid ? Promise.resolve(uuid) : started.then((t) => t.uuid)).then(
      (uuid2) => done ? null : cancel(uuid2, o).then(
        (t) => (follower?.push(t), t),
        (e) => {
          if (e.httpStatus != 409) {
            const err = new TaskAPIError("aborted", "Cancel failed: " + e.message, null, e.httpStatus, e.body);
            settle(withTask(Object.assign(err, { cause: e }), last));
          }
          return null;
        }
      ),
      () => null
    );
  }
  const abort = () => void stop();
  started.catch(() => {
  });
  if (o.onError) promise.catch(() => {
  });
  if (signal?.aborted) settle(new TaskAPIError("aborted", "Aborted before start"));
  else {
    signal?.addEventListener("abort", abort);
    if (create) create().then((t) => begin(t.uuid, t), settle);
    else begin(uuid, null);
  }
  return Object.assign(promise, { started, cancel: stop });
}
var TaskAPI = { options, run, watch, start, cancel, get, TaskAPIError, runAll, watchBatch, startBatch, getBatch, cancelBatch };
var index_default = TaskAPI;

// src/node.ts
module.exports = Object.assign(index_default, { default: index_default });
