import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpatialGrid, type GridCell, type GridItem } from '../../server/core/spatial-grid.js';

interface Item extends GridItem {
  readonly id: number;
  x: number;
  y: number;
  placed: boolean;
}

/** The ids of the placed items inside the box, read from the cells the grid returns, and checked against their coordinates and gridIds. */
function inBox(grid: SpatialGrid<Item>, x0: number, y0: number, x1: number, y1: number): number[] {
  const cells: Array<GridCell<Item>> = [];
  const n = grid.cellsInBox(x0, y0, x1, y1, cells, 0);
  const ids: number[] = [];
  for (let c = 0; c < n; c++) {
    const cell = cells[c] as GridCell<Item>;
    for (let j = 0; j < cell.items.length; j++) {
      const it = cell.items[j] as Item;
      expect([cell.xy[2 * j], cell.xy[2 * j + 1]]).toEqual([it.x, it.y]);
      expect(cell.ids[j]).toBe(it.gridId);
      if (it.x >= x0 && it.x <= x1 && it.y >= y0 && it.y <= y1) ids.push(it.id);
    }
  }
  return ids.sort((a, b) => a - b);
}

// Coordinates near the origin (the grid's dense window), far from it (its map: a window over them would be too
// large), and jumps between the two; and beyond 2^20 cells from the origin, where computed cell keys would collide
// or lose precision (up to 1e18, where adjacent cells' keys as doubles were equal).
const huge = fc.oneof(fc.double({ min: -1e18, max: 1e18, noNaN: true }), fc.integer({ min: -5, max: 5 }).map((d) => 2 ** 20 * 150 + d), fc.integer({ min: -5, max: 5 }).map((d) => 1e15 + d * 7));
const coord = fc.oneof(fc.double({ min: -500, max: 500, noNaN: true }), fc.double({ min: -1.5e6, max: 1.5e6, noNaN: true }), fc.integer({ min: -20, max: 20 }), huge);
const op = fc.record({ item: fc.nat(39), kind: fc.constantFrom('set', 'set', 'set', 'delete'), x: coord, y: coord, r: fc.double({ min: 0, max: 60, noNaN: true }) });

describe('SpatialGrid', () => {
  it('finds exactly the items in a box after any sequence of inserts, moves and deletes', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(1, 7, 150), (ops, cellSize) => {
        const grid = new SpatialGrid<Item>(cellSize);
        const items: Item[] = Array.from({ length: 40 }, (_, id) => ({ id, x: 0, y: 0, placed: false, gridCell: undefined, gridSlot: 0, gridId: id }));
        for (const o of ops) {
          const it = items[o.item] as Item;
          if (o.kind === 'delete') {
            grid.delete(it);
            it.placed = false;
          } else {
            it.x = o.x;
            it.y = o.y;
            it.placed = true;
            grid.set(it, o.x, o.y);
          }
          const want = items.filter((i) => i.placed && Math.abs(i.x - it.x) <= o.r && Math.abs(i.y - it.y) <= o.r).map((i) => i.id);
          expect(inBox(grid, it.x - o.r, it.y - o.r, it.x + o.r, it.y + o.r)).toEqual(want);
        }
        expect(grid.size).toBe(items.filter((i) => i.placed).length);
      }),
      { numRuns: 200 },
    );
  });

  it('an agent that sets its position to 1e300 is observed at once, with no hang and no duplicate (world level)', async () => {
    const { planeWorld, openWorld } = await import('./helpers/worlds.js');
    const world = planeWorld([[10, 10], [20, 20], [1e300, 5]], { policies: { observation: { distance: { radius: 150 } } } });
    const { rt } = await openWorld(world, { agents: ['a0', 'a1', 'a2'] });
    // a1 jumps next to a2, beyond 2^53 cells from the origin (before, each grid query there looped for ever).
    const p = rt.submit({ req_id: 'jump', agent_id: 'a1', kind: 'SetAttributes', payload: { set: { x: 1e300, y: 10 } }, context_seq: rt.obs.viewSeq('a1') });
    await rt.flush();
    expect((await p).status).toBe('committed');
    expect(Object.keys(rt.observe('a1').view.entities).sort()).toEqual(['a1', 'a2']);
    expect(Object.keys(rt.observe('a2').view.entities).sort()).toEqual(['a1', 'a2']);
    expect(Object.keys(rt.observe('a0').view.entities).sort()).toEqual(['a0']);
  });

  it('does not keep every cell an item ever crossed: empty cells are swept as cells double, and queries still find every item', () => {
    const grid = new SpatialGrid<Item>(10);
    const mk = (id: number, x: number, y: number): Item => ({ id, x, y, placed: true, gridCell: undefined, gridSlot: 0, gridId: id });
    const cluster = Array.from({ length: 50 }, (_, i) => mk(i, 5 + (i % 10), 5 + Math.floor(i / 10)));
    for (const it of cluster) grid.set(it, it.x, it.y);
    // A walker in a straight line through 20,000 cells (a world without bounds), and one back and forth over 2 cells.
    const walker = mk(100, 0, 50);
    const pacer = mk(101, 0, 500);
    for (let step = 0; step < 20_000; step++) {
      walker.x = step * 10 + 5;
      grid.set(walker, walker.x, walker.y);
      pacer.x = (step % 2) * 10 + 5;
      grid.set(pacer, pacer.x, pacer.y);
    }
    expect(grid.cellCount).toBeLessThan(2 * 4096 + 8);
    expect(grid.size).toBe(52);
    expect(inBox(grid, 0, 0, 20, 20)).toEqual(cluster.map((c) => c.id));
    expect(inBox(grid, walker.x - 1, 49, walker.x + 1, 51)).toEqual([100]);
    expect(inBox(grid, 0, 499, 20, 501)).toEqual([101]);
  });
});
