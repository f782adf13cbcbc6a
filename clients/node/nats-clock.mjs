#!/usr/bin/env node
// Rebuilds an aRPC Bridge machine's clock from NATS JetStream (docs/nats.md),
// with the `nats` package and the protobuf messages of proto/: the latest
// snapshot from the KV bucket, then the clock stream from the snapshot's
// stream sequence. No bridge code runs here.
//
// Usage: node nats-clock.mjs NATS_URL MACHINE [--until STATE:TICK]
//                            [--timeout SECONDS] [--bucket NAME]
//
// Prints {"ready":true,...} once the snapshot is applied, then, when STATE's
// tick reaches TICK (or at once without --until), one JSON line:
// {"ok":true,"seq":N,"names":[...],"time":[...],"updates":U,"snapshots":S}.
// Exit codes: 0 ok, 1 error, 2 usage, 4 timeout.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { connect, DeliverPolicy } = require('nats');
const protobuf = require('protobufjs');

const HERE = dirname(fileURLToPath(import.meta.url));
const PROTO = join(HERE, '..', '..', 'proto', 'arpc', 'bridge', 'v1',
  'bridge.proto');

function fail(code, msg) {
  process.stderr.write(`nats-clock: ${msg}\n`);
  process.stdout.write(JSON.stringify({ ok: false, error: msg }) + '\n');
  process.exit(code);
}

const args = process.argv.slice(2);
const pos = [];
const opts = { until: null, timeout: 20, bucket: 'arpc_clock' };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--until') opts.until = args[++i];
  else if (a === '--timeout') opts.timeout = Number(args[++i]);
  else if (a === '--bucket') opts.bucket = args[++i];
  else pos.push(a);
}
if (pos.length !== 2) fail(2, 'usage: nats-clock.mjs NATS_URL MACHINE [--until STATE:TICK]');
const [url, machine] = pos;
let untilState = null;
let untilTick = 0n;
if (opts.until) {
  const [s, t] = opts.until.split(':');
  untilState = s;
  untilTick = BigInt(t);
}
setTimeout(() => fail(4, `timeout after ${opts.timeout}s`),
  opts.timeout * 1000).unref();

// the ClockUpdate of bridge.proto, and the KV snapshot wrapping it
const root = protobuf.loadSync(PROTO);
const ClockUpdate = root.lookupType('arpc.bridge.v1.ClockUpdate');
const Snapshot = new protobuf.Type('NatsSnapshot')
  .add(new protobuf.Field('update', 1, 'arpc.bridge.v1.ClockUpdate'))
  .add(new protobuf.Field('streamSeq', 2, 'uint64'))
  .add(new protobuf.Field('epoch', 3, 'string'))
  .add(new protobuf.Field('stateNames', 4, 'string', 'repeated'))
  .add(new protobuf.Field('schemaHash', 5, 'string'));
root.add(Snapshot);

const big = (v) => BigInt(v?.toString() ?? '0');

// the replica
let names = [];
let time = [];
let seq = 0n;
let epoch = '';
let updates = 0;
let snapshots = 0;

function applyFull(u) {
  time = names.map(() => 0n);
  (u.indexes || []).forEach((idx, i) => { time[idx] = big(u.deltas[i]); });
  seq = big(u.toSeq);
}

function checkSum(u) {
  const sum = time.reduce((a, b) => a + b, 0n);
  if (BigInt.asUintN(64, sum) !== big(u.sum)) {
    throw new Error(`sum mismatch at seq ${seq}`);
  }
}

async function loadSnapshot(kv) {
  const e = await kv.get(machine);
  if (!e || !e.value?.length) throw new Error(`no snapshot of ${machine}`);
  const s = Snapshot.decode(e.value);
  names = s.stateNames;
  applyFull(s.update);
  checkSum(s.update);
  epoch = s.epoch;
  snapshots++;
  return big(s.streamSeq);
}

function done() {
  if (untilState === null) return true;
  const i = names.indexOf(untilState);
  if (i < 0) fail(2, `no state ${untilState}`);
  return time[i] >= untilTick;
}

function finish(nc) {
  process.stdout.write(JSON.stringify({ ok: true, seq: Number(seq), names,
    time: time.map(Number), updates, snapshots }) + '\n');
  return nc.close().then(() => process.exit(0));
}

try {
  const nc = await connect({ servers: url, timeout: 5000 });
  const js = nc.jetstream();
  const kv = await js.views.kv(opts.bucket, { bindOnly: true });
  const from = await loadSnapshot(kv);
  process.stdout.write(JSON.stringify({ ready: true, seq: Number(seq),
    streamSeq: Number(from) }) + '\n');
  if (done()) await finish(nc);
  const c = await js.consumers.get(`ARPC_${machine}`, {
    filterSubjects: [`arpc.${machine}.clock`],
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Number(from) + 1,
  });
  const msgs = await c.consume();
  for await (const m of msgs) {
    const u = ClockUpdate.decode(m.data);
    const ep = m.headers?.get('Arpc-Epoch') ?? '';
    updates++;
    if (u.full) {
      applyFull(u);
      epoch = ep;
    } else if (ep !== epoch || big(u.fromSeq) > seq) {
      // a gap (retention) or a new engine: a new snapshot covers it
      await loadSnapshot(kv);
      if (big(u.fromSeq) !== seq) continue;
    }
    if (!u.full) {
      if (big(u.fromSeq) !== seq) continue; // stale
      (u.indexes || []).forEach((idx, i) => { time[idx] += big(u.deltas[i]); });
      seq = big(u.toSeq);
    }
    checkSum(u);
    if (done()) await finish(nc);
  }
} catch (err) {
  fail(1, err?.message ?? String(err));
}
