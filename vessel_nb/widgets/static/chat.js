// vessel_nb ChatPanel view. Hand-written, self-contained ES module: no imports, no CDN,
// so it works offline, on Binder, in JupyterLab, Notebook 7 and VS Code.
//
// State comes from two places. Traits (transcript, pending, health, log, ...) are the
// complete picture and survive a reload. While an answer streams, only its new text
// arrives, as custom messages {t: "delta", id, seq, text}; they are kept in a store per
// widget model, shared by every view of that model. A view that misses a delta (or opens
// mid-stream) asks the kernel for a snapshot.

const STORES = new Map(); // widget uid -> store (one per model, shared by its views)

function storeFor(model) {
  const uid = model.get("_uid");
  let store = STORES.get(uid);
  if (!store) {
    store = { texts: new Map(), listeners: new Set(), syncing: false };
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

function emit(store, event) {
  for (const fn of store.listeners) fn(event);
}

function onMessage(model, store, msg) {
  if (!msg || typeof msg !== "object") return;
  if (msg.t === "delta") {
    let cur = store.texts.get(msg.id);
    if (!cur) {
      cur = { text: "", thinking: "", seq: 0, first: null };
      store.texts.set(msg.id, cur);
    }
    if (msg.seq <= cur.seq) return;
    if (msg.seq !== cur.seq + 1) requestSync(model, store); // a gap: show what came, fix it soon
    cur.text += msg.text || "";
    cur.thinking += msg.thinking || "";
    cur.seq = msg.seq;
    if (msg.first != null) cur.first = msg.first;
    emit(store, { kind: "delta", id: msg.id, text: msg.text || "", thinking: msg.thinking || "" });
  } else if (msg.t === "reset") {
    store.texts.set(msg.id, { text: "", thinking: "", seq: msg.seq, first: null });
    emit(store, { kind: "all" });
  } else if (msg.t === "snapshot") {
    store.syncing = false;
    for (const [id, snap] of Object.entries(msg.texts || {})) {
      const cur = store.texts.get(id);
      if (!cur || snap.seq >= cur.seq) {
        store.texts.set(id, { text: snap.text || "", thinking: snap.thinking || "", seq: snap.seq, first: snap.first ?? null });
      }
    }
    emit(store, { kind: "all" });
  }
}

// --- small DOM helpers ---------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

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

function secs(v) {
  if (v == null) return "–";
  return v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(1)} s`;
}

function stateLabel(state) {
  return { up: "up", down: "down", cooling: "cooling down", untested: "untested" }[state] || state;
}

// --- the view ------------------------------------------------------------------------
function render({ model, el }) {
  const store = storeFor(model);
  const seen = new Map(); // id -> time this view first saw the call (for the live timer)

  const title = h("div", { class: "vnb-title" });
  const lights = h("div", { class: "vnb-health", role: "list", "aria-label": "vessel health" });
  const transcript = h("div", { class: "vnb-transcript", "aria-live": "polite" });
  const empty = h("div", { class: "vnb-empty", text: "Ask something below. Answers stream in here, with the vessel that answered and how fast." });
  const prompt = h("textarea", {
    class: "vnb-prompt", rows: 2, placeholder: "Ask a question… (Enter sends, Shift+Enter for a new line)",
    "aria-label": "prompt", "data-lm-suppress-shortcuts": "true",
  });
  const vesselSel = h("select", { class: "vnb-vessel", "aria-label": "vessel", title: "auto = the priority order, with fallback" });
  const privateBox = h("input", { type: "checkbox", class: "vnb-private" });
  const thinkingBox = h("input", { type: "checkbox", class: "vnb-thinking" });
  const fileInput = h("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp", multiple: true, class: "vnb-file" });
  const files = h("span", { class: "vnb-files" });
  const sendBtn = h("button", { class: "vnb-btn vnb-send", type: "button", text: "Send" });
  const stopBtn = h("button", { class: "vnb-btn vnb-stop", type: "button", text: "Stop" });
  const clearBtn = h("button", { class: "vnb-btn vnb-clear vnb-quiet", type: "button", text: "Clear", title: "forget this conversation" });
  const logCount = h("span", { class: "vnb-log-count" });
  const logBody = h("tbody");
  const logBox = h("details", { class: "vnb-log" },
    h("summary", {}, "Call log ", logCount),
    h("table", { class: "vnb-log-table" },
      h("thead", {}, h("tr", {}, ["time", "vessel", "outcome", "first token", "total", "note"].map((c) => h("th", { text: c })))),
      logBody));

  const root = h("div", { class: "vnb-chat" },
    h("div", { class: "vnb-head" }, title, lights),
    transcript,
    h("div", { class: "vnb-compose" },
      prompt,
      h("div", { class: "vnb-controls" },
        vesselSel,
        h("label", { class: "vnb-toggle", title: "local vessels only: the prompt never leaves this machine" }, privateBox, " private"),
        h("label", { class: "vnb-toggle", title: "route to a reasoning vessel and show its thinking" }, thinkingBox, " thinking"),
        h("label", { class: "vnb-btn vnb-quiet vnb-attach", title: "attach images (for vision vessels)" }, fileInput, "Attach image"),
        files,
        h("span", { class: "vnb-spacer" }),
        clearBtn, stopBtn, sendBtn)),
    logBox);
  el.append(root);

  let attached = [];

  // --- health strip ---------------------------------------------------------------
  function renderHealth() {
    const info = Object.fromEntries((model.get("vessels") || []).map((v) => [v.name, v]));
    lights.replaceChildren(...(model.get("health") || []).map((hl) => {
      const v = info[hl.name] || {};
      const bits = [`${hl.name}: ${stateLabel(hl.state)}`];
      if (hl.latency_ms != null) bits.push(`${hl.latency_ms.toFixed(0)} ms`);
      if (hl.cooling_for_s) bits.push(`retry in ${hl.cooling_for_s.toFixed(0)} s`);
      let tip = bits.join(" · ");
      if (hl.detail && hl.detail !== "ok") tip += `\n${hl.detail}`;
      if (v.model) tip += `\n${v.provider || ""} ${v.model}${v.where ? " @ " + v.where : ""}${v.local ? " (local)" : ""}`;
      if (hl.checked_at) tip += `\nchecked ${hl.checked_at}`;
      return h("span", { class: "vnb-light", role: "listitem", "data-vessel": hl.name, "data-state": hl.state, title: tip, "aria-label": tip },
        h("span", { class: "vnb-dot" }), hl.name);
    }));
  }

  function renderVessels() {
    const names = (model.get("vessels") || []).map((v) => v.name);
    const current = model.get("vessel") || "auto";
    vesselSel.replaceChildren(
      h("option", { value: "auto", text: `auto (${names.join(" → ")})` }),
      ...(model.get("vessels") || []).map((v) => h("option", { value: v.name, text: `${v.name} · ${v.model}${v.local ? " · local" : ""}` })));
    vesselSel.value = current;
  }

  function renderToggles() {
    privateBox.checked = !!model.get("private");
    thinkingBox.checked = !!model.get("thinking");
    vesselSel.value = model.get("vessel") || "auto";
  }

  // --- transcript -----------------------------------------------------------------
  function chip(text, cls, title) {
    return h("span", { class: `vnb-chip ${cls || ""}`, title: title || null }, text);
  }

  function trail(list) {
    if (!list || !list.length) return null;
    return h("span", { class: "vnb-trail", title: "vessels tried first, that did not answer" }, list.map((a) => [
      h("span", { class: `vnb-trail-step vnb-outcome-${a.outcome}`, title: `${a.vessel}: ${a.error || a.outcome}` }, `${a.vessel} ✕`),
      h("span", { class: "vnb-arrow", text: "→" }),
    ]));
  }

  function badge(entry, live) {
    const b = h("div", { class: "vnb-badge" });
    if (entry.status === "streaming") {
      if (entry.vessel) b.append(chip(entry.vessel, "vnb-vessel-chip"), chip(entry.model, "vnb-model"));
      else b.append(chip("waiting for a vessel…", "vnb-muted"));
      if (live && live.first != null) b.append(chip(`first token ${secs(live.first)}`, "", "time to first token"));
      b.append(h("span", { class: "vnb-chip vnb-elapsed", "data-id": entry.id }, ""));
      return b;
    }
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
    return b;
  }

  function entryNode(entry, live) {
    const textEl = h("div", { class: "vnb-text vnb-stream" });
    textEl.textContent = live ? live.text : entry.text || "";
    const thinkingText = live ? live.thinking : entry.thinking;
    const thinkingEl = h("details", { class: "vnb-thinking-box", open: entry.status === "streaming" || null, hidden: !thinkingText || null },
      h("summary", { text: "thinking" }), h("div", { class: "vnb-thinking-text", text: thinkingText || "" }));
    const events = (entry.events || []).map((ev) =>
      h("div", { class: `vnb-event vnb-event-${ev.kind}` },
        ev.kind === "fallback" ? `↪ ${ev.vessel} did not answer — falling back: ` : ev.kind === "withheld" ? "🔒 " : `↺ ${ev.vessel} broke off — restarting: `,
        h("span", { class: "vnb-event-detail", text: ev.detail })));
    const q = h("div", { class: "vnb-q" },
      h("span", { class: "vnb-q-text", text: entry.prompt }),
      (entry.images || []).map((n) => h("span", { class: "vnb-chip vnb-img", title: "attached image" }, imageIcon(), n)),
      entry.asked && entry.asked.private ? h("span", { class: "vnb-chip vnb-local", text: "private" }) : null,
      entry.asked && entry.asked.vessel && entry.asked.vessel !== "auto" ? h("span", { class: "vnb-chip", text: `→ ${entry.asked.vessel}` }) : null);
    const a = h("div", { class: "vnb-a" }, events, thinkingEl, textEl,
      entry.error && entry.status === "error" ? h("div", { class: "vnb-error", text: entry.error }) : null,
      badge(entry, live));
    return h("div", { class: "vnb-entry", "data-id": entry.id, "data-status": entry.status, "data-vessel": entry.vessel || "" }, q, a);
  }

  function nearBottom() {
    return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  }

  function renderTranscript() {
    const stick = nearBottom();
    const done = model.get("transcript") || [];
    const doneIds = new Set(done.map((e) => e.id));
    for (const id of [...store.texts.keys()]) if (doneIds.has(id)) store.texts.delete(id);
    const pending = (model.get("pending") || []).filter((e) => !doneIds.has(e.id));
    const all = [...done, ...pending].sort((x, y) => x.n - y.n);
    for (const e of pending) if (!seen.has(e.id)) seen.set(e.id, performance.now());
    transcript.replaceChildren(...(all.length ? all.map((e) => entryNode(e, e.status === "streaming" ? store.texts.get(e.id) : null)) : [empty]));
    if (stick) transcript.scrollTop = transcript.scrollHeight;
  }

  function onStoreEvent(ev) {
    if (ev.kind !== "delta") return renderTranscript();
    const node = transcript.querySelector(`.vnb-entry[data-id="${CSS.escape(ev.id)}"]`);
    if (!node || node.dataset.status !== "streaming") return renderTranscript();
    const stick = nearBottom();
    if (ev.text) node.querySelector(".vnb-text").append(document.createTextNode(ev.text)); // append: O(delta)
    if (ev.thinking) {
      const box = node.querySelector(".vnb-thinking-box");
      box.hidden = false;
      box.querySelector(".vnb-thinking-text").append(document.createTextNode(ev.thinking));
    }
    const live = store.texts.get(ev.id);
    const badgeEl = node.querySelector(".vnb-badge");
    if (live && live.first != null && !badgeEl.dataset.first) {
      const pend = (model.get("pending") || []).find((e) => e.id === ev.id);
      if (pend) badgeEl.replaceWith(badge(pend, live));
      node.querySelector(".vnb-badge").dataset.first = "1";
    }
    if (stick) transcript.scrollTop = transcript.scrollHeight;
  }

  function tickTimers() {
    for (const chipEl of transcript.querySelectorAll(".vnb-elapsed")) {
      const t0 = seen.get(chipEl.dataset.id);
      if (t0 != null) chipEl.textContent = `streaming… ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    }
  }

  // --- log -----------------------------------------------------------------------------
  function renderLog() {
    const rows = model.get("log") || [];
    logCount.textContent = rows.length ? `(latest ${rows.length})` : "(empty)";
    logBody.replaceChildren(...rows.slice().reverse().map((r) => {
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

  // --- controls --------------------------------------------------------------------
  function renderBusy() {
    const busy = !!model.get("busy");
    root.dataset.busy = busy ? "true" : "false";
    sendBtn.disabled = busy || !prompt.value.trim();
    stopBtn.disabled = !busy;
    clearBtn.disabled = busy || !(model.get("transcript") || []).length;
  }

  function renderFiles() {
    files.replaceChildren(...attached.map((f, i) =>
      h("span", { class: "vnb-chip vnb-img" }, imageIcon(), f.name,
        h("button", { class: "vnb-x", type: "button", title: "remove", "aria-label": `remove ${f.name}`,
          onclick: () => { attached.splice(i, 1); renderFiles(); } }, "×"))));
  }

  async function send() {
    const text = prompt.value.trim();
    if (!text || model.get("busy")) return;
    const buffers = await Promise.all(attached.map((f) => f.arrayBuffer()));
    model.send({ t: "send", prompt: text, images: attached.map((f) => ({ name: f.name, type: f.type, size: f.size })) }, undefined, buffers);
    prompt.value = "";
    attached = [];
    renderFiles();
    renderBusy();
  }

  sendBtn.addEventListener("click", send);
  stopBtn.addEventListener("click", () => model.send({ t: "stop" }));
  clearBtn.addEventListener("click", () => model.send({ t: "clear" }));
  prompt.addEventListener("input", renderBusy);
  prompt.addEventListener("keydown", (e) => {
    e.stopPropagation(); // keys typed here are for the prompt, not notebook shortcuts
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  fileInput.addEventListener("change", () => {
    attached = attached.concat([...fileInput.files]);
    fileInput.value = "";
    renderFiles();
  });
  vesselSel.addEventListener("change", () => { model.set("vessel", vesselSel.value); model.save_changes(); });
  privateBox.addEventListener("change", () => { model.set("private", privateBox.checked); model.save_changes(); });
  thinkingBox.addEventListener("change", () => { model.set("thinking", thinkingBox.checked); model.save_changes(); });

  model.on("change:title", () => { title.textContent = model.get("title"); });
  model.on("change:health", renderHealth);
  model.on("change:vessels", () => { renderVessels(); renderHealth(); });
  model.on("change:vessel", renderToggles);
  model.on("change:private", renderToggles);
  model.on("change:thinking", renderToggles);
  model.on("change:transcript", () => { renderTranscript(); renderBusy(); });
  model.on("change:pending", renderTranscript);
  model.on("change:busy", renderBusy);
  model.on("change:log", renderLog);
  store.listeners.add(onStoreEvent);

  title.textContent = model.get("title");
  renderVessels();
  renderToggles();
  renderHealth();
  renderTranscript();
  renderLog();
  renderBusy();
  if ((model.get("pending") || []).length) requestSync(model, store);

  // Health refreshes while the panel can be seen: the kernel probes local vessels (free).
  let visible = true;
  const io = typeof IntersectionObserver === "function"
    ? new IntersectionObserver((entries) => { visible = entries.some((x) => x.isIntersecting); })
    : null;
  io && io.observe(root);
  const healthTick = () => {
    if (root.isConnected && visible && document.visibilityState === "visible") model.send({ t: "tick" });
  };
  const onVisibility = () => { if (document.visibilityState === "visible") healthTick(); };
  document.addEventListener("visibilitychange", onVisibility);
  let healthTimer = null;
  const startHealthTimer = () => {
    clearInterval(healthTimer);
    healthTimer = setInterval(healthTick, Math.max(1, model.get("health_interval") || 3) * 1000);
  };
  startHealthTimer();
  model.on("change:health_interval", startHealthTimer);
  const clock = setInterval(tickTimers, 200);
  healthTick();

  return () => {
    store.listeners.delete(onStoreEvent);
    clearInterval(healthTimer);
    clearInterval(clock);
    document.removeEventListener("visibilitychange", onVisibility);
    io && io.disconnect();
  };
}

export default {
  initialize({ model }) {
    storeFor(model); // listen for streamed text before any view exists
  },
  render,
};
