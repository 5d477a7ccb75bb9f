/**
 * Pointer gestures on the canvas, for mouse, pen and touch alike: pan (background, middle
 * button), lasso (select mode or Shift), dragging cards and frames, resizing frames, pinch zoom
 * (two fingers), wheel zoom/pan, and double click / double tap for a new card.
 *
 * A drag is drawn at once from local state and written to the shared document at most every
 * WRITE_INTERVAL ms (`flushDrag`), so that remote peers see it move without one update per
 * pointer event; what the phase or lock forbids by the time of the write is not written.
 */
import { num } from './cardview.js';
import { CARD_W, CARD_H } from './model.js';

const DRAG_THRESHOLD = 5; // screen px
const WRITE_INTERVAL = 40; // ms between shared-document writes while dragging
const DOUBLE_TAP_MS = 350;
const DOUBLE_TAP_PX = 30;

/** @typedef {import('./model.js').Rect} Rect */

/**
 * @param {{
 *   canvas: HTMLElement,
 *   lasso: HTMLElement,
 *   vp: import('./viewport.js').Viewport,
 *   model: import('./model.js').BoardModel,
 *   state: import('./meta.js').RoomState,
 *   undo: import('./private.js').MultiUndo,
 *   selection: ReturnType<typeof import('./selection.js').createSelection>,
 *   cards: ReturnType<typeof import('./cards.js').createCards>,
 *   clusters: ReturnType<typeof import('./clusters.js').createClusters>,
 *   cardEls: Map<string, import('./model.js').CardEntry>,
 *   clusterEls: Map<string, import('./clusters.js').ClusterEntry>,
 *   presence: {setCursor: (c: {x: number, y: number} | null) => void, sendCursor: (ev: PointerEvent) => void},
 * }} opts
 */
