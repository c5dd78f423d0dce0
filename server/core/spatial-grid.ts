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
}

export interface GridCell<T> {
  readonly key: number;
  readonly items: T[];
  /** The items' coordinates: items[i] is at (xy[2i], xy[2i + 1]). */
  readonly xy: number[];
}

const SMALL = 0x4000;
const BIG = 0x100000;

/** Cell key: a small integer (a V8 Smi, cheap to hash) for the usual range, an exact double beyond it. */
function cellKey(cx: number, cy: number): number {
  if (cx >= -SMALL && cx < SMALL && cy >= -SMALL && cy < SMALL) return (cx + SMALL) * (2 * SMALL) + (cy + SMALL);
  // Cells fit in 2^21 per axis either side of zero: keys stay exact in a double and above every small key.
  return 2 ** 31 + (cx + BIG) * 2 * BIG + (cy + BIG);
}

export class SpatialGrid<T extends GridItem> {
  private readonly cells = new Map<number, GridCell<T>>();
  private readonly inv: number;
  private count = 0;

  constructor(readonly cellSize: number) {
    this.inv = 1 / cellSize;
  }

  get size(): number {
    return this.count;
  }

  /** Inserts or moves an item to (x, y). */
  set(item: T, x: number, y: number): void {
    const k = cellKey(Math.floor(x * this.inv), Math.floor(y * this.inv));
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
    let cell = this.cells.get(k);
    if (cell === undefined) {
      // Seeded with a double so the coordinate array holds unboxed doubles from the start.
      cell = { key: k, items: [], xy: [0.5] };
      cell.xy.length = 0;
      this.cells.set(k, cell);
    }
    item.gridCell = cell as GridCell<GridItem>;
    item.gridSlot = cell.items.length;
    cell.items.push(item);
    cell.xy.push(x, y);
  }

  delete(item: T): void {
    const old = item.gridCell as GridCell<T> | undefined;
    if (old === undefined) return;
    this.removeFrom(old, item);
    item.gridCell = undefined;
    this.count--;
  }

  private removeFrom(cell: GridCell<T>, item: T): void {
    // Swap-remove; empty cells are kept: an area that held items once will likely hold them again.
    const last = cell.items.pop() as T;
    const xy = cell.xy;
    const ly = xy.pop() as number;
    const lx = xy.pop() as number;
    if (last !== item) {
      const at = item.gridSlot;
      cell.items[at] = last;
      xy[at * 2] = lx;
      xy[at * 2 + 1] = ly;
      last.gridSlot = at;
    }
  }

  /**
   * Writes to out[start...] the non-empty cells overlapping the box [minX, maxX] x [minY, maxY] and returns the new
   * count (callers reuse `out` and filter by distance; counting instead of truncating keeps its storage).
   */
  cellsInBox(minX: number, minY: number, maxX: number, maxY: number, out: Array<GridCell<T>>, start: number): number {
    const x0 = Math.floor(minX * this.inv);
    const x1 = Math.floor(maxX * this.inv);
    const y0 = Math.floor(minY * this.inv);
    const y1 = Math.floor(maxY * this.inv);
    let n = start;
    for (let cx = x0; cx <= x1; cx++) {
      for (let cy = y0; cy <= y1; cy++) {
        const cell = this.cells.get(cellKey(cx, cy));
        // Tested on the coordinates, which the caller reads next, not on the items, which it may not read.
        if (cell !== undefined && cell.xy.length > 0) out[n++] = cell;
      }
    }
    return n;
  }
}
