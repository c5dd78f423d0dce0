/**
 * What the memory layout alone costs per (observer, visible entity) pair in the observation engine's fast mode: the
 * same synthetic arena tick written three times: with the objects the engine uses today (`objects`); with the same
 * objects but views that hold only their entities' entries, each change carrying the entity's hash before and after
 * (`lean`: what a view without per-view records and hashes saves); and with typed arrays indexed by a dense entity
 * number (`typed`). It answers whether rewriting fast mode around typed arrays would pay, and which part of such a
 * rewrite, before anyone does it.
 *
 *   node --import tsx bench/arena/pair-layout.ts [--entities 1000] [--ticks 150] [--runs 5]
 *
 * The tick, in both: every entity takes a random-walk step (arena-v1: 1000 x 1000 plane, R = 150, grid cells of R)
 * and gets a new record, member hash (eight 32-bit words) and an encoded update fragment (8 bytes); every entity is
 * an observer whose view is rebuilt from the grid: mark the old view, scan the cells around it filtering by distance,
 * kept entity -> digest += after - before and the update fragment, entered -> digest += after, left -> digest -=
 * before, the new view written; then its frame is assembled (lengths summed, fragment bytes copied). This is the
 * per-pair part of `npm run bench -- host` only: no per-observer Delta objects, path definitions, log, intents or GC
 * of real records, so the figures are a floor for each layout, not the server's cost. Each run is a fresh process,
 * layouts alternated; medians of the runs are printed.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import seedrandom from 'seedrandom';

const SIZE = 1000;
const R = 150;
const R2 = R * R;
const CELL = 150;
const GW = Math.ceil(SIZE / CELL) + 1;

interface Result {
  cpuMsPerTick: number;
  pairsPerTick: number;
}

/** The engine's layout: grid cells of objects with interleaved coordinates, views as arrays of objects. */
function objects(n: number, ticks: number, lean: boolean): Result {
  const rng = seedrandom.alea('pair-layout');
  interface Cell {
    items: Ent[];
    xy: number[];
  }
  interface Bin {
    buf: Uint8Array;
    offset: number;
    length: number;
  }
  interface Fragment {
    ops: unknown[];
    wire: [undefined, Bin];
    size: number;
  }
  interface Change {
    before: Rec;
    hash: number[];
    /** The hash the entity had before the change (lean views read it in place of their own copy). */
    hashBefore: number[];
    update: Fragment;
  }
  interface Rec {
    id: string;
    x: number;
    y: number;
    hp: number;
  }
  class Ent {
    rec: Rec;
    hash: number[] = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
    change: Change | undefined = undefined;
    changeQuantum = -1;
    mark = 0;
    slot = 0;
    gridCell: Cell | undefined = undefined;
    gridSlot = 0;
    constructor(
      readonly id: string,
      readonly i: number,
    ) {
      this.rec = { id, x: rng() * SIZE, y: rng() * SIZE, hp: 100 };
    }
  }
  const ents: Ent[] = [];
  for (let i = 0; i < n; i++) ents.push(new Ent(`e${String(i).padStart(6, '0')}`, i));
  const cells: Cell[] = Array.from({ length: GW * GW }, () => ({ items: [], xy: [0.5].slice(1) }));
  const place = (p: Ent): void => {
    const c = cells[Math.floor(p.rec.x / CELL) * GW + Math.floor(p.rec.y / CELL)] as Cell;
    if (p.gridCell !== c) {
      const g = p.gridCell;
      if (g) {
        const last = g.items.length - 1;
        const lp = g.items[last] as Ent;
        g.items[p.gridSlot] = lp;
        g.xy[2 * p.gridSlot] = g.xy[2 * last] as number;
        g.xy[2 * p.gridSlot + 1] = g.xy[2 * last + 1] as number;
        lp.gridSlot = p.gridSlot;
        g.items.pop();
        g.xy.length -= 2;
      }
      p.gridCell = c;
      p.gridSlot = c.items.length;
      c.items.push(p);
      c.xy.push(0, 0);
    }
    c.xy[2 * p.gridSlot] = p.rec.x;
    c.xy[2 * p.gridSlot + 1] = p.rec.y;
  };
  for (const p of ents) place(p);
  const newHash = (): number[] => {
    const w = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
    for (let i = 0; i < 8; i++) w[i] = (rng() * 4294967296) >>> 0;
    return w;
  };
  interface Obs {
    p: Ent;
    fPos: Ent[];
    fRec: Rec[];
    fHash: number[][];
    fLen: number;
    digest: Float64Array;
  }
  const obs: Obs[] = ents.map((p) => ({ p, fPos: [], fRec: [], fHash: [], fLen: 0, digest: new Float64Array(8) }));
  let nPos: Ent[] = [];
  let nRec: Rec[] = [];
  let nHash: number[][] = [];
  let stamp = 0;
  let qn = 0;
  const pieces: Fragment[] = [];
  const near: Ent[] = [];
  const enc: Bin[] = [];
  const out = new Uint8Array(1 << 16);
  const chunk = new Uint8Array(1 << 20);
  let pairs = 0;
  const tick = (): void => {
    qn++;
    let a = 0;
    for (const p of ents) {
      const before = p.rec;
      p.rec = { id: p.id, x: Math.min(SIZE - 1, Math.max(0, before.x + rng() * 10 - 5)), y: Math.min(SIZE - 1, Math.max(0, before.y + rng() * 10 - 5)), hp: 100 };
      place(p);
      const bin: Bin = { buf: chunk, offset: a, length: 8 };
      for (let k = 0; k < 8; k++) chunk[a++] = (p.i + k) & 0xff;
      const hashBefore = p.hash;
      p.hash = newHash();
      p.change = { before, hash: p.hash, hashBefore, update: { ops: [{}, {}], wire: [undefined, bin], size: 30 } };
      p.changeQuantum = qn;
    }
    for (const o of obs) {
      const inView = (stamp += 2);
      const kept = inView + 1;
      const oPos = o.fPos;
      const oRec = o.fRec;
      const oHash = o.fHash;
      const oLen = o.fLen;
      for (let i = 0; i < oLen; i++) {
        const p = oPos[i] as Ent;
        p.mark = inView;
        p.slot = i;
      }
      let count = 0;
      const ox = o.p.rec.x;
      const oy = o.p.rec.y;
      let m = 0;
      const x0 = Math.max(0, Math.floor((ox - R) / CELL));
      const y0 = Math.max(0, Math.floor((oy - R) / CELL));
      const x1 = Math.min(GW - 1, Math.floor((ox + R) / CELL));
      const y1 = Math.min(GW - 1, Math.floor((oy + R) / CELL));
      for (let cx = x0; cx <= x1; cx++) {
        for (let cy = y0; cy <= y1; cy++) {
          const cell = cells[cx * GW + cy] as Cell;
          const xy = cell.xy;
          for (let j = 0; j < xy.length; j += 2) {
            const dx = (xy[j] as number) - ox;
            const dy = (xy[j + 1] as number) - oy;
            if (dx * dx + dy * dy <= R2) near[m++] = cell.items[j >> 1] as Ent;
          }
        }
      }
      let k = 0;
      const d = o.digest;
      if (lean) {
        // Views of entries alone: an entity in view holds its record as of the last flush, so a changed one moves
        // the digest by its change's hash after minus before, and one that left takes off its hash before.
        for (let j = 0; j < m; j++) {
          const p = near[j] as Ent;
          if (p === o.p) continue;
          const q = (p.changeQuantum === qn ? p.change : undefined) as Change | undefined;
          if (p.mark === inView) {
            if (q !== undefined) {
              const a2 = q.hash;
              const b2 = q.hashBefore;
              for (let w = 0; w < 8; w++) d[w] = (d[w] as number) + (a2[w] as number) - (b2[w] as number);
              pieces[count++] = q.update;
            }
          } else {
            const h = p.hash;
            for (let w = 0; w < 8; w++) d[w] = (d[w] as number) + (h[w] as number);
            pieces[count++] = (q as Change).update;
          }
          p.mark = kept;
          nPos[k++] = p;
        }
        for (let i = 0; i < oLen; i++) {
          const p = oPos[i] as Ent;
          if (p.mark !== inView) continue;
          const h = p.changeQuantum === qn ? (p.change as Change).hashBefore : p.hash;
          for (let w = 0; w < 8; w++) d[w] = (d[w] as number) - (h[w] as number);
        }
        o.fPos = nPos;
        o.fLen = k;
        nPos = oPos;
      }
      for (let j = 0; j < (lean ? 0 : m); j++) {
        const p = near[j] as Ent;
        if (p === o.p) continue;
        const rec = p.rec;
        const q = (p.changeQuantum === qn ? p.change : undefined) as Change;
        let h: number[];
        if (p.mark === inView) {
          const i = p.slot;
          h = oHash[i] as number[];
          if (oRec[i] !== rec) {
            const nh = q.hash;
            for (let w = 0; w < 8; w++) d[w] = (d[w] as number) + (nh[w] as number) - (h[w] as number);
            h = nh;
            pieces[count++] = q.update;
          }
        } else {
          h = q.hash;
          for (let w = 0; w < 8; w++) d[w] = (d[w] as number) + (h[w] as number);
          pieces[count++] = q.update;
        }
        p.mark = kept;
        nPos[k] = p;
        nRec[k] = rec;
        nHash[k++] = h;
      }
      if (!lean) {
        for (let i = 0; i < oLen; i++) {
          if ((oPos[i] as Ent).mark !== inView) continue;
          const h = oHash[i] as number[];
          for (let w = 0; w < 8; w++) d[w] = (d[w] as number) - (h[w] as number);
        }
        o.fPos = nPos;
        o.fRec = nRec;
        o.fHash = nHash;
        o.fLen = k;
        nPos = oPos;
        nRec = oRec;
        nHash = oHash;
      }
      let len = 0;
      for (let i = 0; i < count; i++) {
        const e = (pieces[i] as Fragment).wire[1];
        enc[i] = e;
        len += e.length;
      }
      let pos = 40;
      for (let i = 0; i < count; i++) {
        const f = enc[i] as Bin;
        for (let b = 0; b < f.length; b++) out[pos + b] = f.buf[f.offset + b] as number;
        pos += f.length;
      }
      if (pos !== 40 + len) throw new Error('length');
      pairs += count;
    }
  };
  return measure(tick, ticks, () => pairs);
}

