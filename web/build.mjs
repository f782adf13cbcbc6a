// build.mjs bundles the inspector into ../bridge/web/dist, which the Go
// binary embeds: inspector.js, inspector.css and index.html. The output
// depends only on the sources and the locked packages, so CI rebuilds it
// and fails when the committed bundle differs (--check).
//
// Usage: node build.mjs [--check] [--size]
import { build } from "esbuild";
import { mkdtempSync, readdirSync, readFileSync, rmSync, copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "bridge", "web", "dist");
const check = process.argv.includes("--check");
const size = process.argv.includes("--size");

async function bundle(outdir) {
  mkdirSync(outdir, { recursive: true });
  await build({
    absWorkingDir: here,
    entryPoints: { inspector: "src/main.ts" },
    outdir,
    bundle: true,
    minify: true,
    format: "iife",
    target: ["es2022"],
    platform: "browser",
    charset: "utf8",
    legalComments: "eof",
    logLevel: "warning",
  });
  copyFileSync(join(here, "index.html"), join(outdir, "index.html"));
}

const list = (d) => readdirSync(d).filter((f) => !f.startsWith(".")).sort();

if (check) {
  const tmp = mkdtempSync(join(tmpdir(), "inspector-"));
  try {
    await bundle(tmp);
    const want = list(tmp);
    let have = [];
    try { have = list(dist); } catch { /* missing: every file differs */ }
    const bad = [...new Set([...want, ...have])].filter((f) => {
      try { return !readFileSync(join(tmp, f)).equals(readFileSync(join(dist, f))); }
      catch { return true; }
    });
    if (bad.length) {
      console.error(`web: the committed bundle in bridge/web/dist differs from its sources: ${bad.join(", ")}`);
      console.error("web: run scripts/web.sh build and commit bridge/web/dist");
      process.exit(1);
    }
    console.error("web: bridge/web/dist matches its sources");
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  rmSync(dist, { recursive: true, force: true });
  await bundle(dist);
}
if (size) {
  let raw = 0, gz = 0;
  for (const f of list(dist)) {
    const b = readFileSync(join(dist, f));
    const g = gzipSync(b, { level: 9 }).length;
    raw += b.length; gz += g;
    console.log(`${f}\t${b.length} B\t${g} B gzipped`);
  }
  console.log(`total\t${raw} B\t${gz} B gzipped (${(gz / 1024).toFixed(1)} KiB)`);
}
