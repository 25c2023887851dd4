// nerve playground: the page side. The training runs in the nerve server;
// this script sends the settings and buttons, polls the session's state
// (which is also its heartbeat) and draws it.
"use strict";

const PALETTE = [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189]];
const BLUE = [33, 102, 172], ORANGE = [230, 97, 1];
const $ = (id) => document.getElementById(id);

const S = {
  id: null, cfg: null, since: 0, version: null, needPoints: true, points: null,
  playing: false, hist: [[], [], []], chart: null, netShape: null, busy: false,
};

function mix(a, b, t) { return a.map((v, i) => Math.round(v + (b[i] - v) * t)); }
function diverging(byte) {
  const s = (byte - 128) / 127;
  return s >= 0 ? mix([255, 255, 255], BLUE, s) : mix([255, 255, 255], ORANGE, -s);
}
function b64(s) { const r = atob(s); const a = new Uint8Array(r.length); for (let i = 0; i < r.length; i++) a[i] = r.charCodeAt(i); return a; }
function say(text, ok) { const m = $("message"); m.textContent = text || ""; m.className = ok ? "ok" : ""; }

async function api(method, path, body) {
  const r = await fetch(path, {
    method, headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let j;
  try { j = await r.json(); } catch (e) { j = { error: "the server sent no JSON (" + r.status + ")" }; }
  if (!r.ok) { const e = new Error(j.error || ("HTTP " + r.status)); e.status = r.status; throw e; }
  return j;
}
const sess = (a) => "/api/playground/sessions/" + S.id + "/" + a;

// ---- settings ----
const tidy = (v) => +Number(v).toPrecision(6);
function showConfig(c) {
  c = Object.assign({}, c);
  for (const k of ["noise", "train_fraction", "lr", "l1", "l2", "dropout"]) c[k] = tidy(c[k]);
  $("dataset").value = c.dataset;
  $("noise").value = c.noise; $("noise-value").textContent = c.noise;
  $("train-fraction").value = c.train_fraction; $("train-fraction-value").textContent = Math.round(c.train_fraction * 100) + "%";
  $("samples").value = c.samples; $("batch-size").value = c.batch_size;
  $("optimizer").value = c.optimizer; $("lr").value = c.lr; $("activation").value = c.activation;
  $("l1").value = c.l1; $("l2").value = c.l2; $("dropout").value = c.dropout; $("seed").value = c.seed;
  $("hidden").value = c.hidden.join(",");
}
function num(v) { const x = Number(v); return v.trim() !== "" && Number.isFinite(x) ? x : v; }

async function change(update) {
  try {
    const r = await api("POST", sess("config"), update);
    S.cfg = r.config; showConfig(S.cfg); restart(); say("", true);
  } catch (e) {
    say(e.message, false);
    if (S.cfg) showConfig(S.cfg);
  }
}
function restart() {
  S.since = 0; S.version = null; S.needPoints = true; S.hist = [[], [], []]; S.netShape = null;
  if (S.chart) S.chart.setData(S.hist);
}
function bind(id, key, parse) {
  $(id).addEventListener("change", () => change({ [key]: parse($(id).value) }));
}
bind("dataset", "dataset", (v) => v);
bind("noise", "noise", Number);
bind("train-fraction", "train_fraction", Number);
bind("samples", "samples", num);
bind("batch-size", "batch_size", num);
bind("optimizer", "optimizer", (v) => v);
bind("lr", "lr", num);
bind("activation", "activation", (v) => v);
bind("l1", "l1", num);
bind("l2", "l2", num);
bind("dropout", "dropout", num);
bind("seed", "seed", num);
bind("hidden", "hidden", (v) => v.trim() === "" ? [] : v.split(",").map(num));
$("add-layer").onclick = () => change({ hidden: S.cfg.hidden.concat([S.cfg.hidden.length ? S.cfg.hidden[S.cfg.hidden.length - 1] : 4]) });
$("remove-layer").onclick = () => change({ hidden: S.cfg.hidden.slice(0, -1) });
$("show-test").onchange = () => drawPoints();

// ---- buttons ----
$("play").onclick = async () => {
  try {
    const r = await api("POST", sess(S.playing ? "pause" : "play"));
    setPlaying(r.playing); say("", true);
  } catch (e) { say(e.message, false); }
};
$("step").onclick = async () => {
  try { const r = await api("POST", sess("step")); setPlaying(false); say("", true); } catch (e) { say(e.message, false); }
};
$("reset").onclick = async () => {
  try { await api("POST", sess("reset")); restart(); say("", true); } catch (e) { say(e.message, false); }
};
function setPlaying(p) { S.playing = p; $("play").textContent = p ? "Pause" : "Play"; }

// ---- drawing ----
let lastState = null;
function drawBoundary(st) {
  const g = st.grid, n = g.n, cls = b64(g.cls), conf = b64(g.conf), k = st.classes;
  const off = document.createElement("canvas"); off.width = n; off.height = n;
  const octx = off.getContext("2d"), img = octx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const t = Math.max(0, (conf[i] / 255 - 1 / k) / (1 - 1 / k)) * 0.75;
    const c = mix([255, 255, 255], PALETTE[cls[i] % PALETTE.length], t);
    img.data.set([c[0], c[1], c[2], 255], i * 4);
  }
  octx.putImageData(img, 0, 0);
  const cv = $("boundary"), ctx = cv.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, cv.width, cv.height);
  drawPoints();
}
function drawPoints() {
  if (!S.points || !lastState) return;
  const cv = $("boundary"), ctx = cv.getContext("2d"), e = lastState.grid.extent;
  const px = (x) => (x + e) / (2 * e) * cv.width, py = (y) => (e - y) / (2 * e) * cv.height;
  const draw = (pts, hollow) => {
    for (const [x, y, c] of pts) {
      ctx.beginPath(); ctx.arc(px(x), py(y), 3.2, 0, 2 * Math.PI);
      const col = "rgb(" + PALETTE[c % PALETTE.length].join(",") + ")";
      if (hollow) { ctx.strokeStyle = col; ctx.lineWidth = 1.5; ctx.stroke(); }
      else { ctx.fillStyle = col; ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke(); }
    }
  };
  draw(S.points.train, false);
  if ($("show-test").checked) draw(S.points.test, true);
}

