/**
 * A uniform grid over the plane. With the cell size equal to the query radius, a radius query visits 3x3 cells,
 * so its cost is proportional to the number of items near the point, not to the number of items in the world.
 * Cells are arrays of items that carry their own position and slot, so a move is O(1) (swap-remove, push) and a
 * query can filter by distance without looking anything up.
 */

/** An item stored in one grid: its position and where it sits (the grid maintains the last three fields). */
export interface GridItem {
  x: number;
  y: number;
  gridKey: number;
  /** The item's cell (an array shared with the other items in it), or undefined when not in the grid. */
  gridCell: GridItem[] | undefined;
  gridSlot: number;
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
  private readonly cells = new Map<number, T[]>();
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
    item.x = x;
    item.y = y;
    const k = cellKey(Math.floor(x * this.inv), Math.floor(y * this.inv));
    if (item.gridCell !== undefined) {
      if (item.gridKey === k) return;
      this.removeFrom(item);
    } else {
      this.count++;
    }
    let cell = this.cells.get(k);
    if (cell === undefined) {
      cell = [];
      this.cells.set(k, cell);
    }
    item.gridKey = k;
    item.gridCell = cell;
    item.gridSlot = cell.length;
    cell.push(item);
  }

  delete(item: T): void {
    if (item.gridCell === undefined) return;
    this.removeFrom(item);
    item.gridCell = undefined;
    this.count--;
  }

  private removeFrom(item: T): void {
    // Swap-remove; empty cells are kept: an area that held items once will likely hold them again.
    const cell = item.gridCell as GridItem[];
    const last = cell.pop() as GridItem;
    if (last !== item) {
      cell[item.gridSlot] = last;
      last.gridSlot = item.gridSlot;
    }
  }

  /**
   * Writes to out[start...] the non-empty cells overlapping the box [minX, maxX] x [minY, maxY] and returns the new
   * count (callers reuse `out` and filter by distance; counting instead of truncating keeps its storage).
   */
  cellsInBox(minX: number, minY: number, maxX: number, maxY: number, out: T[][], start: number): number {
    const x0 = Math.floor(minX * this.inv);
    const x1 = Math.floor(maxX * this.inv);
    const y0 = Math.floor(minY * this.inv);
    const y1 = Math.floor(maxY * this.inv);
    let n = start;
    for (let cx = x0; cx <= x1; cx++) {
      for (let cy = y0; cy <= y1; cy++) {
        const cell = this.cells.get(cellKey(cx, cy));
        if (cell !== undefined && cell.length > 0) out[n++] = cell;
      }
    }
    return n;
  }
}
