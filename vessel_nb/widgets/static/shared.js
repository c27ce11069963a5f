// vessel_nb panels: code shared by the chat and the comparison views.
//
// anywidget loads each view from a Blob URL, so an ES module cannot import a sibling file:
// the Python side puts this file in front of chat.js / compare.js into one `_esm` string.
// Declarations only; nothing here runs until a view calls it.

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

function secs(v) {
  if (v == null) return "–";
  return v < 10 ? `${v.toFixed(2)} s` : `${v.toFixed(1)} s`;
}

// A message to the kernel; with no kernel (a notebook reopened after it stopped) there is
// nobody to answer, and the saved state is all the view shows.
function tell(model, msg, buffers) {
  try {
    model.send(msg, undefined, buffers);
    return true;
  } catch (err) {
    return false;
  }
}

// --- the text of streaming answers -------------------------------------------------------
// Traits hold finished answers. While an answer streams, only its new part arrives, as
// custom messages {t: "delta", <key>, seq, text, done?, tail?}. At most every 0.1 s the
// kernel renders: `done` is HTML for Markdown blocks that became complete (appended once),
// `tail` the HTML of the block still open (replacing the previous one). Text that arrives
// between renders (`pending`) is shown as it is at the end of the open block until the next
// render. One store per widget model, shared by all its views; a view that misses a delta
// or opens mid-stream asks the kernel for a snapshot.
function createLiveStore(model, key) {
  const store = { run: undefined, texts: new Map(), listeners: new Set(), syncing: false };
  const blank = () => ({ text: "", thinking: "", seq: 0, first: null, done: "", tail: "", pending: "" });
  const emit = (ev) => { for (const fn of store.listeners) fn(ev); };
  const useRun = (run) => {
    if (run !== undefined && store.run !== run) {
      store.run = run;
      store.texts.clear();
    }
  };
  store.sync = () => {
    if (store.syncing) return;
    store.syncing = tell(model, { t: "sync" });
  };
  model.on("msg:custom", (msg) => {
    if (!msg || typeof msg !== "object") return;
    useRun(msg.run);
    if (msg.t === "delta") {
      const k = msg[key];
      let cur = store.texts.get(k);
      if (!cur) store.texts.set(k, (cur = blank()));
      if (msg.seq <= cur.seq) return;
      const gap = msg.seq !== cur.seq + 1;
      cur.text += msg.text || "";
      cur.thinking += msg.thinking || "";
      const rendered = msg.tail != null;
      if (rendered) {
        cur.done += msg.done || "";
        cur.tail = msg.tail;
        cur.pending = "";
      } else {
        cur.pending += msg.text || "";
      }
      cur.seq = msg.seq;
      if (msg.first != null) cur.first = msg.first;
      if (gap) store.sync(); // show what came; the snapshot fixes the rest
      emit({ kind: "delta", key: k, seq: msg.seq, gap, rendered, done: msg.done || "", tail: cur.tail, text: msg.text || "", thinking: msg.thinking || "" });
    } else if (msg.t === "reset") {
      store.texts.set(msg[key], { ...blank(), seq: msg.seq });
      emit({ kind: "all" });
    } else if (msg.t === "snapshot") {
      store.syncing = false;
      for (const [k, snap] of Object.entries(msg.texts || {})) {
        const cur = store.texts.get(k);
        if (!cur || snap.seq >= cur.seq) store.texts.set(k, { ...blank(), ...snap, first: snap.first ?? null });
      }
      emit({ kind: "all" });
    }
  });
  return store;
}

// --- Markdown from the kernel, checked again here --------------------------------------
// The kernel escapes raw HTML, keeps only http(s)/mailto links and emits no images. The
// HTML is parsed in an inert document (DOMParser: no script runs, nothing loads) and only
// the elements and attributes below are copied into the page.
const ALLOWED = {
  P: [], H1: [], H2: [], H3: [], H4: [], H5: [], H6: [], UL: [], OL: ["start"], LI: [],
  BLOCKQUOTE: [], PRE: [], CODE: [], SPAN: ["class", "title"], DIV: ["class", "data-lang"],
  EM: [], STRONG: [], DEL: [], A: ["href", "title"], TABLE: [], THEAD: [], TBODY: [], TR: [],
  TH: ["style"], TD: ["style"], HR: [], BR: [],
};

