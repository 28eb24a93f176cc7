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
var shareCode = (body) => /^share_/.test(body?.code) && body.code;

// src/http.ts
function cookie(name) {
  for (const part of (globalThis.document?.cookie || "").split(/; */))
    if (part.startsWith(name + "=")) return decodeURIComponent(part.slice(name.length + 1));
}
var flatten = (v, path) => v && typeof v == "object" ? Object.entries(v).flatMap(([k, x]) => flatten(x, Array.isArray(v) ? path : path ? path + "." + k : k)) : [(path && path != "detail" ? path + ": " : "") + v];
var apiError = (status, data, fallback = "") => {
  const share2 = shareCode(data);
  const message = share2 ? data.detail : data && flatten(data, "").join("; ");
  return new TaskAPIError(status == 400 ? "bad_request" : share2 || "http_error", message || fallback, null, status, data);
};
async function request(o, method, path, body, key) {
  const headers = { Accept: "application/json" };
  const token = method != "GET" && cookie(o.csrfCookieName);
  if (token) headers[o.csrfHeaderName] = token;
  if (body) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  if (o.share) headers["X-Share-Token"] = o.share;
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
      for (const sub of subs) if (f[sub.key] == sub.id && f.stream == sub.stream) sub.frame(f);
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
      if (![...subs].some((x) => x.key == sub.key && x.id == sub.id && x.stream == sub.stream)) send(sub.bye);
      if (!subs.size) idle = setTimeout(() => (close(), conns.delete(url)), IDLE);
    },
    hello: (sub) => send(sub.hello)
  };
  conns.set(url, conn);
  connect();
  return conn;
}

