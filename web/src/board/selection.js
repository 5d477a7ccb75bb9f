/**
 * Which cards are selected, and the canvas mode (`pan`: dragging the background pans; `select`:
 * it draws a lasso). The selection is local to this tab and never shared.
 *
 * `ids` is the live Set (browser tests read it as `window.koprade.selection`); after changing it
 * call `changed()`, which repaints the selected cards and the delete button.
 */

/**
 * @param {{
 *   cardEls: Map<string, {el: HTMLElement}>,
 *   canEditCard: (id: string) => boolean,
 *   deleteBtn: HTMLElement,
 *   selectBtn: HTMLElement,
 *   canvas: HTMLElement,
 * }} opts
 */
export function createSelection({ cardEls, canEditCard, deleteBtn, selectBtn, canvas }) {
  /** @type {Set<string>} */
  const ids = new Set();
  /** @type {'pan' | 'select'} */
  let mode = 'pan';

  function changed() {
    for (const [id, e] of cardEls) e.el.classList.toggle('selected', ids.has(id));
    // delete is offered when at least one selected card may be deleted
    /** @type {HTMLButtonElement} */ (deleteBtn).disabled = ![...ids].some((id) => canEditCard(id));
  }

  return {
    ids,
    changed,
    /** @param {string} id */
    only(id) {
      ids.clear();
      ids.add(id);
      changed();
    },
    clear() {
      ids.clear();
      changed();
    },
    get mode() { return mode; },
    /** @param {'pan' | 'select'} m */
    setMode(m) {
      mode = m;
      selectBtn.setAttribute('aria-pressed', m === 'select' ? 'true' : 'false');
      canvas.dataset.mode = m;
    },
  };
}
