// vessel_nb CompareWidget view. Hand-written ES module with no imports; shared.js and
// runtable.js are put in front of it by the Python side (h, secs, tell, createLiveStore,
// markdown helpers; the prompt-set table).
//
// The `columns` trait holds each column's state (complete, with the answer's HTML, once the
// column has finished). While a run streams, each column's new part arrives as custom
// messages {t: "delta", run, col, seq, done, tail, first?}, kept in one store per widget
// model (the factory below) and shared by every view. When the widget shows a prompt set
// (`table` trait set), the table of runtable.js takes the columns' place.

const STATUS_TEXT = { waiting: "waiting", streaming: "streaming", done: "done", error: "failed", stopped: "stopped" };
const FINISHED = ["done", "error", "stopped"];

function buildChrome() {
  const ui = {
    title: h("div", { class: "vnb-title" }),
    status: h("span", { class: "vnb-run-status" }),
    promptShown: h("div", { class: "vnb-cmp-prompt" }),
    notice: h("div", { class: "vnb-notice", hidden: true }),
    input: h("textarea", {
      class: "vnb-prompt", rows: 1, placeholder: "One prompt for every vessel… (Enter runs the comparison)",
      "aria-label": "comparison prompt", "data-lm-suppress-shortcuts": "true",
    }),
    runBtn: h("button", { class: "vnb-btn vnb-run", type: "button", text: "Compare" }),
    stopBtn: h("button", { class: "vnb-btn vnb-stop", type: "button", text: "Stop" }),
    cols: h("div", { class: "vnb-cols" }),
    summary: h("div", { class: "vnb-summary" }),
    rt: buildTableChrome(),
  };
  ui.root = h("div", { class: "vnb-cmp" },
    h("div", { class: "vnb-head" }, ui.title, ui.status),
    ui.promptShown, ui.rt.root, ui.cols, ui.summary, ui.notice,
    h("div", { class: "vnb-compose" }, ui.input, ui.stopBtn, ui.runBtn));
  return ui;
}

function info(v, name) {
  return (v.model.get("info") || []).find((i) => i.name === name) || { name };
}

function metric(label, title, valueEl) {
  return h("span", { class: "vnb-metric", title }, h("span", { class: "vnb-metric-label", text: label }), valueEl);
}

function columnNode(v, name) {
  const d = info(v, name);
  const node = {
    status: h("span", { class: "vnb-status" }),
    ttft: h("span", { class: "vnb-metric-value" }),
    total: h("span", { class: "vnb-metric-value" }),
    rate: h("span", { class: "vnb-metric-value" }),
    barTtft: h("span", { class: "vnb-bar-ttft" }),
    barStream: h("span", { class: "vnb-bar-stream" }),
    box: markdownBox("vnb-text vnb-stream"),
    error: h("div", { class: "vnb-error", hidden: true }),
    copy: null,
    shown: "", // what the text shows: "" (nothing), "live:<seq>" or "final:<run>"
  };
  node.copy = copyButton(() => ((v.model.get("columns") || {})[name] || {}).text || "", "Copy answer", "copy the answer (Markdown)");
  node.copy.hidden = true;
  node.root = h("div", { class: "vnb-col", "data-vessel": name, "data-status": "waiting" },
    h("div", { class: "vnb-col-head" },
      h("span", { class: "vnb-col-name", text: name }),
      h("span", { class: `vnb-chip ${d.local ? "vnb-local" : "vnb-cloud"}`, text: d.local ? "local" : "cloud" }),
      node.status),
    h("div", { class: "vnb-col-model", text: d.model || "" }),
    h("div", { class: "vnb-metrics" },
      metric("first token", "time to first token", node.ttft),
      metric("total", "whole call", node.total),
      metric("tokens/s", "output tokens per second, after the first", node.rate),
      node.copy),
    h("div", { class: "vnb-bar", title: "darker: waiting for the first token; lighter: streaming" }, node.barTtft, node.barStream),
    node.error,
    node.box.root);
  return node;
}

function buildColumns(v) {
  v.colNodes.clear();
  v.ui.cols.replaceChildren(...(v.model.get("vessels") || []).map((name) => {
    const node = columnNode(v, name);
    v.colNodes.set(name, node);
    return node.root;
  }));
}

function liveOf(v, name) {
  return v.store.run === v.model.get("run_id") ? v.store.texts.get(name) : null;
}

function elapsedNow(v) {
  return v.runStart == null ? null : (performance.now() - v.runStart) / 1000;
}

// The kernel decides (compare.fastest): only a difference a person would notice earns it.
function fastestOf(v) {
  return v.model.get("fastest") || null;
}

