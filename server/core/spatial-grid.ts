/**
 * A uniform grid over the plane. With the cell size equal to the query radius, a radius query visits 3x3 cells,
 * so its cost is proportional to the number of items near the point, not to the number of items in the world.
 */
export class SpatialGrid {
  private readonly cells = new Map<number, Set<string>>();
  private readonly where = new Map<string, number>();
  private readonly inv: number;

  constructor(readonly cellSize: number) {
    this.inv = 1 / cellSize;
  }

  private key(cx: number, cy: number): number {
    // Cells fit in 2^21 per axis either side of zero: keys stay exact in a double.
    return (cx + 0x100000) * 0x200000 + (cy + 0x100000);
  }

  private cellOf(x: number, y: number): number {
    return this.key(Math.floor(x * this.inv), Math.floor(y * this.inv));
  }

  get size(): number {
    return this.where.size;
  }

  has(id: string): boolean {
    return this.where.has(id);
  }

  /** Inserts or moves an item. */
  set(id: string, x: number, y: number): void {
    const k = this.cellOf(x, y);
    const old = this.where.get(id);
    if (old === k) return;
    if (old !== undefined) this.removeFrom(old, id);
    let cell = this.cells.get(k);
    if (!cell) {
      cell = new Set();
      this.cells.set(k, cell);
    }
    cell.add(id);
    this.where.set(id, k);
  }

  delete(id: string): void {
    const old = this.where.get(id);
    if (old === undefined) return;
    this.removeFrom(old, id);
    this.where.delete(id);
  }

  private removeFrom(k: number, id: string): void {
    const cell = this.cells.get(k);
    if (!cell) return;
    cell.delete(id);
    if (cell.size === 0) this.cells.delete(k);
  }

  /** Calls fn for every item in the cells overlapping the square of half-side r around (x, y); callers filter by distance. */
  forEachNear(x: number, y: number, r: number, fn: (id: string) => void): void {
    this.forEachInBox(x - r, y - r, x + r, y + r, fn);
  }

  /** Calls fn for every item in the cells overlapping the box [minX, maxX] x [minY, maxY]. */
  forEachInBox(minX: number, minY: number, maxX: number, maxY: number, fn: (id: string) => void): void {
    const x0 = Math.floor(minX * this.inv);
    const x1 = Math.floor(maxX * this.inv);
    const y0 = Math.floor(minY * this.inv);
    const y1 = Math.floor(maxY * this.inv);
    for (let cx = x0; cx <= x1; cx++) {
      for (let cy = y0; cy <= y1; cy++) {
        const cell = this.cells.get(this.key(cx, cy));
        if (cell) for (const id of cell) fn(id);
      }
    }
  }
}
