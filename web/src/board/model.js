/**
 * The board's content as the rest of the board code sees it: the `cards` and `clusters` maps of
 * the shared document (docs/protocol.md §4) together with this participant's private cards
 * (silent brainstorming), where things are, and what this client may change.
 *
 * Every module that reads or writes cards goes through here, so that "a card" always means
 * "shared or private", and every local edit is one transaction with the origin undo tracks.
 */
import * as Y from 'yjs';
import { t } from '../i18n/index.js';
import { clusterBox, num } from './cardview.js';

/** Transaction origin of every local edit; Y.UndoManager tracks only this origin. */
export const LOCAL = { koprade: 'local' };

/** Size of a new card (and the fallback before the card has been laid out). */
export const CARD_W = 200;
export const CARD_H = 110;

/** @typedef {{x: number, y: number, w: number, h: number}} Rect */
/** @typedef {{el: HTMLElement, textEl: HTMLElement, authorEl: HTMLElement, votesEl: HTMLElement}} CardEntry */
/** @typedef {ReturnType<typeof createBoardModel>} BoardModel */

/**
 * @param {{
 *   doc: Y.Doc,
 *   priv: ReturnType<typeof import('./private.js').createPrivateBoard>,
 *   state: import('./meta.js').RoomState,
 *   notify: (text: string, kind?: string) => void,
 *   cardEls: Map<string, CardEntry>,
 * }} opts `cardEls`: the rendered cards (their height decides where a card ends)
 */
export function createBoardModel({ doc, priv, state, notify, cardEls }) {
  const cards = doc.getMap('cards');
  const clusters = doc.getMap('clusters');
  const pcards = priv.cards;

  /** A card of the shared board, else of the private document. @param {string} id @returns {Y.Map<any> | null} */
  const cardMap = (id) => {
    const m = cards.get(id) || pcards.get(id);
    return m instanceof Y.Map ? m : null;
  };
  /** @param {string} id @returns {Y.Map<any> | null} */
  const clusterMap = (id) => { const m = clusters.get(id); return m instanceof Y.Map ? m : null; };
  /** Only in this participant's private document (silent brainstorming). @param {string} id */
  const isPrivateCard = (id) => !cards.has(id) && pcards.has(id);
  /** Ids of the shared and the private cards. @returns {string[]} */
  const allCardIds = () => (pcards.size ? [...new Set([...cards.keys(), ...pcards.keys()])] : [...cards.keys()]);
  /** Every local edit: one transaction (origin LOCAL) on the board and on the private document. @param {() => void} fn */
  const edit = (fn) => doc.transact(() => priv.doc.transact(fn, LOCAL), LOCAL);
  /** @param {string} id */
  const canEditCard = (id) => state.canEdit(cardMap(id)?.get('author'), isPrivateCard(id));
  /** @param {string} id */
  const canMoveCard = (id) => state.canMove(isPrivateCard(id));

  /**
   * Tell the user why an action is not possible now.
   * @param {'add' | 'edit' | 'move' | 'clusters' | 'delete'} what
   */
  function explainDenied(what) {
    let key = 'denyPhase';
    if (state.isObserver) key = 'denyObserver';
    else if (state.locked) key = 'denyLocked';
    else if ((what === 'edit' || what === 'delete') && state.phaseAllows('edit')) key = 'denyNotYours';
    notify(t(key, { phase: t(`phase_${state.phase}`) }), 'info');
  }

  /** Board rectangle of a card (uses the rendered height). @param {string} id @returns {Rect | null} */
  function cardRect(id) {
    const m = cardMap(id);
    if (!m) return null;
    const e = cardEls.get(id);
    const hgt = e && e.el.offsetHeight ? e.el.offsetHeight : CARD_H;
    const w = e && e.el.offsetWidth ? e.el.offsetWidth : CARD_W;
    return { x: num(m.get('x')), y: num(m.get('y')), w, h: hgt };
  }
  /** @param {string} id @returns {Rect | null} */
  function clusterRect(id) {
    const m = clusterMap(id);
    return m ? clusterBox(m) : null;
  }

  /** Smallest cluster containing the board point. @param {number} x @param {number} y */
  function clusterAt(x, y) {
    let best = null;
    let bestArea = Infinity;
    for (const id of clusters.keys()) {
      const r = clusterRect(id);
      if (!r) continue;
      if (x >= r.x && x <= r.x + r.w && y >= r.y && y <= r.y + r.h && r.w * r.h < bestArea) {
        best = id;
        bestArea = r.w * r.h;
      }
    }
    return best;
  }

  /** Cards whose `cluster` is this frame. @param {string} id */
  const clusterMembers = (id) => allCardIds().filter((cid) => cardMap(cid)?.get('cluster') === id);

  /** @param {string} id */
  function cardText(id) {
    const tx = cardMap(id)?.get('text');
    return tx instanceof Y.Text ? tx.toString().trim() : '';
  }

  /** The rectangle around every card and frame (null on an empty board). @returns {Rect | null} */
  function contentBounds() {
    let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
    const add = (/** @type {Rect | null} */ r) => {
      if (!r) return;
      x0 = Math.min(x0, r.x); y0 = Math.min(y0, r.y);
      x1 = Math.max(x1, r.x + r.w); y1 = Math.max(y1, r.y + r.h);
    };
    for (const id of allCardIds()) add(cardRect(id));
    for (const id of clusters.keys()) add(clusterRect(id));
    return x0 === Infinity ? null : { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }

  const isEmpty = () => cards.size === 0 && pcards.size === 0 && clusters.size === 0;

  return {
    cards, clusters, pcards,
    cardMap, clusterMap, isPrivateCard, allCardIds, edit, canEditCard, canMoveCard, explainDenied,
    cardRect, clusterRect, clusterAt, clusterMembers, cardText, contentBounds, isEmpty,
  };
}

/**
 * Ids of the entries of a root map touched by a batch of deep events.
 * @param {Y.Map<any>} root
 * @param {Array<Y.YEvent<any>>} events
 */
export function changedIds(root, events) {
  /** @type {Set<string>} */
  const ids = new Set();
  for (const ev of events) {
    if (ev.target === root) {
      for (const key of ev.changes.keys.keys()) ids.add(key);
    } else if (ev.path.length > 0) {
      ids.add(String(ev.path[0]));
    }
  }
  return ids;
}