// The column's text: the final HTML once, or the live blocks (rebuilt only when this view
// has fallen behind; deltas append in onStoreEvent).
function paintText(v, node, c, st, live) {
  if (FINISHED.includes(st)) {
    const key = `final:${v.model.get("run_id")}:${st}`;
    if (node.shown === key) return;
    node.shown = key;
    if (c.html) showMarkdown(node.box, c.html, "", v.tools);
    else {
      showMarkdown(node.box, "", "", v.tools);
      node.box.tail.textContent = c.text || ""; // saved before answers carried HTML
    }
  } else if (live && node.shown !== `live:${live.seq}`) {
    showMarkdown(node.box, live.done, live.tail, v.tools, live.pending);
    node.shown = `live:${live.seq}`;
  }
}

function paintColumn(v, name, columns, scale, fastest) {
  const node = v.colNodes.get(name);
  if (!node) return;
  const c = columns[name] || { status: "waiting" };
  const live = liveOf(v, name);
  let st = c.status;
  if (st === "waiting" && live && live.first != null) st = "streaming";
  node.root.dataset.status = st;
  node.root.classList.toggle("vnb-fastest", name === fastest);
  node.status.textContent = name === fastest ? "fastest" : STATUS_TEXT[st] || st;
  const running = st === "waiting" || st === "streaming";
  const ttft = c.ttft_s ?? (live ? live.first : null);
  const total = c.latency_s ?? (running ? elapsedNow(v) : null);
  node.ttft.textContent = secs(ttft);
  node.total.textContent = running ? (total == null ? "…" : `${secs(total)}…`) : secs(total);
  node.rate.textContent = c.tokens_per_s != null ? c.tokens_per_s.toFixed(1) : "–";
  const t = total || 0;
  const tt = Math.min(ttft ?? t, t);
  node.barTtft.style.width = `${(100 * tt) / scale}%`;
  node.barStream.style.width = `${(100 * Math.max(t - tt, 0)) / scale}%`;
  node.error.hidden = !c.error || st !== "error";
  node.error.textContent = c.error || "";
  node.copy.hidden = running || !c.text;
  paintText(v, node, c, st, live);
}

// A prompt set shown: the table instead of the columns, and only Stop (for the run).
function paintTableMode(v) {
  const { ui } = v;
  const on = tableMode(v);
  ui.root.classList.toggle("vnb-table-mode", on);
  ui.rt.root.hidden = !on;
  for (const el of [ui.cols, ui.input, ui.runBtn]) el.hidden = on;
  if (!on) {
    ui.promptShown.hidden = !v.model.get("prompt");
    return false;
  }
  ui.promptShown.hidden = true;
  ui.summary.hidden = true;
  const running = tableRunning(v);
  const frame = v.model.get("table") || {};
  ui.root.dataset.state = running ? "running" : "done";
  ui.status.textContent = `prompt set ${String(frame.run_id || "").slice(0, 8)} · ${frame.rows.length} prompts × ${frame.cols.length} ${frame.cols.length === 1 ? "column" : "columns"}`;
  ui.stopBtn.disabled = !running;
  return true;
}

function paint(v) {
  const { model, ui } = v;
  if (paintTableMode(v)) return;
  const columns = model.get("columns") || {};
  const running = !!model.get("running");
  if (model.get("run_id") !== v.runSeen) {
    v.runSeen = model.get("run_id");
    v.runStart = running ? performance.now() : null;
  }
  const names = model.get("vessels") || [];
  // the bar scale: the slowest finished total, or the live clock while running
  const totals = names.map((n) => (columns[n] || {}).latency_s).filter((x) => x != null);
  const scale = Math.max(...totals, running ? elapsedNow(v) || 0 : 0, 0.001);
  const fastest = fastestOf(v);
  for (const name of names) paintColumn(v, name, columns, scale, fastest);
  const nDone = names.filter((n) => FINISHED.includes((columns[n] || {}).status)).length;
  ui.root.dataset.state = running ? "running" : model.get("run_id") ? "done" : "idle";
  ui.status.textContent = running ? `running · ${nDone}/${names.length} finished` : model.get("run_id") ? `finished · ${nDone}/${names.length}` : "";
  ui.runBtn.disabled = running || !ui.input.value.trim();
  ui.stopBtn.disabled = !running;
  paintSummary(v, columns, names, running, fastest);
}

function summaryRow(r, max, fastest) {
  return h("tr", { class: `vnb-sum-${r.status}${r.name === fastest ? " vnb-fastest" : ""}`, "data-vessel": r.name },
    h("td", { class: "vnb-sum-name" }, r.name, r.name === fastest ? h("span", { class: "vnb-star", title: "fastest", text: " ★" }) : null),
    h("td", { text: secs(r.ttft_s) }),
    h("td", { text: r.status === "done" ? secs(r.latency_s) : STATUS_TEXT[r.status] || r.status }),
    h("td", { text: r.tokens_per_s != null ? r.tokens_per_s.toFixed(1) : "–" }),
    h("td", { text: r.tokens_out != null ? String(r.tokens_out) : "–" }),
    h("td", { class: "vnb-sum-barcell" },
      h("span", { class: "vnb-bar vnb-sum-bar" },
        h("span", { class: "vnb-bar-ttft", style: `width:${(100 * Math.min(r.ttft_s ?? 0, r.latency_s ?? 0)) / max}%` }),
        h("span", { class: "vnb-bar-stream", style: `width:${(100 * Math.max((r.latency_s ?? 0) - (r.ttft_s ?? 0), 0)) / max}%` }))));
}

