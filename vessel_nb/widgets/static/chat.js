// vessel_nb ChatPanel view. Hand-written ES module with no imports (works offline, on
// Binder, in JupyterLab, Notebook 7 and VS Code); shared.js is put in front of it by the
// Python side (h, secs, tell, createLiveStore, markdown and code-block helpers).
//
// State comes from two places. Traits (transcript, pending, health, log, ...) are the
// complete picture and survive a reload; finished answers carry their HTML. While an
// answer streams, its new part arrives as custom messages, kept in one store per widget
// model (the factory below), shared by every view of that model.

// A small picture icon drawn inline (an emoji may have no font on the machine).
function imageIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", "vnb-icon");
  svg.setAttribute("aria-hidden", "true");
  const frame = document.createElementNS(ns, "rect");
  for (const [k, v] of Object.entries({ x: 1.5, y: 2.5, width: 13, height: 11, rx: 2, fill: "none", stroke: "currentColor" })) frame.setAttribute(k, v);
  const hills = document.createElementNS(ns, "path");
  hills.setAttribute("d", "M3.5 11.5l3-4 2.5 3 1.5-1.5 2 2.5z");
  hills.setAttribute("fill", "currentColor");
  svg.append(frame, hills);
  return svg;
}

function stateLabel(state) {
  return { up: "up", down: "down", cooling: "cooling down", untested: "untested" }[state] || state;
}

function chip(text, cls, title) {
  return h("span", { class: `vnb-chip ${cls || ""}`, title: title || null }, text);
}

// --- the parts of the panel ------------------------------------------------------------
function buildChrome() {
  const ui = {
    title: h("div", { class: "vnb-title" }),
    lights: h("div", { class: "vnb-health", role: "list", "aria-label": "vessel health" }),
    transcript: h("div", { class: "vnb-transcript", "aria-live": "polite" }),
    jump: h("button", { class: "vnb-jump", type: "button", hidden: true, title: "scroll to the newest message" }, "↓ Jump to latest"),
    empty: h("div", { class: "vnb-empty", text: "Ask something below. Answers stream in here, with the vessel that answered and how fast." }),
    prompt: h("textarea", {
      class: "vnb-prompt", rows: 2, placeholder: "Ask a question… (Enter sends, Shift+Enter for a new line)",
      "aria-label": "prompt", "data-lm-suppress-shortcuts": "true",
    }),
    vesselSel: h("select", { class: "vnb-vessel", "aria-label": "vessel", title: "auto = the priority order, with fallback" }),
    privateBox: h("input", { type: "checkbox", class: "vnb-private" }),
    thinkingBox: h("input", { type: "checkbox", class: "vnb-thinking" }),
    fileInput: h("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp", multiple: true, class: "vnb-file" }),
    files: h("span", { class: "vnb-files" }),
    sendBtn: h("button", { class: "vnb-btn vnb-send", type: "button", text: "Send" }),
    stopBtn: h("button", { class: "vnb-btn vnb-stop", type: "button", text: "Stop" }),
    clearBtn: h("button", { class: "vnb-btn vnb-clear vnb-quiet", type: "button", text: "Clear", title: "forget this conversation" }),
    logCount: h("span", { class: "vnb-log-count" }),
    logBody: h("tbody"),
  };
  ui.root = h("div", { class: "vnb-chat" },
    h("div", { class: "vnb-head" }, ui.title, ui.lights),
    h("div", { class: "vnb-scroll" }, ui.transcript, ui.jump),
    h("div", { class: "vnb-compose" },
      ui.prompt,
      h("div", { class: "vnb-controls" },
        ui.vesselSel,
        h("label", { class: "vnb-toggle", title: "local vessels only: the prompt never leaves this machine" }, ui.privateBox, " private"),
        h("label", { class: "vnb-toggle", title: "route to a reasoning vessel and show its thinking" }, ui.thinkingBox, " thinking"),
        h("label", { class: "vnb-btn vnb-quiet vnb-attach", title: "attach images (for vision vessels)" }, ui.fileInput, "Attach image"),
        ui.files,
        h("span", { class: "vnb-spacer" }),
        ui.clearBtn, ui.stopBtn, ui.sendBtn)),
    h("details", { class: "vnb-log" },
      h("summary", {}, "Call log ", ui.logCount),
      h("table", { class: "vnb-log-table" },
        h("thead", {}, h("tr", {}, ["time", "vessel", "outcome", "first token", "total", "note"].map((c) => h("th", { text: c })))),
        ui.logBody)));
  return ui;
}

