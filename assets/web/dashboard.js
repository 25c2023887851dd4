// nerve dashboard: lists the runs under the folder, overlays the curves of
// the ticked ones (from metrics.csv, polled so a run in training updates
// live), and shows the selected run's config, metrics and confusion matrix
// or samples.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#2166ac", "#e66101", "#1b9e77", "#7570b3", "#d95f02", "#66a61e", "#e7298a", "#a6761d"];
const D = { runs: [], ticked: new Set(), metrics: {}, selected: null, charts: {} };
const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const fmt = (v, d = 4) => (v === null || v === undefined) ? "" : Number(v).toFixed(d);

async function get(path) {
  const r = await fetch(path);
  let j; try { j = await r.json(); } catch (e) { j = { error: "HTTP " + r.status }; }
  if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
  return j;
}
const q = (kind, run) => "/api/runs/" + kind + "?run=" + encodeURIComponent(run);

function renderTable() {
  const tb = $("runs").querySelector("tbody");
  tb.innerHTML = "";
  for (const r of D.runs) {
    const tr = document.createElement("tr");
    tr.dataset.run = r.run;
    if (r.status !== "ok") tr.className = "broken";
    if (r.run === D.selected) tr.classList.add("selected");
    const status = r.status !== "ok"
      ? "<span class='badge bad'>broken</span> " + esc(r.problems.join("; "))
      : r.training ? "<span class='badge live'>training</span>" : r.finished ? "<span class='badge'>finished</span>" : "<span class='badge'>stopped</span>";
    const last = r.last || {};
    const test = r.test_metrics ? Object.entries(r.test_metrics).map(([k, v]) => k + " " + fmt(v, 3)).join(", ") : "";
    tr.innerHTML = "<td><input type=checkbox class=run-tick " + (D.ticked.has(r.run) ? "checked" : "") + (r.rows ? "" : " disabled") + "></td>" +
      "<td><a href='#' class=run-name>" + esc(r.run) + "</a></td><td>" + status + "</td><td>" + esc(r.arch || "") + "</td><td>" + esc(r.task || "") +
      "</td><td class=num>" + (r.epochs_done ?? "") + "</td><td class=num>" + (r.steps_done ?? "") + "</td><td class=num>" + fmt(last.train_loss) +
      "</td><td class=num>" + fmt(last.val_loss) + "</td><td class=num>" + (last.val_accuracy == null ? "" : (last.val_accuracy * 100).toFixed(1) + "%") + "</td><td>" + esc(test) + "</td>";
    tr.querySelector(".run-tick").onchange = (e) => { if (e.target.checked) D.ticked.add(r.run); else D.ticked.delete(r.run); refreshCharts(true); };
    tr.querySelector(".run-name").onclick = (e) => { e.preventDefault(); select(r.run); };
    tb.appendChild(tr);
  }
}

function column(m, name) { const i = m.columns.indexOf(name); return i < 0 ? null : m.rows.map((r) => r[i]); }
function xs(m) {
  const step = column(m, "step"), epoch = column(m, "epoch");
  if (step && step.every((v, i) => v > 0 && (i === 0 || v > step[i - 1]))) return step;
  return epoch ? epoch.map((v, i) => i + 1) : m.rows.map((_, i) => i + 1);
}

function chart(id, title, seriesOf) {
  const el = $(id);
  const runs = [...D.ticked].filter((r) => D.metrics[r]);
  const tables = [], series = [{ label: "step" }], counts = {};
  runs.forEach((run, k) => {
    const m = D.metrics[run], x = xs(m);
    counts[run] = x.length;
    for (const [name, col, dash] of seriesOf(m)) {
      if (!col || col.every((v) => v === null)) continue;
      tables.push([x, col]);
      series.push({ label: run + " " + name, stroke: COLORS[k % COLORS.length], width: 1.5, dash: dash ? [6, 4] : undefined, spanGaps: true });
    }
  });
  if (D.charts[id]) { D.charts[id].destroy(); delete D.charts[id]; }
  el.innerHTML = "";
  el.dataset.points = runs.length === 1 ? counts[runs[0]] : "";
  el.dataset.runs = JSON.stringify(counts);
  if (!tables.length) { el.textContent = runs.length ? "no values" : "tick a run"; return; }
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  D.charts[id] = new uPlot({ width: Math.max(320, el.clientWidth || 520), height: 260, title, scales: { x: { time: false } }, series }, data, el);
}

