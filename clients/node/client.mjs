#!/usr/bin/env node
// Node.js smoke client for the aRPC Bridge gRPC facade (arpc.bridge.v1).
//
// Usage: node client.mjs ADDR [--state NAME] [--timeout SECONDS]
//                             [--connect-timeout SECONDS] [--client-id ID]
//                             [--resume] [--tls-ca FILE] [--tls-cert FILE]
//                             [--tls-key FILE] [--token TOKEN]
//                             [--expect-payload BYTES] [--max-payload BYTES]
//                             [--all-ticks]
//
// --all-ticks asks for every worker transition (push_all_ticks): each
// update's transitions are applied one by one, checked to continue the
// replica seq by seq, and reported (type, called states, +/- changes) in
// "transitions", with the updates that carried a gap counted in
// "gap_updates". The state then only has to have been active once.
// TLS: --tls-ca (the server's CA) turns TLS on; --tls-cert and --tls-key
// present a client certificate (mTLS). --token sends "authorization: Bearer
// TOKEN" metadata with every call (BRIDGE_TOKEN works too).
//
// Steps: Handshake, WatchClock until InitialSyncDone, Mutate(ADD, state),
// wait until the replica shows the state active, then Sync and check that the
// replica rebuilt from ClockUpdates equals the server's time.
//
// With --expect-payload, then wait for a payload of BYTES bytes: payloads
// over the server's chunk size come as PayloadChunk messages (the stream asks
// for them), reassembled and verified here (order, total under --max-payload,
// SHA-256); the output reports the payload's SHA-256.
//
// Output: one JSON line on stdout ({"ok":true,...} or {"ok":false,...}); a
// readable error on stderr. Exit codes: 0 ok, 1 check failed or RPC error,
// 2 usage, 3 server unreachable, 4 timeout.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const HERE = dirname(fileURLToPath(import.meta.url));
const PROTO_ROOT = join(HERE, '..', '..', 'proto');
const PROTO_FILE = 'arpc/bridge/v1/bridge.proto';
const PROTOCOL_VERSION = 1;
const MAX_RESYNCS = 20;
const DEFAULT_MAX_PAYLOAD = 256 * 1024 * 1024;
const U64 = (v) => BigInt.asUintN(64, BigInt(v));

const EXIT = { ok: 0, fail: 1, usage: 2, unreachable: 3, timeout: 4 };

class ClientError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

function usage(msg) {
  throw new ClientError('usage', `${msg}\nusage: node client.mjs ADDR [--state NAME] ` +
    '[--timeout SECONDS] [--connect-timeout SECONDS] [--client-id ID] [--resume] ' +
    '[--tls-ca FILE] [--tls-cert FILE] [--tls-key FILE] [--token TOKEN] [--all-ticks]');
}