// --- health strip and controls -----------------------------------------------------------
function renderHealth(v) {
  const info = Object.fromEntries((v.model.get("vessels") || []).map((x) => [x.name, x]));
  v.ui.lights.replaceChildren(...(v.model.get("health") || []).map((hl) => {
    const d = info[hl.name] || {};
    const bits = [`${hl.name}: ${stateLabel(hl.state)}`];
    if (hl.latency_ms != null) bits.push(`${hl.latency_ms.toFixed(0)} ms`);
    if (hl.cooling_for_s) bits.push(`retry in ${hl.cooling_for_s.toFixed(0)} s`);
    let tip = bits.join(" · ");
    if (hl.detail && hl.detail !== "ok") tip += `\n${hl.detail}`;
    if (d.model) tip += `\n${d.provider || ""} ${d.model}${d.where ? " @ " + d.where : ""}${d.local ? " (local)" : ""}`;
    if (hl.checked_at) tip += `\nchecked ${hl.checked_at}`;
    return h("span", { class: "vnb-light", role: "listitem", "data-vessel": hl.name, "data-state": hl.state, title: tip, "aria-label": tip },
      h("span", { class: "vnb-dot" }), hl.name);
  }));
}

function renderVessels(v) {
  const rows = v.model.get("vessels") || [];
  v.ui.vesselSel.replaceChildren(
    h("option", { value: "auto", text: `auto (${rows.map((x) => x.name).join(" → ")})` }),
    ...rows.map((x) => h("option", { value: x.name, text: `${x.name} · ${x.model}${x.local ? " · local" : ""}` })));
  v.ui.vesselSel.value = v.model.get("vessel") || "auto";
}

function renderToggles(v) {
  v.ui.privateBox.checked = !!v.model.get("private");
  v.ui.thinkingBox.checked = !!v.model.get("thinking");
  v.ui.vesselSel.value = v.model.get("vessel") || "auto";
}

function renderBusy(v) {
  const busy = !!v.model.get("busy");
  v.ui.root.dataset.busy = busy ? "true" : "false";
  v.ui.sendBtn.disabled = busy || !v.ui.prompt.value.trim();
  v.ui.stopBtn.disabled = !busy;
  v.ui.clearBtn.disabled = busy || !(v.model.get("transcript") || []).length;
}

function renderFiles(v) {
  v.ui.files.replaceChildren(...v.attached.map((f, i) =>
    h("span", { class: "vnb-chip vnb-img" }, imageIcon(), f.name,
      h("button", { class: "vnb-x", type: "button", title: "remove", "aria-label": `remove ${f.name}`,
        onclick: () => { v.attached.splice(i, 1); renderFiles(v); } }, "×"))));
}

function renderLog(v) {
  const rows = v.model.get("log") || [];
  v.ui.logCount.textContent = rows.length ? `(latest ${rows.length})` : "(empty)";
  v.ui.logBody.replaceChildren(...rows.slice().reverse().map((r) => {
    const fell = !!r.fallback_from;
    const cls = [`vnb-row-${r.outcome}`, fell ? "vnb-row-fallback" : "", r.outcome !== "ok" && r.outcome !== "cancelled" ? "vnb-row-bad" : ""].join(" ");
    const note = [fell ? `fallback from ${r.fallback_from}` : "", r.compare_id ? `compare ${r.compare_id.slice(0, 6)}` : "",
      r.private ? "private" : "", r.error].filter(Boolean).join(" · ");
    return h("tr", { class: cls, title: r.error || null },
      h("td", { text: r.time }), h("td", { text: r.vessel }), h("td", { class: "vnb-outcome", text: r.outcome }),
      h("td", { text: r.ttft_s == null ? "–" : secs(r.ttft_s) }), h("td", { text: r.latency_s == null ? "–" : secs(r.latency_s) }),
      h("td", { class: "vnb-note", text: note }));
  }));
}

