// Gallery arithmetic for the meeting room: how many tiles fit, which page shows which tiles,
// how many columns suit them. Pure functions (no DOM), so tests can load them anywhere.

/** Never more tiles on one gallery page than this. */
export const MAX_TILES_PER_PAGE = 25;
/** The smallest tile worth showing (CSS `.tile` has `min-height: 120px`). */
export const MIN_TILE = { width: 160, height: 120 };
/** The gap between tiles in px (CSS `.grid` `gap: .6rem`). */
export const TILE_GAP = 10;

/**
 * How many tiles fit in an area of `width` × `height` px: at least 1, at most
 * MAX_TILES_PER_PAGE.
 * @param {number} width @param {number} height
 */
export function tilesThatFit(width, height) {
  const cols = Math.floor((width + TILE_GAP) / (MIN_TILE.width + TILE_GAP));
  const rows = Math.floor((height + TILE_GAP) / (MIN_TILE.height + TILE_GAP));
  return Math.max(1, Math.min(MAX_TILES_PER_PAGE, cols * rows));
}

/**
 * Splits `count` tiles into pages of `perPage` and says what page `page` (0-based, clamped
 * into range) shows: tiles `start` up to (not including) `end`.
 * @param {number} count @param {number} perPage @param {number} page
 * @returns {{pages: number, page: number, start: number, end: number}}
 */
export function paginate(count, perPage, page) {
  const size = Math.max(1, Math.floor(perPage));
  const pages = Math.max(1, Math.ceil(count / size));
  const at = Math.min(Math.max(0, Math.floor(page) || 0), pages - 1);
  return { pages, page: at, start: at * size, end: Math.min(count, (at + 1) * size) };
}

/**
 * The column count that makes `count` tiles of `aspect` (width / height) largest in an area
 * of `width` × `height` px.
 * @param {number} count @param {number} width @param {number} height @param {number} [aspect]
 */
export function bestColumns(count, width, height, aspect = 16 / 9) {
  let best = 1;
  let bestWidth = -1;
  for (let cols = 1; cols <= Math.max(1, count); cols++) {
    const rows = Math.ceil(count / cols);
    const w = Math.min((width - (cols - 1) * TILE_GAP) / cols, ((height - (rows - 1) * TILE_GAP) / rows) * aspect);
    if (w > bestWidth + 0.5) {
      best = cols;
      bestWidth = w;
    }
  }
  return best;
}

/**
 * The gallery's columns and the size of each tile (px): as large as `count` tiles of `aspect`
 * can be in `width` × `height`.
 * @param {number} count @param {number} width @param {number} height @param {number} [aspect]
 * @returns {{cols: number, width: number, height: number}}
 */
export function tileSize(count, width, height, aspect = 16 / 9) {
  const cols = bestColumns(count, width, height, aspect);
  const rows = Math.max(1, Math.ceil(count / cols));
  const w = Math.max(0, Math.min((width - (cols - 1) * TILE_GAP) / cols, ((height - (rows - 1) * TILE_GAP) / rows) * aspect));
  return { cols, width: Math.floor(w), height: Math.floor(w / aspect) };
}
