// Unit tests of the page's clock replica (src/replica.ts), with node's test
// runner: node --test test/ (scripts/web.sh check runs them). The module is
// compiled on the fly by esbuild.
import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = mkdtempSync(join(tmpdir(), "replica-"));
const out = join(dir, "replica.mjs");
await build({ entryPoints: [new URL("../src/replica.ts", import.meta.url).pathname],
  bundle: true, format: "esm", platform: "neutral", outfile: out, logLevel: "error" });
const { Replica, diff, isActive } = await import(pathToFileURL(out).href);
rmSync(dir, { recursive: true, force: true });

const MASK = (1n << 64n) - 1n;
const sum = (t) => t.reduce((a, b) => (a + b) & MASK, 0n);
const upd = (o) => ({ fromSeq: 0n, toSeq: 0n, indexes: [], deltas: [], sum: 0n, full: false, coalesced: 1n, ...o });

function replica(time, seq) {
  const r = new Replica();
  r.reset(time, seq);
  return r;
}

test("a full update replaces the time", () => {
  const r = replica([5n, 5n, 5n], 3n);
  const res = r.apply(upd({ toSeq: 9n, full: true, indexes: [1], deltas: [7n], sum: 7n }));
  assert.equal(res.kind, "applied");
  assert.deepEqual(r.time, [0n, 7n, 0n]);
  assert.equal(r.seq, 9n);
  assert.deepEqual(res.changes.map((c) => c.index), [0, 1, 2]);
});

test("a diff from our seq adds deltas", () => {
  const r = replica([1n, 2n, 0n], 4n);
  const res = r.apply(upd({ fromSeq: 4n, toSeq: 5n, indexes: [1, 2], deltas: [1n, 1n], sum: 5n }));
  assert.equal(res.kind, "applied");
  assert.deepEqual(r.time, [1n, 3n, 1n]);
  assert.deepEqual(res.changes, [{ index: 1, before: 2n, after: 3n }, { index: 2, before: 0n, after: 1n }]);
});

test("a full update at or below our seq is a repair: applied", () => {
  // a resync after drift: the server is still at our seq
  const r = replica([1n, 2n], 7n);
  let res = r.apply(upd({ fromSeq: 0n, toSeq: 7n, full: true, indexes: [0, 1], deltas: [1n, 3n], sum: 4n }));
  assert.equal(res.kind, "applied");
  assert.deepEqual(r.time, [1n, 3n]);
  assert.equal(r.seq, 7n);
  // a restarted server whose seqs started over
  res = r.apply(upd({ fromSeq: 0n, toSeq: 2n, full: true, indexes: [1], deltas: [1n], sum: 1n }));
  assert.equal(res.kind, "applied");
  assert.deepEqual(r.time, [0n, 1n]);
  assert.equal(r.seq, 2n);
});

test("old updates are ignored, gaps are refused", () => {
  const r = replica([1n, 2n], 7n);
  assert.equal(r.apply(upd({ fromSeq: 5n, toSeq: 7n, indexes: [0], deltas: [1n], sum: 4n })).kind, "old");
  assert.equal(r.apply(upd({ fromSeq: 8n, toSeq: 9n, indexes: [0], deltas: [1n], sum: 4n })).kind, "gap");
  assert.equal(r.apply(upd({ fromSeq: 7n, toSeq: 8n, indexes: [5], deltas: [1n], sum: 4n })).kind, "gap",
    "an index out of range");
  assert.deepEqual(r.time, [1n, 2n]);
  assert.equal(r.seq, 7n);
});

test("a wrong sum is drift", () => {
  const r = replica([1n, 2n], 1n);
  assert.equal(r.apply(upd({ fromSeq: 1n, toSeq: 2n, indexes: [0], deltas: [1n], sum: 99n })).kind, "drift");
});

test("ticks and sums wrap at 2^64", () => {
  const r = replica([MASK, 0n], 1n);
  const res = r.apply(upd({ fromSeq: 1n, toSeq: 2n, indexes: [0, 1], deltas: [2n, 1n], sum: sum([1n, 1n]) }));
  assert.equal(res.kind, "applied");
  assert.deepEqual(r.time, [1n, 1n]);
});

test("reset reports what changed; odd ticks are active", () => {
  const r = replica([1n, 2n, 3n], 1n);
  assert.deepEqual(r.reset([1n, 4n, 3n, 1n], 1n).map((c) => c.index), [1, 3]);
  assert.deepEqual(diff([], [0n, 1n]), [{ index: 1, before: 0n, after: 1n }]);
  assert.equal(isActive(3n), true);
  assert.equal(isActive(4n), false);
});
