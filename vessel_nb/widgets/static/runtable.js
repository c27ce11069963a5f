// vessel_nb CompareWidget: a prompt-set run (orch.map) as a live table, one row per prompt
// and one column per vessel. Joined after shared.js (h, secs, tell, safeFragment) and
// before compare.js by the Python side; declarations only.
//
// The `table` trait holds the frame (key, columns, rows) and, once the run has ended, every
// cell; `table_progress` the header's figures. While the run goes, finished cells arrive as
// custom messages {t: "cells", table: <key>, seq, cells: [[row, col, cell]], asking:
// [[row, col]]}, kept in one store per widget model and shared by its views. A view touches
// only the cells that changed: a finished cell never changes again.

const RT_SHOWN_ROWS_NOTE = "the beginning of the answer; run.df has it whole";

function createTableStore(model) {
  const store = { key: undefined, seq: 0, cells: new Map(), asking: [], listeners: new Set(), syncing: false };
  const emit = (ev) => { for (const fn of store.listeners) fn(ev); };
  const take = (cells) => { for (const [r, c, cell] of cells || []) store.cells.set(`${r}:${c}`, cell); };
  store.sync = () => {
    if (!store.syncing) store.syncing = tell(model, { t: "table-sync" });
  };
  model.on("msg:custom", (msg) => {
    if (!msg || (msg.t !== "cells" && msg.t !== "table-snapshot")) return;
    if (msg.table !== store.key) {
      store.key = msg.table;
      store.seq = 0;
      store.cells.clear();
      store.asking = [];
    }
    if (msg.t === "table-snapshot") {
      store.syncing = false;
      if (msg.seq < store.seq) return;
      take(msg.cells);
      store.seq = msg.seq;
      store.asking = msg.asking || [];
      emit({ kind: "all" });
      return;
    }
    if (msg.seq <= store.seq) return;
    const gap = msg.seq !== store.seq + 1;
    take(msg.cells);
    store.seq = msg.seq;
    store.asking = msg.asking || [];
    if (gap) store.sync(); // show what came; the snapshot brings what was missed
    emit({ kind: "cells", cells: msg.cells || [] });
  });
  return store;
}

// --- building ---------------------------------------------------------------------------------
// Rows are grid rows of divs, not a <table>: a table lays out every row again when one cell
// changes, and `content-visibility: auto` (skip rows off screen) does not apply to table
// rows. A cell's answer is put into the page only once its row comes near the visible part
// of the scroller: 4,000 finished cells cost 4,000 attributes, not 4,000 parsed fragments.
function buildTableChrome() {
  const rt = {
    progress: h("div", { class: "vnb-rt-progress" }),
    head: h("div", { class: "vnb-rt-row vnb-rt-headrow", role: "row" }),
    body: h("div", { class: "vnb-rt-body", role: "rowgroup" }),
    tds: new Map(), // "row:col" -> cell element
    data: new Map(), // "row:col" -> the finished cell, shown or not yet
    near: new Set(), // rows near the visible part of the scroller
    asking: new Set(), // keys of the cells marked in flight
    key: null, // the table these nodes were built for
    observer: null,
  };
  rt.scroller = h("div", { class: "vnb-rt-scroll" },
    h("div", { class: "vnb-rt-table", role: "table" }, rt.head, rt.body));
  rt.root = h("div", { class: "vnb-rt", hidden: true }, rt.progress, rt.scroller);
  return rt;
}

function columnHead(frame, c) {
  const local = frame.local ? frame.local[c] : null;
  const chip = local == null ? null : h("span", { class: `vnb-chip ${local ? "vnb-local" : "vnb-cloud"}`, text: local ? "local" : "cloud" });
  return h("div", { class: "vnb-rt-col", role: "columnheader", "data-col": c },
    h("div", { class: "vnb-rt-colname" }, h("span", { class: "vnb-col-name", text: frame.cols[c] }), chip),
    h("div", { class: "vnb-rt-counts" }),
    h("div", { class: "vnb-rt-bar" }, h("span", { class: "vnb-rt-bar-done" }), h("span", { class: "vnb-rt-bar-failed" })));
}

function tableRow(rt, frame, r) {
  const [pid, prompt] = frame.rows[r];
  const cells = frame.cols.map((_, c) => {
    const el = h("div", { class: "vnb-rt-cell", role: "cell", "data-outcome": "pending" });
    rt.tds.set(`${r}:${c}`, el);
    return el;
  });
  return h("div", { class: "vnb-rt-row", role: "row", "data-row": r },
    h("div", { class: "vnb-rt-id", role: "rowheader", text: pid }),
    h("div", { class: "vnb-rt-prompt", role: "cell", text: prompt }),
    cells);
}

