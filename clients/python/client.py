#!/usr/bin/python3
"""Python smoke client for the aRPC Bridge gRPC facade (arpc.bridge.v1).

Usage: /usr/bin/python3 client.py ADDR [--state NAME] [--timeout SECONDS]
                                       [--connect-timeout SECONDS]
                                       [--client-id ID] [--resume]
                                       [--expect-payload BYTES]
                                       [--all-ticks]

--all-ticks asks for every worker transition (push_all_ticks): each update's
transitions are applied one by one, checked to continue the replica seq by
seq, and reported (type, called states, +/- changes) in "transitions", with
the updates that carried a gap counted in "gap_updates". The state then only
has to have been active once.

Steps: Handshake, WatchClock until InitialSyncDone, Mutate(ADD, state), wait
until the replica shows the state active, then Sync and check that the replica
rebuilt from ClockUpdates equals the server's time. With --expect-payload,
then wait for a payload of BYTES bytes: payloads over the server's chunk size
come as PayloadChunk messages (the stream asks for them), which the client
reassembles and verifies (order, total under --max-payload, SHA-256), with
the channel's default limits (4 MiB per message).

Needs Debian's python3-grpcio and python3-grpc-tools (scripts/polyglot-deps.sh);
run it with /usr/bin/python3. Stubs are generated from ../../proto into a
temporary directory on every run; nothing generated is kept.

Output: one JSON line on stdout ({"ok": true, ...} or {"ok": false, ...}) and
a readable error on stderr. Exit codes: 0 ok, 1 check failed or RPC error,
2 usage, 3 server unreachable, 4 timeout.
"""

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTO_FILE = "arpc/bridge/v1/bridge.proto"
PROTOCOL_VERSION = 1
MAX_RESYNCS = 20
MASK64 = (1 << 64) - 1
DEFAULT_MAX_PAYLOAD = 256 << 20

EXIT = {"ok": 0, "fail": 1, "usage": 2, "unreachable": 3, "timeout": 4}


class ClientError(Exception):
    """A failure with a kind that selects the exit code."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


class Output:
    """Prints the one result line exactly once (main thread or watchdog)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._done = False

    def finish(self, result, code, message=None):
        with self._lock:
            if self._done:
                return False
            self._done = True
            if message:
                sys.stderr.write("python client: FAIL (%s): %s\n" % (result.get("phase"), message))
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)  # no lingering gRPC threads


def load_stubs(tmp):
    """Generates the Python stubs into tmp and imports them."""
    try:
        import grpc  # noqa: F401
        import grpc_tools
        from grpc_tools import protoc
    except ImportError as e:
        raise ClientError("fail", "missing Python gRPC packages (%s): run scripts/polyglot-deps.sh "
                          "and use /usr/bin/python3" % e)
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["grpc_tools.protoc", "-I" + PROTO_ROOT, "-I" + wkt,
            "--python_out=" + tmp, "--grpc_python_out=" + tmp, PROTO_FILE]
    if protoc.main(args) != 0:
        raise ClientError("fail", "grpc_tools.protoc failed on %s" % os.path.join(PROTO_ROOT, PROTO_FILE))
    sys.path.insert(0, tmp)
    from arpc.bridge.v1 import bridge_pb2, bridge_pb2_grpc
    return bridge_pb2, bridge_pb2_grpc


def rpc_error(what, err):
    import grpc
    if isinstance(err, ClientError):
        return err
    if isinstance(err, grpc.RpcError) and hasattr(err, "code"):
        code = err.code()
        kind = {grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
                grpc.StatusCode.UNAVAILABLE: "unreachable"}.get(code, "fail")
        return ClientError(kind, "%s: %s: %s" % (what, code.name, err.details()))
    return ClientError("fail", "%s: %s" % (what, err))


