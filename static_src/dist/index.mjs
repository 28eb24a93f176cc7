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
  for (const part of (globalThis.document?.cookie || "").split(/; */))
    if (part.startsWith(name + "=")) return decodeURIComponent(part.slice(name.length + 1));
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
var socketURL = (url) => new URL(url, globalThis.location?.href).href.replace(/^http/, "ws");
function socketOf(o) {
  try {
    if (o.transport != "polling" && typeof WebSocket == "function") return socketURL(o.wsURL);
  } catch {
  }
}
var connection = (url) => conns.get(url) || open(url);
var existing = (url) => conns.get(url);
var IDLE = 2e3;
var BEAT = 25e3;
function open(url) {
  const subs = /* @__PURE__ */ new Set();
  let ws = null;
  let failures = 0;
  let quiet = false;
  let timer;
  let idle;
  let beat;
  const send = (frame) => conn.live && frame && ws.send(JSON.stringify(frame));
  const connect = () => {
    let s;
    try {
      s = ws = new WebSocket(url);
    } catch {
      return lost(ws = null);
    }
    timer = setTimeout(() => lost(s), options.connectTimeout);
    s.onopen = () => {
      clearTimeout(timer);
      conn.live = true;
      quiet = false;
      beat = setInterval(() => quiet ? lost(s) : (quiet = true, send({ type: "ping" })), BEAT);
      for (const sub of subs) sub.down(0), send(sub.hello);
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
      for (const sub of subs) if (f[sub.key] == sub.id) sub.frame(f);
    };
    s.onerror = s.onclose = () => lost(s);
  };
  const lost = (s) => {
    if (s != ws) return;
    close();
    failures++;
    for (const sub of subs) sub.down(failures);
    timer = setTimeout(connect, backoff(1e3, failures - 1));
  };
  const close = () => {
    const s = ws;
    ws = null;
    conn.live = false;
    clearInterval(beat);
    clearTimeout(timer);
    if (s) s.onopen = s.onmessage = s.onerror = s.onclose = null, s.close();
  };
  const conn = {
    live: false,
    add(sub) {
      clearTimeout(idle);
      subs.add(sub);
      if (conn.live) send(sub.hello);
      else if (failures) sub.down(failures);
    },
    remove(sub) {
      if (!subs.delete(sub)) return;
      if (![...subs].some((x) => x.key == sub.key && x.id == sub.id)) send(sub.bye);
      if (!subs.size) idle = setTimeout(() => (close(), conns.delete(url)), IDLE);
    },
    hello: (sub) => send(sub.hello)
  };
  conns.set(url, conn);
  connect();
  return conn;
}

