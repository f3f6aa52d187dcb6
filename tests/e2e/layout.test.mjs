// The gallery arithmetic of the room (web/js/ui/layout.js): pure functions, tested in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tilesThatFit, paginate, bestColumns, tileSize, MAX_TILES_PER_PAGE } from "../../web/js/ui/layout.js";

test("how many tiles fit: at least one, at most 25", () => {
  assert.equal(tilesThatFit(1256, 650), MAX_TILES_PER_PAGE);
  assert.equal(tilesThatFit(0, 0), 1);
  assert.equal(tilesThatFit(456, 200), 2); // 2 columns × 1 row of 160×120
  assert.equal(tilesThatFit(456, 250), 4); // 2 × 2
  assert.equal(tilesThatFit(350, 500), 6); // a phone: 2 × 3
});

test("pages of 25: 26 tiles make two pages, the page is clamped", () => {
  assert.deepEqual(paginate(26, 25, 0), { pages: 2, page: 0, start: 0, end: 25 });
  assert.deepEqual(paginate(26, 25, 1), { pages: 2, page: 1, start: 25, end: 26 });
  assert.deepEqual(paginate(26, 25, 7), { pages: 2, page: 1, start: 25, end: 26 });
  assert.deepEqual(paginate(26, 25, -1), { pages: 2, page: 0, start: 0, end: 25 });
  assert.deepEqual(paginate(25, 25, 0), { pages: 1, page: 0, start: 0, end: 25 });
  assert.deepEqual(paginate(0, 25, 0), { pages: 1, page: 0, start: 0, end: 0 });
  assert.deepEqual(paginate(3, 0, 1), { pages: 3, page: 1, start: 1, end: 2 });
});

test("columns: the count that makes tiles largest", () => {
  assert.equal(bestColumns(1, 1200, 600), 1);
  assert.equal(bestColumns(4, 1200, 700), 2);
  assert.equal(bestColumns(25, 1256, 650), 5);
  assert.equal(bestColumns(3, 1200, 200), 3);
});

test("tile size: as large as fits at the aspect, never past the area", () => {
  assert.deepEqual(tileSize(1, 1600, 900), { cols: 1, width: 1600, height: 900 });
  assert.deepEqual(tileSize(1, 1600, 450), { cols: 1, width: 800, height: 450 });
  const three = tileSize(3, 1256, 590);
  assert.equal(three.cols, 2);
  assert.ok(2 * three.width + 10 <= 1256 && 2 * three.height + 10 <= 590, JSON.stringify(three));
  const phone = tileSize(3, 374, 680, 4 / 3);
  assert.equal(phone.cols, 1);
  assert.ok(Math.abs(phone.height - (phone.width * 3) / 4) <= 1, JSON.stringify(phone));
  assert.deepEqual(tileSize(2, 0, 0), { cols: 1, width: 0, height: 0 });
});