export function createGestures({ canvas, lasso, vp, model, state, undo, selection, cards, clusters, cardEls, clusterEls, presence }) {
  const { cardMap, clusterMap, canMoveCard, allCardIds, cardRect, clusterRect, clusterAt, clusterMembers, edit } = model;
  let pointerActive = false;
  let lastPointerType = 'mouse';
  /**
   * @typedef {{kind: 'pan', last: {x: number, y: number}, start: {x: number, y: number}, moved: boolean, pointerType: string}} PanG
   * @typedef {{kind: 'lasso', start: {x: number, y: number}, base: Set<string>, moved: boolean}} LassoG
   * @typedef {{kind: 'card', id: string, wasSelected: boolean, shift: boolean, ids: string[], starts: Map<string, {x: number, y: number}>, origin: {x: number, y: number}, screen: {x: number, y: number}, moved: boolean, dx: number, dy: number}} CardG
   * @typedef {{kind: 'cluster', id: string, members: string[], starts: Map<string, {x: number, y: number}>, cstart: {x: number, y: number}, origin: {x: number, y: number}, screen: {x: number, y: number}, moved: boolean, dx: number, dy: number}} ClusterG
   * @typedef {{kind: 'resize', id: string, w0: number, h0: number, origin: {x: number, y: number}, screen: {x: number, y: number}, moved: boolean, dx: number, dy: number}} ResizeG
   */
  /** @type {Map<number, PanG | LassoG | CardG | ClusterG | ResizeG>} */
  const gestures = new Map();
  /** @type {{a: number, b: number, dist: number, mid: {x: number, y: number}} | null} */
  let pinch = null;
  /** @type {Map<number, {x: number, y: number}>} */
  const pointerPos = new Map();
  let lastWrite = 0;
  let writeTimer = 0;
  /** @type {{time: number, x: number, y: number} | null} */
  let lastTap = null;
  /** @type {string | null} */
  let dropTarget = null;

  /** @param {PointerEvent} ev */
  function onPointerDown(ev) {
    lastPointerType = ev.pointerType;
    const target = /** @type {HTMLElement} */ (ev.target);
    if (ev.pointerType === 'mouse' && ev.button !== 0 && ev.button !== 1) return;
    if (target.closest('textarea, input, .cluster-del, .card-vote-btn')) return;
    pointerActive = true;
    pointerPos.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    const screen = { x: ev.clientX, y: ev.clientY };
    const origin = vp.toBoard(ev.clientX, ev.clientY);
    const cardEl = /** @type {HTMLElement | null} */ (target.closest('.card'));
    const gripEl = target.closest('.cluster-grip, .cluster-head');
    const resizeEl = target.closest('.cluster-resize');
    const clusterEl = /** @type {HTMLElement | null} */ (target.closest('.cluster'));

    // a second finger on the background turns a pan into a pinch
    if (!cardEl && !gripEl && !resizeEl && ev.pointerType !== 'mouse') {
      const other = [...gestures.entries()].find(([, g]) => g.kind === 'pan' || g.kind === 'lasso');
      if (other && !pinch) {
        const [otherId] = other;
        const p1 = /** @type {{x: number, y: number}} */ (pointerPos.get(otherId));
        gestures.delete(otherId);
        lasso.hidden = true;
        pinch = { a: otherId, b: ev.pointerId, dist: Math.hypot(p1.x - screen.x, p1.y - screen.y) || 1, mid: { x: (p1.x + screen.x) / 2, y: (p1.y + screen.y) / 2 } };
        lastTap = null;
        capture(ev);
        ev.preventDefault();
        return;
      }
    }

    if (ev.button === 1) {
      gestures.set(ev.pointerId, { kind: 'pan', last: screen, start: screen, moved: false, pointerType: ev.pointerType });
    } else if (cardEl) {
      const id = /** @type {string} */ (cardEl.dataset.id);
      if (cards.editingId === id) return;
      const wasSelected = selection.ids.has(id);
      if (ev.shiftKey) {
        if (wasSelected) selection.ids.delete(id); else selection.ids.add(id);
        selection.changed();
      } else if (!wasSelected) {
        selection.only(id);
      }
      const ids = selection.ids.has(id) ? [...selection.ids] : [id];
      const starts = new Map();
      for (const s of ids) {
        const m = cardMap(s);
        if (m && canMoveCard(s)) starts.set(s, { x: num(m.get('x')), y: num(m.get('y')) });
      }
      gestures.set(ev.pointerId, { kind: 'card', id, wasSelected, shift: ev.shiftKey, ids, starts, origin, screen, moved: false, dx: 0, dy: 0 });
      cards.stopEdit(false);
      cardEl.focus({ preventScroll: true });
    } else if (resizeEl && clusterEl && state.canClusters()) {
      const id = /** @type {string} */ (clusterEl.dataset.id);
      const r = /** @type {Rect} */ (clusterRect(id));
      gestures.set(ev.pointerId, { kind: 'resize', id, w0: r.w, h0: r.h, origin, screen, moved: false, dx: 0, dy: 0 });
    } else if (gripEl && clusterEl && state.canClusters()) {
      const id = /** @type {string} */ (clusterEl.dataset.id);
      const r = /** @type {Rect} */ (clusterRect(id));
      const members = clusterMembers(id);
      const starts = new Map();
      for (const s of members) {
        const m = cardMap(s);
        if (m) starts.set(s, { x: num(m.get('x')), y: num(m.get('y')) });
      }
      cards.stopEdit(false);
      gestures.set(ev.pointerId, { kind: 'cluster', id, members, starts, cstart: { x: r.x, y: r.y }, origin, screen, moved: false, dx: 0, dy: 0 });
    } else {
      // background (or the empty area of a cluster frame)
      cards.stopEdit(false);
      if (document.activeElement instanceof HTMLInputElement) document.activeElement.blur();
      if (selection.mode === 'select' || ev.shiftKey) {
        if (!ev.shiftKey) selection.clear();
        gestures.set(ev.pointerId, { kind: 'lasso', start: origin, base: new Set(selection.ids), moved: false });
      } else {
        gestures.set(ev.pointerId, { kind: 'pan', last: screen, start: screen, moved: false, pointerType: ev.pointerType });
      }
      canvas.focus({ preventScroll: true });
    }
    capture(ev);
    ev.preventDefault();
  }

  /** @param {PointerEvent} ev */
  function capture(ev) {
    try { canvas.setPointerCapture(ev.pointerId); } catch { /* pointer already gone */ }
  }

  /** Write pending drag positions to the shared document (throttled). @param {boolean} force */
  function flushDrag(force) {
    const now = performance.now();
    if (!force && now - lastWrite < WRITE_INTERVAL) {
      if (!writeTimer) writeTimer = window.setTimeout(() => { writeTimer = 0; flushDrag(true); }, WRITE_INTERVAL);
      return;
    }
    lastWrite = now;
    clearTimeout(writeTimer);
    writeTimer = 0;
    // the phase or lock may have changed during the drag: write only what is still allowed
    edit(() => {
      for (const g of gestures.values()) {
        if (!g.moved) continue;
        if (g.kind === 'card' || g.kind === 'cluster') {
          if (g.kind === 'cluster' && !state.canClusters()) continue;
          for (const [id, s] of g.starts) {
            const m = cardMap(id);
            if (!m || !canMoveCard(id)) continue;
            m.set('x', Math.round(s.x + g.dx));
            m.set('y', Math.round(s.y + g.dy));
          }
          if (g.kind === 'cluster') {
            const m = clusterMap(g.id);
            if (m) {
              m.set('x', Math.round(g.cstart.x + g.dx));
              m.set('y', Math.round(g.cstart.y + g.dy));
            }
          }
        } else if (g.kind === 'resize') {
          const m = clusterMap(g.id);
          if (m && state.canClusters()) {
            m.set('w', Math.round(Math.max(200, g.w0 + g.dx)));
            m.set('h', Math.round(Math.max(150, g.h0 + g.dy)));
          }
        }
      }
    });
  }

  /** @param {PointerEvent} ev */
  function onPointerMove(ev) {
    presence.sendCursor(ev);
    if (!pointerPos.has(ev.pointerId)) return;
    pointerPos.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pinch && (ev.pointerId === pinch.a || ev.pointerId === pinch.b)) {
      const pa = pointerPos.get(pinch.a);
      const pb = pointerPos.get(pinch.b);
      if (!pa || !pb) return;
      const dist = Math.hypot(pa.x - pb.x, pa.y - pb.y) || 1;
      const mid = { x: (pa.x + pb.x) / 2, y: (pa.y + pb.y) / 2 };
      vp.panBy(mid.x - pinch.mid.x, mid.y - pinch.mid.y);
      vp.zoomAt(dist / pinch.dist, mid.x, mid.y);
      pinch.dist = dist;
      pinch.mid = mid;
      return;
    }
    const g = gestures.get(ev.pointerId);
    if (!g) return;
    if (g.kind === 'pan') {
      if (!g.moved && Math.hypot(ev.clientX - g.start.x, ev.clientY - g.start.y) > DRAG_THRESHOLD) g.moved = true;
      vp.panBy(ev.clientX - g.last.x, ev.clientY - g.last.y);
      g.last = { x: ev.clientX, y: ev.clientY };
      return;
    }
    const p = vp.toBoard(ev.clientX, ev.clientY);
    if (g.kind === 'lasso') {
      g.moved = true;
      const x0 = Math.min(g.start.x, p.x); const y0 = Math.min(g.start.y, p.y);
      const x1 = Math.max(g.start.x, p.x); const y1 = Math.max(g.start.y, p.y);
      const cr = canvas.getBoundingClientRect();
      lasso.hidden = false;
      lasso.style.left = `${x0 * vp.z + vp.x}px`;
      lasso.style.top = `${y0 * vp.z + vp.y}px`;
      lasso.style.width = `${(x1 - x0) * vp.z}px`;
      lasso.style.height = `${(y1 - y0) * vp.z}px`;
      void cr;
      selection.ids.clear(); // repainted once below
      for (const s of g.base) selection.ids.add(s);
      for (const id of allCardIds()) {
        const r = cardRect(id);
        if (r && r.x < x1 && r.x + r.w > x0 && r.y < y1 && r.y + r.h > y0) selection.ids.add(id);
      }
      selection.changed();
      return;
    }
    if (g.kind === 'card' && g.starts.size === 0) {
      // cards that may not be moved now: a drag is no tap, but moves nothing
      if (Math.hypot(ev.clientX - g.screen.x, ev.clientY - g.screen.y) > DRAG_THRESHOLD) g.moved = true;
      return;
    }
    if (!g.moved) {
      if (Math.hypot(ev.clientX - g.screen.x, ev.clientY - g.screen.y) <= DRAG_THRESHOLD) return;
      g.moved = true;
      undo.stopCapturing();
      if (g.kind === 'card') for (const id of g.ids) cardEls.get(id)?.el.classList.add('dragging');
      if (g.kind === 'cluster') {
        clusterEls.get(g.id)?.el.classList.add('dragging');
        for (const id of g.members) cardEls.get(id)?.el.classList.add('dragging');
      }
    }
    g.dx = p.x - g.origin.x;
    g.dy = p.y - g.origin.y;
    // optimistic local rendering; the shared document is written at most every WRITE_INTERVAL
    if (g.kind === 'card' || g.kind === 'cluster') {
      for (const [id, s] of g.starts) {
        const e = cardEls.get(id);
        if (e) e.el.style.transform = `translate(${Math.round(s.x + g.dx)}px, ${Math.round(s.y + g.dy)}px)`;
      }
    }
    if (g.kind === 'card') {
      const r = cardRect(g.id);
      const s = g.starts.get(g.id);
      const target = r && s ? clusterAt(s.x + g.dx + r.w / 2, s.y + g.dy + r.h / 2) : null;
      if (target !== dropTarget) {
        if (dropTarget) clusterEls.get(dropTarget)?.el.classList.remove('drop-target');
        dropTarget = target;
        if (dropTarget) clusterEls.get(dropTarget)?.el.classList.add('drop-target');
      }
    }
    flushDrag(false);
  }

  /** @param {PointerEvent} ev */
  function onPointerUp(ev) {
    const cancelled = ev.type === 'pointercancel';
    if (ev.pointerType !== 'mouse' && ev.pointerType !== 'pen') presence.setCursor(null); // a lifted finger has no position
    pointerPos.delete(ev.pointerId);
    if (pinch && (ev.pointerId === pinch.a || ev.pointerId === pinch.b)) {
      pinch = null;
      pointerActive = pointerPos.size > 0;
      return;
    }
    const g = gestures.get(ev.pointerId);
    if (!g) { pointerActive = pointerPos.size > 0; return; }
    if (g.kind === 'card' || g.kind === 'cluster' || g.kind === 'resize') {
      if (g.moved) {
        flushDrag(true);
        // cards whose move was not written (the phase or lock changed meanwhile) snap back
        if (g.kind !== 'resize') for (const id of g.starts.keys()) cards.render(id);
        if (g.kind === 'card') {
          for (const id of g.ids) cardEls.get(id)?.el.classList.remove('dragging');
          clusters.updateMembership(g.ids);
        } else if (g.kind === 'cluster') {
          clusterEls.get(g.id)?.el.classList.remove('dragging');
          for (const id of g.members) cardEls.get(id)?.el.classList.remove('dragging');
        } else {
          clusters.updateMembership(allCardIds());
        }
        undo.stopCapturing();
      } else if (g.kind === 'card' && !cancelled && !g.shift && g.wasSelected && selection.ids.size === 1) {
        gestures.delete(ev.pointerId);
        pointerActive = pointerPos.size > 0;
        cards.startEdit(g.id);
        return;
      }
    } else if (g.kind === 'lasso') {
      lasso.hidden = true;
    } else if (g.kind === 'pan' && !g.moved && !cancelled) {
      // a tap on the background clears the selection; a double tap creates a card
      if (selection.ids.size) selection.clear();
      if (g.pointerType !== 'mouse') {
        const now = performance.now();
        if (lastTap && now - lastTap.time < DOUBLE_TAP_MS && Math.hypot(ev.clientX - lastTap.x, ev.clientY - lastTap.y) < DOUBLE_TAP_PX) {
          lastTap = null;
          const p = vp.toBoard(ev.clientX, ev.clientY);
          gestures.delete(ev.pointerId);
          pointerActive = pointerPos.size > 0;
          cards.create(p.x - CARD_W / 2, p.y - CARD_H / 2);
          return;
        }
        lastTap = { time: now, x: ev.clientX, y: ev.clientY };
      }
    }
    if (dropTarget) { clusterEls.get(dropTarget)?.el.classList.remove('drop-target'); dropTarget = null; }
    gestures.delete(ev.pointerId);
    pointerActive = pointerPos.size > 0;
  }

  canvas.addEventListener('pointerdown', onPointerDown);
  canvas.addEventListener('pointermove', onPointerMove);
  canvas.addEventListener('pointerup', onPointerUp);
  canvas.addEventListener('pointercancel', onPointerUp);
  canvas.addEventListener('pointerleave', (ev) => { if (ev.pointerType === 'mouse') presence.setCursor(null); });
  canvas.addEventListener('dblclick', (ev) => {
    if (lastPointerType !== 'mouse') return; // touch/pen double taps are recognised in onPointerUp
    // pointer capture retargets click events to the canvas: look at what is really under the pointer
    const target = /** @type {HTMLElement | null} */ (document.elementFromPoint(ev.clientX, ev.clientY));
    if (!target || !canvas.contains(target) || target.closest('.card, .cluster-head, .cluster-resize, textarea, input, button')) return;
    const p = vp.toBoard(ev.clientX, ev.clientY);
    cards.create(p.x - CARD_W / 2, p.y - CARD_H / 2);
  });
  canvas.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
    const dy = ev.deltaY * unit;
    const dx = ev.deltaX * unit;
    if (ev.ctrlKey || ev.metaKey) {
      vp.zoomAt(Math.exp(-dy * 0.01), ev.clientX, ev.clientY);
    } else if (ev.shiftKey) {
      vp.panBy(-dy || -dx, 0);
    } else {
      vp.zoomAt(Math.exp(-dy * 0.0015), ev.clientX, ev.clientY);
    }
  }, { passive: false });
  // focus of off-screen content must never scroll the canvas itself
  canvas.addEventListener('scroll', () => { canvas.scrollLeft = 0; canvas.scrollTop = 0; });
  canvas.tabIndex = 0;

  return {
    /** A pointer is down on the canvas (a card's focus then comes from the gesture). */
    get pointerActive() { return pointerActive; },
    dispose() { clearTimeout(writeTimer); },
  };
}
