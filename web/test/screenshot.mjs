// screenshot.mjs saves a PNG of the inspector at URL after it has run for a
// few seconds (for the README: docs/inspector.png).
//
// Usage: node test/screenshot.mjs URL OUT.png [seconds]
import { chromium } from "playwright-core";

const [url, out, secs = "4"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
  await page.goto(url);
  await page.waitForSelector('#status[data-status="live"]', { timeout: 10000 });
  await page.waitForTimeout(Number(secs) * 1000);
  await page.screenshot({ path: out });
} finally {
  await browser.close();
}
