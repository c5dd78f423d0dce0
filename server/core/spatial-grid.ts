/**
 * A uniform grid over the plane. With the cell size equal to the query radius, a radius query visits 3x3 cells,
 * so its cost is proportional to the number of items near the point, not to the number of items in the world.
 * A cell keeps its items' coordinates in one array of doubles beside the items (x, y interleaved), so a query filters
 * by distance reading contiguous memory and touches only the items it keeps (in a large world the items are
 * scattered in the heap and each one read is a cache miss; so is each array a cell holds, which is why the
 * coordinates share one). Moves are O(1): swap-remove, push.
 */

/** An item stored in one grid, with where it sits (maintained by the grid). */
export interface GridItem {
  /** The item's cell, or undefined when not in the grid. */
  gridCell: GridCell<GridItem> | undefined;
  gridSlot: number;
  /** A small integer the cell keeps beside the item (GridCell.ids), read by queries that need no more of the item. */
  readonly gridId: number;
}

export interface GridCell<T> {
  readonly key: number;
  readonly items: T[];
  /** The items' coordinates: items[i] is at (xy[2i], xy[2i + 1]). */
  readonly xy: number[];
  /** The items' gridIds: items[i] has ids[i]. */
  readonly ids: number[];
}

const SMALL = 0x4000;
const BIG = 0x100000;

/**
 * Keys of cells farther than 2^20 cells from the origin on either axis, by "cx,cy": numbers above every computed key,
 * handed out once per cell (a computed key would collide there, or lose precision in a double, and a query would
 * then visit one cell twice and return its items twice).
 */
const farKeys = new Map<string, number>();
let nextFarKey = 2 ** 50;

/**
 * Cell key: a small integer (a V8 Smi, cheap to hash) for the usual range, an exact double beyond it, then farKeys.
 * A far cell that never had a key gets one only when `create` (a query of empty far space makes none).
 */
function cellKey(cx: number, cy: number, create: true): number;
function cellKey(cx: number, cy: number, create: boolean): number | undefined;
function cellKey(cx: number, cy: number, create: boolean): number | undefined {
  if (cx >= -SMALL && cx < SMALL && cy >= -SMALL && cy < SMALL) return (cx + SMALL) * (2 * SMALL) + (cy + SMALL);
  // Within 2^20 cells per axis either side of zero: keys stay exact in a double and above every small key.
  if (cx >= -BIG && cx < BIG && cy >= -BIG && cy < BIG) return 2 ** 31 + (cx + BIG) * 2 * BIG + (cy + BIG);
  const far = `${cx},${cy}`;
  let k = farKeys.get(far);
  if (k === undefined && create) farKeys.set(far, (k = nextFarKey++));
  return k;
}

/**
 * Cell coordinates stop at ±2^50: past it every coordinate of an axis shares one cell (its items are still told apart
 * by their distance). Without the bound, a coordinate past 2^53 cells gave a query loop whose counter never advanced
 * (cx + 1 === cx in a double): an entity at x = 1e18 hung the process.
 */
const MAX_CELL = 2 ** 50;
function cellOf(v: number, inv: number): number {
  const c = Math.floor(v * inv);
  return c > MAX_CELL ? MAX_CELL : c < -MAX_CELL ? -MAX_CELL : c;
}

/** Cells a grid holds before its first sweep of empty ones (SpatialGrid.sweepEmpty). */
const SWEEP_CELLS = 4096;

/** Most cells the dense window (see SpatialGrid.dense) may span: 8 MB of references. */
const DENSE_MAX = 1 << 20;

export class SpatialGrid<T extends GridItem> {
  /** Every cell, by key. */
  private readonly cells = new Map<number, GridCell<T>>();
  /**
   * The cells of a rectangle of cell coordinates [dx0, dx0 + dw) x [dy0, dy0 + dh) in an array, column by column
   * (undefined: no cell there), grown to cover the cells as they are made while it spans at most DENSE_MAX cells.
   * A query reads its cells from it instead of hashing into the map: in a large world each map probe is a cache
   * miss, where neighbouring cells are neighbours in the array. Cells outside it are found in the map.
   */
  private dense: Array<GridCell<T> | undefined> = [];
  private dx0 = 0;
  private dy0 = 0;
  private dw = 0;
  private dh = 0;
  private readonly inv: number;
  private count = 0;
  /** Cells at which the next sweep of empty ones runs: twice what the last one kept (at least SWEEP_CELLS). */
  private sweepAt = SWEEP_CELLS;

  constructor(readonly cellSize: number) {
    this.inv = 1 / cellSize;
  }

  get size(): number {
    return this.count;
  }

  /** The cell at cell coordinates (cx, cy), if one was made. */
  private cellAt(cx: number, cy: number): GridCell<T> | undefined {
    const i = cx - this.dx0;
    const j = cy - this.dy0;
    if (i >= 0 && i < this.dw && j >= 0 && j < this.dh) return this.dense[i * this.dh + j];
    if (this.cells.size === 0) return undefined;
    const k = cellKey(cx, cy, false);
    return k === undefined ? undefined : this.cells.get(k);
  }