/** Typed arrays by dense entity index: grid rebuilt per tick by counting sort, views as index lists. */
function typed(n: number, ticks: number): Result {
  const rng = seedrandom.alea('pair-layout');
  const X = new Float64Array(n);
  const Y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    X[i] = rng() * SIZE;
    Y[i] = rng() * SIZE;
  }
  const H = new Float64Array(n * 8);
  const HB = new Float64Array(n * 8);
  const cellStart = new Int32Array(GW * GW + 1);
  const fill = new Int32Array(GW * GW + 1);
  const cellItems = new Int32Array(n);
  const cellXY = new Float64Array(2 * n);
  const cellOfE = new Int32Array(n);
  const vList = Array.from({ length: n }, () => new Int32Array(1024));
  const vLen = new Int32Array(n);
  const scratch = new Int32Array(1024);
  const digest = new Float64Array(n * 8);
  const mark = new Float64Array(n);
  const arena = new Uint8Array(n * 8);
  const updOff = new Int32Array(n);
  const updLen = new Int32Array(n);
  const list = new Int32Array(4096);
  const out = new Uint8Array(1 << 16);
  let stamp = 0;
  let pairs = 0;
  const tick = (): void => {
    let a = 0;
    cellStart.fill(0);
    for (let e = 0; e < n; e++) {
      X[e] = Math.min(SIZE - 1, Math.max(0, (X[e] as number) + rng() * 10 - 5));
      Y[e] = Math.min(SIZE - 1, Math.max(0, (Y[e] as number) + rng() * 10 - 5));
      for (let w = 0; w < 8; w++) {
        HB[e * 8 + w] = H[e * 8 + w] as number;
        H[e * 8 + w] = (rng() * 4294967296) >>> 0;
      }
      updOff[e] = a;
      updLen[e] = 8;
      for (let k = 0; k < 8; k++) arena[a++] = (e + k) & 0xff;
      const c = Math.floor((X[e] as number) / CELL) * GW + Math.floor((Y[e] as number) / CELL);
      cellOfE[e] = c;
      cellStart[c + 1] = (cellStart[c + 1] as number) + 1;
    }
    for (let c = 0; c < GW * GW; c++) cellStart[c + 1] = (cellStart[c + 1] as number) + (cellStart[c] as number);
    fill.set(cellStart);
    for (let e = 0; e < n; e++) {
      const c = cellOfE[e] as number;
      const k = fill[c] as number;
      fill[c] = k + 1;
      cellItems[k] = e;
      cellXY[2 * k] = X[e] as number;
      cellXY[2 * k + 1] = Y[e] as number;
    }
    for (let o = 0; o < n; o++) {
      const st = (stamp += 2);
      const kept = st + 1;
      const old = vList[o] as Int32Array;
      const oLen = vLen[o] as number;
      for (let i = 0; i < oLen; i++) mark[old[i] as number] = st;
      const ox = X[o] as number;
      const oy = Y[o] as number;
      const x0 = Math.max(0, Math.floor((ox - R) / CELL));
      const y0 = Math.max(0, Math.floor((oy - R) / CELL));
      const x1 = Math.min(GW - 1, Math.floor((ox + R) / CELL));
      const y1 = Math.min(GW - 1, Math.floor((oy + R) / CELL));
      const d8 = o * 8;
      let count = 0;
      let k = 0;
      for (let cx = x0; cx <= x1; cx++) {
        for (let cy = y0; cy <= y1; cy++) {
          const c = cx * GW + cy;
          for (let j = cellStart[c] as number, end = cellStart[c + 1] as number; j < end; j++) {
            const dx = (cellXY[2 * j] as number) - ox;
            const dy = (cellXY[2 * j + 1] as number) - oy;
            if (dx * dx + dy * dy > R2) continue;
            const e = cellItems[j] as number;
            if (e === o) continue;
            const e8 = e * 8;
            if (mark[e] === st) for (let w = 0; w < 8; w++) digest[d8 + w] = (digest[d8 + w] as number) + (H[e8 + w] as number) - (HB[e8 + w] as number);
            else for (let w = 0; w < 8; w++) digest[d8 + w] = (digest[d8 + w] as number) + (H[e8 + w] as number);
            list[count++] = e;
            mark[e] = kept;
            scratch[k++] = e;
          }
        }
      }
      for (let i = 0; i < oLen; i++) {
        const e = old[i] as number;
        if (mark[e] !== st) continue;
        for (let w = 0; w < 8; w++) digest[d8 + w] = (digest[d8 + w] as number) - (HB[e * 8 + w] as number);
      }
      old.set(scratch.subarray(0, k));
      vLen[o] = k;
      let len = 0;
      for (let i = 0; i < count; i++) len += updLen[list[i] as number] as number;
      let pos = 40;
      for (let i = 0; i < count; i++) {
        const e = list[i] as number;
        const off = updOff[e] as number;
        const l = updLen[e] as number;
        for (let b = 0; b < l; b++) out[pos + b] = arena[off + b] as number;
        pos += l;
      }
      if (pos !== 40 + len) throw new Error('length');
      pairs += count;
    }
  };
  return measure(tick, ticks, () => pairs);
}

