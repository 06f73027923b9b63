// The run page's timeline: built from the embedded data in slices as the reader scrolls.
// Every string from the run is inserted with textContent, never as markup.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("run-data").textContent);
  const items = data.timeline;
  const timeline = document.getElementById("timeline");
  const more = document.getElementById("more");
  const SLICE = 200;
  const BLOCK_LINES = 2000;
  let next = 0;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function clock(t) {
    if (t === null || t === undefined) return "";
    const s = Math.max(0, Math.floor(t));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return "+" + h + ":" + String(m).padStart(2, "0") + ":" + String(r).padStart(2, "0");
  }
  function usd(x) { return x === null || x === undefined ? "unpriced" : "$" + Number(x).toFixed(4); }

  function logBlock(item) {
    const box = el("div", "log");
    box.dataset.line = item.l;
    box.append(el("div", "when", clock(item.t) + "  agent.log lines " + item.l + "-" + item.le));
    const pre = el("pre");
    if (item.n > BLOCK_LINES) {
      let cut = 0;
      for (let i = 0; i < BLOCK_LINES; i++) cut = item.x.indexOf("\n", cut) + 1;
      pre.textContent = item.x.slice(0, cut);
      const button = el("button", "more", "show all " + item.n + " lines");
      button.addEventListener("click", function () { pre.textContent = item.x; button.remove(); });
      box.append(pre, button);
    } else {
      pre.textContent = item.x;
      box.append(pre);
    }
    return box;
  }

  function turn(t) {
    const box = el("div", "turn " + t.r);
    box.append(el("div", "role", t.r));
    if (t.x) box.append(el("pre", "text", t.x));
    for (const call of t.tc || []) {
      const tool = el("div", "tool");
      tool.append(el("span", "name", "tool call: " + call.n), el("pre", "args", call.a));
      box.append(tool);
    }
    return box;
  }

  function fillCall(body, item) {
    if (item.tools && item.tools.length) body.append(el("p", "sub", "tools offered: " + item.tools.join(", ")));
    if (item.om) body.append(el("p", "sub", "bodies not recorded: the transcript had reached its size bound"));
    if (item.cut) body.append(el("p", "sub", "part of this call was cut to the transcript's bound (marked in place)"));
    if (item.e) body.append(el("p", "sub", item.e + " earlier turns of the conversation (shown in earlier calls)"));
    for (const t of item.new) body.append(turn(t));
    if (item.rep.length) {
      body.append(el("p", "sub", "reply:"));
      for (const t of item.rep) body.append(turn(t));
    }
  }

  function callBlock(item) {
    const box = el("details", "call" + (item.ref ? " refused" : ""));
    box.id = "call-" + item.i;
    const status = item.ref ? item.st + " refused by the " + item.ref : String(item.st);
    box.append(el("summary", null,
      clock(item.t) + "  call #" + item.i + "  " + item.m + "  " + status + "  " +
      item.lat.toFixed(2) + " s  | " + item.in + " in / " + item.out + " out, " + usd(item.c) +
      "  | so far " + item.ci + " in / " + item.co + " out, " + usd(item.cc)));
    const body = el("div", "call-body");
    box.append(body);
    box.addEventListener("toggle", function () {
      if (box.open && !body.dataset.filled) { body.dataset.filled = "1"; fillCall(body, item); }
    });
    return box;
  }

  function renderUntil(end) {
    const frag = document.createDocumentFragment();
    const stop = Math.min(end, items.length);
    for (; next < stop; next++) {
      const item = items[next];
      frag.append(item.k === "call" ? callBlock(item) : logBlock(item));
    }
    timeline.append(frag);
    more.textContent = next < items.length ? "loading more..." : "end of the timeline";
  }

  function openFromHash() {
    const match = /^#call-(\d+)$/.exec(location.hash);
    if (!match) return;
    const wanted = Number(match[1]);
    const at = items.findIndex(function (it) { return it.k === "call" && it.i === wanted; });
    if (at < 0) return;
    renderUntil(at + SLICE);
    const node = document.getElementById("call-" + wanted);
    node.open = true;
    node.scrollIntoView({ block: "start" });
  }

  // More slices while the end of what is built is within 2000 px of the window.
  function fill() {
    if (next >= items.length) return;
    if (more.getBoundingClientRect().top < window.innerHeight + 2000) {
      renderUntil(next + SLICE);
      window.requestAnimationFrame(fill);
    }
  }
  renderUntil(SLICE);
  window.addEventListener("scroll", fill, { passive: true });
  window.addEventListener("hashchange", openFromHash);
  openFromHash();
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
})();