class Replica:
    """The client's copy of the worker's time, updated by the rule in
    bridge.proto: full replaces (whatever its seq), ignore stale, apply on
    matching seq."""

    def __init__(self, n):
        self.n = n
        self.have = False
        self.seq = 0
        self.time = [0] * n
        self.queue_tick = 0
        self.stats = {"updates": 0, "full_updates": 0, "ignored": 0, "coalesced": 0,
                      "gaps": 0, "drifts": 0}
        # --all-ticks: the transitions applied one by one, the updates that
        # merged some (ClockUpdate.gap), the states ever seen active
        self.names = []
        self.transitions = []
        self.gap_updates = 0
        self.ever_active = set()
        self.type_name = str

    def apply_transitions(self, u, nxt):
        """Applies u's transitions to nxt one by one, each on the next seq."""
        seq = u.from_seq
        for t in u.transitions:
            if t.seq != seq + 1:
                raise ClientError("fail", "protocol: transition %d after seq %d" % (t.seq, seq))
            seq = t.seq
            if len(t.indexes) != len(t.deltas):
                raise ClientError("fail", "protocol: transition %d indexes/deltas" % t.seq)
            changes = []
            for i, d in zip(t.indexes, t.deltas):
                if i >= self.n:
                    raise ClientError("fail", "protocol: transition index %d out of range" % i)
                was = nxt[i] % 2 == 1
                nxt[i] = (nxt[i] + d) & MASK64
                now = nxt[i] % 2 == 1
                if now:
                    self.ever_active.add(i)
                if was != now:
                    changes.append(("+" if now else "-") + self.name(i))
            self.transitions.append({"seq": str(t.seq), "type": self.type_name(t.type),
                                     "auto": t.auto, "called": [self.name(i) for i in t.called],
                                     "changes": changes})
        if seq != u.to_seq:
            raise ClientError("fail", "protocol: transitions of %d->%d stop short"
                              % (u.from_seq, u.to_seq))

    def name(self, i):
        return self.names[i] if i < len(self.names) else str(i)

    def seed(self, seq, ticks, queue_tick):
        self.time = list(ticks)
        self.seq = seq
        self.queue_tick = queue_tick
        self.have = True

    def apply(self, u):
        """Returns 'applied', 'ignored', 'gap' or 'drift'."""
        idx, deltas = list(u.indexes), list(u.deltas)
        if len(idx) != len(deltas):
            raise ClientError("fail", "protocol: ClockUpdate has %d indexes but %d deltas"
                              % (len(idx), len(deltas)))
        for i in idx:
            if i >= self.n:
                raise ClientError("fail", "protocol: ClockUpdate index %d out of range 0..%d"
                                  % (i, self.n - 1))
        if u.full:
            # full first: a repair at or below our seq (drift, a restarted
            # server) applies too
            nxt = [0] * self.n
        elif self.have and u.to_seq <= self.seq:
            self.stats["ignored"] += 1
            return "ignored"
        elif self.have and u.from_seq == self.seq:
            nxt = list(self.time)
        else:
            self.stats["gaps"] += 1
            return "gap"
        if u.gap:
            self.gap_updates += 1
        if not u.full and len(u.transitions) > 0:
            # the transitions instead of the merged diff (they add up to it)
            self.apply_transitions(u, nxt)
        else:
            for i, d in zip(idx, deltas):
                nxt[i] = (nxt[i] + d) & MASK64
                if nxt[i] % 2 == 1:
                    self.ever_active.add(i)
        if sum(nxt) & MASK64 != u.sum:
            self.stats["drifts"] += 1
            return "drift"
        self.time, self.seq, self.queue_tick, self.have = nxt, u.to_seq, u.queue_tick, True
        self.stats["updates"] += 1
        self.stats["coalesced"] += u.coalesced
        if u.full:
            self.stats["full_updates"] += 1
        return "applied"