function measure(tick: () => void, ticks: number, pairs: () => number): Result {
  for (let t = 0; t < 20; t++) tick();
  const p0 = pairs();
  const c0 = process.cpuUsage();
  for (let t = 0; t < ticks; t++) tick();
  const c = process.cpuUsage(c0);
  return { cpuMsPerTick: (c.user + c.system) / 1000 / ticks, pairsPerTick: (pairs() - p0) / ticks };
}

const { values } = parseArgs({ options: { entities: { type: 'string', default: '1000' }, ticks: { type: 'string', default: '150' }, runs: { type: 'string', default: '5' }, child: { type: 'string' } } });
const n = Number(values.entities);
const ticks = Number(values.ticks);
if (!(n >= 2) || !(ticks >= 1)) throw new Error('--entities must be >= 2 and --ticks >= 1');
if (values.child !== undefined) {
  process.stdout.write(JSON.stringify(values.child === 'typed' ? typed(n, ticks) : objects(n, ticks, values.child === 'lean')));
} else {
  const runs = Number(values.runs);
  const self = fileURLToPath(import.meta.url);
  const layouts = ['objects', 'lean', 'typed'];
  const got: Record<string, Result[]> = { objects: [], lean: [], typed: [] };
  for (let r = 0; r < runs; r++) {
    for (const layout of layouts) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', self, '--entities', String(n), '--ticks', String(ticks), '--child', layout], { encoding: 'utf8' });
      (got[layout] as Result[]).push(JSON.parse(out) as Result);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
  console.log(`pair layout, ${n} entities (arena-v1 plane, R ${R}), ${ticks} ticks, ${runs} alternated runs each (medians):`);
  for (const layout of layouts) {
    const rs = got[layout] as Result[];
    const ms = median(rs.map((x) => x.cpuMsPerTick));
    const pairsPerTick = median(rs.map((x) => x.pairsPerTick));
    console.log(`  ${layout.padEnd(8)} ${ms.toFixed(2)} ms CPU per tick, ${pairsPerTick.toFixed(0)} pairs per tick, ${((ms * 1e6) / pairsPerTick).toFixed(1)} ns per pair (runs: ${rs.map((x) => x.cpuMsPerTick.toFixed(2)).join(' ')})`);
  }
}