// src/follow.ts
function follow(kind, o, id, create2) {
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
  const noSocket2 = () => new TaskAPIError("network", "WebSocket unavailable");
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
        unavailable(new TaskAPIError(shareCode(f) || "http_error", f.detail || f.code, null, f.code == "not_found" ? 404 : null, f));
      }
    },
    down(failures) {
      resyncing = false;
      if (!socketOnly) setPolling(failures > 0);
      else if (failures > o.maxRetries) settle(noSocket2());
    }
  };
  function begin(uuid, known) {
    sub.id = id = uuid;
    sub.hello = { type: "subscribe", [kind.key]: uuid, ...{ share: o.share } };
    sub.bye = { type: "unsubscribe", [kind.key]: uuid };
    if (known) push(known);
    if (over) return;
    const url = socketOf(o);
    if (url) (conn = connection(url)).add(sub);
    else unavailable(noSocket2());
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
    if (create2) create2().then((s) => begin(s.uuid, s), settle);
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
  if (o.share) return Promise.all((b.tasks || []).map((uuid) => read(o, uuid + "/")));
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

// src/share.ts
var create = (path, so) => request(settings(so), "POST", path + "share/", { expires_in: so?.expiresIn ?? void 0, can_cancel: !!so?.canCancel }).then(
  (l) => ({ token: l.token, expires: l.expires, canCancel: l.can_cancel })
);
var revoke = (path, token, o) => request(settings(o), "POST", path + "share/revoke/", token ? { token } : {}).then((r) => r.revoked);
var share = (uuid, o) => create(uuid + "/", o);
var shareBatch = (uuid, o) => create("batches/" + uuid + "/", o);
var revokeShares = (uuid, token, o) => revoke(uuid + "/", token, o);
var revokeBatchShares = (uuid, token, o) => revoke("batches/" + uuid + "/", token, o);

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

// src/api.ts
extras.startFrame = startFrame;

// src/events.ts
function events(o, uuid, streams, frame, failed) {
  if (typeof EventSource != "function") return;
  const url = o.baseURL.replace(/\/?$/, "/") + uuid + "/events/?streams=" + streams.map((s) => s.join(":")) + (o.share ? "&share=" + encodeURIComponent(o.share) : "");
  const source = new EventSource(url, { withCredentials: o.credentials == "include" });
  let live = false;
  const close = () => (clearTimeout(timer), source.close());
  const fail = () => (close(), failed());
  const timer = setTimeout(fail, o.connectTimeout);
  const take = (e) => {
    let f;
    live = true;
    clearTimeout(timer);
    try {
      f = JSON.parse(e.data);
    } catch {
      return;
    }
    frame(f);
  };
  for (const type of ["snapshot", "update", "chunks"]) source.addEventListener(type, take);
  source.onerror = (e) => "data" in e ? take(e) : (!live || source.readyState == 2) && fail();
  return close;
}

// src/streams.ts
function read2(o, id, readers) {
  const socketOnly = o.transport == "websocket";
  const url = socketOf(o);
  let tracks = [];
  let over = false;
  let down = false;
  let close;
  let settle;
  const done = new Promise(
    (y, n) => settle = (e) => over || (over = true, tracks.forEach((t) => t.stop()), close?.(), e ? n(e) : y())
  );
  const serve = (uuid) => {
    close?.();
    const open2 = tracks.filter((t) => !t.over && !t.refused);
    const poll = (on) => open2.forEach((t) => t.poll(on));
    const frame = (f) => {
      for (const t of open2)
        if (!f.stream || f.stream == t.reader.name) {
          if (f.type == "chunks") t.feed(chunksOf(f), () => serve(uuid));
          else if (f.type == "error") t.refused = true, t.poll(true);
        }
    };
    const pairs = open2.map((t) => [t.reader.name, t.reader.next]);
    close = down && o.transport != "polling" ? events(o, uuid, pairs, frame, () => (close = void 0, poll(true))) : void 0;
    poll(down && !close);
  };
  const setDown = (on, uuid) => on != down && (down = on, serve(uuid));
  const track = (uuid, reader) => {
    const { name } = reader;
    const conn = url && connection(url);
    let gen = 0;
    let polling = false;
    let resyncing = false;
    let timer;
    async function poll(g, failures = 0) {
      let delay = o.pollInterval;
      try {
        const f = await request(o, "GET", uuid + "/streams/" + name + "/?offset=" + reader.next);
        if (g == gen) t.feed(f, () => {
        });
      } catch (e) {
        if (g != gen) return;
        if (!retryable(e)) return settle(e);
        delay = backoff(delay, ++failures);
      }
      if (g == gen) timer = setTimeout(() => poll(g, failures), delay);
    }
    const sub = {
      key: "uuid",
      id: uuid,
      stream: name,
      // Read again on every reconnect, from the position reached.
      get hello() {
        return { type: "subscribe", uuid, stream: name, offset: reader.next, share: o.share };
      },
      bye: { type: "unsubscribe", uuid, stream: name },
      frame(f) {
        if (f.type == "chunks") t.feed(chunksOf(f), () => conn && conn.hello(sub));
        else if (f.type == "error") {
          conn && conn.remove(sub);
          t.refused = true;
          if (socketOnly) settle(new TaskAPIError(shareCode(f) || "http_error", f.detail || f.code, null, f.code == "not_found" ? 404 : null, f));
          else t.poll(true);
        }
      },
      down(failures) {
        if (!socketOnly) setDown(failures > 0, uuid);
        else if (failures > o.maxRetries) settle(noSocket());
      }
    };
    const t = {
      reader,
      feed(f, resync) {
        if (t.over) return;
        if (f.offset > reader.next) return void (resyncing || (resyncing = true, resync()));
        resyncing = false;
        const fresh = f.chunks.slice(reader.next - f.offset);
        const at = reader.next;
        reader.next += fresh.length;
        if (fresh.length) reader.take(fresh, at);
        if (f.done && reader.next >= f.next) {
          t.over = true;
          t.stop();
          if (tracks.every((x) => x.over)) settle();
        }
      },
      poll(on) {
        if (on == polling) return;
        polling = on;
        clearTimeout(timer);
        if (on) poll(++gen);
        else gen++;
      },
      begin: () => conn && conn.add(sub),
      stop() {
        conn && conn.remove(sub);
        t.poll(false);
      }
    };
    return t;
  };
  Promise.resolve(id).then((uuid) => {
    if (over) return;
    tracks = readers.map((r) => track(uuid, r));
    tracks.forEach((t) => t.begin());
    if (!tracks.length) settle();
    else if (!url) socketOnly ? settle(noSocket()) : setDown(true, uuid);
  });
  return { done, stop: () => settle() };
}
var noSocket = () => new TaskAPIError("network", "WebSocket unavailable");
var chunksOf = (f) => f;
function stream(uuid, name, so) {
  let chunks = [];
  let at = 0;
  let error;
  let ended = false;
  let wake;
  let changed;
  const renew = () => changed = new Promise((y) => wake = y);
  let reading;
  renew();
  const reader = {
    name,
    next: so?.offset || 0,
    take: (more) => (chunks = chunks.slice(at).concat(more), at = 0, wake(), renew())
  };
  const it = {
    position: reader.next,
    async next() {
      if (!reading && !ended) {
        reading = read2(settings(so), uuid, [reader]);
        reading.done.then(
          () => ended = true,
          (e) => error = e
        ).then(() => wake());
      }
      while (at == chunks.length && !ended && !error) await changed;
      if (at < chunks.length) return it.position++, { value: chunks[at++], done: false };
      if (error) throw error;
      return { value: void 0, done: true };
    },
    async return() {
      reading?.stop();
      ended = true;
      chunks = [];
      at = 0;
      wake();
      return { value: void 0, done: true };
    },
    [Symbol.asyncIterator]: () => it
  };
  return it;
}
var guarded = (o, fn) => (chunks, offset) => {
  try {
    fn?.(chunks, offset);
  } catch (e) {
    const err = Object.assign(new TaskAPIError("callback_error", "Callback failed: " + e), { cause: e });
    try {
      ;
      (o.onCallbackError || console.error)(err);
    } catch (x) {
      console.error(x);
    }
  }
};
function following(o, id, create2) {
  const streams = o.streams;
  if (!streams) return follow(taskKind, o, id, create2);
  let known;
  const readers = Object.entries(streams).map(([name, s]) => ({ name, next: s.offset || 0, take: guarded(o, s.onChunks) }));
  const reading = read2(o, id || new Promise((y) => known = y), readers);
  reading.done.catch(() => {
  });
  const kind = { ...taskKind, outcome: (t, x) => reading.done.then(() => taskKind.outcome(t, x)) };
  const promise = follow(kind, o, id, create2 && (() => create2().then((t) => (known(t.uuid), t))));
  promise.catch(reading.stop);
  return promise;
}
var run2 = (name, inputs, a, b, c) => {
  const o = callSettings(a, b, c);
  return following(o, null, () => start(name, inputs, o));
};
var watch2 = (uuid, a, b, c) => following(callSettings(a, b, c), uuid);

// src/index.ts
var TaskAPI = {
  options,
  run: run2,
  watch: watch2,
  start,
  cancel,
  get,
  stream,
  TaskAPIError,
  runAll,
  watchBatch,
  startBatch,
  getBatch,
  cancelBatch,
  share,
  shareBatch,
  revokeShares,
  revokeBatchShares
};
var index_default = TaskAPI;
export {
  TaskAPIError,
  cancel,
  cancelBatch,
  index_default as default,
  get,
  getBatch,
  options,
  revokeBatchShares,
  revokeShares,
  run2 as run,
  runAll,
  share,
  shareBatch,
  start,
  startBatch,
  stream,
  watch2 as watch,
  watchBatch
};