class Assembler:
    """Reassembles one chunked payload at a time by the rules of
    PayloadChunk in bridge.proto; any violation is a ClientError and nothing
    of the payload is delivered."""

    def __init__(self, limit):
        self.limit = limit
        self.reset()

    def reset(self):
        self.buf, self.header, self.total, self.next, self.hash = None, None, 0, 0, None

    def fail(self, msg):
        self.reset()
        raise ClientError("fail", "payload chunk: " + msg)

    def add(self, c):
        """Returns (header, bytes) when c completes a payload, else None."""
        import hashlib
        n = len(c.data)
        if c.offset == 0:
            if self.buf is not None:
                self.fail("new payload at byte %d of %d of the previous one" % (self.next, self.total))
            if not c.HasField("header"):
                self.fail("first chunk without a header")
            if c.total > self.limit:
                self.fail("payload of %d bytes over the limit %d" % (c.total, self.limit))
            # allocated once the total passed the limit check
            self.buf, self.header, self.total, self.next = bytearray(c.total), c.header, c.total, 0
            self.hash = hashlib.sha256()
        elif self.buf is None:
            self.fail("chunk at byte %d before a payload's first" % c.offset)
        elif c.total != self.total:
            self.fail("total changed from %d to %d" % (self.total, c.total))
        if n == 0 and self.total > 0:
            self.fail("empty chunk at byte %d" % c.offset)
        if c.offset < self.next:
            self.fail("overlapping chunk: bytes %d.. again (received %d)" % (c.offset, self.next))
        if c.offset > self.next:
            self.fail("chunk out of order: at byte %d, expected %d" % (c.offset, self.next))
        if n > self.total - self.next:
            self.fail("chunk past the total: bytes %d..%d of %d" % (c.offset, c.offset + n, self.total))
        self.buf[c.offset:c.offset + n] = c.data
        self.hash.update(c.data)
        self.next += n
        last = len(c.sha256) > 0
        if not last:
            if self.next == self.total:
                self.fail("all %d bytes arrived without a digest" % self.total)
            return None
        if self.next != self.total:
            self.fail("last chunk at byte %d of %d" % (self.next, self.total))
        if self.hash.digest() != c.sha256:
            self.fail("SHA-256 mismatch over %d bytes" % self.total)
        out = (self.header, bytes(self.buf))
        self.reset()
        return out


class Session:
    """Holds the replica and applies updates from the stream and replies
    under one lock, resyncing with Sync on a gap or drift."""

    def __init__(self, pb, stub, client_id, n, deadline):
        self.pb, self.stub, self.client_id, self.deadline = pb, stub, client_id, deadline
        self.replica = Replica(n)
        self.cond = threading.Condition(threading.RLock())
        self.resyncs = 0
        self.initial_done = None
        self.heartbeats = 0
        self.payloads = 0
        self.chunks = 0
        self.assembler = Assembler(DEFAULT_MAX_PAYLOAD)
        self.received = []  # (name, size, sha256 hex) of whole payloads
        self.error = None
        self.closing = False
        # --all-ticks: updates ahead of the replica wait for the one before
        # (one chain for the stream and the replies) instead of a resync
        self.all_ticks = False
        self.pending = {}

    def remaining(self):
        return max(0.001, self.deadline - time.monotonic())

    def apply(self, u, origin):
        with self.cond:
            rep = self.replica
            if (self.all_ticks and rep.have and not u.full and u.from_seq > rep.seq
                    and len(self.pending) < 64):
                self.pending[u.from_seq] = u
                return
            r = self.replica.apply(u)
            if r == "applied":
                while rep.seq in self.pending:
                    if rep.apply(self.pending.pop(rep.seq)) != "applied":
                        break
            while r in ("gap", "drift"):
                self.resyncs += 1
                if self.resyncs > MAX_RESYNCS:
                    raise ClientError("fail", "gave up after %d resyncs (last: %s on %s update %d->%d, "
                                      "replica seq %d)" % (MAX_RESYNCS, r, origin, u.from_seq,
                                                           u.to_seq, self.replica.seq))
                req = self.pb.SyncRequest(client_id=self.client_id)
                if self.replica.have and r == "gap":
                    req.known_seq = self.replica.seq
                    req.known_time.extend(self.replica.time)
                try:
                    res = self.stub.Sync(req, timeout=self.remaining())
                except Exception as e:
                    raise rpc_error("Sync", e)
                if not res.HasField("update"):
                    raise ClientError("fail", "Sync: response without update")
                u, origin = res.update, "sync"
                r = self.replica.apply(u)
                if r == "ignored":
                    break
            self.cond.notify_all()

    def watch(self, call):
        """Reads the WatchClock stream; runs on its own thread."""
        try:
            for msg in call:
                kind = msg.WhichOneof("event")
                if kind == "update":
                    self.apply(msg.update, "stream")
                elif kind == "initial_sync_done":
                    with self.cond:
                        self.initial_done = msg.initial_sync_done.seq
                        self.cond.notify_all()
                elif kind == "heartbeat":
                    self.heartbeats += 1
                elif kind == "payload":
                    self.deliver(msg.payload.name, msg.payload.data)
                elif kind == "payload_chunk":
                    self.chunks += 1
                    done = self.assembler.add(msg.payload_chunk)
                    if done is not None:
                        self.deliver(done[0].name, done[1])
            err = None if self.closing else ClientError("fail", "WatchClock: stream ended by the server")
        except Exception as e:  # noqa: BLE001 - reported to the main thread
            err = None if self.closing else rpc_error("WatchClock", e)
        if err is not None:
            with self.cond:
                self.error = self.error or err
                self.cond.notify_all()

    def deliver(self, name, data):
        import hashlib
        with self.cond:
            self.payloads += 1
            self.received.append((name, len(data), hashlib.sha256(data).hexdigest()))
            self.cond.notify_all()

    def wait_for(self, pred):
        with self.cond:
            while True:
                if self.error is not None:
                    raise self.error
                if pred():
                    return
                if not self.cond.wait(timeout=self.remaining()) and time.monotonic() >= self.deadline:
                    raise ClientError("timeout", "timed out waiting")