// src/follow.ts
function follow(kind, o, id, create) {
  const { signal } = o;
  const socketOnly = o.transport == "websocket";
  let ready;
  let unready;
  let resolve;
  let reject;
  const started = new Promise((y, n) => (ready = y, unready = n));
  const promise = new Promise((y, n) => (resolve = y, reject = n));
  let state = null;
  let over = false;
  let conn;
  let timer;
  let gen = 0;
  let polling = false;
  let resyncing = false;
  const guard = (fn, arg) => {
    try {
      fn?.(arg);
    } catch (e) {
      const err = Object.assign(kind.describe(new TaskAPIError("callback_error", "Callback failed: " + e), state), { cause: e });
      try {
        ;
        (o.onCallbackError || console.error)(err);
      } catch (x) {
        console.error(x);
      }
    }
  };
  const end = (outcome) => {
    over = true;
    setPolling(false);
    conn?.remove(sub);
    signal?.removeEventListener("abort", cancel2);
    outcome.then(
      (r) => (guard(o.onSuccess, r), resolve(r)),
      (err) => (unready(err = kind.describe(err, state)), guard(o.onError, err), reject(err))
    );
  };
  const settle = (err) => over || end(Promise.reject(err));
  const push = (s) => {
    if (over || state && s.seq < state.seq) return;
    resyncing = false;
    if (JSON.stringify(s) == JSON.stringify(state)) return;
    ready(state = s);
    guard(o.onProgress, s);
    if (kind.final(s)) end(Promise.resolve(kind.outcome(s, o)));
  };
  async function poll(g, failures = 0) {
    let delay = o.pollInterval;
    try {
      const s = await request(o, "GET", kind.path(id));
      if (g == gen) push(s);
    } catch (e) {
      if (g != gen) return;
      if (!retryable(e)) return settle(e);
      delay = backoff(delay, ++failures);
    }
    if (g == gen) timer = setTimeout(() => poll(g, failures), delay);
  }
  const setPolling = (on) => {
    if (on == polling) return;
    polling = on;
    clearTimeout(timer);
    if (on) poll(++gen);
    else gen++;
  };
  const unavailable = (err) => socketOnly ? settle(err) : setPolling(true);
  const noSocket = () => new TaskAPIError("network", "WebSocket unavailable");
  const sub = {
    key: kind.key,
    id: "",
    hello: {},
    frame(f) {
      if (f.type != "error") {
        const s = kind.merge(state, f, () => void (resyncing || (resyncing = true, conn.hello(sub))));
        if (s) push(s);
      } else {
        conn.remove(sub);
        conn = void 0;
        unavailable(new TaskAPIError("http_error", f.detail || f.code, null, f.code == "not_found" ? 404 : null, f));
      }
    },
    down(failures) {
      resyncing = false;
      if (!socketOnly) setPolling(failures > 0);
      else if (failures > o.maxRetries) settle(noSocket());
    }
  };
  function begin(uuid, known) {
    sub.id = id = uuid;
    sub.hello = { type: "subscribe", [kind.key]: uuid };
    sub.bye = { type: "unsubscribe", [kind.key]: uuid };
    if (known) push(known);
    if (over) return;
    const url = socketOf(o);
    if (url) (conn = connection(url)).add(sub);
    else unavailable(noSocket());
  }
  function cancel2() {
    return Promise.resolve(id || started.then((s) => s.uuid)).then(
      (uuid) => over ? null : kind.cancel(uuid, o).then(
        (s) => (push(s), s),
        (e) => {
          const err = kind.cancelFailed(e);
          if (err) settle(err);
          return null;
        }
      ),
      () => null
    );
  }
  started.catch(() => {
  });
  if (o.onError) promise.catch(() => {
  });
  if (signal?.aborted) settle(new TaskAPIError("aborted", "Aborted before start"));
  else {
    signal?.addEventListener("abort", cancel2);
    if (create) create().then((s) => begin(s.uuid, s), settle);
    else begin(id, null);
  }
  return Object.assign(promise, { started, cancel: cancel2 });
}

// src/batch.ts
var startBatch = (starts, o) => request(settings(o), "POST", "batches/", { tasks: starts.map((s) => ({ task: s.task, inputs: s.inputs || {} })) });
var getBatch = (uuid, o) => request(settings(o), "GET", "batches/" + uuid + "/");
var cancelBatch = (uuid, o) => request(settings(o), "POST", "batches/" + uuid + "/cancel/");
var runAll = (starts, o) => follow(batchKind, settings(o), null, () => startBatch(starts, o));
var watchBatch = (uuid, o) => follow(batchKind, settings(o), uuid);
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
  cancel: cancelBatch,
  cancelFailed: () => void 0,
  describe: (e) => e
};

// src/task.ts
var callSettings = (a, b, c) => settings(a && typeof a == "object" ? a : { onProgress: a, onSuccess: b, onError: c });
var extras = {};
var start = (name, inputs = {}, o) => {
  const s = settings(o);
  const key = s.idempotencyKey || globalThis.crypto?.randomUUID?.() || Math.random() + "-" + Date.now();
  const post = () => request(s, "POST", "", { task: name, inputs }, key);
  return extras.startFrame?.(s, { task: name, inputs, idempotency_key: key }, post) || post();
};
var cancel = (uuid, o) => request(settings(o), "POST", uuid + "/cancel/");
var get = (uuid, o) => request(settings(o), "GET", uuid + "/");
var run = (name, inputs, a, b, c) => {
  const o = callSettings(a, b, c);
  return follow(taskKind, o, null, () => start(name, inputs, o));
};
var watch = (uuid, a, b, c) => follow(taskKind, callSettings(a, b, c), uuid);
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

// src/start-frame.ts
var refs = 0;
function startFrame(o, body, post) {
  const url = o.startFrame && socketOf(o);
  const conn = url && existing(url);
  const ref = "" + ++refs;
  const hello = { type: "start", ref, ...body };
  if (conn && conn.live && new TextEncoder().encode(JSON.stringify(hello)).length <= 4096)
    return new Promise((answer) => {
      const done = (f) => (clearTimeout(timer), conn.remove(sub), answer(f));
      const sub = { key: "ref", id: ref, hello, frame: done, down: () => done(null) };
      const timer = setTimeout(done, o.timeout, null);
      conn.add(sub);
    }).then(
      (f) => !f || f.code == "too_many" ? post() : f.type == "started" ? f.task : Promise.reject(apiError(f.status, f.errors || { detail: f.detail }))
    );
}

// src/index.ts
extras.startFrame = startFrame;
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
