/**
 * Cluster frames: drawing them (title field, grip, resize and delete buttons), creating one
 * around the selection, deleting one, moving and resizing one from the keyboard, and which
 * frame a card belongs to.
 *
 * A card's `cluster` is the smallest frame containing its centre, written when the card is
 * dropped (`updateMembership`); moving a frame moves its cards in the same transaction
 * (docs/protocol.md §4).
 */
import * as Y from 'yjs';
import { h, icon } from '../dom.js';
import { t } from '../i18n/index.js';
import { randomId } from '../session.js';
import { bindTextInput } from './textbind.js';
import { placeCluster, num } from './cardview.js';
import { LOCAL } from './model.js';

/** @typedef {{el: HTMLElement, input: HTMLInputElement, unbind: () => void}} ClusterEntry */
/** @typedef {import('./model.js').Rect} Rect */

/**
 * @param {{
 *   model: import('./model.js').BoardModel,
 *   clusterEls: Map<string, ClusterEntry>,
 *   state: import('./meta.js').RoomState,
 *   selection: ReturnType<typeof import('./selection.js').createSelection>,
 *   undo: import('./private.js').MultiUndo,
 *   vp: import('./viewport.js').Viewport,
 *   clusterLayer: HTMLElement,
 *   canvas: HTMLElement,
 * }} opts
 */
