// Unit tests of the Node client's replica (the apply rule of bridge.proto),
// with node's test runner: node --test clients/node/ (bridge's
// TestPolyglotReplicaRule runs them).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Replica } from './client.mjs';

const MASK = (1n << 64n) - 1n;
const upd = (o) => ({ from_seq: '0', to_seq: '0', indexes: [], deltas: [], sum: '0', full: false,
  coalesced: '1', queue_tick: '0', ...o });

function replica(time, seq) {
  const r = new Replica(time.length);
  r.seed(seq, time, 0n);
  return r;
}

test('a full update at or below our seq is a repair: applied', () => {
  const r = replica([1n, 2n], 7n);
  assert.equal(r.apply(upd({ to_seq: '7', full: true, indexes: [0, 1], deltas: ['1', '3'], sum: '4' })),
    'applied');
  assert.deepEqual(r.time, [1n, 3n]);
  assert.equal(r.seq, 7n);
  assert.equal(r.apply(upd({ to_seq: '2', full: true, indexes: [1], deltas: ['1'], sum: '1' })), 'applied',
    'a restarted server');
  assert.deepEqual(r.time, [0n, 1n]);
  assert.equal(r.seq, 2n);
});

test('stale diffs are ignored, gaps refused, matching diffs applied', () => {
  const r = replica([1n, 2n], 7n);
  assert.equal(r.apply(upd({ from_seq: '5', to_seq: '7', indexes: [0], deltas: ['1'], sum: '4' })), 'ignored');
  assert.equal(r.apply(upd({ from_seq: '8', to_seq: '9', indexes: [0], deltas: ['1'], sum: '4' })), 'gap');
  assert.equal(r.apply(upd({ from_seq: '7', to_seq: '8', indexes: [0], deltas: ['1'], sum: '4' })), 'applied');
  assert.deepEqual(r.time, [2n, 2n]);
  assert.equal(r.apply(upd({ from_seq: '8', to_seq: '9', indexes: [0], deltas: ['1'], sum: String(99n & MASK) })),
    'drift');
});