const CELL = 40, COLW = 110, ROWH = 52, TOPPAD = 30;
function heatCanvas(byteArr, n) {
  const off = document.createElement("canvas"); off.width = n; off.height = n;
  const c = off.getContext("2d"), img = c.createImageData(n, n);
  for (let i = 0; i < n * n; i++) { const col = diverging(byteArr[i]); img.data.set([col[0], col[1], col[2], 255], i * 4); }
  c.putImageData(img, 0, 0); return off;
}
function inputHeat(which, n) {
  const a = new Uint8Array(n * n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
    const x = -1 + (c + 0.5) / n * 2, y = 1 - (r + 0.5) / n * 2;
    a[r * n + c] = Math.round(128 + 127 * (which === 0 ? x : y));
  }
  return a;
}
function drawNetwork(st) {
  const net = $("network");
  const widths = [2].concat(st.layers.map((l) => l.weights.length));
  const shape = widths.join(",");
  if (S.netShape !== shape) {
    net.innerHTML = "";
    const tallest = Math.max(...widths);
    const h = TOPPAD + tallest * ROWH + 10, w = 20 + widths.length * COLW;
    net.style.height = h + "px"; net.style.width = w + "px";
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("width", w); svg.setAttribute("height", h); net.appendChild(svg);
    S.pos = widths.map((n, c) => Array.from({ length: n }, (_, j) => [20 + c * COLW, TOPPAD + (tallest - n) * ROWH / 2 + j * ROWH]));
    S.lines = [];
    for (let L = 0; L < st.layers.length; L++) {
      const rows = [];
      for (let j = 0; j < widths[L + 1]; j++) {
        const row = [];
        for (let i = 0; i < widths[L]; i++) {
          const ln = document.createElementNS("http://www.w3.org/2000/svg", "line");
          const [x1, y1] = S.pos[L][i], [x2, y2] = S.pos[L + 1][j];
          ln.setAttribute("x1", x1 + CELL); ln.setAttribute("y1", y1 + CELL / 2);
          ln.setAttribute("x2", x2); ln.setAttribute("y2", y2 + CELL / 2);
          svg.appendChild(ln); row.push(ln);
        }
        rows.push(row);
      }
      S.lines.push(rows);
    }
    S.cells = widths.map((n, c) => S.pos[c].map(([x, y], j) => {
      const cv = document.createElement("canvas"); cv.width = CELL; cv.height = CELL;
      cv.style.left = x + "px"; cv.style.top = y + "px";
      cv.className = "neuron"; cv.dataset.layer = c; cv.dataset.neuron = j;
      net.appendChild(cv); return cv;
    }));
    widths.forEach((n, c) => {
      const t = document.createElement("div"); t.className = "coltitle";
      t.style.left = (20 + c * COLW - 25) + "px"; t.style.top = "4px";
      t.textContent = c === 0 ? "x1, x2" : c === widths.length - 1 ? "output" : n + " neurons";
      net.appendChild(t);
    });
    S.netShape = shape;
    const hi = st.grid.heat_n;
    [0, 1].forEach((k) => S.cells[0][k].getContext("2d").drawImage(heatCanvas(inputHeat(k, hi), hi), 0, 0, CELL, CELL));
  }
  st.layers.forEach((l, L) => {
    let max = 1e-9;
    l.weights.forEach((r) => r.forEach((v) => { max = Math.max(max, Math.abs(v)); }));
    l.weights.forEach((r, j) => r.forEach((v, i) => {
      const ln = S.lines[L][j][i];
      ln.setAttribute("stroke", v >= 0 ? "rgb(33,102,172)" : "rgb(230,97,1)");
      ln.setAttribute("stroke-width", (0.4 + 4 * Math.abs(v) / max).toFixed(2));
      ln.setAttribute("stroke-opacity", (0.25 + 0.6 * Math.abs(v) / max).toFixed(2));
    }));
    const hn = st.grid.heat_n;
    l.heat.forEach((h, j) => S.cells[L + 1][j].getContext("2d").drawImage(heatCanvas(b64(h), hn), 0, 0, CELL, CELL));
  });
  // The output cell is the boundary itself.
  const out = S.cells[S.cells.length - 1];
  out.forEach((cv) => cv.getContext("2d").drawImage($("boundary"), 0, 0, CELL, CELL));
}