// --- one exchange: the question, then the answer with its badge ----------------------------
function trail(list) {
  if (!list || !list.length) return null;
  return h("span", { class: "vnb-trail", title: "vessels tried first, that did not answer" }, list.map((a) => [
    h("span", { class: `vnb-trail-step vnb-outcome-${a.outcome}`, title: `${a.vessel}: ${a.error || a.outcome}` }, `${a.vessel} ✕`),
    h("span", { class: "vnb-arrow", text: "→" }),
  ]));
}

function streamingBadge(entry, live) {
  const b = h("div", { class: "vnb-badge" });
  if (entry.vessel) b.append(chip(entry.vessel, "vnb-vessel-chip"), chip(entry.model, "vnb-model"));
  else b.append(chip("waiting for a vessel…", "vnb-muted"));
  if (live && live.first != null) b.append(chip(`first token ${secs(live.first)}`, "", "time to first token"));
  b.append(h("span", { class: "vnb-chip vnb-elapsed", "data-id": entry.id }, ""));
  return b;
}

function badge(entry, live) {
  if (entry.status === "streaming") return streamingBadge(entry, live);
  const b = h("div", { class: "vnb-badge" });
  if (entry.trail && entry.trail.length) b.append(trail(entry.trail));
  if (entry.vessel) {
    b.append(chip(entry.vessel, "vnb-vessel-chip", entry.reason ? `picked by: ${entry.reason}` : null));
    if (entry.model) b.append(chip(entry.model, "vnb-model"));
    if (entry.status === "done") b.append(chip(entry.local ? "local" : "cloud", entry.local ? "vnb-local" : "vnb-cloud"));
  }
  if (entry.status === "done") {
    b.append(chip(`first token ${secs(entry.ttft_s)}`, "", "time to first token"),
      chip(`total ${secs(entry.latency_s)}`, "", "whole call, fallbacks included"));
    if (entry.tokens_per_s != null) b.append(chip(`${entry.tokens_per_s.toFixed(1)} tok/s`, "", `${entry.tokens_out ?? "?"} tokens out`));
    else if (entry.tokens_out != null) b.append(chip(`${entry.tokens_out} tokens`));
  } else if (entry.status === "stopped") {
    b.append(chip(`stopped by you after ${secs(entry.latency_s)}`, "vnb-stopped"));
  } else if (entry.status === "error") {
    b.append(chip("failed", "vnb-failed"));
  }
  if (entry.text) b.append(copyButton(() => entry.text, "Copy answer", "copy the answer (Markdown)"));
  return b;
}

function questionNode(entry) {
  const asked = entry.asked || {};
  return h("div", { class: "vnb-q" },
    h("span", { class: "vnb-q-text", text: entry.prompt }),
    (entry.images || []).map((n) => h("span", { class: "vnb-chip vnb-img", title: "attached image" }, imageIcon(), n)),
    asked.private ? h("span", { class: "vnb-chip vnb-local", text: "private" }) : null,
    asked.vessel && asked.vessel !== "auto" ? h("span", { class: "vnb-chip", text: `→ ${asked.vessel}` }) : null);
}

function eventNodes(entry) {
  return (entry.events || []).map((ev) =>
    h("div", { class: `vnb-event vnb-event-${ev.kind}` },
      ev.kind === "fallback" ? `↪ ${ev.vessel} did not answer — falling back: ` : ev.kind === "withheld" ? "private turns withheld: " : `↺ ${ev.vessel} broke off — restarting: `,
      h("span", { class: "vnb-event-detail", text: ev.detail })));
}

// The answer's text: its HTML once finished, the live blocks while streaming, and plain
// text for an entry saved before answers carried HTML.
function answerBody(v, entry, live, node) {
  const box = markdownBox("vnb-text vnb-stream");
  if (live) {
    showMarkdown(box, live.done, live.tail, v.tools, live.pending);
    node.dataset.seq = String(live.seq);
  } else if (entry.html) {
    showMarkdown(box, entry.html, "", v.tools);
  } else {
    box.tail.textContent = entry.text || "";
    box.root.classList.add("vnb-plain");
  }
  return box.root;
}

