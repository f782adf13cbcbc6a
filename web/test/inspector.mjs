// inspector.mjs drives the web inspector in Debian's chromium (headless,
// through playwright-core) against a live bridge server, and measures it.
// A Go test (bridge/browser_test.go) runs it and acts on its requests: each
// request is one JSON line on stdout, answered by one JSON line on stdin.
// The last stdout line is {"cmd":"done","result":{...}}; logs go to stderr.
//
// Usage: node test/inspector.mjs URL '["State", ...]'
//
// Requests: {"cmd":"mutate","op":"add|remove|toggle","state":S} (the worker
// mutates itself; the reply has t, the wall clock in ms, and time, the
// worker's ticks), {"cmd":"time"}, {"cmd":"stop"} (shut the server down),
// {"cmd":"start"} (serve again on the same address).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [url, namesJSON] = process.argv.slice(2);
const names = JSON.parse(namesJSON);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const BOUND_MS = 5000; // a worker-side change must show within this
const RECONNECT_MS = 20000; // backoff tops out at 5 s; generous for CI

const log = (...a) => console.error("inspector:", ...a);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** ask sends a request to the Go test and returns its reply. */
async function ask(req) {
  process.stdout.write(JSON.stringify(req) + "\n");
  const { value, done } = await lines.next();
  if (done) throw new Error(`no reply to ${JSON.stringify(req)}`);
  const res = JSON.parse(value);
  if (res.error) throw new Error(`${req.cmd}: ${res.error}`);
  return res;
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const round = (v) => Math.round(v * 10) / 10;

/** pageTicks reads every state's data attributes, in page order. */
const pageStates = (page) =>
  page.$$eval("[data-state]", (els) =>
    els.map((e) => ({ name: e.dataset.state, active: e.dataset.active, tick: e.dataset.tick })));

/** waitTicks waits until the page shows exactly the worker's ticks. */
async function waitTicks(page, time, timeout = BOUND_MS) {
  await page.waitForFunction(
    (want) => {
      const els = document.querySelectorAll("[data-state]");
      return els.length === want.length &&
        [...els].every((e, i) => e.dataset.tick === want[i] &&
          e.dataset.active === String(BigInt(want[i]) % 2n === 1n));
    },
    time,
    { timeout },
  );
}

async function run() {
  const profile = mkdtempSync(join(tmpdir(), "inspector-profile-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const result = {};
  const errors = [];
  try {
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on("pageerror", (e) => errors.push(e.message));

    // 1. load: every state, in schema order, with the worker's ticks
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForSelector("[data-state]");
    result.firstStatesWallMs = Date.now() - t0;
    result.firstStatesMs = round(await page.evaluate(() => window.__inspector.firstStatesAt));
    // the page's own part: from the HTML's arrival to the states shown
    result.afterHtmlMs = round(await page.evaluate(() =>
      window.__inspector.firstStatesAt - performance.getEntriesByType("navigation")[0].responseEnd));
    const shown = await pageStates(page);
    check(JSON.stringify(shown.map((s) => s.name)) === JSON.stringify(names),
      `states in schema order: ${shown.map((s) => s.name)}`);
    await page.waitForSelector('#status[data-status="live"]', { timeout: BOUND_MS });
    await waitTicks(page, (await ask({ cmd: "time" })).time);
    // and again with a warm browser (cache revalidated by ETag)
    await page.reload();
    await page.waitForSelector("[data-state]");
    result.reloadStatesMs = round(await page.evaluate(() => window.__inspector.firstStatesAt));
    await page.waitForSelector('#status[data-status="live"]', { timeout: BOUND_MS });
    log(`states shown ${result.firstStatesMs} ms after navigation start (reload: ${result.reloadStatesMs} ms)`);

    // 2. a worker-side change shows within the bound
    const ch = await ask({ cmd: "mutate", op: "add", state: "A" });
    await waitTicks(page, ch.time);
    result.workerChangeMs = round(Date.now() - ch.t);

    // 3. change-to-paint latency: the time of the first animation frame
    // after the tick attribute changed, minus the worker's wall clock at
    // its change
    await page.evaluate(() => {
      window.__paints = [];
      new MutationObserver((recs) => {
        for (const r of recs) {
          const el = r.target;
          const entry = { state: el.dataset.state, tick: el.dataset.tick };
          requestAnimationFrame(() => {
            entry.t = performance.timeOrigin + performance.now();
            window.__paints.push(entry);
          });
        }
      }).observe(document.getElementById("states"),
        { subtree: true, attributes: true, attributeFilter: ["data-tick"] });
    });
    const lat = [];
    for (let i = 0; i < 100; i++) {
      const r = await ask({ cmd: "mutate", op: "toggle", state: "G" });
      const tick = r.time[names.indexOf("G")];
      const handle = await page.waitForFunction(
        (tick) => window.__paints.find((p) => p.state === "G" && p.tick === tick)?.t,
        tick, { timeout: BOUND_MS });
      lat.push((await handle.jsonValue()) - r.t);
    }
    result.paint = { n: lat.length, p50: round(pct(lat, 50)), p99: round(pct(lat, 99)),
      max: round(Math.max(...lat)) };
    log(`change-to-paint p50 ${result.paint.p50} ms, p99 ${result.paint.p99} ms`);
    if (process.env.INSPECTOR_VERBOSE) log(JSON.stringify(lat.map(round)));

    // 4. clicks mutate the machine; a canceled mutation says so
    await ask({ cmd: "mutate", op: "remove", state: "B" });
    await page.click('[data-state="C"] button[data-op="add"]');
    await page.waitForSelector("#notice.error:not([hidden])", { timeout: BOUND_MS });
    const notice = await page.textContent("#notice");
    check(/add C: canceled/.test(notice), `cancel shown: ${notice}`);
    await page.click('[data-state="E"] button[data-op="add"]');
    await page.waitForSelector('[data-state="E"][data-active="true"]', { timeout: BOUND_MS });
    await waitTicks(page, (await ask({ cmd: "time" })).time);
    await page.click('[data-state="D"] button[data-op="toggle"]'); // D removes A; F (auto) requires D
    await page.waitForSelector('[data-state="F"][data-active="true"]', { timeout: BOUND_MS });
    const after = (await ask({ cmd: "time" })).time;
    check(BigInt(after[names.indexOf("D")]) % 2n === 1n, "D active on the worker after the click");
    check(BigInt(after[names.indexOf("A")]) % 2n === 0n, "A removed by D");
    await waitTicks(page, after);
    result.clicks = "ok";

    // the Reconnect button drops the stream and resumes it
    await page.click("#reconnect");
    await page.waitForFunction(() =>
      [...document.querySelectorAll("#log li")].some((li) => li.textContent.includes("reconnecting on request")),
    null, { timeout: BOUND_MS });
    await page.waitForSelector('#status[data-status="live"]', { timeout: RECONNECT_MS });
    const r2 = await ask({ cmd: "mutate", op: "toggle", state: "G" });
    await waitTicks(page, r2.time);

    // 5. a server restart: the page goes offline, then reconnects and
    // resumes, with the changes made while it was down
    await ask({ cmd: "stop" });
    await page.waitForSelector('#status:not([data-status="live"])', { timeout: BOUND_MS });
    const down = await ask({ cmd: "mutate", op: "toggle", state: "H" });
    const up = Date.now();
    await ask({ cmd: "start" });
    await page.waitForSelector('#status[data-status="live"]', { timeout: RECONNECT_MS });
    result.reconnectMs = Date.now() - up;
    await waitTicks(page, down.time);
    await page.click('[data-state="D"] button[data-op="remove"]');
    await page.waitForSelector('[data-state="F"][data-active="false"]', { timeout: BOUND_MS });
    check(BigInt((await ask({ cmd: "time" })).time[names.indexOf("D")]) % 2n === 0n,
      "a click after the restart mutates the worker");
    log(`reconnected ${result.reconnectMs} ms after the restart`);

    if (process.env.INSPECTOR_SCREENSHOT) {
      await page.screenshot({ path: process.env.INSPECTOR_SCREENSHOT, fullPage: true });
    }

    // 6. gRPC-Web with JSON works the same
    const page2 = await ctx.newPage();
    page2.on("pageerror", (e) => errors.push(e.message));
    await page2.goto(url + "?transport=grpc-web&format=json");
    await page2.waitForSelector('#status[data-status="live"]', { timeout: BOUND_MS });
    check((await page2.textContent("#status")).includes("gRPC-Web JSON"), "gRPC-Web status");
    const g = await ask({ cmd: "mutate", op: "toggle", state: "G" });
    await waitTicks(page2, g.time);
    await waitTicks(page, g.time);
    result.grpcWeb = "ok";

    check(errors.length === 0, `no page errors: ${errors.join("; ")}`);
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
  }
  return result;
}

try {
  const result = await run();
  process.stdout.write(JSON.stringify({ cmd: "done", result }) + "\n");
  process.exit(0);
} catch (e) {
  log(e.stack || String(e));
  process.stdout.write(JSON.stringify({ cmd: "done", error: String(e.message || e) }) + "\n");
  process.exit(1);
}
