/**
 * Cards on the board: drawing them from the document, creating, deleting, colouring, and editing
 * a card's text in place (a textarea bound to its `Y.Text`).
 *
 * Drawing is driven by the document only (`render(id)` after any change, local or remote), so a
 * card looks the same whoever changed it; actions write through `model.edit` and let the
 * observers draw the result.
 */
import * as Y from 'yjs';
import { h } from '../dom.js';
import { t } from '../i18n/index.js';
import { randomId } from '../session.js';
import { bindTextInput } from './textbind.js';
import { DEFAULT_CARD_COLOR } from './colors.js';
import { cardElements, paintCard, num } from './cardview.js';
import { CARD_W, CARD_H, LOCAL } from './model.js';

/**
 * @param {{
 *   model: import('./model.js').BoardModel,
 *   cardEls: Map<string, import('./model.js').CardEntry>,
 *   state: import('./meta.js').RoomState,
 *   me: import('./meta.js').Me,
 *   priv: ReturnType<typeof import('./private.js').createPrivateBoard>,
 *   selection: ReturnType<typeof import('./selection.js').createSelection>,
 *   voting: ReturnType<typeof import('./voting.js').createVoting>,
 *   undo: import('./private.js').MultiUndo,
 *   vp: import('./viewport.js').Viewport,
 *   cardLayer: HTMLElement,
 *   canvas: HTMLElement,
 *   swatches: HTMLElement[],
 *   isPointerActive: () => boolean,
 * }} opts `isPointerActive`: a pointer is down (focus then comes from the gesture, not the keyboard)
 */