function entryNode(v, entry, live) {
  const thinkingText = live ? live.thinking : entry.thinking;
  const node = h("div", { class: "vnb-entry", "data-id": entry.id, "data-status": entry.status, "data-vessel": entry.vessel || "" });
  const thinkingEl = h("details", { class: "vnb-thinking-box", open: entry.status === "streaming" || null, hidden: !thinkingText || null },
    h("summary", { text: "thinking" }), h("div", { class: "vnb-thinking-text", text: thinkingText || "" }));
  const a = h("div", { class: "vnb-a" }, eventNodes(entry), thinkingEl, answerBody(v, entry, live, node),
    entry.error && entry.status === "error" ? h("div", { class: "vnb-error", text: entry.error }) : null,
    badge(entry, live));
  node.append(questionNode(entry), a);
  return node;
}

function renderTranscript(v) {
  const done = v.model.get("transcript") || [];
  const doneIds = new Set(done.map((e) => e.id));
  for (const id of [...v.store.texts.keys()]) if (doneIds.has(id)) v.store.texts.delete(id);
  const pending = (v.model.get("pending") || []).filter((e) => !doneIds.has(e.id));
  const all = [...done, ...pending].sort((x, y) => x.n - y.n);
  for (const e of pending) if (!v.seen.has(e.id)) v.seen.set(e.id, performance.now());
  v.ui.transcript.replaceChildren(...(all.length
    ? all.map((e) => entryNode(v, e, e.status === "streaming" ? v.store.texts.get(e.id) : null))
    : [v.ui.empty]));
  v.scroll.update();
}

function onStoreEvent(v, ev) {
  if (ev.kind !== "delta") return renderTranscript(v);
  const node = v.ui.transcript.querySelector(`.vnb-entry[data-id="${CSS.escape(ev.key)}"]`);
  if (!node || node.dataset.status !== "streaming") return renderTranscript(v);
  const live = v.store.texts.get(ev.key);
  const box = { root: node.querySelector(".vnb-md"), done: node.querySelector(".vnb-md-done"), tail: node.querySelector(".vnb-md-tail") };
  if (ev.gap || node.dataset.seq !== String(ev.seq - 1)) showMarkdown(box, live.done, live.tail, v.tools, live.pending);
  else if (ev.rendered) addMarkdown(box, ev.done, ev.tail, v.tools);
  else if (ev.text) addPending(box, ev.text);
  node.dataset.seq = String(ev.seq);
  if (ev.thinking) {
    const tb = node.querySelector(".vnb-thinking-box");
    tb.hidden = false;
    tb.querySelector(".vnb-thinking-text").append(document.createTextNode(ev.thinking));
  }
  const badgeEl = node.querySelector(".vnb-badge");
  if (live && live.first != null && !badgeEl.dataset.first) {
    const pend = (v.model.get("pending") || []).find((e) => e.id === ev.key);
    if (pend) badgeEl.replaceWith(badge(pend, live));
    node.querySelector(".vnb-badge").dataset.first = "1";
  }
  v.scroll.update();
}