function pct(v) { return (v * 100).toFixed(1) + "%"; }
function show(st) {
  lastState = st;
  $("step-count").textContent = st.step.toLocaleString("en");
  $("step-count").dataset.step = st.step;
  $("epoch").textContent = st.epoch;
  $("test-accuracy").textContent = pct(st.test_accuracy); $("test-accuracy").dataset.value = st.test_accuracy;
  $("train-accuracy").textContent = pct(st.train_accuracy); $("train-accuracy").dataset.value = st.train_accuracy;
  $("test-loss").textContent = st.test_loss < 0 ? "NaN" : st.test_loss.toFixed(3);
  $("train-loss").textContent = st.train_loss < 0 ? "NaN" : st.train_loss.toFixed(3);
  $("param-count").textContent = "· " + st.parameters + " parameters";
  drawBoundary(st);
  drawNetwork(st);
  const d = $("diagnostics");
  const every = "<p style='font-size:12px;color:#666'>nerve's checks of <code>nerve train</code>, run every " + st.epochs_per_check +
    " epoch" + (st.epochs_per_check > 1 ? "s" : "") + " here (an \"epoch\" in a message is one check)</p>";
  if (st.diagnostics.length === 0) d.innerHTML = "no problems found so far" + every;
  else d.innerHTML = every + "<ul class=diag>" + st.diagnostics.map((t) => "<li>" + t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/\n/g, "<br>") + "</li>").join("") + "</ul>";
  if (st.stopped) say(st.stopped, false);
  $("legend").innerHTML = Array.from({ length: st.classes }, (_, c) => "<span style='background:rgb(" + PALETTE[c].join(",") + ")'></span>class " + c).join("");
}

function addHistory(h) {
  if (h.version !== S.version || h.from === 0) { S.hist = [[], [], []]; }
  S.version = h.version;
  for (const p of h.points) {
    S.hist[0].push(p[0]); S.hist[1].push(p[1] < 0 ? null : p[1]); S.hist[2].push(p[2] < 0 ? null : p[2]);
  }
  S.since = h.from + h.points.length;
  if (!S.chart) {
    S.chart = new uPlot({
      width: 330, height: 200, title: "loss",
      scales: { x: { time: false } },
      series: [{ label: "step" }, { label: "train", stroke: "rgb(33,102,172)", width: 1.5 }, { label: "test", stroke: "rgb(230,97,1)", width: 1.5 }],
      axes: [{}, { size: 50 }],
    }, S.hist, $("loss-chart"));
  } else if (h.points.length || h.from === 0) {
    S.chart.setData(S.hist);
  }
}

async function poll() {
  if (!S.id) return;
  try {
    const q = "?since=" + S.since + (S.version === null ? "" : "&version=" + S.version) + (S.needPoints ? "&points=1" : "");
    const r = await api("GET", sess("state") + q);
    if (r.points) { S.points = r.points; S.needPoints = false; }
    if (r.state.config && !S.cfg) { S.cfg = r.state.config; showConfig(S.cfg); }
    setPlaying(r.playing);
    addHistory(r.history);
    show(r.state);
  } catch (e) {
    if (e.status === 404) { say("the session had ended; a new one was started", true); await start(S.cfg || {}); }
    else say(e.message, false);
  }
}
function loop() { poll().finally(() => setTimeout(loop, S.playing ? 150 : 400)); }

async function start(settings) {
  const r = await api("POST", "/api/playground/sessions", settings);
  S.id = r.id; S.cfg = null; restart();
}

window.addEventListener("pagehide", () => { if (S.id) navigator.sendBeacon(sess("close")); });
window.nervePlayground = S;

const params = Object.fromEntries(new URLSearchParams(location.search));
const initial = {};
for (const [k, v] of Object.entries(params)) initial[k] = k === "hidden" ? v.split(",").map(Number) : (isNaN(Number(v)) ? v : Number(v));
start(initial).then(loop).catch((e) => say(e.message, false));
