/**
 * The board's keyboard shortcuts (listed in the help dialog): N new card, G new frame, Delete,
 * Escape, Enter/F2 edit, arrows move the selection (or pan), + - 0 zoom, Ctrl+Z/Y undo/redo,
 * Ctrl+A select all, ? help.
 *
 * Listens on the document, so that shortcuts work wherever focus is on the board; keys meant for
 * a dialog, the facilitator panel, the notices or a text field are left alone.
 */
import { num } from './cardview.js';

/**
 * @param {{
 *   app: HTMLElement,
 *   main: HTMLElement,
 *   invite: {dlg: HTMLDialogElement},
 *   help: HTMLDialogElement,
 *   vp: import('./viewport.js').Viewport,
 *   model: import('./model.js').BoardModel,
 *   selection: ReturnType<typeof import('./selection.js').createSelection>,
 *   cards: ReturnType<typeof import('./cards.js').createCards>,
 *   clusters: ReturnType<typeof import('./clusters.js').createClusters>,
 *   undoRedo: {undo: () => void, redo: () => void},
 *   zoomToFit: () => void,
 * }} opts `undoRedo`: undo/redo as the toolbar offers them
 * @returns {() => void} remove the listener
 */
export function bindKeyboard({ app, main, invite, help, vp, model, selection, cards, clusters, undoRedo, zoomToFit }) {
  const { cardMap, canMoveCard, allCardIds, cardRect, edit, explainDenied } = model;
  /** @param {KeyboardEvent} ev */
  function onKeyDown(ev) {
    if (!app.contains(/** @type {Node} */ (ev.target)) && ev.target !== document.body) return;
    // a dialog or the read-only snapshot view is open: the board takes no keys
    if (invite.dlg.open || help.open || document.querySelector('dialog[open]') || main.querySelector('.snapshot-view')) return;
    const target = /** @type {HTMLElement} */ (ev.target);
    if (target.closest && target.closest('.fac-panel, .notices, .follow-chip')) return;
    const inText = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
    const mod = ev.ctrlKey || ev.metaKey;
    const k = ev.key.toLowerCase();
    if (mod && k === 'z' && !ev.altKey) {
      ev.preventDefault();
      if (ev.shiftKey) undoRedo.redo(); else undoRedo.undo();
      return;
    }
    if (mod && k === 'y') { ev.preventDefault(); undoRedo.redo(); return; }
    if (inText) return;
    if (mod && k === 'a') {
      ev.preventDefault();
      for (const id of allCardIds()) selection.ids.add(id);
      selection.changed();
      return;
    }
    if (mod || ev.altKey) return;
    const cardEl = /** @type {HTMLElement | null} */ (target.closest && target.closest('.card'));
    const onButton = target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement;
    switch (ev.key) {
      case 'n': case 'N': ev.preventDefault(); cards.createAtCenter(); return;
      case 'g': case 'G': ev.preventDefault(); clusters.create(); return;
      case '?': ev.preventDefault(); help.showModal(); return;
      case '+': case '=': ev.preventDefault(); vp.zoomAt(1.25); return;
      case '-': case '_': ev.preventDefault(); vp.zoomAt(1 / 1.25); return;
      case '0': ev.preventDefault(); zoomToFit(); return;
      case 'Delete': case 'Backspace':
        if (selection.ids.size) { ev.preventDefault(); cards.deleteSelected(); }
        return;
      case 'Escape':
        if (selection.ids.size) selection.clear();
        if (selection.mode === 'select') selection.setMode('pan');
        return;
      case 'Enter': case 'F2':
        if (onButton) return;
        if (cardEl && cardEl.dataset.id) { ev.preventDefault(); cards.startEdit(cardEl.dataset.id); return; }
        if (selection.ids.size === 1) { ev.preventDefault(); cards.startEdit([...selection.ids][0]); }
        return;
      default: break;
    }
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const d = /** @type {Record<string, number[]>} */ (arrows)[ev.key];
    if (d && !onButton) {
      ev.preventDefault();
      if (selection.ids.size) {
        const movable = [...selection.ids].filter((id) => canMoveCard(id));
        if (!movable.length) { explainDenied('move'); return; }
        const step = ev.shiftKey ? 50 : 10;
        edit(() => {
          for (const id of movable) {
            const m = cardMap(id);
            if (!m) continue;
            m.set('x', num(m.get('x')) + d[0] * step);
            m.set('y', num(m.get('y')) + d[1] * step);
          }
        });
        clusters.updateMembership(selection.ids);
        const first = cardRect([...selection.ids][0]);
        if (first) vp.reveal(first);
      } else {
        vp.panBy(-d[0] * 60, -d[1] * 60);
      }
    }
  }

  document.addEventListener('keydown', onKeyDown);
  return () => document.removeEventListener('keydown', onKeyDown);
}
