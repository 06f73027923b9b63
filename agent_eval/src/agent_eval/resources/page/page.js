// The leaderboard page's behaviour (inlined into the page when it is written).
"use strict";
const DATA = JSON.parse(document.getElementById("board-data").textContent);
const COLORS = ["#3558c8","#d9480f","#2b8a3e","#9c36b5","#c2255c","#0b7285","#e67700",
  "#5c940d","#1864ab","#862e9c","#a61e4d","#495057"];
const VIEWS = ["board", "details", "cost", "compare", "trials"];
const state = {bench: 0, metric: "relative", trials: "mean", tasks: null, sort: null,
  dir: "desc", view: "board", budget: null, a: null, b: null, agent: null};
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
// The interval of the average, rank stability and ties were computed over every task of the
// benchmark, mean of trials: they are shown for exactly that view.
function statsShown(sel) {
  return state.trials === "mean" && state.metric !== "raw" && sel.length === bench().tasks.length;
}
function rowStats(row) { return (row.stats || {})[state.metric] || null; }
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
    if (state.sort === "ci") { const st = statsShown(sel) ? rowStats(item.row) : null; return st && st.ci ? st.ci[0] : null; }
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
function cellMeta(row, task) {
  const c = row.cells[task];
  if (!c || row.kind !== "agent") return null;
  const s = c.v[state.metric];
  const parts = [];
  if (s && s[4] > 1) parts.push(`best ${fmt(s[3], state.metric)}`);
  const lv = Object.entries(c.levels).map(([k, v]) => `L${k}\u00d7${v}`);
  if (lv.length) parts.push(lv.join(" "));
  // The trials of this cell, listed (each with its run's page) in the Trials view.
  const link = el("a", {href: "#", class: "trials-link", "data-agent": row.agent, "data-task": task,
    title: "list these trials, each linked to its run's page"}, `${c.valid}/${c.n} trial${c.n === 1 ? "" : "s"}`);
  link.onclick = (ev) => { ev.preventDefault(); state.view = "trials"; state.agent = row.agent; state.tasks = new Set([task]); update(); };
  return el("div", {class: "cellmeta"}, link, parts.length ? " \u00b7 " + parts.join(" \u00b7 ") : null);
}
function hours(h) {
  if (h === null || h === undefined) return "\u2014";
  const s = Math.round(h * 3600);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s % 3600 / 60)).padStart(2, "0")} min`;
}
// Every trial of the selected tasks (one agent's, when picked from a cell), each linking to its
// run's page (written beside this page by agent-eval leaderboard --html, a relative link).
function renderTrials() {
  const b = bench();
  const host = $("#trials");
  host.replaceChildren();
  if (state.view !== "trials") return;  // built when shown: a board may hold thousands of trials
  const sel = selectedTasks();
  const titles = Object.fromEntries(b.tasks.map((t) => [t.name, t.short]));
  const agents = b.rows.filter((r) => r.kind === "agent").map((r) => r.agent);
  if (state.agent !== null && !agents.includes(state.agent)) state.agent = null;
  const panel = el("div", {class: "panel"}, el("h3", {}, b.at ? `Trials of ${b.name}: scores at ${b.at} into each run` : `Trials of ${b.name}`));
  host.append(panel);
  const pick = el("select", {id: "trials-agent"}, el("option", {value: ""}, "every agent"),
    agents.map((a) => el("option", {value: a, selected: a === state.agent}, a)));
  pick.onchange = () => { state.agent = pick.value || null; update(); };
  panel.append(el("div", {class: "controls"}, el("label", {}, "Agent ", pick),
    el("span", {class: "src"}, `tasks: ${sel.length === b.tasks.length ? "all" : sel.map((t) => titles[t]).join(", ") || "none (tick tasks on the leaderboard)"}`)));
  const body = el("tbody");
  let count = 0, linked = 0;
  for (const row of b.rows) {
    if (row.kind !== "agent" || (state.agent !== null && row.agent !== state.agent)) continue;
    for (const t of sel) {
      const c = row.cells[t];
      if (!c) continue;
      for (const tr of c.trials || []) {
        count += 1;
        const v = tr.v[DATA.metrics.indexOf(state.metric)];
        const name = tr.id;
        let trial;
        if (tr.page) {
          linked += 1;
          trial = el("a", {href: tr.page.split("/").map(encodeURIComponent).join("/"), class: "run-link", "data-run": tr.id}, name);
        } else {
          trial = el("span", {title: "no run page: its run folder was not found when the page was written"}, name);
        }
        const at = tr.el === undefined ? null : el("div", {class: "src"}, `scored at ${hours(tr.el / 3600)}`);
        body.append(el("tr", {"data-trial": tr.id},
          el("td", {class: "agent"}, row.agent), el("td", {class: "agent"}, titles[t] || t),
          el("td", {class: "agent trial"}, trial), el("td", {}, tr.st),
          el("td", {class: v === null ? "missing" : tone(v, t)}, v === null ? "no valid output" : fmt(v, state.metric), at),
          el("td", {class: "work"}, hours(tr.wh)), el("td", {}, hours(tr.rh)),
          el("td", {}, tr.c === undefined ? "\u2014" : `$${Number(tr.c.toPrecision(4))}`)));
      }
    }
  }
  if (!count) panel.append(el("div", {class: "empty", id: "trials-empty"}, "No trials recorded for this selection."));
  else panel.append(el("div", {class: "tablewrap"}, el("table", {id: "trials-table"},
    el("thead", {}, el("tr", {}, ["Agent", "Task", "Trial (run page)", "Status", DATA.metric_labels[state.metric], "Working time", "Wall time", "Model $"].map((h, i) => el("th", {class: i < 3 ? "agent" : null}, h)))), body)));
  const apart = (b.apart || []).filter((a) => sel.includes(a.task) && (state.agent === null || a.agent === state.agent));
  const notes = el("ul", {class: "notes", id: "trials-notes"},
    el("li", {}, "Working time: the run's wall time less the time it was stalled on the model provider (refused or failed calls), as the harness recorded it; \u2014 without the harness's proxy."),
    el("li", {}, `Click a trial to open its run's page: the task and conditions, the evaluation, the score over time, a timeline of the agent's log and model calls, and how the run ended. ${linked} of ${count} trials here have one.`),
    apart.length ? el("li", {id: "trials-apart"}, `Not ranked at ${b.at}: ` + apart.map((a) => `${a.agent} \u00b7 ${a.task} \u00b7 ${a.trial}: ${a.why}`).join("; ")) : null);
  panel.append(notes);
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
      : `No results recorded for ${bench().name} yet. ${DATA.how_to}`));
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
    head("avg", state.metric === "raw" ? "Average (n/a)" : "Average"),
    head("ci", "95 % CI of average \u00b7 rank held", "ci", "Bootstrap interval of the average over trials; share of resamples in which the row keeps its rank")));
  const tbody = el("tbody");
  const rows = refs.concat(sortItems(items, sel));
  const sources = [];
  const withStats = statsShown(sel);
  let anyTie = false, anyMissing = false;
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
    let missingNote = null;
    if (row.kind !== "reference" && item.avg !== null && item.covered < sel.length) {
      anyMissing = true;
      const lacking = sel.filter((t, i) => item.values[i] === null).map((t) => titles[t].short);
      missingNote = el("div", {class: "missing-note"}, `missing ${lacking.length} of ${sel.length}: ${lacking.join(", ")}`);
    }
    const name = el("td", {class: "agent"}, row.agent, note, missingNote);
    const cells = sel.map((t, i) => {
      const v = item.values[i];
      const s = cellStat(row, t, state.metric);
      const ci = state.trials === "mean" && v !== null && s && s[1] !== null
        ? el("span", {class: "ci"}, "\u00b1" + fmt((s[2] - s[1]) / 2, state.metric)) : null;
      return el("td", {"data-task": t, class: tone(v, t), title: tip(row, t)}, fmt(v, state.metric), ci, cellMeta(row, t));
    });
    let avgText = state.metric === "raw" ? "\u2014" : fmt(item.avg, state.metric);
    if (item.avg !== null && item.covered < sel.length) avgText += ` (${item.covered}/${sel.length})`;
    const rank = row.kind === "reference" ? "ref" : (item.medal || "") + item.rank;
    const st = withStats && row.kind !== "reference" ? rowStats(row) : null;
    const tie = st && st.tied ? el("span", {class: "tie", title: "not significantly different from the next row"}, "\u2248") : null;
    if (tie) anyTie = true;
    const ciCell = el("td", {class: "ci-cell"},
      st && st.ci ? `[${fmt(st.ci[0], state.metric)}, ${fmt(st.ci[1], state.metric)}]` : "\u2014",
      st && st.held !== null ? el("div", {class: "src held"}, `rank held ${(st.held * 100).toFixed(0)} %`) : null);
    tbody.append(el("tr", {"data-agent": row.agent, "data-kind": row.kind, "data-tied": st && st.tied ? "1" : null, class: row.kind},
      el("td", {class: "rank"}, rank, tie), name, cells,
      el("td", {class: "avg " + (state.metric === "raw" ? "missing" : tone(item.avg, null))}, avgText), ciCell));
  }
  host.append(el("div", {class: "tablewrap"}, el("table", {id: "board"}, thead, tbody)));
  const notes = el("ul", {class: "notes", id: "board-notes"},
    el("li", {}, state.trials === "mean"
      ? "Cells show the mean over trials; \u00b1 is the half-width of the 95 % t interval (two or more trials). Under each value: trials (valid of run), the best of k trials, and the MLRC-Bench levels of the trials (L1 no valid output \u2026 L8 above the reference). Hover a cell for pass@k."
      : "Cells show the BEST of k trials per agent and task: an optimistic figure, not the default."),
    el("li", {}, withStats
      ? `95 % CI of average: interval of the cross-task average; rank held: share of resamples in which the row keeps its rank; \u2248 after a rank: not significantly different from the next row. Method: ${DATA.uncertainty}.`
      : "The interval of the average and rank stability are computed for the mean of trials over every task of the benchmark: select all tasks and the mean to see them (agent-eval leaderboard --task ... --json gives them for any selection)."),
    el("li", {}, "\u2014 marks a task without a result; it is never counted as 0. (k/n): the average covers k of the n selected tasks; such rows rank after every complete row and earn no medal."),
    anyMissing ? el("li", {id: "complete-hint"}, `To complete a row: ${DATA.complete_hint}.`) : null,
    state.metric === "raw" ? el("li", {}, "Raw values have no cross-task average; rows keep the order of the relative score.") : null,
    el("li", {}, "Click a column header to sort; click again to reverse. Click \u201cn trials\u201d under a value to list those trials, each linked to its run's page."),
    b.at ? el("li", {id: "at-note"}, `Scores at ${b.at} into each run: each trial's last snapshot scored by agent-eval --over-time at or before ${b.at}, or its final deliverable when the run had ended by then.`) : null,
    b.at && (b.apart || []).length ? el("li", {id: "apart-note"}, `Not ranked at ${b.at} (${b.apart.length} trial(s)): ` + b.apart.map((a) => `${a.agent} \u00b7 ${a.task} \u00b7 ${a.trial}: ${a.why}`).join("; ")) : null,
    notRankedNote(sel),
    sources.map((src, i) => el("li", {class: "source"}, `[${i + 1}] imported from: ${src}`)));
  host.append(notes);
  return {refs, items, sel};
}
// Evaluations of the selected tasks that the ranking leaves out (a quick check, a data subset,
// other conditions than the benchmark's, a model already counted under a run), each with why.
function notRankedNote(sel) {
  const left = (DATA.not_ranked || []).filter((n) => sel.includes(n.task) && (state.agent === null || n.agent === state.agent));
  if (!left.length) return null;
  const more = DATA.not_ranked_total > DATA.not_ranked.length
    ? ` (the page lists the newest ${DATA.not_ranked.length} of ${DATA.not_ranked_total} in the database)` : "";
  return el("li", {id: "not-ranked"},
    el("details", {},
      el("summary", {}, `Not ranked: ${left.length} evaluation(s) of these tasks, shown apart and never averaged${more}. agent-eval history lists them all.`),
      el("ul", {id: "not-ranked-list"}, left.map((n) => el("li", {"data-evaluation": n.evaluation_id},
        `${n.agent || "(no agent)"} \u00b7 ${n.task} \u00b7 ${n.evaluation_id.slice(0, 12)}: ${n.why}`)))));
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
const COSTS = [
  {key: "cost_usd_per_run", label: "model-API USD per run", unit: "$", id: "usd"},
  {key: "gpu_hours_per_run", label: "GPU-hours per run (GPUs \u00d7 wall time)", unit: "GPU-h", id: "gpu"},
];
// Points not beaten by another that costs no more and scores at least as much (strictly better
// in one of the two): the Pareto front, cheapest first.
function paretoFront(points) {
  const sorted = points.slice().sort((p, q) => p.x - q.x || q.y - p.y);
  const front = [];
  for (const p of sorted) if (!front.length || p.y > front[front.length - 1].y) front.push(p);
  return front;
}
function scatter(points, front, cost, metric) {
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => { const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text !== undefined) n.textContent = text; return n; };
  const W = 640, H = 320, left = 56, right = 16, top = 14, bottom = 40;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y).concat([0]);
  let x0 = 0, x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (x1 === x0) x1 = x0 + 1; if (y1 === y0) y1 = y0 + 1;
  const py = (y1 - y0) * 0.08; y0 -= py; y1 += py; x1 *= 1.08;
  const X = (v) => left + (v - x0) / (x1 - x0) * (W - left - right);
  const Y = (v) => H - bottom - (v - y0) / (y1 - y0) * (H - top - bottom);
  const svg = s("svg", {viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", class: "costplot", id: `cost-${cost.id}`,
    "aria-label": `average score against ${cost.label}`});
  svg.append(s("line", {x1: left, x2: W - right, y1: Y(0), y2: Y(0), stroke: "#667085"}));
  svg.append(s("line", {x1: left, x2: left, y1: top, y2: H - bottom, stroke: "#667085"}));
  const xMax = x1 / 1.08;
  for (const v of [0, xMax / 2, xMax]) svg.append(s("text", {x: X(v), y: H - bottom + 14, "text-anchor": "middle"}, Number(v.toPrecision(3)).toString()));
  for (const v of new Set([y0 + py, 0, y1 - py])) svg.append(s("text", {x: left - 6, y: Y(v) + 4, "text-anchor": "end"}, fmt(v, metric)));
  svg.append(s("text", {x: (left + W - right) / 2, y: H - 6, "text-anchor": "middle"}, cost.label));
  if (front.length > 1) {
    const d = front.map((p, i) => (i ? `H${X(p.x)}V${Y(p.y)}` : `M${X(p.x)} ${Y(p.y)}`)).join("");
    svg.append(s("path", {d, fill: "none", stroke: "#d9480f", "stroke-width": 2, class: "front"}));
  }
  points.forEach((p, i) => {
    const onFront = front.includes(p);
    const color = COLORS[i % COLORS.length];
    // A row missing tasks is drawn hollow and never joins the front (it never outranks a
    // complete row on the board either).
    const dot = s("circle", {cx: X(p.x), cy: Y(p.y), r: onFront ? 6 : 4, fill: p.complete ? (onFront ? "#d9480f" : color) : "#fff",
      stroke: p.complete ? "none" : color, "stroke-width": 2, "data-agent": p.item.row.agent, "data-front": onFront ? "1" : "0"});
    dot.append(s("title", {}, `${p.item.row.agent}: ${fmt(p.y, metric)} at ${Number(p.x.toPrecision(4))} ${cost.unit}` + (p.complete ? "" : " (misses tasks: not on the front)")));
    svg.append(dot);
  });
  return svg;
}
function renderCost(view) {
  const host = $("#cost-host");
  host.replaceChildren();
  const {items, sel} = view;
  const metric = state.metric === "raw" ? "relative" : state.metric;
  const scored = items.filter((i) => i.orderAvg !== null);
  if (!sel.length || !scored.length) { host.append(el("div", {class: "empty"}, "Nothing to plot: no agent has an average on the selected tasks.")); return; }
  host.append(el("p", {class: "notes"}, `Average ${metric} score over the selected tasks (rows with (k/n) cover only k of them) against the mean cost per run. The orange line joins the Pareto front: complete agents no other complete agent beats at a lower or equal cost. Hollow points miss tasks and are never on the front.`));
  for (const cost of COSTS) {
    const points = scored.filter((i) => i.row[cost.key] !== null && i.row[cost.key] !== undefined)
      .map((item) => ({x: item.row[cost.key], y: item.orderAvg, item, complete: item.covered === sel.length}));
    const panel = el("div", {class: "costpanel"}, el("h4", {}, `Score vs ${cost.label}`));
    if (!points.length) {
      panel.append(el("div", {class: "empty"}, cost.id === "usd"
        ? "No run recorded its model-API cost (runs through the harness's proxy do)."
        : "No run recorded its GPUs and wall time (runs given GPU ids do; --gpus all records none)."));
    } else {
      const front = paretoFront(points.filter((p) => p.complete));
      panel.append(scatter(points, front, cost, metric));
      panel.append(el("div", {class: "src front-list", id: `front-${cost.id}`}, "Pareto front: " +
        front.map((p) => `${p.item.row.agent} (${fmt(p.y, metric)} at ${Number(p.x.toPrecision(3))} ${cost.unit})`).join(" \u2192 ")));
    }
    host.append(panel);
  }
  // Rank at a budget: only agents whose mean model cost per run fits, in the board's order.
  const input = el("input", {type: "number", min: 0, step: "any", id: "budget", value: state.budget === null ? "" : state.budget, placeholder: "USD per run"});
  input.onchange = () => { state.budget = input.value === "" ? null : Number(input.value); update(); };
  const box = el("div", {class: "costpanel"}, el("h4", {}, "Rank at a budget"),
    el("label", {}, "Model-API USD per run at most ", input));
  if (state.budget !== null) {
    const fits = scored.filter((i) => i.row.cost_usd_per_run !== null && i.row.cost_usd_per_run <= state.budget);
    const unknown = scored.filter((i) => i.row.cost_usd_per_run === null).length;
    const body = el("tbody");
    fits.forEach((item, n) => body.append(el("tr", {"data-agent": item.row.agent},
      el("td", {}, String(n + 1)), el("td", {class: "agent"}, item.row.agent),
      el("td", {}, fmt(item.orderAvg, metric) + (item.covered < sel.length ? ` (${item.covered}/${sel.length})` : "")),
      el("td", {}, Number(item.row.cost_usd_per_run.toPrecision(4)).toString()))));
    box.append(fits.length ? el("table", {id: "budget-table"}, el("thead", {}, el("tr", {},
      el("th", {}, "#"), el("th", {class: "agent"}, "Agent"), el("th", {}, "Average"), el("th", {}, "$/run"))), body)
      : el("div", {class: "empty"}, "No agent fits this budget."));
    if (unknown) box.append(el("div", {class: "src"}, `${unknown} agent(s) without a recorded cost are left out.`));
  }
  host.append(box);
}
function findComparison(a, b) {
  for (const c of bench().comparisons || []) {
    if (c.agent_a === a && c.agent_b === b) return c;
    if (c.agent_a === b && c.agent_b === a) {
      // The same comparison seen from the other side.
      return {...c, agent_a: a, agent_b: b, mean_difference: -c.mean_difference,
        ci95: c.ci95 ? [-c.ci95[1], -c.ci95[0]] : null, p_a_beats_b: 1 - c.p_a_beats_b,
        wins: c.losses, losses: c.wins, only_a: c.only_b, only_b: c.only_a,
        tasks: c.tasks.map((t) => ({...t, mean_a: t.mean_b, mean_b: t.mean_a, difference: -t.difference, p_a_beats_b: 1 - t.p_a_beats_b}))};
    }
  }
  return null;
}
function renderCompare() {
  const host = $("#compare");
  host.replaceChildren();
  const comps = bench().comparisons || [];
  const names = [...new Set(comps.flatMap((c) => [c.agent_a, c.agent_b]))];
  const panel = el("div", {class: "panel"}, el("h3", {}, `Compare two agents of ${bench().name}, paired over the tasks both ran`));
  host.append(panel);
  if (names.length < 2) { panel.append(el("div", {class: "empty", id: "compare-empty"}, "Fewer than two ranked agents share a task on this benchmark.")); return; }
  if (!names.includes(state.a)) state.a = names[0];
  if (!names.includes(state.b) || state.b === state.a) state.b = names.find((n) => n !== state.a);
  const pick = (id, key) => { const sel = el("select", {id}, names.map((n) => el("option", {value: n, selected: n === state[key]}, n)));
    sel.onchange = () => { state[key] = sel.value; update(); }; return sel; };
  panel.append(el("div", {class: "controls"}, el("label", {}, "A ", pick("cmp-a", "a")), el("label", {}, "B ", pick("cmp-b", "b"))));
  const c = state.a === state.b ? null : findComparison(state.a, state.b);
  if (!c) { panel.append(el("div", {class: "empty", id: "compare-missing"}, `This pair is not on the page (it carries the first ${names.length} ranked agents). Run: agent-eval compare "${state.a}" "${state.b}"`)); return; }
  const f = (v) => (v >= 0 ? "+" : "") + v.toFixed(1);
  const dl = el("dl", {class: "cmp", id: "compare-result"});
  const add = (k, v, id) => dl.append(el("dt", {}, k), el("dd", {id}, v));
  add("tasks compared", `${c.common_tasks} (relative score, mean over trials)`);
  add("mean difference A \u2212 B", `${f(c.mean_difference)}` + (c.ci95 ? ` (95 % interval ${f(c.ci95[0])} to ${f(c.ci95[1])}, bootstrap over trials)` : " (no interval: one trial per task)"), "cmp-diff");
  add("paired test", `p = ${Number(c.p_value.toPrecision(3))}: ${c.test}`, "cmp-p");
  add("P(A beats B on a task)", `${(c.p_a_beats_b * 100).toFixed(0)} % (A ahead on ${c.wins}, behind on ${c.losses} of ${c.common_tasks} tasks)`, "cmp-beats");
  panel.append(dl);
  const titles = Object.fromEntries(bench().tasks.map((t) => [t.name, t.short]));
  const body = el("tbody");
  for (const t of c.tasks) body.append(el("tr", {"data-task": t.task}, el("td", {class: "agent"}, titles[t.task] || t.task),
    el("td", {}, fmt(t.mean_a, "relative")), el("td", {}, fmt(t.mean_b, "relative")),
    el("td", {class: t.difference > 0 ? "pos" : t.difference < 0 ? "neg" : ""}, f(t.difference))));
  panel.append(el("h4", {}, "Tasks, largest difference first"),
    el("table", {id: "compare-tasks"}, el("thead", {}, el("tr", {}, el("th", {class: "agent"}, "Task"), el("th", {}, "A"), el("th", {}, "B"), el("th", {}, "A \u2212 B"))), body));
  const notes = el("ul", {class: "notes"},
    el("li", {}, "The interval answers: would the difference hold if both agents' trials were run again on these tasks? The test answers: is A ahead on tasks in general, not just on these? With few tasks the test cannot be small (3 tasks: p \u2265 0.25)."));
  for (const [who, only] of [[c.agent_a, c.only_a], [c.agent_b, c.only_b]]) if (only.length) notes.append(el("li", {}, `Only ${who} ran: ${only.join(", ")} (not compared).`));
  panel.append(notes);
}
// Task text arrives as HTML rendered from Markdown by the page writer (markdown-it with raw HTML
// escaped and unsafe link schemes dropped), so it is inserted as markup here and nowhere else.
function markdown(html, tag) {
  const node = el(tag, {class: "md"});
  node.innerHTML = html;
  return node;
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
      add("metric", `${t.metric.label} (${t.metric.direction} is better)`);
      if (t.metric.description_html) dl.append(el("dt", {}, ""), markdown(t.metric.description_html, "dd"));
      const a = t.anchors;
      add("anchors", `${a.baseline_label} ${a.baseline ?? "n/a"} = 0; ${a.reference_label} ${a.reference === null ? "n/a" : Number(a.reference.toPrecision(6))} = 100` + (a.reference_improvement_pct !== null ? ` (+${a.reference_improvement_pct} % over the baseline)` : ""));
      add("source", a.source);
      add("limits", t.limits.join("; "));
      if (t.deliverable_html) dl.append(el("dt", {}, "deliver"), markdown(t.deliverable_html, "dd"));
      if (t.aliases.length) add("also", t.aliases.join(", "));
    }
    const link = t.url ? el("a", {href: t.url, target: "_blank", rel: "noopener"}, "original competition \u2197") : null;
    cards.append(el("div", {class: "card", "data-task": t.name}, el("h3", {}, t.title),
      el("div", {class: "src"}, t.name), t.summary_html ? markdown(t.summary_html, "div") : null, dl, link));
  }
  host.append(cards);
}
function writeHash() {
  const parts = [`metric=${state.metric}`, `trials=${state.trials}`, `view=${state.view}`];
  if (DATA.benchmarks.length > 1) parts.push(`benchmark=${encodeURIComponent(bench().name)}`);
  if (state.tasks !== null) parts.push(`tasks=${[...state.tasks].map(encodeURIComponent).join(",")}`);
  if (state.sort !== null) parts.push(`sort=${encodeURIComponent(state.sort)}`, `dir=${state.dir}`);
  if (state.budget !== null) parts.push(`budget=${state.budget}`);
  if (state.view === "trials" && state.agent !== null) parts.push(`agent=${encodeURIComponent(state.agent)}`);
  if (state.view === "compare" && state.a !== null && state.b !== null) parts.push(`a=${encodeURIComponent(state.a)}`, `b=${encodeURIComponent(state.b)}`);
  history.replaceState(null, "", "#" + parts.join("&"));
}
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const b = params.get("benchmark");
  if (b !== null) { const i = DATA.benchmarks.findIndex((x) => x.name === b); if (i >= 0) state.bench = i; }
  if (["relative", "absolute", "raw"].includes(params.get("metric"))) state.metric = params.get("metric");
  if (["mean", "best"].includes(params.get("trials"))) state.trials = params.get("trials");
  if (VIEWS.includes(params.get("view"))) state.view = params.get("view");
  if (params.has("budget") && Number.isFinite(Number(params.get("budget")))) state.budget = Number(params.get("budget"));
  if (params.has("a")) state.a = params.get("a");
  if (params.has("agent")) state.agent = params.get("agent");
  if (params.has("b")) state.b = params.get("b");
  if (params.has("tasks")) state.tasks = new Set(params.get("tasks").split(",").filter((x) => x));
  if (params.has("sort")) { state.sort = params.get("sort"); state.dir = params.get("dir") === "asc" ? "asc" : "desc"; }
}
function update() {
  $("#view-board").hidden = state.view !== "board" && state.view !== "cost";
  $("#board-panels").hidden = state.view !== "board";
  $("#cost").hidden = state.view !== "cost";
  $("#details").hidden = state.view !== "details";
  $("#compare").hidden = state.view !== "compare";
  $("#trials").hidden = state.view !== "trials";
  for (const btn of document.querySelectorAll("nav button")) btn.classList.toggle("active", btn.dataset.view === state.view);
  renderControls();
  const view = renderTable();
  renderPlot(view);
  renderCost(view);
  renderCompare();
  renderTrials();
  $("#metric-label").textContent = DATA.metric_labels[state.metric] + (state.trials === "best" ? " \u00b7 best of k trials" : " \u00b7 mean over trials") + (bench().at ? ` \u00b7 scores at ${bench().at} into each run` : "");
  writeHash();
}
function init() {
  if (!DATA.benchmarks.length) {
    $("#app").replaceChildren(el("div", {class: "panel empty", id: "empty-state"},
      `No results recorded yet. ${DATA.how_to}`));
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
