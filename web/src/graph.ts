// The relations graph: states on a ring, relations as curved arrows through
// the middle, one colour and dash per relation kind. Works for any schema;
// only node classes change while the machine runs.

import type { StateSchema } from "./gen/arpc/bridge/v1/bridge_pb.js";

const SVG = "http://www.w3.org/2000/svg";

/** The relation kinds drawn, in legend order. */
export const RELATIONS = ["require", "add", "remove", "after"] as const;
export type Relation = (typeof RELATIONS)[number];

export const RELATION_LABEL: Record<Relation, string> = {
  require: "Require",
  add: "Add",
  remove: "Remove",
  after: "After",
};

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  parent?: Element,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent?.appendChild(e);
  return e;
}

export class Graph {
  private nodes = new Map<string, SVGGElement>();
  readonly svg: SVGSVGElement;

  constructor(states: StateSchema[]) {
    const n = Math.max(states.length, 1);
    const r = Math.max(150, (n * 30) / (2 * Math.PI) + 60);
    // room for the longest label (about 7 px a character at 12 px)
    const pad = 24 + 7 * Math.max(4, ...states.map((s) => s.name.length));
    const size = 2 * (r + pad);
    const c = size / 2;
    this.svg = el("svg", {
      viewBox: `0 0 ${size} ${size}`,
      role: "img",
      "aria-label": "relations between states",
      class: "relations",
    });
    const defs = el("defs", {}, this.svg);
    for (const kind of RELATIONS) {
      const m = el(
        "marker",
        {
          id: `arrow-${kind}`,
          viewBox: "0 0 10 10",
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: "auto-start-reverse",
        },
        defs,
      );
      el("path", { d: "M0,0 L10,5 L0,10 z", class: `head rel-${kind}` }, m);
    }

    const pos = new Map<string, { x: number; y: number; a: number }>();
    states.forEach((s, i) => {
      const a = (2 * Math.PI * i) / n - Math.PI / 2;
      pos.set(s.name, { x: c + r * Math.cos(a), y: c + r * Math.sin(a), a });
    });

    const edges = el("g", { class: "edges" }, this.svg);
    const nodeR = 8;
    for (const s of states) {
      const from = pos.get(s.name)!;
      for (const kind of RELATIONS) {
        for (const target of s[kind]) {
          const to = pos.get(target);
          if (!to || target === s.name) continue;
          // a quadratic curve bent towards the centre, ending at the rims
          // (shifted sideways per direction and kind, so that A->B, B->A
          // and two kinds between the same pair stay apart)
          const len = Math.hypot(to.x - from.x, to.y - from.y) || 1;
          const side = 6 + 7 * RELATIONS.indexOf(kind);
          const qx = c + (from.x + to.x - 2 * c) * 0.25 + ((to.y - from.y) / len) * side;
          const qy = c + (from.y + to.y - 2 * c) * 0.25 - ((to.x - from.x) / len) * side;
          const [sx, sy] = towards(from, qx, qy, nodeR + 2);
          const [ex, ey] = towards(to, qx, qy, nodeR + 3);
          const p = el(
            "path",
            {
              d: `M${f(sx)},${f(sy)} Q${f(qx)},${f(qy)} ${f(ex)},${f(ey)}`,
              class: `edge rel-${kind}`,
              "marker-end": `url(#arrow-${kind})`,
              "data-from": s.name,
              "data-to": target,
            },
            edges,
          );
          el("title", {}, p).textContent = `${s.name} ${RELATION_LABEL[kind]} ${target}`;
        }
      }
    }

    const nodes = el("g", { class: "nodes" }, this.svg);
    for (const s of states) {
      const p = pos.get(s.name)!;
      const g = el("g", { class: "node", "data-node": s.name }, nodes);
      el("circle", { cx: f(p.x), cy: f(p.y), r: nodeR }, g);
      const right = Math.cos(p.a) >= -1e-6;
      const label = el(
        "text",
        {
          x: f(p.x + Math.cos(p.a) * (nodeR + 6)),
          y: f(p.y + Math.sin(p.a) * (nodeR + 6)),
          "text-anchor": Math.abs(Math.cos(p.a)) < 0.05 ? "middle" : right ? "start" : "end",
          "dominant-baseline": Math.sin(p.a) > 0.8 ? "hanging" : Math.sin(p.a) < -0.8 ? "auto" : "middle",
        },
        g,
      );
      label.textContent = s.name;
      g.addEventListener("mouseenter", () => this.highlight(s.name, true));
      g.addEventListener("mouseleave", () => this.highlight(s.name, false));
      this.nodes.set(s.name, g);
    }
  }

  /** setActive marks a node active or not. */
  setActive(name: string, active: boolean): void {
    this.nodes.get(name)?.classList.toggle("active", active);
  }

  /** highlight emphasises the edges of one state. */
  highlight(name: string, on: boolean): void {
    this.svg.classList.toggle("focus", on);
    for (const e of this.svg.querySelectorAll<SVGPathElement>(".edge")) {
      const mine = e.dataset.from === name || e.dataset.to === name;
      e.classList.toggle("lit", on && mine);
    }
    this.nodes.get(name)?.classList.toggle("lit", on);
  }
}

/** towards moves from p by d in the direction of (x, y). */
function towards(p: { x: number; y: number }, x: number, y: number, d: number): [number, number] {
  const dx = x - p.x;
  const dy = y - p.y;
  const len = Math.hypot(dx, dy) || 1;
  return [p.x + (dx / len) * d, p.y + (dy / len) * d];
}

const f = (v: number): string => v.toFixed(1);