export function createClusters({ model, clusterEls, state, selection, undo, vp, clusterLayer, canvas }) {
  const { clusters, clusterMap, cardMap, edit, explainDenied, canMoveCard } = model;

  /** Draw (or remove) one frame from the document. @param {string} id */
  function render(id) {
    const m = clusterMap(id);
    let entry = clusterEls.get(id);
    if (!m) {
      if (entry) {
        entry.unbind();
        entry.el.remove();
        clusterEls.delete(id);
      }
      return;
    }
    const ytitle = m.get('title');
    if (!entry) {
      const input = /** @type {HTMLInputElement} */ (h('input', {
        class: 'cluster-title', type: 'text', maxlength: '120', 'data-testid': 'cluster-title',
        i18n: { 'aria-label': 'clusterTitleLabel', placeholder: 'clusterPlaceholder' },
      }));
      input.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === 'Escape') { ev.preventDefault(); input.blur(); }
      });
      const grip = h('button', { type: 'button', class: 'btn btn-icon cluster-grip', 'data-testid': 'cluster-grip', i18n: { 'aria-label': 'clusterMove', title: 'clusterMove' } }, icon('grip'));
      grip.addEventListener('keydown', (ev) => onKey(ev, id, 'move'));
      const del = h('button', { type: 'button', class: 'btn btn-icon cluster-del', 'data-testid': 'cluster-delete', i18n: { 'aria-label': 'clusterDelete', title: 'clusterDelete' } }, icon('close'));
      del.addEventListener('click', () => remove(id));
      const resize = h('button', { type: 'button', class: 'btn btn-icon cluster-resize', 'data-testid': 'cluster-resize', i18n: { 'aria-label': 'clusterResize', title: 'clusterResize' } }, icon('resize'));
      resize.addEventListener('keydown', (ev) => onKey(ev, id, 'resize'));
      const el = h('div', { class: 'cluster', role: 'group', 'data-id': id, 'data-testid': 'cluster' },
        h('div', { class: 'cluster-head' }, grip, input, del), resize);
      const unbind = ytitle instanceof Y.Text
        ? bindTextInput(input, ytitle, LOCAL, () => label(id))
        : () => {};
      entry = { el, input, unbind };
      clusterEls.set(id, entry);
      clusterLayer.append(el);
    }
    placeCluster(entry.el, /** @type {Rect} */ (model.clusterRect(id)));
    entry.input.readOnly = !state.canClusters();
    label(id);
  }

  /** The frame's accessible name follows its title. @param {string} id */
  function label(id) {
    const entry = clusterEls.get(id);
    const m = clusterMap(id);
    if (!entry || !m) return;
    const ytitle = m.get('title');
    const s = ytitle instanceof Y.Text ? ytitle.toString().trim() : '';
    entry.el.setAttribute('aria-label', t('clusterLabel', { title: s || t('clusterPlaceholder') }));
  }

  /** Set/delete `cluster` on cards by which frame contains their centre. @param {Iterable<string>} ids */
  function updateMembership(ids) {
    edit(() => {
      for (const id of ids) {
        if (!canMoveCard(id)) continue;
        const m = cardMap(id);
        const r = model.cardRect(id);
        if (!m || !r) continue;
        const c = model.clusterAt(r.x + r.w / 2, r.y + r.h / 2);
        if (c) {
          if (m.get('cluster') !== c) m.set('cluster', c);
        } else if (m.has('cluster')) {
          m.delete('cluster');
        }
      }
    });
  }

  /** A new frame around the selected cards, else in the middle of the view. */
  function create() {
    if (!state.canClusters()) { explainDenied('clusters'); return null; }
    const id = randomId();
    let rect;
    const members = [...selection.ids].filter((s) => cardMap(s));
    if (members.length) {
      let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
      for (const s of members) {
        const r = /** @type {Rect} */ (model.cardRect(s));
        x0 = Math.min(x0, r.x); y0 = Math.min(y0, r.y);
        x1 = Math.max(x1, r.x + r.w); y1 = Math.max(y1, r.y + r.h);
      }
      rect = { x: x0 - 24, y: y0 - 72, w: x1 - x0 + 48, h: y1 - y0 + 96 };
    } else {
      const c = vp.center();
      rect = { x: c.x - 260, y: c.y - 180, w: 520, h: 360 };
    }
    undo.stopCapturing();
    edit(() => {
      const m = new Y.Map();
      m.set('title', new Y.Text());
      m.set('x', Math.round(rect.x));
      m.set('y', Math.round(rect.y));
      m.set('w', Math.round(rect.w));
      m.set('h', Math.round(rect.h));
      clusters.set(id, m);
      for (const s of members) if (canMoveCard(s)) cardMap(s)?.set('cluster', id);
    });
    undo.stopCapturing();
    const entry = clusterEls.get(id);
    if (entry) entry.input.focus({ preventScroll: true });
    return id;
  }

  /** Delete a frame; its cards stay where they are. @param {string} id */
  function remove(id) {
    if (!state.canClusters()) { explainDenied('clusters'); return; }
    undo.stopCapturing();
    edit(() => {
      for (const cid of model.allCardIds()) {
        const m = cardMap(cid);
        if (m && m.get('cluster') === id) m.delete('cluster');
      }
      clusters.delete(id);
    });
    canvas.focus({ preventScroll: true });
  }

  /**
   * Keyboard move/resize of a cluster from its grip / resize buttons.
   * @param {KeyboardEvent} ev @param {string} id @param {'move' | 'resize'} kind
   */
  function onKey(ev, id, kind) {
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[ev.key];
    if (!d) return;
    ev.preventDefault();
    ev.stopPropagation();
    const step = ev.shiftKey ? 50 : 10;
    const m = clusterMap(id);
    if (!m) return;
    if (!state.canClusters()) { explainDenied('clusters'); return; }
    edit(() => {
      if (kind === 'move') {
        m.set('x', num(m.get('x')) + d[0] * step);
        m.set('y', num(m.get('y')) + d[1] * step);
        for (const cid of model.clusterMembers(id)) {
          const c = cardMap(cid);
          if (!c) continue;
          c.set('x', num(c.get('x')) + d[0] * step);
          c.set('y', num(c.get('y')) + d[1] * step);
        }
      } else {
        m.set('w', Math.max(200, num(m.get('w'), 400) + d[0] * step));
        m.set('h', Math.max(150, num(m.get('h'), 300) + d[1] * step));
      }
    });
    if (kind === 'resize') updateMembership(model.allCardIds());
  }

  return { render, label, create, remove, updateMembership };
}