export function createCards(opts) {
  const { model, cardEls, state, me, priv, selection, voting, undo, vp, cardLayer, canvas, swatches } = opts;
  const { cards, pcards, cardMap, isPrivateCard, canEditCard, edit, explainDenied } = model;
  /** @type {{id: string, textarea: HTMLTextAreaElement, unbind: () => void, ytext: Y.Text} | null} */
  let editing = null;
  let currentColor = DEFAULT_CARD_COLOR;

  /** Draw (or remove) one card from the document. @param {string} id */
  function render(id) {
    const m = cardMap(id);
    let entry = cardEls.get(id);
    if (!m) {
      if (entry) {
        if (editing && editing.id === id) stopEdit(false);
        entry.el.remove();
        cardEls.delete(id);
        selection.ids.delete(id);
        selection.changed();
      }
      return;
    }
    if (!entry) {
      entry = cardElements(id);
      const cardEl = entry.el;
      cardEl.addEventListener('focus', () => onCardFocus(id));
      cardEls.set(id, entry);
      cardLayer.append(cardEl);
    }
    const { el, votesEl } = entry;
    const isPrivate = isPrivateCard(id);
    // a reveal moved the card being edited from the private document onto the board
    if (editing && editing.id === id && m.get('text') !== editing.ytext) stopEdit(false);
    // author: a name from meta.people (none while anonymous), "you" on one's own cards
    const author = m.get('author');
    const own = state.isMine(author);
    const authorName = own ? t('you') : state.nameOf(author);
    paintCard(entry, m, isPrivate ? t('privateCard') : authorName ? t('cardBy', { name: authorName }) : '');
    el.classList.toggle('private', isPrivate);
    el.classList.toggle('own', own);
    el.classList.toggle('readonly', !canEditCard(id));
    el.dataset.private = isPrivate ? 'true' : 'false';
    el.classList.toggle('selected', selection.ids.has(id));
    voting.renderCard(id, votesEl, isPrivate);
  }

  /** Keyboard focus on a card selects it and scrolls it into view. @param {string} id */
  function onCardFocus(id) {
    if (opts.isPointerActive()) return;
    if (!selection.ids.has(id)) selection.only(id);
    const r = model.cardRect(id);
    if (r) vp.reveal(r);
  }

  /** @param {number} x @param {number} y board coordinates of the card's top-left corner */
  function create(x, y) {
    if (!state.canAdd()) { explainDenied('add'); return null; }
    const id = randomId();
    // silent brainstorming: a participant's new cards go into the private document
    const target = state.writesPrivately ? pcards : cards;
    if (target === pcards) priv.connect();
    undo.stopCapturing();
    edit(() => {
      const m = new Y.Map();
      m.set('text', new Y.Text());
      m.set('x', Math.round(x));
      m.set('y', Math.round(y));
      m.set('color', currentColor);
      m.set('author', me.author || me.id); // a pseudonym in an anonymous room (hello)
      m.set('created', Date.now());
      target.set(id, m);
    });
    const c = model.clusterAt(x + CARD_W / 2, y + CARD_H / 2);
    if (c) edit(() => cardMap(id)?.set('cluster', c));
    selection.only(id);
    startEdit(id);
    return id;
  }

  /** A new card in the middle of the view, never exactly on top of another one. */
  function createAtCenter() {
    if (!state.canAdd()) { explainDenied('add'); return; }
    const c = vp.center();
    let x = c.x - CARD_W / 2;
    let y = c.y - CARD_H / 2;
    for (let i = 0; i < 20; i++) {
      const clash = model.allCardIds().some((id) => {
        const m = cardMap(id);
        return m && Math.abs(num(m.get('x')) - x) < 12 && Math.abs(num(m.get('y')) - y) < 12;
      });
      if (!clash) break;
      x += 24; y += 24;
    }
    create(x, y);
  }

  /** Delete the selected cards this client may delete (and say so if some may not be). */
  function deleteSelected() {
    if (selection.ids.size === 0) return;
    const ids = [...selection.ids].filter((id) => canEditCard(id));
    if (ids.length < selection.ids.size) explainDenied('delete');
    if (!ids.length) return;
    if (editing && ids.includes(editing.id)) stopEdit(false);
    undo.stopCapturing();
    edit(() => { for (const id of ids) (cards.has(id) ? cards : pcards).delete(id); });
    selection.clear();
    canvas.focus({ preventScroll: true });
  }

  /** The colour of new cards, also applied to the selected cards. @param {string} color */
  function pickColor(color) {
    currentColor = color;
    for (const s of swatches) s.setAttribute('aria-pressed', s.dataset.color === color ? 'true' : 'false');
    const ids = [...selection.ids].filter((id) => canEditCard(id));
    if (ids.length) {
      undo.stopCapturing();
      edit(() => { for (const id of ids) cardMap(id)?.set('color', color); });
    }
  }

  /** @param {string} id */
  function startEdit(id) {
    if (editing && editing.id === id) { editing.textarea.focus(); return; }
    stopEdit(false);
    const m = cardMap(id);
    const entry = cardEls.get(id);
    if (!m || !entry) return;
    if (!canEditCard(id)) { explainDenied('edit'); return; }
    let ytext = m.get('text');
    if (!(ytext instanceof Y.Text)) {
      edit(() => m.set('text', new Y.Text(typeof ytext === 'string' ? ytext : '')));
      ytext = m.get('text');
    }
    const textarea = /** @type {HTMLTextAreaElement} */ (h('textarea', {
      class: 'card-editor', rows: '3', maxlength: '2000', 'data-testid': 'card-editor',
      i18n: { 'aria-label': 'cardEditorLabel', placeholder: 'cardPlaceholder' },
    }));
    const autosize = () => {
      textarea.style.height = 'auto';
      textarea.style.height = `${textarea.scrollHeight}px`;
    };
    entry.el.classList.add('editing');
    entry.textEl.after(textarea);
    const unbind = bindTextInput(textarea, ytext, LOCAL, autosize);
    editing = { id, textarea, unbind, ytext };
    autosize();
    textarea.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' || (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey))) {
        ev.preventDefault();
        ev.stopPropagation();
        stopEdit(true);
      }
    });
    textarea.addEventListener('blur', () => {
      // a blur caused by removing the element is handled by stopEdit itself
      if (editing && editing.textarea === textarea) stopEdit(false);
    });
    textarea.focus({ preventScroll: true });
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    undo.stopCapturing();
  }

  /** @param {boolean} refocusCard */
  function stopEdit(refocusCard) {
    if (!editing) return;
    const { id, textarea, unbind } = editing;
    editing = null;
    unbind();
    textarea.remove();
    undo.stopCapturing();
    const entry = cardEls.get(id);
    if (entry) {
      entry.el.classList.remove('editing');
      render(id);
      if (refocusCard) entry.el.focus({ preventScroll: true });
    }
  }

  return {
    render,
    create,
    createAtCenter,
    deleteSelected,
    pickColor,
    startEdit,
    stopEdit,
    /** The id of the card whose text is being edited, if any. */
    get editingId() { return editing ? editing.id : null; },
  };
}