function watchRows(v) {
  const rt = v.rt;
  if (rt.observer) rt.observer.disconnect();
  rt.near.clear();
  if (typeof IntersectionObserver !== "function") { // every row counts as near
    for (let r = 0; r < rt.body.children.length; r++) rt.near.add(r);
    return;
  }
  rt.observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const r = Number(e.target.dataset.row);
      if (!e.isIntersecting) { rt.near.delete(r); continue; }
      rt.near.add(r);
      fillRow(v, r);
    }
  }, { root: rt.scroller, rootMargin: "600px 0px" });
  for (const row of rt.body.children) rt.observer.observe(row);
}

// (Re)build the skeleton when the table is a new one; returns true when it did.
function buildRunTable(v) {
  const frame = v.model.get("table") || {};
  const rt = v.rt;
  if (rt.key === (frame.key || null)) return false;
  rt.key = frame.key || null;
  rt.tds.clear();
  rt.data.clear();
  rt.asking.clear();
  if (!frame.key) {
    rt.body.replaceChildren();
    if (rt.observer) rt.observer.disconnect();
    return false;
  }
  rt.root.style.setProperty("--vnb-rt-cols", frame.cols.length);
  rt.head.replaceChildren(h("div", { class: "vnb-rt-id", role: "columnheader", text: "#" }),
    h("div", { class: "vnb-rt-prompt", role: "columnheader", text: "prompt" }),
    ...frame.cols.map((_, c) => columnHead(frame, c)));
  const rows = document.createDocumentFragment();
  for (let r = 0; r < frame.rows.length; r++) rows.append(tableRow(rt, frame, r));
  rt.body.replaceChildren(rows);
  watchRows(v);
  return true;
}

// --- painting ---------------------------------------------------------------------------------
function money(v) {
  return v >= 0.01 ? `$${v.toFixed(2)}` : `$${v.toFixed(5)}`;
}

function cellFigures(cell, routed) {
  const parts = [];
  if (cell.ttft_s != null) parts.push(h("span", { title: "time to first token", text: `first ${secs(cell.ttft_s)}` }));
  if (cell.latency_s != null) parts.push(h("span", { title: "whole call", text: `total ${secs(cell.latency_s)}` }));
  if (cell.tokens_out != null) parts.push(h("span", { title: "tokens in → out", text: `${cell.tokens_in ?? 0}→${cell.tokens_out} tok` }));
  if (cell.cost_usd) parts.push(h("span", { title: "cost of this call", text: money(cell.cost_usd) }));
  if (cell.resumed) parts.push(h("span", { title: "answered in an earlier session: not asked again", text: "resumed" }));
  return h("div", { class: "vnb-rt-meta" },
    routed && cell.vessel ? h("span", { class: "vnb-rt-vessel", text: cell.vessel }) : null, parts);
}

// What the cell is (cheap, at once) ...
// "cancelled": sent, then stopped with the run (run.df and the log say so too)
function markCell(td, cell) {
  td.dataset.outcome = cell.outcome === "ok" || cell.outcome === "cancelled" ? cell.outcome : "error";
  td.classList.remove("vnb-rt-asking");
  td.title = cell.cut ? RT_SHOWN_ROWS_NOTE : "";
}

// ... and what it shows (the answer parsed into the page: once its row is near).
function fillCell(td, cell, routed) {
  const body = cell.outcome === "ok"
    ? h("div", { class: "vnb-md vnb-rt-snippet" }, safeFragment(cell.html))
    : cell.outcome === "cancelled"
      ? h("div", { class: "vnb-rt-cancelled", text: `cancelled: ${cell.error || "stopped"}` })
      : h("div", { class: "vnb-error", text: `failed: ${cell.error || cell.outcome}` });
  td.replaceChildren(body, cellFigures(cell, routed));
  td.dataset.filled = "1";
}

function fillRow(v, r) {
  const rt = v.rt;
  const routed = isRouted(v);
  for (let c = 0; ; c++) {
    const key = `${r}:${c}`;
    const td = rt.tds.get(key);
    if (!td) return;
    const cell = rt.data.get(key);
    if (cell && !td.dataset.filled) fillCell(td, cell, routed);
  }
}