def run(opts, phase, tmp):
    deadline = time.monotonic() + opts.timeout
    phase["name"] = "load proto"
    pb, pbg = load_stubs(tmp)
    import grpc
    from google.protobuf import duration_pb2

    def left():
        return max(0.001, deadline - time.monotonic())

    def unary(method, req):
        try:
            return getattr(stub, method)(req, timeout=left())
        except Exception as e:
            raise rpc_error(method, e)

    channel = open_channel(opts)
    stub = pbg.BridgeServiceStub(channel)
    phase["name"] = "connect"
    wait = min(opts.connect_timeout, left())
    try:
        grpc.channel_ready_future(channel).result(timeout=wait)
    except grpc.FutureTimeoutError:
        raise ClientError("unreachable", "unreachable: no gRPC connection to %s within %.3g s"
                          % (opts.addr, wait))

    phase["name"] = "handshake"
    hs = unary("Handshake", pb.HandshakeRequest(client_id=opts.client_id,
                                                protocol_version=PROTOCOL_VERSION))
    names = list(hs.state_names)
    if not names:
        raise ClientError("fail", "handshake: no state names")
    if len(hs.time) != len(names):
        raise ClientError("fail", "handshake: time has %d ticks for %d states" % (len(hs.time), len(names)))
    if hs.HasField("schema") and len(hs.schema.states) != len(names):
        raise ClientError("fail", "handshake: schema has %d states for %d names"
                          % (len(hs.schema.states), len(names)))
    state = opts.state or next((n for n in names if n != "Exception"), None)
    if not state:
        raise ClientError("fail", "handshake: no state other than Exception to add")
    if state not in names:
        raise ClientError("fail", "--state %s is not a worker state (%s)" % (state, ", ".join(names)))
    state_idx = names.index(state)

    sess = Session(pb, stub, opts.client_id, len(names), deadline)
    sess.assembler.limit = opts.max_payload
    sess.all_ticks = opts.all_ticks
    sess.replica.names = names
    sess.replica.type_name = pb.MutationType.Name
    if opts.resume:
        sess.replica.seed(hs.seq, hs.time, hs.queue_tick)

    phase["name"] = "watch"
    req = pb.WatchClockRequest(client_id=opts.client_id,
                               heartbeat_interval=duration_pb2.Duration(seconds=1),
                               chunked_payloads=True,
                               push_all_ticks=opts.all_ticks)
    if opts.resume:
        req.known_seq = sess.replica.seq
        req.known_time.extend(sess.replica.time)
    call = stub.WatchClock(req, timeout=left())
    reader = threading.Thread(target=sess.watch, args=(call,), name="watch", daemon=True)
    reader.start()
    try:
        sess.wait_for(lambda: sess.initial_done is not None)
        with sess.cond:
            if not sess.replica.have or sess.replica.seq < sess.initial_done:
                raise ClientError("fail", "InitialSyncDone(seq %d) but replica is at %s" % (
                    sess.initial_done, sess.replica.seq if sess.replica.have else "nothing"))
            known_seq = sess.replica.seq

        phase["name"] = "mutate"
        mut = unary("Mutate", pb.MutateRequest(
            type=pb.MUTATION_TYPE_ADD, states=[state], client_id=opts.client_id,
            mutation_id=opts.client_id + "-1", known_seq=known_seq))
        result = pb.MutationResult.Name(mut.result)
        if mut.result == pb.MUTATION_RESULT_CANCELED:
            raise ClientError("fail", "Mutate(ADD %s) was canceled by the worker; pick another --state" % state)
        if mut.result not in (pb.MUTATION_RESULT_EXECUTED, pb.MUTATION_RESULT_QUEUED):
            raise ClientError("fail", "Mutate(ADD %s): unexpected result %s" % (state, result))
        if mut.HasField("update"):
            sess.apply(mut.update, "mutate")

        phase["name"] = "wait for %s active" % state
        sess.wait_for(lambda: sess.replica.time[state_idx] % 2 == 1 or
                      (opts.all_ticks and state_idx in sess.replica.ever_active))

        phase["name"] = "sync check"
        checked = None
        for _ in range(5):
            res = unary("Sync", pb.SyncRequest(client_id=opts.client_id))
            if not res.HasField("update") or not res.update.full:
                raise ClientError("fail", "Sync without known seq must return a full snapshot")
            server = Replica(len(names))
            if server.apply(res.update) != "applied":
                raise ClientError("fail", "Sync: full snapshot does not match its own sum")
            sess.wait_for(lambda: sess.replica.seq >= server.seq)
            with sess.cond:
                if sess.replica.seq != server.seq:
                    continue  # the worker moved on; try again
                diff = ["%s: replica %d server %d" % (names[i], sess.replica.time[i], t)
                        for i, t in enumerate(server.time) if t != sess.replica.time[i]]
            if diff:
                raise ClientError("fail", "clock mismatch at seq %d: %s" % (server.seq, "; ".join(diff)))
            checked = server.seq
            break
        if checked is None:
            raise ClientError("fail", "worker kept changing: could not compare clocks at one seq in 5 tries")

        payload = None
        if opts.expect_payload >= 0:
            phase["name"] = "payload of %d bytes" % opts.expect_payload
            sess.wait_for(lambda: len(sess.received) > 0)
            name, size, digest = sess.received[0]
            if size != opts.expect_payload:
                raise ClientError("fail", "payload %r has %d bytes, expected %d" % (name, size,
                                                                                  opts.expect_payload))
            payload = {"name": name, "bytes": size, "sha256": digest, "chunks": sess.chunks}

        with sess.cond:
            r = sess.replica
            out = {"ok": True, "client": "python", "addr": opts.addr, "client_id": opts.client_id,
                   "machine_id": hs.machine_id, "states": len(names), "state": state,
                   "result": result, "mutate_queue_tick": str(mut.queue_tick), "seq": str(r.seq),
                   "queue_tick": str(r.queue_tick), "resyncs": sess.resyncs,
                   "heartbeats": sess.heartbeats, "payloads": sess.payloads, "resume": opts.resume}
            if payload is not None:
                out["payload"] = payload
            out.update(r.stats)
            out["coalesced"] = str(out["coalesced"])
            if opts.all_ticks:
                out["transitions"] = r.transitions
                out["gap_updates"] = r.gap_updates
        return out
    finally:
        sess.closing = True
        call.cancel()
        channel.close()


