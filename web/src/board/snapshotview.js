/**
 * The read-only view of a snapshot: its Yjs state applied to a fresh Y.Doc (no provider, nothing
 * is ever sent) and drawn with the board's own card and frame rendering (cardview.js) in an
 * overlay over the board, under a banner "Snapshot: <name> — read only". Pan (drag), zoom (wheel,
 * pinch, buttons, + / − / 0) and close (button, Esc); there is no way to edit.
 */
import * as Y from 'yjs';
import { h, icon } from '../dom.js';
import { t, onLang } from '../i18n/index.js';
import { Viewport } from './viewport.js';
import { RoomState } from './meta.js';
import { cardElements, paintCard, clusterBox, placeCluster, num } from './cardview.js';

/**
 * @param {{
 *   host: HTMLElement,
 *   state: Uint8Array,
 *   title: () => string,
 *   detail: () => string,
 *   me: import('./meta.js').Me,
 *   onClose: () => void,
 * }} opts `state`: the snapshot's Yjs update; `title` / `detail`: its name and when / by whom
 *   (functions: re-read when the language changes)
 * @returns {{el: HTMLElement, doc: Y.Doc, close: () => void}}
 */
export function openSnapshotView({ host, state: update, title, detail, me, onClose }) {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, update);
  const cards = doc.getMap('cards');
  const clusters = doc.getMap('clusters');
  // names and vote results as the snapshot holds them (no names when the room is anonymous)
  const room = new RoomState(doc, { id: me.id, name: me.name, role: 'observer' });

  const heading = h('strong', { class: 'snapshot-title', id: 'snapshot-view-title', 'data-testid': 'snapshot-view-title' });
  const sub = h('span', { class: 'snapshot-detail' });
  const zoomOut = h('button', { type: 'button', class: 'btn btn-icon', 'data-testid': 'snapshot-zoom-out', i18n: { 'aria-label': 'zoomOut', title: 'zoomOut' } }, icon('zoomOut'));
  const zoomIn = h('button', { type: 'button', class: 'btn btn-icon', 'data-testid': 'snapshot-zoom-in', i18n: { 'aria-label': 'zoomIn', title: 'zoomIn' } }, icon('zoomIn'));
  const fit = h('button', { type: 'button', class: 'btn btn-icon', 'data-testid': 'snapshot-fit', i18n: { 'aria-label': 'zoomFit', title: 'zoomFit' } }, icon('fit'));
  const closeBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'snapshot-close' }, icon('close'), h('span', { i18n: { text: 'snapshotViewClose' } }));
  const bar = h('div', { class: 'snapshot-bar', role: 'status' },
    icon('eye'), h('span', { class: 'snapshot-lines' }, heading, sub),
    h('span', { class: 'snapshot-tools' }, zoomOut, zoomIn, fit, closeBtn));
  const clusterLayer = h('div', { class: 'layer clusters-layer' });
  const cardLayer = h('div', { class: 'layer cards-layer' });
  const world = h('div', { class: 'world' }, clusterLayer, cardLayer);
  const empty = h('p', { class: 'empty-hint', i18n: { text: 'snapshotEmpty' } });
  const canvas = h('div', { class: 'canvas snapshot-canvas', tabindex: '0', 'data-testid': 'snapshot-canvas', 'data-readonly': 'true', i18n: { 'aria-label': 'snapshotCanvasLabel' } }, world, empty);
  const el = h('section', { class: 'snapshot-view', 'data-testid': 'snapshot-view', 'aria-labelledby': 'snapshot-view-title' }, bar, canvas);

  const vp = new Viewport(canvas, world, () => {
    canvas.style.backgroundPosition = `${vp.x}px ${vp.y}px`;
    canvas.style.backgroundSize = `${24 * vp.z}px ${24 * vp.z}px`;
  });

  /** @type {{x0: number, y0: number, x1: number, y1: number}} */
  const bounds = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
  /** @param {{x: number, y: number, w: number, h: number}} r */
  const grow = (r) => {
    bounds.x0 = Math.min(bounds.x0, r.x); bounds.y0 = Math.min(bounds.y0, r.y);
    bounds.x1 = Math.max(bounds.x1, r.x + r.w); bounds.y1 = Math.max(bounds.y1, r.y + r.h);
  };
  function render() {
    heading.textContent = t('snapshotViewTitle', { name: title() });
    sub.textContent = detail();
    const frames = [];
    for (const [id, m] of clusters) {
      if (!(m instanceof Y.Map)) continue;
      const ytitle = m.get('title');
      const text = ytitle instanceof Y.Text ? ytitle.toString() : '';
      const frame = h('div', { class: 'cluster', role: 'group', 'data-id': id, 'data-testid': 'snapshot-cluster', 'aria-label': t('clusterLabel', { title: text.trim() || t('clusterPlaceholder') }) },
        h('div', { class: 'cluster-head' }, h('span', { class: 'cluster-title', text: text || t('clusterPlaceholder') })));
      const r = clusterBox(m);
      placeCluster(frame, r);
      grow(r);
      frames.push(frame);
    }
    clusterLayer.replaceChildren(...frames);
    const ids = [...cards.keys()].sort((a, b) => num(cards.get(a)?.get('created')) - num(cards.get(b)?.get('created')));
    const notes = [];
    for (const id of ids) {
      const m = cards.get(id);
      if (!(m instanceof Y.Map)) continue;
      const els = cardElements(id);
      els.el.dataset.testid = 'snapshot-card';
      els.el.classList.add('readonly');
      const author = m.get('author');
      const name = typeof author === 'string' && author && (author === me.id || author === me.pseudonym) ? t('you') : room.nameOf(author);
      paintCard(els, m, name ? t('cardBy', { name }) : '');
      const tally = room.tally(id);
      if (tally !== null && tally > 0) {
        els.votesEl.hidden = false;
        els.votesEl.append(h('span', { class: 'vote-tally', 'aria-label': t('tallyLabel', { n: tally }), title: t('tallyLabel', { n: tally }), text: String(tally) }));
      }
      grow({ x: num(m.get('x')), y: num(m.get('y')), w: 200, h: 110 });
      notes.push(els.el);
    }
    cardLayer.replaceChildren(...notes);
    empty.hidden = notes.length + frames.length > 0;
  }
  const zoomToFit = () => vp.fit(bounds.x0 === Infinity ? null : { x: bounds.x0, y: bounds.y0, w: bounds.x1 - bounds.x0, h: bounds.y1 - bounds.y0 });

  // pan with one pointer, pinch with two; nothing else happens on a pointer
  /** @type {Map<number, {x: number, y: number}>} */
  const pointers = new Map();
  let pinchDist = 0;
  canvas.addEventListener('pointerdown', (ev) => {
    canvas.focus({ preventScroll: true });
    pointers.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    try { canvas.setPointerCapture(ev.pointerId); } catch { /* gone */ }
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinchDist = Math.hypot(a.x - b.x, a.y - b.y) || 1;
    }
    ev.preventDefault();
  });
  canvas.addEventListener('pointermove', (ev) => {
    const last = pointers.get(ev.pointerId);
    if (!last) return;
    const now = { x: ev.clientX, y: ev.clientY };
    pointers.set(ev.pointerId, now);
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const dist = Math.hypot(a.x - b.x, a.y - b.y) || 1;
      vp.panBy((now.x - last.x) / 2, (now.y - last.y) / 2);
      vp.zoomAt(dist / pinchDist, (a.x + b.x) / 2, (a.y + b.y) / 2);
      pinchDist = dist;
    } else {
      vp.panBy(now.x - last.x, now.y - last.y);
    }
  });
  const up = (/** @type {PointerEvent} */ ev) => { pointers.delete(ev.pointerId); };
  canvas.addEventListener('pointerup', up);
  canvas.addEventListener('pointercancel', up);
  canvas.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
    vp.zoomAt(Math.exp(-ev.deltaY * unit * (ev.ctrlKey || ev.metaKey ? 0.01 : 0.0015)), ev.clientX, ev.clientY);
  }, { passive: false });
  zoomOut.addEventListener('click', () => vp.zoomAt(1 / 1.25));
  zoomIn.addEventListener('click', () => vp.zoomAt(1.25));
  fit.addEventListener('click', zoomToFit);
  el.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key;
    if (k === 'Escape') { ev.preventDefault(); close(); return; }
    if (ev.target instanceof HTMLButtonElement && (k === 'Enter' || k === ' ')) return;
    if (k === '+' || k === '=') { ev.preventDefault(); vp.zoomAt(1.25); } else if (k === '-' || k === '_') { ev.preventDefault(); vp.zoomAt(1 / 1.25); } else if (k === '0') { ev.preventDefault(); zoomToFit(); } else {
      const d = /** @type {Record<string, number[]>} */ ({ ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] })[k];
      if (d && !(ev.target instanceof HTMLButtonElement)) { ev.preventDefault(); vp.panBy(-d[0] * 60, -d[1] * 60); }
    }
  });

  let closed = false;
  function close() {
    if (closed) return;
    closed = true;
    offLang();
    el.remove();
    doc.destroy();
    onClose();
  }
  closeBtn.addEventListener('click', close);

  host.append(el);
  const offLang = onLang(render);
  zoomToFit();
  closeBtn.focus();
  return { el, doc, close };
}