function paintCells(v, entries) {
  const rt = v.rt;
  const rows = new Set();
  for (const [key, cell] of entries) {
    const td = rt.tds.get(key);
    if (!td || !cell || td.dataset.outcome !== "pending") continue; // a finished cell never changes
    rt.data.set(key, cell);
    markCell(td, cell);
    const r = Number(key.split(":")[0]);
    if (rt.near.has(r)) rows.add(r);
  }
  for (const r of rows) fillRow(v, r);
}

function isRouted(v) {
  const frame = v.model.get("table") || {};
  return !!frame.slots && frame.slots.length === 1 && frame.slots[0] === "auto";
}

// Every cell this view can know: the trait's (final) or the store's (live).
function paintAllCells(v) {
  const frame = v.model.get("table") || {};
  if (frame.cells) {
    const entries = [];
    frame.cells.forEach((row, r) => row.forEach((cell, c) => { if (cell) entries.push([`${r}:${c}`, cell]); }));
    paintCells(v, entries);
    markAsking(v, []);
    // never sent: the run was stopped or ran out of budget first (run.df: "not run (...)")
    for (const td of v.rt.tds.values()) if (td.dataset.outcome === "pending") td.dataset.outcome = "not-run";
  } else if (v.tableStore.key === frame.key) {
    paintCells(v, v.tableStore.cells.entries());
    markAsking(v, v.tableStore.asking);
  }
}

function markAsking(v, asking) {
  const now = new Set(asking.map(([r, c]) => `${r}:${c}`));
  for (const key of v.rt.asking) {
    const td = v.rt.tds.get(key);
    if (td && !now.has(key)) td.classList.remove("vnb-rt-asking");
  }
  for (const key of now) {
    const td = v.rt.tds.get(key);
    if (td && td.dataset.outcome === "pending") td.classList.add("vnb-rt-asking");
  }
  v.rt.asking = now;
}

function clock(s) {
  if (s == null) return "–";
  s = Math.floor(s);
  const mm = String(Math.floor(s / 60) % 60).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${Math.floor(s / 60)}:${ss}`;
}

function slotCounts(c) {
  const parts = [`${c.done}/${c.total}`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  if (c.in_flight) parts.push(`${c.in_flight} in flight`);
  if (c.paused_s) parts.push(`paused ${Math.round(c.paused_s)} s (429)`);
  return parts.join(" · ");
}

function paintRunProgress(v) {
  const p = v.model.get("table_progress") || {};
  const frame = v.model.get("table") || {};
  const rt = v.rt;
  if (!frame.key) return;
  const running = p.status === "running" || p.status === "starting";
  const parts = [`${p.finished ?? 0}/${p.total ?? 0} pairs`, `${clock(p.elapsed_s)} elapsed`];
  if (p.eta_s != null) parts.push(`~${clock(p.eta_s)} left`);
  if (p.spent_usd) parts.push(`${money(p.spent_usd)} spent`);
  if (p.resumed) parts.push(`${p.resumed} answered before (resumed)`);
  rt.progress.replaceChildren(
    h("span", { class: "vnb-rt-status", "data-status": p.status || "", text: p.status || "" }),
    h("span", { text: parts.join(" · ") }));
  rt.root.dataset.status = p.status || "";
  (frame.slots || []).forEach((slot, c) => {
    const th = rt.head.querySelector(`.vnb-rt-col[data-col="${c}"]`);
    const counts = (p.slots || {})[slot];
    if (!th || !counts) return;
    th.querySelector(".vnb-rt-counts").textContent = slotCounts(counts);
    const total = Math.max(counts.total, 1);
    th.querySelector(".vnb-rt-bar-done").style.width = `${(100 * counts.done) / total}%`;
    th.querySelector(".vnb-rt-bar-failed").style.width = `${(100 * counts.failed) / total}%`;
  });
  return running;
}

function onTableStoreEvent(v, ev) {
  const frame = v.model.get("table") || {};
  if (!frame.key || frame.cells || v.tableStore.key !== frame.key) return;
  if (ev.kind === "cells") paintCells(v, ev.cells.map(([r, c, cell]) => [`${r}:${c}`, cell]));
  else paintCells(v, v.tableStore.cells.entries());
  markAsking(v, v.tableStore.asking);
}

// A table run is shown (true) or the widget compares one prompt (false).
function tableMode(v) {
  return !!(v.model.get("table") || {}).key;
}

function tableRunning(v) {
  const p = v.model.get("table_progress") || {};
  return tableMode(v) && (p.status === "running" || p.status === "starting");
}