function paintSummary(v, columns, names, running, fastest) {
  const summary = v.ui.summary;
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
    h("tbody", {}, rows.map((r) => summaryRow(r, max, fastest)))));
}

function onStoreEvent(v, ev) {
  if (ev.kind === "delta" && v.store.run === v.model.get("run_id")) {
    const node = v.colNodes.get(ev.key);
    if (node && !ev.gap && node.shown === `live:${ev.seq - 1}`) {
      if (ev.rendered) addMarkdown(node.box, ev.done, ev.tail, v.tools);
      else if (ev.text) addPending(node.box, ev.text);
      node.shown = `live:${ev.seq}`;
      if (node.root.dataset.status === "waiting") paint(v);
      return;
    }
  }
  paint(v);
}

function renderNotice(v) {
  v.ui.notice.textContent = v.model.get("notice") || "";
  v.ui.notice.hidden = !v.model.get("notice");
}

function renderPrompt(v) {
  v.ui.promptShown.textContent = v.model.get("prompt");
  v.ui.promptShown.hidden = !v.model.get("prompt");
}

function runPrompt(v) {
  const text = v.ui.input.value.trim();
  if (!text || v.model.get("running")) return;
  if (tell(v.model, { t: "run", prompt: text })) v.ui.input.value = "";
}

function wireControls(v) {
  const { ui, model } = v;
  ui.runBtn.addEventListener("click", () => runPrompt(v));
  ui.stopBtn.addEventListener("click", () => tell(model, { t: "stop" }));
  ui.input.addEventListener("input", () => { ui.runBtn.disabled = !!model.get("running") || !ui.input.value.trim(); });
  ui.input.addEventListener("keydown", (e) => {
    e.stopPropagation(); // keys typed here are for the prompt, not notebook shortcuts
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      runPrompt(v);
    }
  });
}

function listenToModel(v) {
  const { model, ui } = v;
  model.on("change:title", () => { ui.title.textContent = model.get("title"); });
  model.on("change:prompt", () => { renderPrompt(v); paint(v); });
  model.on("change:vessels", () => { buildColumns(v); paint(v); });
  model.on("change:info", () => { buildColumns(v); paint(v); });
  model.on("change:run_id", () => {
    for (const node of v.colNodes.values()) { showMarkdown(node.box, "", "", v.tools); node.shown = ""; }
    paint(v);
  });
  model.on("change:columns", () => paint(v));
  model.on("change:running", () => paint(v));
  model.on("change:fastest", () => paint(v));
  model.on("change:notice", () => renderNotice(v));
  model.on("change:table", () => { buildRunTable(v); paintAllCells(v); paintRunProgress(v); paint(v); });
  model.on("change:table_progress", () => { paintRunProgress(v); paint(v); });
  const listener = (ev) => onStoreEvent(v, ev);
  const tableListener = (ev) => onTableStoreEvent(v, ev);
  v.store.listeners.add(listener);
  v.tableStore.listeners.add(tableListener);
  return () => {
    v.store.listeners.delete(listener);
    v.tableStore.listeners.delete(tableListener);
  };
}

function renderCompare(model, el, store, tableStore) {
  const ui = buildChrome();
  el.append(ui.root);
  const v = { model, el, store, tableStore, ui, rt: ui.rt, colNodes: new Map(), runStart: null, runSeen: "", tools: codeTools(model, el) };
  wireControls(v);
  const stopListening = listenToModel(v);
  ui.title.textContent = model.get("title");
  renderPrompt(v);
  buildColumns(v);
  buildRunTable(v);
  paintAllCells(v);
  paintRunProgress(v);
  paint(v);
  renderNotice(v);
  if (model.get("running")) store.sync();
  const clock = setInterval(() => { if (model.get("running")) paint(v); }, 100);
  return () => {
    stopListening();
    clearInterval(clock);
  };
}

// anywidget calls this once per widget model: the store lives as long as the model.
export default () => {
  let store = null;
  let tableStore = null;
  return {
    initialize({ model }) {
      store = createLiveStore(model, "col");
      tableStore = createTableStore(model);
      store.sync();
      const table = model.get("table") || {};
      if (table.key && !table.cells) tableStore.sync(); // opened mid-run: every cell so far
      return keepFallbackSaved(model);
    },
    render({ model, el }) {
      store = store || createLiveStore(model, "col");
      tableStore = tableStore || createTableStore(model);
      return renderCompare(model, el, store, tableStore);
    },
  };
};
