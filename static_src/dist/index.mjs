/*! django-task-api 2.0.0 | BSD-3-Clause */

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
var settings = (o) => ({ ...options, ...o });
var backoff = (base, n) => Math.min(base * 2 ** n, 3e4) * (1 - Math.random() / 2);
var retryable = (e) => e.code == "network" || e.httpStatus >= 500 || e.httpStatus == 408 || e.httpStatus == 429;

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
  const send = (type, sub) => live && ws.send(JSON.stringify(sub ? { type, [sub.key]: sub.id } : { type }));
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
      for (const sub of subs) if (f[sub.key] == sub.id) sub.frame(f);
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
      if (![...subs].some((x) => x.key == sub.key && x.id == sub.id)) send("unsubscribe", sub);
      if (!subs.size) idle = setTimeout(() => (close(), conns.delete(url)), IDLE);
    },
    subscribe: (sub) => send("subscribe", sub),
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

// src/follow.ts
function follow(kind, id, o, known, update, fail) {
  let state = known;
  let conn;
  let timer;
  let gen = 0;
  let polling = false;
  let resyncing = false;
  const socketOnly = o.transport == "websocket";
  function push(s) {
    if (state && s.seq < state.seq) return;
    resyncing = false;
    if (JSON.stringify(s) != JSON.stringify(state)) update(state = s);
  }
  async function poll(g, failures = 0) {
    let delay = o.pollInterval;
    try {
      const s = await request(o, "GET", kind.path(id));
      if (g == gen) push(s);
    } catch (e) {
      if (g != gen) return;
      if (!retryable(e)) return fail(e);
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
  const unavailable = (err) => socketOnly ? fail(err) : setPolling(true);
  const noSocket = () => new TaskAPIError("network", "WebSocket unavailable");
  const sub = {
    key: kind.key,
    id,
    frame(f) {
      if (f.type == "error") {
        detach();
        unavailable(new TaskAPIError("http_error", f.detail || f.code, null, f.code == "not_found" ? 404 : null, f));
      } else {
        const s = kind.merge(state, f, () => void (resyncing || (resyncing = true, conn?.subscribe(sub))));
        if (s) push(s);
      }
    },
    down(failures) {
      resyncing = false;
      if (!socketOnly) setPolling(failures > 0);
      else if (failures > o.maxRetries) fail(noSocket());
    }
  };
  let url = "";
  try {
    url = o.transport != "polling" && typeof WebSocket == "function" ? socketURL(o.wsURL) : "";
  } catch {
  }
  if (url) (conn = connection(url)).add(sub);
  else unavailable(noSocket());
  return {
    push,
    stop() {
      setPolling(false);
      detach();
    }
  };
}

// src/track.ts
function track(kind, o, id, create) {
  const { signal } = o;
  let over = false;
  let settled = false;
  let last = null;
  let follower;
  let resolve;
  let reject;
  let ready;
  let unready;
  const started = new Promise((y, n) => (ready = y, unready = n));
  const promise = new Promise((y, n) => (resolve = y, reject = n));
  const describe = (e) => kind.describe ? kind.describe(e, last) : e;
  function guard(fn, arg) {
    try {
      fn && fn(arg);
    } catch (e) {
      const err = Object.assign(describe(new TaskAPIError("callback_error", "Callback failed: " + e)), { cause: e });
      try {
        ;
        (o.onCallbackError || console.error)(err);
      } catch (x) {
        console.error(x);
      }
    }
  }
  function end() {
    over = true;
    follower?.stop();
    signal?.removeEventListener("abort", abort);
  }
  function settle(err, r) {
    if (settled) return;
    settled = true;
    end();
    if (err) unready(err = describe(err)), guard(o.onError, err), reject(err);
    else guard(o.onSuccess, r), resolve(r);
  }
  function update(s) {
    if (over) return;
    ready(last = s);
    guard(o.onProgress, s);
    if (!kind.final(s)) return;
    end();
    Promise.resolve().then(() => kind.outcome(s, o)).then((r) => settle(null, r), settle);
  }
  function begin(uuid, known) {
    id = uuid;
    if (known) update(known);
    if (!over) follower = follow(kind, uuid, o, known, update, settle);
    if (over) follower?.stop();
  }
  function cancel2() {
    return (id ? Promise.resolve(id) : started.then((s) => s.uuid)).then(
      (uuid) => over ? null : kind.cancel(uuid, o).then(
        (s) => (follower?.push(s), s),
        (e) => {
          const err = kind.cancelFailed?.(e);
          if (err) settle(err);
          return null;
        }
      ),
      () => null
    );
  }
  const abort = () => void cancel2();
  started.catch(() => {
  });
  if (o.onError) promise.catch(() => {
  });
  if (signal?.aborted) settle(new TaskAPIError("aborted", "Aborted before start"));
  else {
    signal?.addEventListener("abort", abort);
    if (create) create().then((s) => begin(s.uuid, s), settle);
    else begin(id, null);
  }
  return Object.assign(promise, { started, cancel: cancel2 });
}

// src/batch.ts
var startBatch = (starts, o) => request(settings(o), "POST", "batches/", { tasks: starts.map((s) => ({ task: s.task, inputs: s.inputs || {} })) });
var getBatch = (uuid, o) => request(settings(o), "GET", "batches/" + uuid + "/");
var cancelBatch = (uuid, o) => request(settings(o), "POST", "batches/" + uuid + "/cancel/");
var runAll = (starts, o) => track(batchKind, settings(o), null, () => startBatch(starts, o));
var watchBatch = (uuid, o) => track(batchKind, settings(o), uuid);
async function read(o, path, failures = 0) {
  try {
    return await request(o, "GET", path);
  } catch (e) {
    if (!retryable(e)) throw e;
    await new Promise((y) => setTimeout(y, backoff(o.pollInterval, ++failures)));
    return read(o, path, failures);
  }
}
async function results(o, b) {
  const found = /* @__PURE__ */ new Map();
  for (let page = 1; ; page++) {
    const data = await read(o, `?batch=${b.uuid}&page_size=200&page=${page}`);
    for (const t of data.results) found.set(t.uuid, t);
    if (!data.next) break;
  }
  const order = b.tasks || [...found.keys()];
  return order.map((uuid) => found.get(uuid)).filter(Boolean);
}
var batchKind = {
  key: "batch",
  path: (uuid) => "batches/" + uuid + "/",
  merge(b, f) {
    const { data, set } = f;
    if (f.type == "batch_snapshot") return data;
    if (f.type == "batch_update" && set && !(b && f.seq <= b.seq)) return { ...b, ...set };
  },
  final: (b) => b.total > 0 && b.status != "pending" && b.status != "running",
  outcome: (batch, o) => results(o, batch).then((tasks) => ({ batch, tasks })),
  cancel: cancelBatch
};

// src/task.ts
var callSettings = (a, b, c) => settings(a && typeof a == "object" ? a : { onProgress: a, onSuccess: b, onError: c });
var start = (name, inputs = {}, o) => {
  const s = settings(o);
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
var cancel = (uuid, o) => request(settings(o), "POST", uuid + "/cancel/");
var get = (uuid, o) => request(settings(o), "GET", uuid + "/");
var run = (name, inputs, a, b, c) => {
  const o = callSettings(a, b, c);
  return track(taskKind, o, null, () => start(name, inputs, o));
};
var watch = (uuid, a, b, c) => track(taskKind, callSettings(a, b, c), uuid);
var taskKind = {
  key: "uuid",
  path: (uuid) => uuid + "/",
  merge(t, f, resync) {
    if (f.type == "snapshot") return f.task;
    if (f.type != "update" || !t || f.seq <= t.seq) return;
    if ((f.base ?? f.seq - 1) != t.seq) return resync();
    const append = f.append || [];
    return {
      ...t,
      ...f.set,
      seq: f.seq,
      messages: t.messages.concat(append.map((e) => e.value)),
      message_log: t.message_log.concat(append)
    };
  },
  final: (t) => /^(succeeded|failed|cancelled)$/.test(t.status),
  outcome: (t) => t.status == "succeeded" ? t : Promise.reject(taskError(t)),
  cancel,
  // A finished task cannot be cancelled (409): it settles as it ended.
  cancelFailed: (e) => e.httpStatus == 409 ? void 0 : Object.assign(new TaskAPIError("aborted", "Cancel failed: " + e.message, null, e.httpStatus, e.body), { cause: e }),
  describe: withTask
};

// src/index.ts
var TaskAPI = { options, run, watch, start, cancel, get, TaskAPIError, runAll, watchBatch, startBatch, getBatch, cancelBatch };
var index_default = TaskAPI;
export {
  TaskAPIError,
  cancel,
  cancelBatch,
  index_default as default,
  get,
  getBatch,
  options,
  run,
  runAll,
  start,
  startBatch,
  watch,
  watchBatch
};