function parseArgs(argv) {
  const opts = {
    addr: '', state: '', timeout: 15, connectTimeout: 5, resume: false,
    clientId: `node-${process.pid}-${randomBytes(3).toString('hex')}`,
    tlsCa: '', tlsCert: '', tlsKey: '', token: process.env.BRIDGE_TOKEN || '',
    expectPayload: -1, maxPayload: DEFAULT_MAX_PAYLOAD,
    allTicks: false,
  };
  const num = (flag, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) usage(`${flag} needs a positive number, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s) : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case '--state': opts.state = value(); break;
      case '--timeout': opts.timeout = num(flag, value()); break;
      case '--connect-timeout': opts.connectTimeout = num(flag, value()); break;
      case '--client-id': opts.clientId = value(); break;
      case '--resume': opts.resume = true; break;
      case '--tls-ca': opts.tlsCa = value(); break;
      case '--tls-cert': opts.tlsCert = value(); break;
      case '--tls-key': opts.tlsKey = value(); break;
      case '--token': opts.token = value(); break;
      case '--expect-payload': opts.expectPayload = Number(value()); break;
      case '--max-payload': opts.maxPayload = num(flag, value()); break;
      case '--all-ticks': opts.allTicks = true; break;
      case '-h': case '--help': usage('help');
      // falls through (usage throws)
      default:
        if (flag.startsWith('-')) usage(`unknown flag ${flag}`);
        if (opts.addr) usage(`unexpected argument ${flag}`);
        opts.addr = flag;
    }
  }
  if (!opts.addr) usage('missing ADDR (host:port)');
  if (!!opts.tlsCert !== !!opts.tlsKey) usage('--tls-cert and --tls-key go together');
  if (opts.tlsCert && !opts.tlsCa) usage('--tls-cert needs --tls-ca');
  return opts;
}

// Assembler reassembles one chunked payload at a time by the rules of
// PayloadChunk in bridge.proto; any violation throws, and nothing of the
// payload is delivered.
class Assembler {
  constructor(limit) { this.limit = limit; this.reset(); }

  reset() { this.buf = null; this.header = null; this.total = 0; this.next = 0; this.hash = null; }

  fail(msg) { this.reset(); throw new ClientError('fail', `payload chunk: ${msg}`); }

  // add returns { header, data } when c completes a payload, else null.
  add(c) {
    const offset = Number(c.offset);
    const total = Number(c.total);
    const data = c.data ?? Buffer.alloc(0);
    if (offset === 0) {
      if (this.buf) this.fail(`new payload at byte ${this.next} of ${this.total} of the previous one`);
      if (!c.header) this.fail('first chunk without a header');
      if (total > this.limit) this.fail(`payload of ${total} bytes over the limit ${this.limit}`);
      // allocated once the total passed the limit check
      this.buf = Buffer.alloc(total);
      this.header = c.header;
      this.total = total;
      this.next = 0;
      this.hash = createHash('sha256');
    } else if (!this.buf) {
      this.fail(`chunk at byte ${offset} before a payload's first`);
    } else if (total !== this.total) {
      this.fail(`total changed from ${this.total} to ${total}`);
    }
    if (data.length === 0 && this.total > 0) this.fail(`empty chunk at byte ${offset}`);
    if (offset < this.next) this.fail(`overlapping chunk: bytes ${offset}.. again (received ${this.next})`);
    if (offset > this.next) this.fail(`chunk out of order: at byte ${offset}, expected ${this.next}`);
    if (data.length > this.total - this.next) this.fail(`chunk past the total: bytes ${offset}..${offset + data.length} of ${this.total}`);
    data.copy(this.buf, offset);
    this.hash.update(data);
    this.next += data.length;
    const digest = c.sha256 ?? Buffer.alloc(0);
    if (digest.length === 0) {
      if (this.next === this.total) this.fail(`all ${this.total} bytes arrived without a digest`);
      return null;
    }
    if (this.next !== this.total) this.fail(`last chunk at byte ${this.next} of ${this.total}`);
    if (!this.hash.digest().equals(digest)) this.fail(`SHA-256 mismatch over ${this.total} bytes`);
    const out = { header: this.header, data: this.buf };
    this.reset();
    return out;
  }
}

