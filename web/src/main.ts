// The aRPC Bridge web inspector: follows one served machine over Connect (or
// gRPC-Web with ?transport=grpc-web; JSON with ?format=json) from the page's
// own origin, and mutates it.

import "./style.css";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import {
  BridgeService,
  MutationResult,
  MutationType,
  type ClockUpdate,
  type StateSchema,
} from "./gen/arpc/bridge/v1/bridge_pb.js";
import { Replica, type Change } from "./replica.js";
import { View, type Op } from "./view.js";

/** Heartbeats asked of the server; silence for 3 of them means a dead link. */
const HEARTBEAT_MS = 2000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;
const CALL_TIMEOUT_MS = 10000;

const OPS: Record<Op, MutationType> = {
  add: MutationType.ADD,
  remove: MutationType.REMOVE,
  toggle: MutationType.TOGGLE,
};

class Inspector {
  private readonly client: Client<typeof BridgeService>;
  private readonly clientId = `web-${Math.random().toString(36).slice(2, 10)}`;
  private readonly replica = new Replica();
  private readonly view: View;
  private hash = "";
  private states: StateSchema[] = [];
  private stream?: AbortController;
  private wake?: () => void;

  constructor(transport: Transport, private readonly transportName: string) {
    this.client = createClient(BridgeService, transport);
    this.view = new View(
      (op, state) => void this.mutate(op, state),
      () => this.reconnect(),
    );
  }