function cleanNode(node) {
  if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.data);
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  const allowed = ALLOWED[node.tagName];
  if (!allowed) return node.textContent ? document.createTextNode(node.textContent) : null;
  const el = document.createElement(node.tagName.toLowerCase());
  for (const name of allowed) {
    const v = node.getAttribute(name);
    if (v == null) continue;
    if (name === "href" && !/^(https?:\/\/|mailto:)/i.test(v.trim())) continue;
    if (name === "style" && !/^text-align:\s*(left|right|center);?$/.test(v.trim())) continue;
    el.setAttribute(name, v);
  }
  if (el.tagName === "A" && el.hasAttribute("href")) {
    el.target = "_blank";
    el.rel = "noopener noreferrer nofollow";
  }
  for (const child of node.childNodes) {
    const c = cleanNode(child);
    if (c) el.append(c);
  }
  return el;
}

function safeFragment(html) {
  const frag = document.createDocumentFragment();
  if (!html) return frag;
  const doc = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
  for (const child of doc.body.childNodes) {
    const c = cleanNode(child);
    if (c) frag.append(c);
  }
  return frag;
}

// A rendered answer: complete blocks (appended to), the open block (replaced), and text
// not rendered yet, put as it is at the end of the open block (so it stays in place).
function markdownBox(extraClass) {
  const done = h("div", { class: "vnb-md-done" });
  const tail = h("div", { class: "vnb-md-tail" });
  return { root: h("div", { class: `vnb-md ${extraClass || ""}` }, done, tail), done, tail };
}

function showMarkdown(box, doneHtml, tailHtml, tools, pending) {
  box.done.replaceChildren(safeFragment(doneHtml));
  box.tail.replaceChildren(safeFragment(tailHtml));
  decorateCode(box.root, tools);
  if (pending) addPending(box, pending);
}

function addMarkdown(box, doneHtml, tailHtml, tools) {
  if (doneHtml) box.done.append(safeFragment(doneHtml)); // append: the cost of the new part only
  box.tail.replaceChildren(safeFragment(tailHtml));
  decorateCode(box.root, tools);
}

function addPending(box, text) {
  let at = box.tail;
  while (at.lastElementChild && !at.lastElementChild.classList.contains("vnb-code-tools")) at = at.lastElementChild;
  if (at.classList.contains("vnb-code")) at = at.querySelector("code") || at;
  let span = at.lastChild && at.lastChild.nodeType === Node.ELEMENT_NODE && at.lastChild.classList.contains("vnb-pending") ? at.lastChild : null;
  if (!span) at.append((span = h("span", { class: "vnb-pending" })));
  span.append(document.createTextNode(text)); // as text: never parsed as HTML
}

// --- a scrolled list that follows its newest entry -----------------------------------------
// It starts at the end and stays there while content grows, unless the person scrolls up;
// then `jump` ("Jump to latest") brings them back. A view rendered before it is laid out
// (shown again, reloaded, Notebook 7) has no height yet: the ResizeObserver scrolls it once
// it has one. Call update() after each change of the content.
function followEnd(scroller, jump) {
  const f = { follow: true, lastTop: 0 };
  const distance = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
  f.update = () => {
    if (f.follow) scroller.scrollTop = scroller.scrollHeight;
    f.lastTop = scroller.scrollTop;
    jump.hidden = f.follow || distance() < 40;
  };
  scroller.addEventListener("scroll", () => {
    // Growing text never lowers scrollTop, and following only raises it: a lower value
    // means the person scrolled up. Reaching the end again resumes following.
    if (scroller.scrollTop < f.lastTop - 2) f.follow = false;
    if (distance() < 40) f.follow = true;
    f.lastTop = scroller.scrollTop;
    jump.hidden = f.follow || distance() < 40;
  });
  jump.addEventListener("click", () => { f.follow = true; f.update(); });
  const ro = typeof ResizeObserver === "function" ? new ResizeObserver(() => f.update()) : null;
  if (ro) ro.observe(scroller);
  f.stop = () => ro && ro.disconnect();
  return f;
}

// --- copy, and insert into a new cell ------------------------------------------------
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (err) {
    // no clipboard permission (or not a secure page): the old way
    const ta = h("textarea", { "aria-hidden": "true", style: "position:fixed;top:0;left:0;opacity:0" });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }
}