def open_channel(opts):
    """The channel the TLS and token flags ask for."""
    import grpc

    def read(path):
        if not path:
            return None
        with open(path, "rb") as f:
            return f.read()

    if bool(opts.tls_cert) != bool(opts.tls_key):
        raise ClientError("usage", "--tls-cert and --tls-key go together")
    if not opts.tls_ca:
        if opts.tls_cert:
            raise ClientError("usage", "--tls-cert needs --tls-ca")
        if opts.token:
            raise ClientError("usage", "--token needs TLS (--tls-ca): gRPC sends "
                                       "call credentials over TLS only")
        return grpc.insecure_channel(opts.addr)
    creds = grpc.ssl_channel_credentials(root_certificates=read(opts.tls_ca),
                                         private_key=read(opts.tls_key),
                                         certificate_chain=read(opts.tls_cert))
    if opts.token:
        creds = grpc.composite_channel_credentials(
            creds, grpc.access_token_call_credentials(opts.token))
    return grpc.secure_channel(opts.addr, creds)


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ClientError("usage", "%s\n%s" % (message, self.format_usage().strip()))


def main():
    started = time.monotonic()
    phase = {"name": "args"}
    output = Output()
    p = Parser(description="aRPC Bridge gRPC smoke client")
    p.add_argument("addr", help="host:port of the bridge")
    p.add_argument("--state", default="", help="state to add (default: first non-Exception state)")
    p.add_argument("--timeout", type=float, default=15.0, help="overall limit in seconds (15)")
    p.add_argument("--connect-timeout", type=float, default=5.0, help="connect limit in seconds (5)")
    p.add_argument("--client-id", default="py-%d-%s" % (os.getpid(), secrets.token_hex(3)))
    p.add_argument("--tls-ca", default="", help="PEM CA of the server: connect with TLS")
    p.add_argument("--tls-cert", default="", help="PEM client certificate (mTLS); needs --tls-key")
    p.add_argument("--tls-key", default="", help="PEM key of --tls-cert")
    p.add_argument("--token", default=os.environ.get("BRIDGE_TOKEN", ""),
                   help="bearer token sent as authorization metadata (BRIDGE_TOKEN)")
    p.add_argument("--expect-payload", type=int, default=-1, metavar="BYTES",
                   help="after the checks, wait for a payload of BYTES bytes and report its SHA-256")
    p.add_argument("--max-payload", type=int, default=DEFAULT_MAX_PAYLOAD, metavar="BYTES",
                   help="largest chunked payload accepted (256 MiB)")
    p.add_argument("--all-ticks", action="store_true",
                   help="ask for every worker transition (push_all_ticks) and report them")
    p.add_argument("--resume", action="store_true",
                   help="seed the replica from Handshake and resume WatchClock from it")
    opts = None
    try:
        opts = p.parse_args()
        if opts.timeout <= 0 or opts.connect_timeout <= 0:
            raise ClientError("usage", "timeouts must be positive")

        def on_timeout():
            if phase.get("tmp"):
                shutil.rmtree(phase["tmp"], ignore_errors=True)
            msg = "timeout: no result within %g s (during %s)" % (opts.timeout, phase["name"])
            output.finish({"ok": False, "client": "python", "addr": opts.addr, "phase": phase["name"],
                           "kind": "timeout", "error": msg,
                           "elapsed_ms": int((time.monotonic() - started) * 1000)}, EXIT["timeout"], msg)

        watchdog = threading.Timer(opts.timeout + 0.5, on_timeout)
        watchdog.daemon = True
        watchdog.start()
        with tempfile.TemporaryDirectory(prefix="arpc-py-") as tmp:
            phase["tmp"] = tmp
            out = run(opts, phase, tmp)
        out["elapsed_ms"] = int((time.monotonic() - started) * 1000)
        output.finish(out, EXIT["ok"])
    except ClientError as e:
        output.finish({"ok": False, "client": "python", "addr": getattr(opts, "addr", ""),
                       "phase": phase["name"], "kind": e.kind, "error": str(e),
                       "elapsed_ms": int((time.monotonic() - started) * 1000)}, EXIT[e.kind], str(e))
    except Exception as e:  # noqa: BLE001 - any bug still yields one clear line
        output.finish({"ok": False, "client": "python", "addr": getattr(opts, "addr", ""),
                       "phase": phase["name"], "kind": "fail", "error": repr(e),
                       "elapsed_ms": int((time.monotonic() - started) * 1000)}, EXIT["fail"], repr(e))


if __name__ == "__main__":
    main()