  /** run keeps a WatchClock stream open for the page's life. */
  async run(): Promise<void> {
    let lastWhy = "";
    for (let attempt = 0; ; attempt++) {
      this.view.setStatus(attempt === 0 ? "connecting" : "reconnecting",
        attempt === 0 ? "connecting" : `reconnecting (attempt ${attempt})`);
      const ac = new AbortController();
      this.stream = ac;
      let why = "";
      try {
        await this.session(ac.signal, () => { attempt = 0; lastWhy = ""; });
        why = "stream ended by the server";
      } catch (e) {
        if (!ac.signal.aborted || !(ac.signal.reason instanceof Reconnect)) {
          why = `connection lost: ${describe(e)}`;
        }
      }
      // one line per kind of failure, not one per retry
      if (why && why !== lastWhy) this.view.note(why, "error");
      if (why) lastWhy = why;
      ac.abort();
      const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(attempt, 6));
      this.view.setStatus("offline", `offline, retrying in ${(delay / 1000).toFixed(1)} s`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay * (0.8 + 0.4 * Math.random()));
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = undefined;
    }
  }

  /** reconnect drops the stream (or the wait before the next try) now. */
  reconnect(): void {
    this.view.note("reconnecting on request");
    this.stream?.abort(new Reconnect());
    this.wake?.();
  }

  /** session handshakes, then follows the stream until it fails. */
  private async session(signal: AbortSignal, onLive: () => void): Promise<void> {
    const hs = await this.client.handshake(
      { clientId: this.clientId, schemaHash: this.hash },
      { signal, timeoutMs: CALL_TIMEOUT_MS },
    );
    const first = this.hash === "";
    if (hs.schemaHash !== this.hash) {
      if (!first) this.view.note("the schema changed: redrawn", "error");
      this.hash = hs.schemaHash;
      this.states = hs.schema?.states ?? hs.stateNames.map((name) => ({ name }) as StateSchema);
      this.replica.reset(hs.time, hs.seq);
      this.view.setSchema(hs.machineId, this.states, hs.time);
      this.view.setSeq(hs.seq);
      if (first) probe().firstStatesAt = performance.now();
    } else {
      // resume: the handshake's time is the server's now, whatever seq the
      // old connection (or an old server process) had reached
      const changes = this.replica.reset(hs.time, hs.seq);
      this.show(changes, "resumed", changes.length ? "changed while offline" : "");
    }
    // a watchdog: the server heartbeats an idle stream, so silence is death
    let last = Date.now();
    const dog = setInterval(() => {
      if (Date.now() - last > 3 * HEARTBEAT_MS) this.stream?.abort(new Error("no heartbeat"));
    }, HEARTBEAT_MS);
    try {
      const stream = this.client.watchClock({
        clientId: this.clientId,
        knownSeq: this.replica.seq,
        knownTime: this.replica.time,
        schemaHash: this.hash,
        heartbeatInterval: { seconds: BigInt(Math.floor(HEARTBEAT_MS / 1000)), nanos: (HEARTBEAT_MS % 1000) * 1e6 },
      }, { signal });
      for await (const msg of stream) {
        last = Date.now();
        switch (msg.event.case) {
          case "update":
            await this.apply(msg.event.value, "push");
            break;
          case "initialSyncDone":
            onLive();
            this.view.setStatus("live", `live · ${this.transportName}`);
            break;
          case "heartbeat":
            if (msg.event.value.seq > this.replica.seq) await this.resync("behind the stream");
            break;
          case "payload": {
            const p = msg.event.value;
            this.view.note(`payload ${p.name} from ${p.source} (${p.data.length} bytes)`);
            break;
          }
        }
      }
    } finally {
      clearInterval(dog);
    }
  }

  /** apply applies an update by the rule, resyncing on a gap or drift. */
  private async apply(u: ClockUpdate, what: string): Promise<void> {
    const r = this.replica.apply(u);
    switch (r.kind) {
      case "applied":
        this.show(r.changes, what, u.coalesced > 1n ? `${u.coalesced} merged` : "");
        break;
      case "old":
        break;
      case "gap":
        await this.resync(`gap: update from seq ${u.fromSeq}, replica at ${this.replica.seq}`);
        break;
      case "drift":
        this.replica.seq = 0n;
        await this.resync("checksum mismatch");
        break;
    }
  }

  private async resync(why: string): Promise<void> {
    this.view.note(`resync (${why})`);
    const known = this.replica.seq;
    const res = await this.client.sync(
      { clientId: this.clientId, knownSeq: known, knownTime: known ? this.replica.time : [] },
      { timeoutMs: CALL_TIMEOUT_MS },
    );
    if (!res.update) return;
    if (res.update.full) this.replica.seq = 0n;
    const r = this.replica.apply(res.update);
    if (r.kind === "applied") this.show(r.changes, "sync");
  }

  private show(changes: Change[], what: string, detail = ""): void {
    if (changes.length === 0 && what === "push") return;
    if (changes.length || detail) this.view.showChanges(changes, what, detail);
    this.view.setSeq(this.replica.seq);
  }

  /** mutate runs one button's mutation and reports the result. */
  private async mutate(op: Op, state: string): Promise<void> {
    const label = `${op} ${state}`;
    try {
      const res = await this.client.mutate({
        clientId: this.clientId,
        type: OPS[op],
        states: [state],
        knownSeq: this.replica.seq,
        schemaHash: this.hash,
        mutationId: `${this.clientId}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
      }, { timeoutMs: CALL_TIMEOUT_MS });
      if (res.update) await this.apply(res.update, "reply");
      switch (res.result) {
        case MutationResult.EXECUTED:
          this.view.notify(`${label}: executed`, "ok");
          this.view.note(`${label}: executed`, "ok");
          break;
        case MutationResult.CANCELED:
          this.view.notify(`${label}: canceled (a relation or a handler said no)`, "error");
          this.view.note(`${label}: canceled`, "error");
          break;
        case MutationResult.QUEUED:
          this.view.notify(`${label}: queued (runs at queue tick ${res.queueTick})`, "info");
          this.view.note(`${label}: queued`);
          break;
        default:
          this.view.notify(`${label}: unexpected result ${res.result}`, "error");
      }
    } catch (e) {
      this.view.notify(`${label} failed: ${describe(e)}`, "error");
      this.view.note(`${label} failed: ${describe(e)}`, "error");
    }
  }
}

/** Probe is what the page tells tests and scripts (window.__inspector). */
interface Probe {
  transport?: string;
  /** performance.now() when the states were first shown */
  firstStatesAt?: number;
}

function probe(): Probe {
  const w = window as unknown as { __inspector?: Probe };
  return (w.__inspector ??= {});
}

/** Reconnect is the reason of a stream aborted by the Reconnect button. */
class Reconnect extends Error {}

function describe(e: unknown): string {
  if (e instanceof ConnectError) return `${Code[e.code]}: ${e.rawMessage}`;
  return e instanceof Error ? e.message : String(e);
}

function start(): void {
  const q = new URLSearchParams(location.search);
  const baseUrl = new URL(".", location.href).href.replace(/\/$/, "");
  const json = q.get("format") === "json";
  const grpcWeb = q.get("transport") === "grpc-web";
  const transport = grpcWeb
    ? createGrpcWebTransport({ baseUrl, useBinaryFormat: !json })
    : createConnectTransport({ baseUrl, useBinaryFormat: !json });
  const name = `${grpcWeb ? "gRPC-Web" : "Connect"} ${json ? "JSON" : "binary"}`;
  probe().transport = name;
  void new Inspector(transport, name).run();
}

start();