  /** Records a new cell; grows the dense window over it when the window stays within DENSE_MAX cells. */
  private made(cell: GridCell<T>, cx: number, cy: number): void {
    this.cells.set(cell.key, cell);
    const i = cx - this.dx0;
    const j = cy - this.dy0;
    if (i >= 0 && i < this.dw && j >= 0 && j < this.dh) {
      this.dense[i * this.dh + j] = cell;
      return;
    }
    // Grow to the bounding box of the window and the new cell, with room to spare (a plane fills in from where its
    // first items are), so the window is rebuilt O(log) times as the occupied area grows.
    const empty = this.dw === 0;
    let x0 = empty ? cx : Math.min(this.dx0, cx);
    let y0 = empty ? cy : Math.min(this.dy0, cy);
    let x1 = empty ? cx + 1 : Math.max(this.dx0 + this.dw, cx + 1);
    let y1 = empty ? cy + 1 : Math.max(this.dy0 + this.dh, cy + 1);
    // Far outliers (or a very sparse plane) stay in the map alone; so do cells far from the origin, whose
    // coordinates are kept out of the window's index arithmetic.
    if (!((x1 - x0) * (y1 - y0) <= DENSE_MAX) || Math.abs(cx) >= 2 ** 30 || Math.abs(cy) >= 2 ** 30) return;
    const sx = Math.max(4, (x1 - x0) >> 1);
    const sy = Math.max(4, (y1 - y0) >> 1);
    const gx0 = cx < this.dx0 || empty ? x0 - sx : x0;
    const gx1 = cx >= this.dx0 + this.dw || empty ? x1 + sx : x1;
    const gy0 = cy < this.dy0 || empty ? y0 - sy : y0;
    const gy1 = cy >= this.dy0 + this.dh || empty ? y1 + sy : y1;
    if ((gx1 - gx0) * (gy1 - gy0) <= DENSE_MAX) {
      x0 = gx0;
      x1 = gx1;
      y0 = gy0;
      y1 = gy1;
    }
    const w = x1 - x0;
    const h = y1 - y0;
    const dense = new Array<GridCell<T> | undefined>(w * h).fill(undefined);
    const ow = this.dw;
    const oh = this.dh;
    for (let a = 0; a < ow; a++) {
      for (let b = 0; b < oh; b++) {
        const c = this.dense[a * oh + b];
        if (c !== undefined) dense[(a + this.dx0 - x0) * h + (b + this.dy0 - y0)] = c;
      }
    }
    dense[(cx - x0) * h + (cy - y0)] = cell;
    this.dense = dense;
    this.dx0 = x0;
    this.dy0 = y0;
    this.dw = w;
    this.dh = h;
  }

  /** Inserts or moves an item to (x, y). */
  set(item: T, x: number, y: number): void {
    const cx = cellOf(x, this.inv);
    const cy = cellOf(y, this.inv);
    const k = cellKey(cx, cy, true);
    const old = item.gridCell as GridCell<T> | undefined;
    if (old !== undefined) {
      if (old.key === k) {
        const at = item.gridSlot * 2;
        old.xy[at] = x;
        old.xy[at + 1] = y;
        return;
      }
      this.removeFrom(old, item);
    } else {
      this.count++;
    }
    let cell = this.cellAt(cx, cy);
    if (cell === undefined) {
      if (this.cells.size >= this.sweepAt) this.sweepEmpty();
      // Seeded with a double so the coordinate array holds unboxed doubles from the start.
      cell = { key: k, items: [], xy: [0.5], ids: [] };
      cell.xy.length = 0;
      this.made(cell, cx, cy);
    }
    item.gridCell = cell as GridCell<GridItem>;
    item.gridSlot = cell.items.length;
    cell.items.push(item);
    cell.xy.push(x, y);
    cell.ids.push(item.gridId);
  }

  delete(item: T): void {
    const old = item.gridCell as GridCell<T> | undefined;
    if (old === undefined) return;
    this.removeFrom(old, item);
    item.gridCell = undefined;
    this.count--;
  }

  /**
   * Forgets the cells that hold no item. Empty cells are kept as a rule (an area that held items once will likely hold
   * them again), but a world without bounds, where an item may walk in one direction for ever, would keep every cell it
   * crossed (~1.6 KB each). Run when the cells double since the last sweep, so it costs O(1) per cell made.
   */
  private sweepEmpty(): void {
    for (const [k, c] of this.cells) if (c.items.length === 0) this.cells.delete(k);
    const d = this.dense;
    for (let i = 0; i < d.length; i++) if (d[i] !== undefined && d[i]!.items.length === 0) d[i] = undefined;
    this.sweepAt = Math.max(SWEEP_CELLS, 2 * this.cells.size);
  }

  /** Cells made and not swept (for tests of the bound). @internal */
  get cellCount(): number {
    return this.cells.size;
  }

  private removeFrom(cell: GridCell<T>, item: T): void {
    // Swap-remove; an empty cell is kept until a sweep (sweepEmpty).
    const last = cell.items.pop() as T;
    const xy = cell.xy;
    const ly = xy.pop() as number;
    const lx = xy.pop() as number;
    const lid = cell.ids.pop() as number;
    if (last !== item) {
      const at = item.gridSlot;
      cell.items[at] = last;
      xy[at * 2] = lx;
      xy[at * 2 + 1] = ly;
      cell.ids[at] = lid;
      last.gridSlot = at;
    }
  }

  /**
   * Writes to out[start...] the non-empty cells overlapping the box [minX, maxX] x [minY, maxY] and returns the new
   * count (callers reuse `out` and filter by distance; counting instead of truncating keeps its storage).
   */
  cellsInBox(minX: number, minY: number, maxX: number, maxY: number, out: Array<GridCell<T>>, start: number): number {
    const x0 = cellOf(minX, this.inv);
    const x1 = cellOf(maxX, this.inv);
    const y0 = cellOf(minY, this.inv);
    const y1 = cellOf(maxY, this.inv);
    let n = start;
    for (let cx = x0; cx <= x1; cx++) {
      for (let cy = y0; cy <= y1; cy++) {
        const cell = this.cellAt(cx, cy);
        // Tested on the coordinates, which the caller reads next, not on the items, which it may not read.
        if (cell !== undefined && cell.xy.length > 0) out[n++] = cell;
      }
    }
    return n;
  }
}
