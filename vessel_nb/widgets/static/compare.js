// vessel_nb CompareWidget view. Hand-written, self-contained ES module (no imports, no CDN).
//
// The `columns` trait holds each column's state (complete once the column has finished).
// While a run streams, each column's new text arrives as custom messages
// {t: "delta", run, col, seq, text, first?}; they are kept in a store per widget model,
// shared by every view. A view that misses a delta asks the kernel for a snapshot.

const STORES = new Map(); // widget uid -> store

function storeFor(model) {
  const uid = model.get("_uid");
  let store = STORES.get(uid);
  if (!store) {
    store = { run: "", texts: new Map(), listeners: new Set(), syncing: false };
    STORES.set(uid, store);
    model.on("msg:custom", (msg) => onMessage(model, store, msg));
    requestSync(model, store);
  }
  return store;
}

function requestSync(model, store) {
  if (store.syncing) return;
  store.syncing = true;
  model.send({ t: "sync" });
}

function useRun(store, run) {
  if (store.run !== run) {
    store.run = run;
    store.texts.clear();
  }
}

function onMessage(model, store, msg) {
  if (!msg || typeof msg !== "object") return;
  if (msg.t === "delta") {
    useRun(store, msg.run);
    let cur = store.texts.get(msg.col);
    if (!cur) {
      cur = { text: "", thinking: "", seq: 0, first: null };
      store.texts.set(msg.col, cur);
    }
    if (msg.seq <= cur.seq) return;
    if (msg.seq !== cur.seq + 1) requestSync(model, store);
    cur.text += msg.text || "";
    cur.thinking += msg.thinking || "";
    cur.seq = msg.seq;
    if (msg.first != null) cur.first = msg.first;
    for (const fn of store.listeners) fn({ kind: "delta", col: msg.col, text: msg.text || "" });
  } else if (msg.t === "snapshot") {
    store.syncing = false;
    useRun(store, msg.run);
    for (const [col, snap] of Object.entries(msg.texts || {})) {
      const cur = store.texts.get(col);
      if (!cur || snap.seq >= cur.seq) {
        store.texts.set(col, { text: snap.text || "", thinking: snap.thinking || "", seq: snap.seq, first: snap.first ?? null });
      }
    }
    for (const fn of store.listeners) fn({ kind: "all" });
  }
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k === "style") el.setAttribute("style", v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function secs(v) {
  if (v == null) return "–";
  return v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(1)} s`;
}

const STATUS_TEXT = { waiting: "waiting", streaming: "streaming", done: "done", error: "failed", stopped: "stopped" };

function render({ model, el }) {
  const store = storeFor(model);
  let runStart = null; // this view's clock at the start of the run, for the live timers
  let runSeen = "";

  const title = h("div", { class: "vnb-title" });
  const status = h("span", { class: "vnb-run-status" });
  const promptShown = h("div", { class: "vnb-cmp-prompt" });
  const notice = h("div", { class: "vnb-notice", hidden: true });
  const input = h("textarea", {
    class: "vnb-prompt", rows: 1, placeholder: "One prompt for every vessel… (Enter runs the comparison)",
    "aria-label": "comparison prompt", "data-lm-suppress-shortcuts": "true",
  });
  const runBtn = h("button", { class: "vnb-btn vnb-run", type: "button", text: "Compare" });
  const stopBtn = h("button", { class: "vnb-btn vnb-stop", type: "button", text: "Stop" });
  const cols = h("div", { class: "vnb-cols" });
  const summary = h("div", { class: "vnb-summary" });
  const root = h("div", { class: "vnb-cmp" },
    h("div", { class: "vnb-head" }, title, status),
    promptShown,
    cols,
    summary,
    notice,
    h("div", { class: "vnb-compose" }, input, stopBtn, runBtn));
  el.append(root);

  const colNodes = new Map();

  function info(name) {
    return (model.get("info") || []).find((i) => i.name === name) || { name };
  }

  function build() {
    colNodes.clear();
    cols.replaceChildren(...(model.get("vessels") || []).map((name) => {
      const v = info(name);
      const node = {
        root: null,
        status: h("span", { class: "vnb-status" }),
        ttft: h("span", { class: "vnb-metric-value" }),
        total: h("span", { class: "vnb-metric-value" }),
        rate: h("span", { class: "vnb-metric-value" }),
        barTtft: h("span", { class: "vnb-bar-ttft" }),
        barStream: h("span", { class: "vnb-bar-stream" }),
        text: h("div", { class: "vnb-text vnb-stream" }),
        error: h("div", { class: "vnb-error", hidden: true }),
      };
      node.root = h("div", { class: "vnb-col", "data-vessel": name, "data-status": "waiting" },
        h("div", { class: "vnb-col-head" },
          h("span", { class: "vnb-col-name", text: name }),
          h("span", { class: `vnb-chip ${v.local ? "vnb-local" : "vnb-cloud"}`, text: v.local ? "local" : "cloud" }),
          node.status),
        h("div", { class: "vnb-col-model", text: v.model || "" }),
        h("div", { class: "vnb-metrics" },
          h("span", { class: "vnb-metric", title: "time to first token" }, h("span", { class: "vnb-metric-label", text: "first token" }), node.ttft),
          h("span", { class: "vnb-metric", title: "whole call" }, h("span", { class: "vnb-metric-label", text: "total" }), node.total),
          h("span", { class: "vnb-metric", title: "output tokens per second, after the first" }, h("span", { class: "vnb-metric-label", text: "tokens/s" }), node.rate)),
        h("div", { class: "vnb-bar", title: "darker: waiting for the first token; lighter: streaming" }, node.barTtft, node.barStream),
        node.error,
        node.text);
      colNodes.set(name, node);
      return node.root;
    }));
  }

  function liveOf(name) {
    return store.run === model.get("run_id") ? store.texts.get(name) : null;
  }

  function elapsedNow() {
    return runStart == null ? null : (performance.now() - runStart) / 1000;
  }

  function paint() {
    const columns = model.get("columns") || {};
    const running = !!model.get("running");
    if (model.get("run_id") !== runSeen) {
      runSeen = model.get("run_id");
      runStart = running ? performance.now() : null;
    }
    const names = model.get("vessels") || [];
    // the bar scale: the slowest finished total, or the live clock while running
    const totals = names.map((n) => (columns[n] || {}).latency_s).filter((x) => x != null);
    const scale = Math.max(...totals, running ? elapsedNow() || 0 : 0, 0.001);
    const finished = names.filter((n) => (columns[n] || {}).status === "done");
    const fastest = finished.length > 1 ? finished.reduce((a, b) => (columns[a].latency_s <= columns[b].latency_s ? a : b)) : null;
    for (const name of names) {
      const node = colNodes.get(name);
      if (!node) continue;
      const c = columns[name] || { status: "waiting" };
      const live = liveOf(name);
      let st = c.status;
      if (st === "waiting" && live && live.first != null) st = "streaming";
      node.root.dataset.status = st;
      node.root.classList.toggle("vnb-fastest", name === fastest);
      node.status.textContent = name === fastest ? "fastest" : STATUS_TEXT[st] || st;
      const ttft = c.ttft_s ?? (live ? live.first : null);
      const total = c.latency_s ?? (st === "waiting" || st === "streaming" ? elapsedNow() : null);
      node.ttft.textContent = secs(ttft);
      node.total.textContent = st === "waiting" || st === "streaming" ? (total == null ? "…" : `${secs(total)}…`) : secs(total);
      node.rate.textContent = c.tokens_per_s != null ? c.tokens_per_s.toFixed(1) : "–";
      const t = total || 0;
      const tt = Math.min(ttft ?? t, t);
      node.barTtft.style.width = `${(100 * tt) / scale}%`;
      node.barStream.style.width = `${(100 * Math.max(t - tt, 0)) / scale}%`;
      node.error.hidden = !c.error || st !== "error";
      node.error.textContent = c.error || "";
      if (st !== "waiting" && st !== "streaming") node.text.textContent = c.text || "";
      else if (live && node.text.dataset.seq !== String(live.seq)) {
        node.text.textContent = live.text;
        node.text.dataset.seq = String(live.seq);
      }
    }
    const nDone = names.filter((n) => ["done", "error", "stopped"].includes((columns[n] || {}).status)).length;
    root.dataset.state = running ? "running" : model.get("run_id") ? "done" : "idle";
    status.textContent = running ? `running · ${nDone}/${names.length} finished` : model.get("run_id") ? `finished · ${nDone}/${names.length}` : "";
    runBtn.disabled = running || !input.value.trim();
    stopBtn.disabled = !running;
    paintSummary(columns, names, running, fastest);
  }

  function paintSummary(columns, names, running, fastest) {
    const rows = names.map((n) => ({ name: n, ...(columns[n] || {}) })).filter((c) => c.status && c.status !== "waiting");
    if (running || !rows.length) {
      summary.replaceChildren();
      summary.hidden = true;
      return;
    }
    summary.hidden = false;
    rows.sort((a, b) => (a.latency_s ?? Infinity) - (b.latency_s ?? Infinity));
    const max = Math.max(...rows.map((r) => r.latency_s || 0), 0.001);
    summary.replaceChildren(h("table", { class: "vnb-summary-table" },
      h("thead", {}, h("tr", {}, ["vessel", "first token", "total", "tokens/s", "tokens", "time: to first token ▮ then streaming ▯"].map((c) => h("th", { text: c })))),
      h("tbody", {}, rows.map((r) => h("tr", { class: `vnb-sum-${r.status}${r.name === fastest ? " vnb-fastest" : ""}`, "data-vessel": r.name },
        h("td", { class: "vnb-sum-name" }, r.name, r.name === fastest ? h("span", { class: "vnb-star", title: "fastest", text: " ★" }) : null),
        h("td", { text: secs(r.ttft_s) }),
        h("td", { text: r.status === "done" ? secs(r.latency_s) : STATUS_TEXT[r.status] || r.status }),
        h("td", { text: r.tokens_per_s != null ? r.tokens_per_s.toFixed(1) : "–" }),
        h("td", { text: r.tokens_out != null ? String(r.tokens_out) : "–" }),
        h("td", { class: "vnb-sum-barcell" },
          h("span", { class: "vnb-bar vnb-sum-bar" },
            h("span", { class: "vnb-bar-ttft", style: `width:${(100 * Math.min(r.ttft_s ?? 0, r.latency_s ?? 0)) / max}%` }),
            h("span", { class: "vnb-bar-stream", style: `width:${(100 * Math.max((r.latency_s ?? 0) - (r.ttft_s ?? 0), 0)) / max}%` }))))))));
  }

  function onStoreEvent(ev) {
    if (ev.kind === "delta" && store.run === model.get("run_id")) {
      const node = colNodes.get(ev.col);
      const live = store.texts.get(ev.col);
      if (node && live && node.text.dataset.seq === String(live.seq - 1)) {
        node.text.append(document.createTextNode(ev.text)); // append: O(delta)
        node.text.dataset.seq = String(live.seq);
        if (node.root.dataset.status === "waiting") paint();
        return;
      }
    }
    paint();
  }

  function renderNotice() {
    notice.textContent = model.get("notice") || "";
    notice.hidden = !model.get("notice");
  }

  function run() {
    const text = input.value.trim();
    if (!text || model.get("running")) return;
    model.send({ t: "run", prompt: text });
    input.value = "";
  }

  runBtn.addEventListener("click", run);
  stopBtn.addEventListener("click", () => model.send({ t: "stop" }));
  input.addEventListener("input", () => { runBtn.disabled = !!model.get("running") || !input.value.trim(); });
  input.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      run();
    }
  });

  model.on("change:title", () => { title.textContent = model.get("title"); });
  model.on("change:prompt", () => { promptShown.textContent = model.get("prompt"); promptShown.hidden = !model.get("prompt"); });
  model.on("change:vessels", () => { build(); paint(); });
  model.on("change:info", () => { build(); paint(); });
  model.on("change:run_id", () => {
    for (const node of colNodes.values()) { node.text.textContent = ""; delete node.text.dataset.seq; }
    paint();
  });
  model.on("change:columns", paint);
  model.on("change:running", paint);
  model.on("change:notice", renderNotice);
  store.listeners.add(onStoreEvent);

  title.textContent = model.get("title");
  promptShown.textContent = model.get("prompt");
  promptShown.hidden = !model.get("prompt");
  build();
  paint();
  renderNotice();
  if (model.get("running")) requestSync(model, store);
  const clock = setInterval(() => { if (model.get("running")) paint(); }, 100);

  return () => {
    store.listeners.delete(onStoreEvent);
    clearInterval(clock);
  };
}

export default {
  initialize({ model }) {
    storeFor(model);
  },
  render,
};
