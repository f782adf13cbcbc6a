// The page's replica of the worker's clock: one tick per state (odd means
// active) and the engine seq they belong to, kept current by the rule of
// proto/arpc/bridge/v1/bridge.proto ("Applying a ClockUpdate").

import type { ClockUpdate } from "./gen/arpc/bridge/v1/bridge_pb.js";

const MASK64 = (1n << 64n) - 1n;

/** What applying an update did. */
export type ApplyResult =
  | { kind: "applied"; changes: Change[] }
  | { kind: "old" } // already known: ignored
  | { kind: "gap" } // does not start from our seq: resync
  | { kind: "drift" }; // applied, but the sum disagrees: resync in full

/** One state whose tick changed. */
export interface Change {
  index: number;
  before: bigint;
  after: bigint;
}

/** isActive: an odd tick means active. */
export const isActive = (tick: bigint): boolean => (tick & 1n) === 1n;

export class Replica {
  time: bigint[] = [];
  seq = 0n;

  /** reset adopts a whole time vector (a handshake) and returns what changed. */
  reset(time: bigint[], seq: bigint): Change[] {
    const before = this.time;
    this.time = time.slice();
    this.seq = seq;
    return diff(before, this.time);
  }

  /** apply applies u by the rule, or says why not. */
  apply(u: ClockUpdate): ApplyResult {
    let next: bigint[];
    if (u.full) {
      // full first: a repair at or below our seq (drift, a restarted
      // server) applies too
      next = new Array<bigint>(this.time.length).fill(0n);
    } else if (u.toSeq <= this.seq) {
      return { kind: "old" };
    } else if (u.fromSeq === this.seq) {
      next = this.time.slice();
    } else {
      return { kind: "gap" };
    }
    for (let i = 0; i < u.indexes.length; i++) {
      const idx = u.indexes[i];
      if (idx >= next.length) return { kind: "gap" };
      next[idx] = (next[idx] + (u.deltas[i] ?? 0n)) & MASK64;
    }
    let sum = 0n;
    for (const t of next) sum = (sum + t) & MASK64;
    const changes = diff(this.time, next);
    this.time = next;
    this.seq = u.toSeq;
    if (sum !== u.sum) return { kind: "drift" };
    return { kind: "applied", changes };
  }
}

/** diff lists the indexes whose tick differs between two time vectors. */
export function diff(before: bigint[], after: bigint[]): Change[] {
  const out: Change[] = [];
  for (let i = 0; i < after.length; i++) {
    const b = before[i] ?? 0n;
    if (b !== after[i]) out.push({ index: i, before: b, after: after[i] });
  }
  return out;
}