function tickTimers(v) {
  for (const chipEl of v.ui.transcript.querySelectorAll(".vnb-elapsed")) {
    const t0 = v.seen.get(chipEl.dataset.id);
    if (t0 != null) chipEl.textContent = `streaming… ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  }
}

// --- what the person does ----------------------------------------------------------------
async function sendPrompt(v) {
  const text = v.ui.prompt.value.trim();
  if (!text || v.model.get("busy")) return;
  const buffers = await Promise.all(v.attached.map((f) => f.arrayBuffer()));
  const images = v.attached.map((f) => ({ name: f.name, type: f.type, size: f.size }));
  if (!tell(v.model, { t: "send", prompt: text, images }, buffers)) return;
  v.ui.prompt.value = "";
  v.attached = [];
  v.scroll.follow = true; // your own question: show its answer
  renderFiles(v);
  renderBusy(v);
}

function wireControls(v) {
  const { ui, model } = v;
  const save = (name, value) => { model.set(name, value); model.save_changes(); };
  ui.sendBtn.addEventListener("click", () => sendPrompt(v));
  ui.stopBtn.addEventListener("click", () => tell(model, { t: "stop" }));
  ui.clearBtn.addEventListener("click", () => tell(model, { t: "clear" }));
  ui.prompt.addEventListener("input", () => renderBusy(v));
  ui.prompt.addEventListener("keydown", (e) => {
    e.stopPropagation(); // keys typed here are for the prompt, not notebook shortcuts
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendPrompt(v);
    }
  });
  ui.fileInput.addEventListener("change", () => {
    v.attached = v.attached.concat([...ui.fileInput.files]);
    ui.fileInput.value = "";
    renderFiles(v);
  });
  ui.vesselSel.addEventListener("change", () => save("vessel", ui.vesselSel.value));
  ui.privateBox.addEventListener("change", () => save("private", ui.privateBox.checked));
  ui.thinkingBox.addEventListener("change", () => save("thinking", ui.thinkingBox.checked));
}

function listenToModel(v) {
  const { model, ui } = v;
  model.on("change:title", () => { ui.title.textContent = model.get("title"); });
  model.on("change:health", () => renderHealth(v));
  model.on("change:vessels", () => { renderVessels(v); renderHealth(v); });
  model.on("change:vessel", () => renderToggles(v));
  model.on("change:private", () => renderToggles(v));
  model.on("change:thinking", () => renderToggles(v));
  model.on("change:transcript", () => { renderTranscript(v); renderBusy(v); });
  model.on("change:pending", () => renderTranscript(v));
  model.on("change:busy", () => renderBusy(v));
  model.on("change:log", () => renderLog(v));
  const listener = (ev) => onStoreEvent(v, ev);
  v.store.listeners.add(listener);
  return () => v.store.listeners.delete(listener);
}

// Health refreshes while the panel can be seen: the kernel probes local vessels (free).
function keepHealthFresh(v) {
  const { model, ui } = v;
  let visible = true;
  const io = typeof IntersectionObserver === "function"
    ? new IntersectionObserver((entries) => { visible = entries.some((x) => x.isIntersecting); })
    : null;
  if (io) io.observe(ui.root);
  const tick = () => {
    if (ui.root.isConnected && visible && document.visibilityState === "visible") tell(model, { t: "tick" });
  };
  const onVisibility = () => { if (document.visibilityState === "visible") tick(); };
  document.addEventListener("visibilitychange", onVisibility);
  let timer = null;
  const start = () => {
    clearInterval(timer);
    timer = setInterval(tick, Math.max(1, model.get("health_interval") || 3) * 1000);
  };
  start();
  model.on("change:health_interval", start);
  tick();
  return () => {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisibility);
    if (io) io.disconnect();
  };
}

function renderChat(model, el, store) {
  const ui = buildChrome();
  el.append(ui.root);
  const v = { model, el, store, ui, seen: new Map(), attached: [], tools: codeTools(model, el) };
  v.scroll = followEnd(ui.transcript, ui.jump);
  wireControls(v);
  const stopListening = listenToModel(v);
  ui.title.textContent = model.get("title");
  renderVessels(v);
  renderToggles(v);
  renderHealth(v);
  renderTranscript(v);
  renderLog(v);
  renderBusy(v);
  if ((model.get("pending") || []).length) store.sync();
  const stopHealth = keepHealthFresh(v);
  const clock = setInterval(() => tickTimers(v), 200);
  return () => {
    stopListening();
    v.scroll.stop();
    stopHealth();
    clearInterval(clock);
  };
}

// anywidget calls this once per widget model: the store lives as long as the model, and
// every view of it shares the streamed text.
export default () => {
  let store = null;
  return {
    initialize({ model }) {
      store = createLiveStore(model, "id");
      store.sync(); // a model made while an answer streams (a reload) asks for the text so far
      return keepFallbackSaved(model);
    },
    render({ model, el }) {
      store = store || createLiveStore(model, "id");
      return renderChat(model, el, store);
    },
  };
};
