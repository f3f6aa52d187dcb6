// The keys inside a menu (the WAI-ARIA menu pattern), one rule for the device menus and the
// "More" sheet: arrows, Home and End move the focus, Escape closes and gives the focus back,
// Tab closes.

/**
 * Handles a menu's keys while the focus is inside it.
 * @param {HTMLElement} menu
 * @param {() => HTMLElement[]} items the items that can take the focus, in order
 * @param {(refocus: boolean) => void} close `refocus`: give the focus back to what opened it
 * @param {{sideways?: boolean}} [options] Left / Right move too (a menu laid out in a grid)
 */
export function menuKeys(menu, items, close, { sideways = false } = {}) {
  menu.addEventListener("keydown", (e) => {
    const all = items();
    const at = all.indexOf(/** @type {HTMLElement} */ (document.activeElement));
    const next = () => (at + 1) % all.length;
    const previous = () => (at - 1 + all.length) % all.length;
    /** @type {Record<string, () => number>} */
    const moves = { ArrowDown: next, ArrowUp: previous, Home: () => 0, End: () => all.length - 1 };
    if (sideways) Object.assign(moves, { ArrowRight: next, ArrowLeft: previous });
    if (moves[e.key]) {
      e.preventDefault();
      if (all.length) all[moves[e.key]()].focus();
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      close(true);
    } else if (e.key === "Tab") close(false);
  });
}