async function refreshCharts(force) {
  for (const run of D.ticked) {
    const r = D.runs.find((x) => x.run === run);
    const m = D.metrics[run];
    if (!force && m && r && m.rows.length === r.rows && m.modified === r.modified) continue;
    try { const got = await get(q("metrics", run)); got.modified = r ? r.modified : null; D.metrics[run] = got; }
    catch (e) { $("message").textContent = run + ": " + e.message; }
  }
  chart("loss-chart", "loss (dashed: validation)", (m) => [["train", column(m, "train_loss"), false], ["val", column(m, "val_loss"), true]]);
  chart("acc-chart", "accuracy (dashed: validation)", (m) => [["train", column(m, "train_accuracy"), false], ["val", column(m, "val_accuracy"), true]]);
}

async function select(run) {
  D.selected = run; renderTable();
  $("detail-name").textContent = run;
  const r = D.runs.find((x) => x.run === run);
  let html = "";
  if (r.status !== "ok") html += "<p style='color:#b00020'>" + r.problems.map(esc).join("<br>") + "</p>";
  try { const c = await get(q("config", run)); html += "<pre id=config>" + esc(c.text) + "</pre>"; } catch (e) { html += "<p>" + esc(e.message) + "</p>"; }
  $("detail").innerHTML = html;
  const ex = $("extra");
  ex.textContent = "…";
  if (r.status !== "ok") { ex.textContent = ""; return; }
  if (r.task === "language") {
    $("extra-title").textContent = "Sample (temperature 0.8, seed 0)";
    try { const s = await get(q("samples", run)); ex.innerHTML = "<pre id=samples>" + esc(s.text) + "</pre>"; } catch (e) { ex.textContent = e.message; }
  } else if (r.task === "classification" || r.task === "binary") {
    $("extra-title").textContent = "Confusion matrix";
    try {
      const c = await get(q("confusion", run));
      let t = "<p>" + c.split + " split, " + c.samples + " samples, accuracy " + (c.accuracy * 100).toFixed(1) + "% (rows: true class, columns: predicted)</p><table class=confusion id=confusion><tr><th></th>" +
        c.classes.map((n) => "<th>" + esc(n) + "</th>").join("") + "</tr>";
      const max = Math.max(1, ...c.matrix.flat());
      c.matrix.forEach((row, i) => {
        t += "<tr><th>" + esc(c.classes[i] ?? i) + "</th>" + row.map((v, j) => {
          const a = (v / max) * 0.8, col = i === j ? "33,102,172" : "230,97,1";
          return "<td style='background:rgba(" + col + "," + a.toFixed(2) + ")'>" + v + "</td>";
        }).join("") + "</tr>";
      });
      ex.innerHTML = t + "</table>";
    } catch (e) { ex.textContent = e.message; }
  } else { $("extra-title").textContent = "Metrics"; ex.textContent = r.test_metrics ? JSON.stringify(r.test_metrics) : "no test metrics"; }
}

async function refresh() {
  try {
    const j = await get("/api/runs");
    $("root").textContent = "runs under " + j.root;
    $("message").textContent = j.error || "";
    D.runs = j.runs;
    if (D.ticked.size === 0 && D.runs.length && !D.started) {
      const first = D.runs.find((r) => r.rows > 0);
      if (first) D.ticked.add(first.run);
    }
    D.started = true;
    renderTable();
    await refreshCharts(false);
  } catch (e) { $("message").textContent = e.message; }
}
function loop() { refresh().finally(() => setTimeout(loop, 2000)); }
window.nerveDashboard = D;
loop();
