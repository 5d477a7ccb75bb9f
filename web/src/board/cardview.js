/**
 * How a card and a cluster frame look, shared by the live board (board.js) and the read-only
 * snapshot view (snapshotview.js): the same elements, classes and board-coordinate placement.
 */
import * as Y from 'yjs';
import { h } from '../dom.js';
import { t } from '../i18n/index.js';
import { safeColor } from './colors.js';

/** @param {any} v @param {number} d */
export const num = (v, d = 0) => (typeof v === 'number' && Number.isFinite(v) ? v : d);

/** @typedef {{el: HTMLElement, textEl: HTMLElement, authorEl: HTMLElement, votesEl: HTMLElement}} CardEls */

/** The elements of one card (text, byline, vote row). @param {string} id @returns {CardEls} */
export function cardElements(id) {
  const textEl = h('div', { class: 'card-text', 'aria-hidden': 'true' });
  const authorEl = h('div', { class: 'card-author', 'data-testid': 'card-author', 'aria-hidden': 'true' });
  const votesEl = h('div', { class: 'card-votes', hidden: true });
  const el = h('div', { class: 'card', tabindex: '0', role: 'group', 'data-id': id, 'data-testid': 'card' }, textEl, authorEl, votesEl);
  return { el, textEl, authorEl, votesEl };
}

/**
 * Place and fill a card from its Y.Map: position, colour, cluster, text, byline, label.
 * @param {CardEls} els @param {Y.Map<any>} m @param {string} byline "By Anna", or ''
 * @returns {string} the card's text
 */
export function paintCard({ el, textEl, authorEl }, m, byline) {
  el.style.transform = `translate(${num(m.get('x'))}px, ${num(m.get('y'))}px)`;
  el.style.backgroundColor = safeColor(m.get('color'));
  const cl = m.get('cluster');
  if (typeof cl === 'string') el.dataset.cluster = cl; else delete el.dataset.cluster;
  const ytext = m.get('text');
  const text = ytext instanceof Y.Text ? ytext.toString() : typeof ytext === 'string' ? ytext : '';
  if (textEl.textContent !== text) textEl.textContent = text;
  textEl.dataset.placeholder = t('cardPlaceholder');
  if (authorEl.textContent !== byline) authorEl.textContent = byline;
  authorEl.hidden = !byline;
  const label = text.trim() ? t('cardLabel', { text: text.trim().slice(0, 120) }) : t('cardLabelEmpty');
  el.setAttribute('aria-label', byline ? `${label}. ${byline}` : label);
  return text;
}

/**
 * A cluster's frame rectangle from its Y.Map.
 * @param {Y.Map<any>} m @returns {{x: number, y: number, w: number, h: number}}
 */
export const clusterBox = (m) => ({ x: num(m.get('x')), y: num(m.get('y')), w: num(m.get('w'), 400), h: num(m.get('h'), 300) });

/** Place a cluster frame. @param {HTMLElement} el @param {{x: number, y: number, w: number, h: number}} r */
export function placeCluster(el, r) {
  el.style.transform = `translate(${r.x}px, ${r.y}px)`;
  el.style.width = `${Math.max(120, r.w)}px`;
  el.style.height = `${Math.max(80, r.h)}px`;
}
