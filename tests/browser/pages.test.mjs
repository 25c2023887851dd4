// The playground and the dashboard in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core). Started by tests/browser.rs,
// which runs a nerve server and a training run and passes:
//   NERVE_URL        the server, e.g. http://127.0.0.1:40123
//   NERVE_RUN        a run directory name under the dashboard's folder
//   NERVE_RUN_ROWS   the rows of its metrics.csv
//   NERVE_BROKEN     a broken run's name
//   NERVE_SHOTS      where to write the screenshots (optional)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const URL = process.env.NERVE_URL;
const SHOTS = process.env.NERVE_SHOTS;
let ctx, profile;

before(async () => {
  assert.ok(URL, "NERVE_URL is not set (run through `cargo test --test browser`)");
  profile = mkdtempSync(join(tmpdir(), "nerve-chromium-"));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  if (ctx) await ctx.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

function watchErrors(page) {
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  return errors;
}
const stepOf = async (page) => Number(await page.getAttribute("#step-count", "data-step"));
const accOf = async (page) => Number(await page.getAttribute("#test-accuracy", "data-value"));

test("playground: loads, trains the spirals past 90% test accuracy, pause stops the counter", async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await page.goto(URL + "/?dataset=spirals&hidden=8,8&activation=tanh&optimizer=adam&lr=0.03&noise=0.05");
  await page.waitForFunction(() => document.querySelectorAll("#network canvas.neuron").length === 2 + 8 + 8 + 2);
  assert.equal(await stepOf(page), 0);
  assert.equal(await page.inputValue("#hidden"), "8,8");
  assert.deepEqual(errors, [], "console errors on load: " + errors.join("\n"));

  // A width of 0 is refused with a message; the session keeps its network.
  await page.fill("#hidden", "8,0");
  await page.dispatchEvent("#hidden", "change");
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("hidden[1]"));
  assert.equal(await page.inputValue("#hidden"), "8,8");
  await page.fill("#lr", "fast");
  await page.dispatchEvent("#lr", "change");
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("lr must be a number"));
  assert.equal(await page.inputValue("#lr"), "0.03");

  await page.click("#play");
  await page.waitForFunction(() => Number(document.getElementById("step-count").dataset.step) > 0);
  const shot1 = await page.locator("#boundary").screenshot();
  const s1 = await stepOf(page);
  await page.waitForFunction((s) => Number(document.getElementById("test-accuracy").dataset.value) > 0.9
    && Number(document.getElementById("step-count").dataset.step) > s + 500, s1, { timeout: 150000, polling: 250 });
  const shot2 = await page.locator("#boundary").screenshot();
  assert.notDeepEqual(shot1, shot2, "the decision boundary did not change while training");
  assert.ok((await accOf(page)) > 0.9);
  if (SHOTS) await page.screenshot({ path: join(SHOTS, "playground.png"), fullPage: true });

  await page.click("#play"); // pause
  await page.waitForFunction(() => document.getElementById("play").textContent === "Play");
  await page.waitForTimeout(600);
  const paused = await stepOf(page);
  await page.waitForTimeout(1500);
  assert.equal(await stepOf(page), paused, "the step counter moved while paused");
  await page.click("#step");
  await page.waitForFunction((s) => Number(document.getElementById("step-count").dataset.step) === s + 1, paused);
  // Only the two refused settings (HTTP 400, which Chromium logs) and nothing else.
  assert.equal(errors.length, 2, "console errors: " + errors.join("\n"));
  assert.ok(errors.every((e) => e.includes("status of 400")), "console errors: " + errors.join("\n"));
  await page.close();
});

test("dashboard: lists the run, its chart has a point per metrics.csv row, the broken run says why", async () => {
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  const run = process.env.NERVE_RUN, rows = Number(process.env.NERVE_RUN_ROWS);
  await page.goto(URL + "/dashboard");
  const row = page.locator(`#runs tr[data-run="${run}"]`);
  await row.waitFor();
  const tick = row.locator("input.run-tick");
  if (!(await tick.isChecked())) await tick.check();
  await page.waitForFunction((n) => document.getElementById("loss-chart").dataset.points === String(n), rows);
  const broken = page.locator(`#runs tr[data-run="${process.env.NERVE_BROKEN}"]`);
  await broken.waitFor();
  assert.match(await broken.textContent(), /broken.*run\.json/);
  await row.locator("a.run-name").click();
  await page.waitForSelector("#confusion");
  await page.waitForSelector("#config");
  if (SHOTS) await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
  assert.deepEqual(errors, [], "console errors: " + errors.join("\n"));
  await page.close();
});