function loadService() {
  // proto-loader resolves google/protobuf/{struct,duration,timestamp}.proto
  // from the copies bundled with protobufjs, so only our root is needed.
  const def = protoLoader.loadSync(PROTO_FILE, {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  const svc = pkg?.arpc?.bridge?.v1?.BridgeService;
  if (!svc) throw new ClientError('fail', `BridgeService not found in ${PROTO_FILE}`);
  return svc;
}

function statusName(code) {
  return Object.keys(grpc.status).find((k) => grpc.status[k] === code) ?? String(code);
}

function rpcError(what, err) {
  if (err instanceof ClientError) return err;
  if (err && typeof err.code === 'number') {
    const kind = err.code === grpc.status.DEADLINE_EXCEEDED ? 'timeout'
      : err.code === grpc.status.UNAVAILABLE ? 'unreachable' : 'fail';
    return new ClientError(kind, `${what}: ${statusName(err.code)}: ${err.details || err.message}`);
  }
  return new ClientError('fail', `${what}: ${err?.message ?? err}`);
}

function unary(client, method, req, deadline) {
  return new Promise((resolve, reject) => {
    client[method](req, { deadline }, (err, res) => (err ? reject(rpcError(method, err)) : resolve(res)));
  });
}

// Replica is the client's copy of the worker's time, updated only by the
// rule in bridge.proto: full replaces (whatever its seq), ignore stale,
// apply on matching seq.
export class Replica {
  constructor(stateCount) {
    this.n = stateCount;
    this.have = false;
    this.seq = 0n;
    this.time = new Array(stateCount).fill(0n);
    this.queueTick = 0n;
    this.stats = { updates: 0, full: 0, ignored: 0, coalesced: 0n, gaps: 0, drifts: 0 };
    // --all-ticks: the worker transitions applied one by one, and the
    // updates that merged some (ClockUpdate.gap)
    this.names = [];
    this.transitions = [];
    this.gapUpdates = 0;
    this.everActive = new Set();
  }

  // applyTransitions applies u's transitions to next, one by one, each on
  // the seq after the previous; false when they do not continue from.
  applyTransitions(u, from, next) {
    const ts = u.transitions ?? [];
    if (u.gap) this.gapUpdates++;
    let seq = from;
    for (const t of ts) {
      if (U64(t.seq) !== seq + 1n) {
        throw new ClientError('fail', `protocol: transition ${t.seq} after seq ${seq}`);
      }
      seq = U64(t.seq);
      const changes = [];
      (t.indexes ?? []).forEach((i, k) => {
        if (i < 0 || i >= this.n) throw new ClientError('fail', `protocol: transition index ${i} out of range`);
        const before = next[i];
        next[i] = BigInt.asUintN(64, next[i] + U64(t.deltas[k]));
        const was = (before & 1n) === 1n;
        const is = (next[i] & 1n) === 1n;
        if (is) this.everActive.add(i);
        if (was !== is) changes.push(`${is ? '+' : '-'}${this.names[i] ?? i}`);
      });
      this.transitions.push({
        seq: String(t.seq), type: t.type, auto: !!t.auto,
        called: (t.called ?? []).map((i) => this.names[i] ?? String(i)), changes,
      });
    }
    return ts.length === 0 || seq === U64(u.to_seq);
  }

  seed(seq, time, queueTick) {
    this.time = time.map(U64);
    this.seq = U64(seq);
    this.queueTick = U64(queueTick);
    this.have = true;
  }

  sum() {
    return this.time.reduce((a, b) => BigInt.asUintN(64, a + b), 0n);
  }

  // apply returns 'applied', 'ignored', 'gap' or 'drift'.
  apply(u) {
    const from = U64(u.from_seq);
    const to = U64(u.to_seq);
    const idx = u.indexes ?? [];
    const deltas = u.deltas ?? [];
    if (idx.length !== deltas.length) {
      throw new ClientError('fail', `protocol: ClockUpdate has ${idx.length} indexes but ${deltas.length} deltas`);
    }
    for (const i of idx) {
      if (i < 0 || i >= this.n) throw new ClientError('fail', `protocol: ClockUpdate index ${i} out of range 0..${this.n - 1}`);
    }
    let next;
    if (u.full) {
      // full first: a repair at or below our seq (drift, a restarted
      // server) applies too
      next = new Array(this.n).fill(0n);
    } else if (this.have && to <= this.seq) {
      this.stats.ignored++;
      return 'ignored';
    } else if (this.have && from === this.seq) {
      next = this.time.slice();
    } else {
      this.stats.gaps++;
      return 'gap';
    }
    if (!u.full && (u.transitions ?? []).length > 0) {
      // apply the transitions instead of the merged diff (they add up to it)
      if (!this.applyTransitions(u, from, next)) {
        throw new ClientError('fail', `protocol: transitions of ${u.from_seq}->${u.to_seq} stop short`);
      }
    } else {
      if (u.gap) this.gapUpdates++;
      idx.forEach((i, k) => { next[i] = BigInt.asUintN(64, next[i] + U64(deltas[k])); });
      idx.forEach((i) => { if ((next[i] & 1n) === 1n) this.everActive.add(i); });
    }
    const sum = next.reduce((a, b) => BigInt.asUintN(64, a + b), 0n);
    if (sum !== U64(u.sum)) {
      this.stats.drifts++;
      return 'drift';
    }
    this.time = next;
    this.seq = to;
    this.queueTick = U64(u.queue_tick);
    this.have = true;
    this.stats.updates++;
    if (u.full) this.stats.full++;
    this.stats.coalesced += U64(u.coalesced);
    return 'applied';
  }
}

// credentials builds the channel's credentials from the TLS and token flags.
function credentials(opts) {
  let creds = grpc.credentials.createInsecure();
  if (opts.tlsCa) {
    const read = (f) => (f ? readFileSync(f) : null);
    creds = grpc.credentials.createSsl(read(opts.tlsCa), read(opts.tlsKey), read(opts.tlsCert));
  }
  if (opts.token) {
    if (!opts.tlsCa) usage('--token needs TLS (--tls-ca): grpc-js sends call credentials over TLS only');
    const bearer = grpc.credentials.createFromMetadataGenerator((_, cb) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${opts.token}`);
      cb(null, md);
    });
    creds = grpc.credentials.combineChannelCredentials(creds, bearer);
  }
  return creds;
}

async function run(opts, phase) {
  const deadline = Date.now() + opts.timeout * 1000;
  phase.name = 'load proto';
  const BridgeService = loadService();
  const client = new BridgeService(opts.addr, credentials(opts));
  const cleanup = [() => client.close()];
  try {
    phase.name = 'connect';
    const connectBy = Math.min(deadline, Date.now() + opts.connectTimeout * 1000);
    const waitS = Number(((connectBy - Date.now()) / 1000).toPrecision(3));
    await new Promise((resolve, reject) => {
      client.waitForReady(connectBy, (err) => (err
        ? reject(new ClientError('unreachable',
          `unreachable: no gRPC connection to ${opts.addr} within ${waitS} s (${err.message})`))
        : resolve()));
    });

    phase.name = 'handshake';
    const hs = await unary(client, 'Handshake', {
      client_id: opts.clientId, protocol_version: PROTOCOL_VERSION,
    }, deadline);
    const names = hs.state_names ?? [];
    if (names.length === 0) throw new ClientError('fail', 'handshake: no state names');
    if ((hs.time ?? []).length !== names.length) {
      throw new ClientError('fail', `handshake: time has ${hs.time.length} ticks for ${names.length} states`);
    }
    if (hs.schema && hs.schema.states.length !== names.length) {
      throw new ClientError('fail', `handshake: schema has ${hs.schema.states.length} states for ${names.length} names`);
    }
    const state = opts.state || names.find((n) => n !== 'Exception');
    if (!state) throw new ClientError('fail', 'handshake: no state other than Exception to add');
    const stateIdx = names.indexOf(state);
    if (stateIdx < 0) throw new ClientError('fail', `--state ${state} is not a worker state (${names.join(', ')})`);

    const replica = new Replica(names.length);
    replica.names = names;
    if (opts.resume) replica.seed(hs.seq, hs.time, hs.queue_tick);

    // Updates from the stream and from replies go through one queue so that
    // a resync (async) never interleaves with another apply.
    let chain = Promise.resolve();
    let resyncs = 0;
    const waiters = new Set();
    const notify = () => { for (const w of waiters) w(); };
    // enqueue runs fn after every queued apply; a failure stays in the chain
    // and is reported by waitFor (the no-op catch only marks it handled).
    const enqueue = (fn) => {
      chain = chain.then(fn);
      chain.catch(() => {});
      return chain;
    };
    // --all-ticks: the server keeps one chain of updates for the stream and
    // the replies, so an update from a seq ahead of the replica waits for
    // the one before it (in flight on the other stream) instead of a resync
    const pending = new Map();
    const drain = () => {
      for (let p = pending.get(replica.seq); p; p = pending.get(replica.seq)) {
        pending.delete(replica.seq);
        if (replica.apply(p) !== 'applied') break;
      }
    };
    const applyUpdate = (u, origin) => enqueue(async () => {
      if (opts.allTicks && replica.have && !u.full && U64(u.from_seq) > replica.seq &&
        pending.size < 64) {
        pending.set(U64(u.from_seq), u);
        return;
      }
      let r = replica.apply(u);
      if (r === 'applied') drain();
      while (r === 'gap' || r === 'drift') {
        if (++resyncs > MAX_RESYNCS) {
          throw new ClientError('fail', `gave up after ${MAX_RESYNCS} resyncs (last: ${r} on ${origin} update ${u.from_seq}->${u.to_seq}, replica seq ${replica.seq})`);
        }
        const req = { client_id: opts.clientId };
        if (replica.have && r === 'gap') {
          req.known_seq = replica.seq.toString();
          req.known_time = replica.time.map(String);
        }
        const res = await unary(client, 'Sync', req, deadline);
        if (!res.update) throw new ClientError('fail', 'Sync: response without update');
        u = res.update;
        origin = 'sync';
        r = replica.apply(u);
        if (r === 'ignored') break;
      }
      notify();
    });
    // waitFor resolves once pred() holds after the queued applies, and rejects
    // on an apply error or when the stream fails.
    let streamErr = null;
    const failers = new Set();
    const failAll = (err) => { streamErr = streamErr ?? err; for (const f of failers) f(err); };
    const waitFor = (pred) => new Promise((resolve, reject) => {
      const done = (fn, v) => { waiters.delete(check); failers.delete(reject); fn(v); };
      const check = () => {
        chain.then(() => { if (pred()) done(resolve); }, (err) => done(reject, err));
      };
      if (streamErr) { reject(streamErr); return; }
      waiters.add(check);
      failers.add(reject);
      check();
    });

    phase.name = 'watch';
    const watchReq = {
      client_id: opts.clientId, heartbeat_interval: { seconds: 1, nanos: 0 }, chunked_payloads: true,
      push_all_ticks: opts.allTicks,
    };
    if (opts.resume) {
      watchReq.known_seq = replica.seq.toString();
      watchReq.known_time = replica.time.map(String);
    }
    const stream = client.WatchClock(watchReq, { deadline });
    let closing = false;
    cleanup.unshift(() => { closing = true; stream.cancel(); });
    let initialDone = null;
    let heartbeats = 0;
    let payloads = 0;
    let chunks = 0;
    const assembler = new Assembler(opts.maxPayload);
    const received = [];
    const deliver = (name, data) => {
      payloads++;
      received.push({ name, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
      notify();
    };
    stream.on('data', (msg) => {
      switch (msg.event) {
        case 'update': applyUpdate(msg.update, 'stream'); break;
        case 'initial_sync_done':
          enqueue(() => { initialDone = U64(msg.initial_sync_done.seq); notify(); });
          break;
        case 'heartbeat': heartbeats++; break;
        case 'payload': deliver(msg.payload.name, msg.payload.data); break;
        case 'payload_chunk':
          chunks++;
          try {
            const done = assembler.add(msg.payload_chunk);
            if (done) deliver(done.header.name, done.data);
          } catch (err) {
            failAll(err);
          }
          break;
        default: break; // a newer server's event; ignore
      }
    });
    stream.on('error', (err) => {
      if (closing && err.code === grpc.status.CANCELLED) return;
      failAll(rpcError('WatchClock', err));
    });
    stream.on('end', () => {
      if (!closing) failAll(new ClientError('fail', 'WatchClock: stream ended by the server'));
    });

    await waitFor(() => initialDone !== null);
    if (!replica.have || replica.seq < initialDone) {
      throw new ClientError('fail', `InitialSyncDone(seq ${initialDone}) but replica is at ${replica.have ? replica.seq : 'nothing'}`);
    }

    phase.name = 'mutate';
    const mutReq = {
      type: 'MUTATION_TYPE_ADD', states: [state], client_id: opts.clientId,
      mutation_id: `${opts.clientId}-1`,
    };
    await chain;
    mutReq.known_seq = replica.seq.toString();
    const mut = await unary(client, 'Mutate', mutReq, deadline);
    if (mut.result === 'MUTATION_RESULT_CANCELED') {
      throw new ClientError('fail', `Mutate(ADD ${state}) was canceled by the worker; pick another --state`);
    }
    if (mut.result !== 'MUTATION_RESULT_EXECUTED' && mut.result !== 'MUTATION_RESULT_QUEUED') {
      throw new ClientError('fail', `Mutate(ADD ${state}): unexpected result ${mut.result}`);
    }
    if (mut.update) await applyUpdate(mut.update, 'mutate');

    phase.name = `wait for ${state} active`;
    await waitFor(() => (replica.time[stateIdx] & 1n) === 1n ||
      (opts.allTicks && replica.everActive.has(stateIdx)));

    phase.name = 'sync check';
    let checked = null;
    for (let attempt = 1; attempt <= 5 && !checked; attempt++) {
      const res = await unary(client, 'Sync', { client_id: opts.clientId }, deadline);
      const u = res.update;
      if (!u || !u.full) throw new ClientError('fail', 'Sync without known seq must return a full snapshot');
      const server = new Replica(names.length);
      if (server.apply(u) !== 'applied') throw new ClientError('fail', 'Sync: full snapshot does not match its own sum');
      await waitFor(() => replica.seq >= server.seq);
      if (replica.seq !== server.seq) continue; // the worker moved on; try again
      const diff = [];
      server.time.forEach((t, i) => { if (t !== replica.time[i]) diff.push(`${names[i]}: replica ${replica.time[i]} server ${t}`); });
      if (diff.length) throw new ClientError('fail', `clock mismatch at seq ${server.seq}: ${diff.join('; ')}`);
      checked = server.seq;
    }
    if (checked === null) throw new ClientError('fail', 'worker kept changing: could not compare clocks at one seq in 5 tries');

    let payload;
    if (opts.expectPayload >= 0) {
      phase.name = `payload of ${opts.expectPayload} bytes`;
      await waitFor(() => received.length > 0);
      const p = received[0];
      if (p.bytes !== opts.expectPayload) {
        throw new ClientError('fail', `payload ${p.name} has ${p.bytes} bytes, expected ${opts.expectPayload}`);
      }
      payload = { ...p, chunks };
    }

    return {
      payload,
      ok: true, client: 'node', addr: opts.addr, client_id: opts.clientId,
      machine_id: hs.machine_id, states: names.length, state, result: mut.result,
      mutate_queue_tick: String(mut.queue_tick), seq: String(replica.seq), queue_tick: String(replica.queueTick),
      updates: replica.stats.updates, full_updates: replica.stats.full, ignored: replica.stats.ignored,
      coalesced: String(replica.stats.coalesced), gaps: replica.stats.gaps, drifts: replica.stats.drifts,
      resyncs, heartbeats, payloads, resume: opts.resume,
      ...(opts.allTicks ? { transitions: replica.transitions, gap_updates: replica.gapUpdates } : {}),
    };
  } finally {
    for (const f of cleanup) { try { f(); } catch { /* closing anyway */ } }
  }
}

async function main() {
  const started = Date.now();
  const phase = { name: 'args' };
  let opts;
  let code = EXIT.ok;
  let out;
  try {
    opts = parseArgs(process.argv.slice(2));
    const timer = new Promise((_, reject) => {
      setTimeout(() => reject(new ClientError('timeout', `timeout: no result within ${opts.timeout} s (during ${phase.name})`)), opts.timeout * 1000);
    });
    out = await Promise.race([run(opts, phase), timer]);
  } catch (err) {
    const e = err instanceof ClientError ? err : new ClientError('fail', String(err?.stack ?? err));
    code = EXIT[e.kind] ?? EXIT.fail;
    if (e.kind === 'usage' && e.message.startsWith('help')) {
      process.stdout.write(`${e.message.slice(5)}\n`);
      process.exit(0);
    }
    process.stderr.write(`node client: FAIL (${phase.name}): ${e.message}\n`);
    out = { ok: false, client: 'node', addr: opts?.addr ?? '', phase: phase.name, kind: e.kind, error: e.message };
  }
  out.elapsed_ms = Date.now() - started;
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(code);
}

// run as a program, not when imported (replica.test.mjs)
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