function flash(button, text) {
  const old = button.dataset.label || button.textContent;
  button.dataset.label = old;
  button.textContent = text;
  setTimeout(() => { button.textContent = old; }, 1500);
}

function copyButton(getText, label, title) {
  const b = h("button", { class: "vnb-mini vnb-copy", type: "button", title, text: label });
  b.addEventListener("click", async () => flash(b, (await copyText(getText())) ? "Copied" : "Copy failed"));
  return b;
}

// JupyterLab and Notebook 7 hand every widget manager the notebook's document context;
// its shared model takes a new cell like any edit (undo works). Other hosts (VS Code,
// Colab, a reopened notebook without widgets) have none: there the code is copied instead.
function notebookModel(model) {
  try {
    const ctx = model.widget_manager && model.widget_manager.context;
    const nb = ctx && ctx.model && ctx.model.sharedModel;
    return nb && typeof nb.insertCell === "function" ? nb : null;
  } catch (err) {
    return null;
  }
}

function insertCellBelow(model, el, code) {
  const nb = notebookModel(model);
  if (!nb) return false;
  const cellNode = el.closest(".jp-Cell");
  const cells = cellNode && cellNode.parentElement ? [...cellNode.parentElement.children].filter((n) => n.classList.contains("jp-Cell")) : [];
  const fromDom = cellNode ? Number(cellNode.dataset.windowedListIndex ?? cells.indexOf(cellNode)) : NaN;
  const index = Number.isInteger(fromDom) && fromDom >= 0 ? fromDom + 1 : nb.cells.length;
  nb.insertCell(index, { cell_type: "code", source: code });
  return true;
}

// Tools on each code block: its language, Copy, and Insert cell where the host allows it.
function decorateCode(root, tools) {
  for (const block of root.querySelectorAll(".vnb-code:not([data-tools])")) {
    block.dataset.tools = "1";
    const code = () => (block.querySelector("code") || block).textContent;
    const bar = h("div", { class: "vnb-code-tools" },
      h("span", { class: "vnb-code-lang", text: block.dataset.lang || "" }),
      copyButton(code, "Copy", "copy this code"));
    if (tools && tools.canInsert()) {
      const ins = h("button", { class: "vnb-mini vnb-insert", type: "button", text: "Insert cell", title: "put this code in a new cell below" });
      ins.addEventListener("click", async () => {
        if (tools.insert(code())) flash(ins, "Inserted below");
        else flash(ins, (await copyText(code())) ? "Copied — paste it" : "Not available");
      });
      bar.append(ins);
    }
    block.prepend(bar);
  }
}

function codeTools(model, el) {
  return { canInsert: () => !!notebookModel(model), insert: (code) => insertCellBelow(model, el, code) };
}

// --- the static fallback, kept current in the saved notebook ------------------------------
// Beside the widget view, the display data holds the conversation as text/html and
// text/plain for viewers without widgets (GitHub, nbviewer). The kernel wrote it when the
// panel was displayed; at each save JupyterLab and Notebook 7 (whose document context the
// widget manager holds) get the current one from the `_fallback` trait, the way the widget
// manager itself writes widget state into the notebook at save. Elsewhere: nothing to do.
function keepFallbackSaved(model) {
  let ctx = null;
  try { ctx = model.widget_manager && model.widget_manager.context; } catch (err) { ctx = null; }
  if (!ctx || !ctx.saveState || !ctx.model || !ctx.model.sharedModel) return () => {};
  const onSave = (_sender, state) => {
    if (state !== "started") return;
    const fb = model.get("_fallback") || {};
    if (!fb.model_id || !fb["text/html"]) return;
    for (const cell of ctx.model.sharedModel.cells) {
      if (cell.cell_type !== "code" || typeof cell.getOutputs !== "function") continue;
      cell.getOutputs().forEach((out, i) => {
        const data = out.data || {};
        const view = data["application/vnd.jupyter.widget-view+json"];
        if (!view || view.model_id !== fb.model_id || data["text/html"] === fb["text/html"]) return;
        const fresh = { ...data, "text/html": fb["text/html"], "text/plain": fb["text/plain"] };
        cell.updateOutputs(i, i + 1, [{ ...out, data: fresh }]);
      });
    }
  };
  ctx.saveState.connect(onSave);
  return () => ctx.saveState.disconnect(onSave);
}
