// The page's DOM: the states table, the change log, the status and notice.
// It knows nothing of the network; main.ts feeds it.

import type { StateSchema } from "./gen/arpc/bridge/v1/bridge_pb.js";
import { Graph, RELATIONS, RELATION_LABEL } from "./graph.js";
import { isActive, type Change } from "./replica.js";

/** The mutations the buttons ask for. */
export type Op = "add" | "remove" | "toggle";

/** Connection states shown in the header (and in data-status). */
export type Status = "connecting" | "live" | "reconnecting" | "offline";

const MAX_LOG = 500;

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`missing #${id}`);
  return e as T;
}

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { class?: string; text?: string; title?: string } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (props.class) e.className = props.class;
  if (props.text !== undefined) e.textContent = props.text;
  if (props.title) e.title = props.title;
  e.append(...children);
  return e;
}

export class View {
  private rows: HTMLTableRowElement[] = [];
  private names: string[] = [];
  private graph?: Graph;
  private noticeTimer = 0;
  private readonly log = byId<HTMLOListElement>("log");
  private readonly statusEl = byId("status");

  constructor(
    private readonly onMutate: (op: Op, state: string) => void,
    onReconnect: () => void,
  ) {
    byId("reconnect").addEventListener("click", onReconnect);
    byId("clear-log").addEventListener("click", () => this.log.replaceChildren());
    const legend = byId("legend");
    for (const kind of RELATIONS) {
      const box = h("input");
      box.type = "checkbox";
      box.checked = true;
      box.addEventListener("change", () =>
        byId("graph").classList.toggle(`hide-${kind}`, !box.checked),
      );
      legend.append(
        h("label", { class: `rel-${kind}` }, box, h("span", { class: "swatch" }),
          document.createTextNode(RELATION_LABEL[kind])),
      );
    }
  }

  /** setSchema draws the states (in schema order) and the graph anew. */
  setSchema(machineId: string, states: StateSchema[], time: bigint[]): void {
    this.names = states.map((s) => s.name);
    byId("machine").textContent = machineId;
    byId("state-count").textContent = `(${states.length})`;
    document.title = `${machineId} · aRPC Bridge inspector`;
    this.rows = states.map((s) => this.row(s));
    byId("states").replaceChildren(...this.rows);
    this.graph = new Graph(states);
    byId("graph").replaceChildren(this.graph.svg);
    time.forEach((t, i) => this.setTick(i, t, false));
  }

  private row(s: StateSchema): HTMLTableRowElement {
    const tr = h("tr", { class: "state" });
    tr.dataset.state = s.name;
    tr.dataset.active = "false";
    tr.dataset.tick = "0";
    const rel: Node[] = [];
    for (const kind of RELATIONS) {
      if (s[kind].length === 0) continue;
      rel.push(h("span", { class: `rel rel-${kind}`, text: `${RELATION_LABEL[kind]} ${s[kind].join(", ")}` }));
    }
    const flags: Node[] = [];
    if (s.auto) flags.push(h("span", { class: "badge", text: "auto" }));
    if (s.multi) flags.push(h("span", { class: "badge", text: "multi" }));
    const buttons = (["add", "remove", "toggle"] as const).map((op) => {
      const b = h("button", { class: `op op-${op}`, text: op, title: `${op} ${s.name}` });
      b.type = "button";
      b.dataset.op = op;
      b.addEventListener("click", () => this.onMutate(op, s.name));
      return b;
    });
    tr.append(
      h("td", {}, h("span", { class: "dot", title: "active" })),
      h("td", { class: "name" }, h("span", { text: s.name }), ...flags),
      h("td", { class: "num tick", text: "0" }),
      h("td", { class: "rels" }, ...rel),
      h("td", { class: "ops" }, ...buttons),
    );
    tr.addEventListener("mouseenter", () => this.graph?.highlight(s.name, true));
    tr.addEventListener("mouseleave", () => this.graph?.highlight(s.name, false));
    return tr;
  }

  /** setTick shows a state's tick; flash marks the row as just changed. */
  setTick(index: number, tick: bigint, flash = true): void {
    const tr = this.rows[index];
    if (!tr) return;
    const active = isActive(tick);
    tr.dataset.active = String(active);
    tr.dataset.tick = tick.toString();
    tr.cells[2].textContent = tick.toString();
    tr.classList.toggle("active", active);
    this.graph?.setActive(this.names[index], active);
    if (flash) {
      tr.classList.remove("flash");
      void tr.offsetWidth; // restart the animation
      tr.classList.add("flash");
    }
  }

  /** showChanges applies changes to the table and logs them. */
  showChanges(changes: Change[], what: string, detail = ""): void {
    for (const c of changes) this.setTick(c.index, c.after);
    const on: string[] = [];
    const off: string[] = [];
    const again: string[] = [];
    for (const c of changes) {
      const name = this.names[c.index] ?? `#${c.index}`;
      const a = isActive(c.after);
      if (a && !isActive(c.before)) on.push(name);
      else if (!a && isActive(c.before)) off.push(name);
      else again.push(name);
    }
    const parts = [
      ...on.map((n) => ["on", `+${n}`]),
      ...off.map((n) => ["off", `-${n}`]),
      ...again.map((n) => ["again", `${n}↻`]),
    ];
    const li = h("li", {}, h("time", { text: clock() }), h("span", { class: "what", text: what }));
    for (const [cls, text] of parts) li.append(h("span", { class: `chg ${cls}`, text }));
    if (parts.length === 0) li.append(h("span", { class: "muted", text: "no change" }));
    if (detail) li.append(h("span", { class: "muted detail", text: detail }));
    this.prepend(li);
  }

  /** note logs a line that is not a clock change. */
  note(text: string, kind: "info" | "error" | "ok" = "info"): void {
    this.prepend(h("li", { class: `note ${kind}` }, h("time", { text: clock() }), h("span", { text })));
  }

  private prepend(li: HTMLLIElement): void {
    this.log.prepend(li);
    while (this.log.childElementCount > MAX_LOG) this.log.lastElementChild?.remove();
  }

  setStatus(status: Status, text: string): void {
    this.statusEl.dataset.status = status;
    this.statusEl.textContent = text;
  }

  /** notify shows a message at the top for a while (errors longer). */
  notify(text: string, kind: "error" | "ok" | "info"): void {
    const n = byId("notice");
    n.textContent = text;
    n.className = `notice ${kind}`;
    n.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = window.setTimeout(() => (n.hidden = true), kind === "error" ? 8000 : 3000);
  }

  setSeq(seq: bigint): void {
    document.body.dataset.seq = seq.toString();
  }
}

function clock(): string {
  const d = new Date();
  const p = (v: number, n = 2) => String(v).padStart(n, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
