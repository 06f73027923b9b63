// The leaderboard page's behaviour (inlined into the page when it is written).
"use strict";
const DATA = JSON.parse(document.getElementById("board-data").textContent);
const COLORS = ["#3558c8","#d9480f","#2b8a3e","#9c36b5","#c2255c","#0b7285","#e67700",
  "#5c940d","#1864ab","#862e9c","#a61e4d","#495057"];
const state = {bench: 0, metric: "relative", trials: "mean", tasks: null, sort: null,
  dir: "desc", view: "board"};
const $ = (sel) => document.querySelector(sel);
function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v; else if (k.startsWith("on")) node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
}
function bench() { return DATA.benchmarks[state.bench]; }
function selectedTasks() {
  const b = bench();
  return b.tasks.map((t) => t.name).filter((n) => state.tasks === null || state.tasks.has(n));
}
function fmt(v, metric) {
  if (v === null || v === undefined) return "\u2014";
  if (metric === "raw") return Number(v.toPrecision(4)).toString();
  return v.toFixed(1);
}
function cellStat(row, task, metric) {
  const c = row.cells[task];
  return c && c.v[metric] ? c.v[metric] : null;
}
function cellValue(row, task, metric) {
  const s = cellStat(row, task, metric);
  if (!s) return null;
  return state.trials === "best" ? s[3] : s[0];
}
function mean(xs) { return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null; }
// Same order as the terminal: references first; complete rows before incomplete ones; by average.
function ranked() {
  const sel = selectedTasks();
  const metric = state.metric;
  const orderMetric = metric === "raw" ? "relative" : metric;
  const refs = [], items = [];
  for (const row of bench().rows) {
    const values = sel.map((t) => cellValue(row, t, metric));
    if (row.kind !== "agent" && values.every((v) => v === null)) continue;
    const keyVals = sel.map((t) => cellValue(row, t, orderMetric)).filter((v) => v !== null);
    const avg = mean(keyVals);
    const item = {row, values, avg: metric === "raw" ? null : avg, orderAvg: avg,
      covered: keyVals.length, rank: null, medal: null};
    (row.kind === "reference" ? refs : items).push(item);
  }
  const key = (i) => [i.orderAvg === null ? 0 : 1, i.covered, i.orderAvg === null ? -Infinity : i.orderAvg];
  const cmp = (a, b) => { const x = key(a), y = key(b);
    for (let k = 0; k < 3; k++) { if (x[k] !== y[k]) return y[k] > x[k] ? 1 : -1; } return 0; };
  items.sort(cmp);
  let rank = 0;
  items.forEach((item, i) => {
    if (i === 0 || cmp(items[i - 1], item) !== 0) rank = i + 1;
    item.rank = rank;
    if (sel.length && item.covered === sel.length && rank <= 3) item.medal = ["\u{1F947}", "\u{1F948}", "\u{1F949}"][rank - 1];
  });
  return {refs, items, sel};
}
function sortItems(items, sel) {
  if (state.sort === null) return items;
  const dir = state.dir === "asc" ? 1 : -1;
  const val = (item) => {
    if (state.sort === "rank") return item.rank;
    if (state.sort === "agent") return item.row.agent.toLowerCase();
    if (state.sort === "avg") return item.avg;
    return item.values[sel.indexOf(state.sort)];
  };
  return items.slice().sort((a, b) => {
    const x = val(a), y = val(b);
    if (x === null || x === undefined) return (y === null || y === undefined) ? 0 : 1;
    if (y === null || y === undefined) return -1;
    return x < y ? -dir : x > y ? dir : 0;
  });
}
function tone(v, task) {
  if (v === null) return "missing";
  if (state.metric === "raw") {
    const b = bench().baselines[task];
    if (!b || b.baseline === null || v === b.baseline) return "";
    return (b.direction === "higher" ? v > b.baseline : v < b.baseline) ? "pos" : "neg";
  }
  return v > 0 ? "pos" : v < 0 ? "neg" : "";
}
function tip(row, task) {
  const c = row.cells[task];
  if (!c) return "no result";
  if (row.kind !== "agent") return "imported: " + row.source;
  const s = c.v[state.metric];
  const parts = [`${c.n} trial(s), ${c.valid} valid, ${c.success} success(es) (score >= ${DATA.success_threshold})`];
  if (s) {
    parts.push(`mean ${fmt(s[0], state.metric)}` + (s[1] !== null ? ` (95% CI ${fmt(s[1], state.metric)} to ${fmt(s[2], state.metric)})` : ""));
    parts.push(`best of ${s[4]}: ${fmt(s[3], state.metric)}`);
  }
  const pk = Object.entries(c.pass_at).filter(([, v]) => v !== null).map(([k, v]) => `pass@${k} ${(v * 100).toFixed(0)}%`);
  if (pk.length) parts.push(pk.join(", "));
  const lv = Object.entries(c.levels).map(([k, v]) => `L${k}\u00d7${v}`);
  if (lv.length) parts.push("levels " + lv.join(" "));
  return parts.join("\n");
}
function renderControls() {
  const b = bench();
  const box = $("#task-filter");
  box.replaceChildren();
  for (const t of b.tasks) {
    const input = el("input", {type: "checkbox", value: t.name, "data-task": t.name,
      checked: state.tasks === null || state.tasks.has(t.name)});
    input.onchange = () => {
      const now = new Set(selectedTasks());
      if (input.checked) now.add(t.name); else now.delete(t.name);
      state.tasks = now; update();
    };
    box.append(el("label", {title: t.title}, input, " " + t.short));
  }
  for (const input of document.querySelectorAll("input[name=metric]")) input.checked = input.value === state.metric;
  for (const input of document.querySelectorAll("input[name=trials]")) input.checked = input.value === state.trials;
}
function renderTable() {
  const {refs, items, sel} = ranked();
  const host = $("#board-host");
  host.replaceChildren();
  if (!sel.length) {
    host.append(el("div", {class: "empty", id: "empty-state"}, "No task selected. Tick at least one task above to see the leaderboard."));
    return {refs, items, sel};
  }
  if (!refs.length && !items.length) {
    host.append(el("div", {class: "empty", id: "empty-state"}, bench().rows.length
      ? `No ${state.metric} values for the selected tasks: imported results carry only the metrics their file gives. Choose another metric.`
      : `No results recorded for ${bench().name} yet.`));
    return {refs, items, sel};
  }
  const b = bench();
  const titles = Object.fromEntries(b.tasks.map((t) => [t.name, t]));
  const arrow = (k) => state.sort === k ? el("span", {class: "arrow"}, state.dir === "asc" ? " \u25b2" : " \u25bc") : null;
  const head = (key, label, cls, title) => {
    const th = el("th", {"data-key": key, class: cls, title}, label, arrow(key));
    th.onclick = () => {
      if (state.sort === key) state.dir = state.dir === "desc" ? "asc" : "desc";
      else { state.sort = key; state.dir = key === "agent" || key === "rank" ? "asc" : "desc"; }
      update();
    };
    return th;
  };
  const thead = el("thead", {}, el("tr", {}, head("rank", "Rank"), head("agent", "Agent", "agent"),
    sel.map((t) => head(t, titles[t].short, null, titles[t].title)),
    head("avg", state.metric === "raw" ? "Average (n/a)" : "Average")));
  const tbody = el("tbody");
  const rows = refs.concat(sortItems(items, sel));
  const sources = [];
  for (const item of rows) {
    const row = item.row;
    let note = null;
    if (row.kind !== "agent") {
      if (!sources.includes(row.source)) sources.push(row.source);
      note = el("div", {class: "src", title: row.source},
        `${row.kind === "reference" ? "reference" : "imported"} [${sources.indexOf(row.source) + 1}]`);
    } else if (row.trials) {
      note = el("div", {class: "src"}, `${row.trials} trial(s)`);
    }
    const name = el("td", {class: "agent"}, row.agent, note);
    const cells = sel.map((t, i) => {
      const v = item.values[i];
      const s = cellStat(row, t, state.metric);
      const ci = state.trials === "mean" && v !== null && s && s[1] !== null
        ? el("span", {class: "ci"}, "\u00b1" + fmt((s[2] - s[1]) / 2, state.metric)) : null;
      return el("td", {"data-task": t, class: tone(v, t), title: tip(row, t)}, fmt(v, state.metric), ci);
    });
    let avgText = state.metric === "raw" ? "\u2014" : fmt(item.avg, state.metric);
    if (item.avg !== null && item.covered < sel.length) avgText += ` (${item.covered}/${sel.length})`;
    const rank = row.kind === "reference" ? "ref" : (item.medal || "") + item.rank;
    tbody.append(el("tr", {"data-agent": row.agent, "data-kind": row.kind, class: row.kind},
      el("td", {class: "rank"}, rank), name, cells,
      el("td", {class: "avg " + (state.metric === "raw" ? "missing" : tone(item.avg, null))}, avgText)));
  }
  host.append(el("div", {class: "tablewrap"}, el("table", {id: "board"}, thead, tbody)));
  const notes = el("ul", {class: "notes"},
    el("li", {}, state.trials === "mean"
      ? "Cells show the mean over trials; \u00b1 is the half-width of the 95 % t interval (two or more trials). Hover a cell for trials, pass@k and levels."
      : "Cells show the BEST of k trials per agent and task: an optimistic figure, not the default."),
    el("li", {}, "\u2014 marks a task without a result; it is never counted as 0. (k/n): the average covers k of the n selected tasks; such rows rank after complete ones and earn no medal."),
    state.metric === "raw" ? el("li", {}, "Raw values have no cross-task average; rows keep the order of the relative score.") : null,
    el("li", {}, "Click a column header to sort; click again to reverse."),
    sources.map((src, i) => el("li", {class: "source"}, `[${i + 1}] imported from: ${src}`)));
  host.append(notes);
  return {refs, items, sel};
}
function renderPlot(view) {
  const host = $("#plot-host");
  host.replaceChildren();
  const {items, sel} = view;
  // Raw values of different tasks share no scale: the plot then shows the relative score.
  const metric = state.metric === "raw" ? "relative" : state.metric;
  const shown = items.filter((i) => sel.some((t) => cellValue(i.row, t, metric) !== null))
    .slice(0, COLORS.length);
  if (!sel.length || !shown.length) { host.append(el("div", {class: "empty"}, "Nothing to plot.")); return; }
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => { const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text !== undefined) n.textContent = text; return n; };
  const titles = Object.fromEntries(bench().tasks.map((t) => [t.name, t.short]));
  const fullTitles = Object.fromEntries(bench().tasks.map((t) => [t.name, t.title]));
  const vals = [0];
  if (metric === "relative") vals.push(100);
  for (const item of shown) sel.forEach((t) => {
    const st = cellStat(item.row, t, metric); const v = cellValue(item.row, t, metric);
    if (v !== null) vals.push(v);
    if (st && state.trials === "mean" && st[1] !== null) vals.push(st[1], st[2]);
  });
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (hi === lo) hi = lo + 1;
  const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
  // Room on the left for the longest task label (cut at 40 characters; the full title on hover).
  const label = (t) => titles[t].length > 40 ? titles[t].slice(0, 39) + "\u2026" : titles[t];
  const longest = Math.max(...sel.map((t) => label(t).length));
  const W = 900, left = Math.min(300, Math.max(120, Math.ceil(longest * 6.6) + 16)), right = 20;
  const band = 26 + shown.length * 6, top = 20;
  const H = top + sel.length * band + 30;
  const x = (v) => left + (v - lo) / (hi - lo) * (W - left - right);
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", id: "plot",
    "aria-label": "per-task scores per agent"});
  const raw = (hi - lo) / 6, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    svg.append(s("line", {x1: x(v), x2: x(v), y1: top, y2: H - 24, stroke: "#eef0f4"}));
    svg.append(s("text", {x: x(v), y: H - 8, "text-anchor": "middle"}, fmt(v, metric)));
  }
  svg.append(s("line", {x1: x(0), x2: x(0), y1: top, y2: H - 24, stroke: "#667085"}));
  if (metric === "relative") svg.append(s("line", {x1: x(100), x2: x(100), y1: top, y2: H - 24, stroke: "#e67700", "stroke-dasharray": "4 3"}));
  sel.forEach((t, ti) => {
    const y0 = top + ti * band;
    const name = s("text", {x: left - 8, y: y0 + band / 2 + 4, "text-anchor": "end", class: "tasklabel"}, label(t));
    name.append(s("title", {}, fullTitles[t]));
    svg.append(name);
    svg.append(s("line", {x1: left, x2: W - right, y1: y0 + band, y2: y0 + band, stroke: "#e3e6ec"}));
    shown.forEach((item, ai) => {
      const v = cellValue(item.row, t, metric);
      if (v === null) return;
      const y = y0 + 13 + ai * 6;
      const st = cellStat(item.row, t, metric);
      const color = COLORS[ai % COLORS.length];
      if (state.trials === "mean" && st && st[1] !== null)
        svg.append(s("line", {x1: x(st[1]), x2: x(st[2]), y1: y, y2: y, stroke: color, "stroke-width": 2, opacity: 0.6}));
      const dot = s("circle", {cx: x(v), cy: y, r: 4, fill: color});
      dot.append(s("title", {}, `${item.row.agent} \u00b7 ${titles[t]}: ${fmt(v, metric)}`));
      svg.append(dot);
    });
  });
  host.append(svg);
  const legend = el("div", {class: "legend"});
  shown.forEach((item, ai) => {
    const i = el("i"); i.style.background = COLORS[ai % COLORS.length];
    legend.append(el("span", {}, i, item.row.agent));
  });
  host.append(legend);
  const note = state.metric === "raw" ? "Raw values of different tasks have no common scale, so the plot shows the relative score. " : "";
  if (metric === "relative") host.append(el("p", {class: "notes", id: "plot-note"}, note + "Dashed line: the reference (100). Whiskers: 95 % interval over trials."));
}
function renderDetails() {
  const b = bench();
  const host = $("#details");
  host.replaceChildren();
  const story = el("div", {class: "panel story"}, el("h2", {}, b.story.title));
  for (const sec of b.story.sections) {
    story.append(el("h3", {}, sec.heading));
    for (const p of sec.text || []) story.append(el("p", {}, p));
    if (sec.bullets) story.append(el("ul", {}, sec.bullets.map((x) => el("li", {}, x))));
  }
  host.append(story);
  const cards = el("div", {class: "cards"});
  for (const t of b.tasks) {
    const dl = el("dl");
    const add = (k, v) => { if (v !== null && v !== undefined && v !== "") dl.append(el("dt", {}, k), el("dd", {}, v)); };
    if (t.metric) {
      add("metric", `${t.metric.label} (${t.metric.direction} is better)` + (t.metric.description ? ": " + t.metric.description : ""));
      const a = t.anchors;
      add("anchors", `${a.baseline_label} ${a.baseline ?? "n/a"} = 0; ${a.reference_label} ${a.reference === null ? "n/a" : Number(a.reference.toPrecision(6))} = 100` + (a.reference_improvement_pct !== null ? ` (+${a.reference_improvement_pct} % over the baseline)` : ""));
      add("source", a.source);
      add("limits", t.limits.join("; "));
      add("deliver", t.deliverable);
      if (t.aliases.length) add("also", t.aliases.join(", "));
    }
    const link = t.url ? el("a", {href: t.url, target: "_blank", rel: "noopener"}, "original competition \u2197") : null;
    cards.append(el("div", {class: "card", "data-task": t.name}, el("h3", {}, t.title),
      el("div", {class: "src"}, t.name), t.summary ? el("p", {}, t.summary) : null, dl, link));
  }
  host.append(cards);
}
function writeHash() {
  const parts = [`metric=${state.metric}`, `trials=${state.trials}`, `view=${state.view}`];
  if (DATA.benchmarks.length > 1) parts.push(`benchmark=${encodeURIComponent(bench().name)}`);
  if (state.tasks !== null) parts.push(`tasks=${[...state.tasks].map(encodeURIComponent).join(",")}`);
  if (state.sort !== null) parts.push(`sort=${encodeURIComponent(state.sort)}`, `dir=${state.dir}`);
  history.replaceState(null, "", "#" + parts.join("&"));
}
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const b = params.get("benchmark");
  if (b !== null) { const i = DATA.benchmarks.findIndex((x) => x.name === b); if (i >= 0) state.bench = i; }
  if (["relative", "absolute", "raw"].includes(params.get("metric"))) state.metric = params.get("metric");
  if (["mean", "best"].includes(params.get("trials"))) state.trials = params.get("trials");
  if (["board", "details"].includes(params.get("view"))) state.view = params.get("view");
  if (params.has("tasks")) state.tasks = new Set(params.get("tasks").split(",").filter((x) => x));
  if (params.has("sort")) { state.sort = params.get("sort"); state.dir = params.get("dir") === "asc" ? "asc" : "desc"; }
}
function update() {
  $("#view-board").hidden = state.view !== "board";
  $("#details").hidden = state.view !== "details";
  for (const btn of document.querySelectorAll("nav button")) btn.classList.toggle("active", btn.dataset.view === state.view);
  renderControls();
  const view = renderTable();
  renderPlot(view);
  $("#metric-label").textContent = DATA.metric_labels[state.metric] + (state.trials === "best" ? " \u00b7 best of k trials" : " \u00b7 mean over trials");
  writeHash();
}
function init() {
  if (!DATA.benchmarks.length) {
    $("#app").replaceChildren(el("div", {class: "panel empty", id: "empty-state"},
      "No results recorded yet. Evaluate an agent, or import published results with: agent-eval import --builtin mlrc_bench_paper"));
    document.body.dataset.ready = "1";
    return;
  }
  readHash();
  const pick = $("#bench-select");
  if (DATA.benchmarks.length > 1) {
    DATA.benchmarks.forEach((b, i) => pick.append(el("option", {value: i, selected: i === state.bench}, b.name)));
    pick.onchange = () => { state.bench = Number(pick.value); state.tasks = null; state.sort = null; update(); renderDetails(); };
  } else { $("#bench-box").hidden = true; }
  for (const input of document.querySelectorAll("input[name=metric]")) input.onchange = () => { state.metric = input.value; update(); };
  for (const input of document.querySelectorAll("input[name=trials]")) input.onchange = () => { state.trials = input.value; update(); };
  $("#all-tasks").onclick = () => { state.tasks = null; update(); };
  $("#no-tasks").onclick = () => { state.tasks = new Set(); update(); };
  for (const btn of document.querySelectorAll("nav button")) btn.onclick = () => { state.view = btn.dataset.view; update(); };
  renderDetails();
  update();
  document.body.dataset.ready = "1";
}
init();
