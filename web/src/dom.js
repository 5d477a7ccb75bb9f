import { t, onLang, getLang, toggleLang } from './i18n/index.js';

/**
 * Create an element. `attrs` keys: `class`, `text`, `on<event>` handlers, `i18n` (map of
 * property/attribute -> i18n key, re-applied when the language changes) and plain attributes.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'i18n') i18n(el, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c);
  }
  return el;
}

/** @type {Set<{el: Element, map: Record<string, string | [string, () => Record<string, any>]>}>} */
const bound = new Set();
let subscribed = false;

function applyOne(/** @type {{el: Element, map: Record<string, any>}} */ b) {
  for (const [prop, spec] of Object.entries(b.map)) {
    const [key, varsFn] = Array.isArray(spec) ? spec : [spec, null];
    const value = t(key, varsFn ? varsFn() : undefined);
    if (prop === 'text') b.el.textContent = value;
    else b.el.setAttribute(prop, value);
  }
}

/**
 * Bind element texts/attributes to i18n keys: `{text: 'key', 'aria-label': ['key', () => vars]}`.
 * @param {Element} el
 * @param {Record<string, string | [string, () => Record<string, any>]>} map
 */
export function i18n(el, map) {
  const b = { el, map };
  bound.add(b);
  applyOne(b);
  if (!subscribed) {
    subscribed = true;
    onLang(() => {
      for (const x of [...bound]) {
        if (!x.el.isConnected && x.el.ownerDocument && x.el.parentNode === null) { bound.delete(x); continue; }
        applyOne(x);
      }
    });
  }
  return el;
}

/** Re-apply the i18n bindings of one element (e.g. after its vars changed). */
export function refreshI18n(/** @type {Element} */ el) {
  for (const b of bound) if (b.el === el) applyOne(b);
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** @type {Record<string, string>} */
const ICONS = {
  plus: 'M12 5v14M5 12h14',
  group: 'M4 7V4h3M17 4h3v3M20 17v3h-3M7 20H4v-3M9 4h6M9 20h6M4 9v6M20 9v6',
  select: 'M5 3l14 8-6 2-3 6z',
  trash: 'M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13M10 11v6M14 11v6',
  undo: 'M9 14L4 9l5-5M4 9h11a5 5 0 0 1 0 10h-4',
  redo: 'M15 14l5-5-5-5M20 9H9a5 5 0 0 0 0 10h4',
  zoomIn: 'M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14M20 20l-4-4M8 11h6M11 8v6',
  zoomOut: 'M11 4a7 7 0 1 0 0 14a7 7 0 1 0 0-14M20 20l-4-4M8 11h6',
  fit: 'M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5',
  help: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M9.5 9a2.5 2.5 0 1 1 3.5 2.3c-.7.3-1 .9-1 1.7M12 16.5v.5',
  qr: 'M4 4h6v6H4zM14 4h6v6h-6zM4 14h6v6H4zM14 14h2v2h-2zM18 18h2v2h-2zM14 18h2M18 14h2',
  grip: 'M9 6h.01M15 6h.01M9 12h.01M15 12h.01M9 18h.01M15 18h.01',
  close: 'M6 6l12 12M18 6L6 18',
  resize: 'M20 10v10H10M20 20L12 12',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
  leave: 'M15 4h4v16h-4M10 8l-4 4 4 4M6 12h10',
  bell: 'M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0',
  bellOff: 'M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 20a2 2 0 0 0 4 0M3 3l18 18',
  clock: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18M12 7v5l3 3',
  lock: 'M6 11h12v9H6zM8 11V8a4 4 0 0 1 8 0v3',
  eye: 'M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6',
  eyeOff: 'M2 12s4-7 10-7c2 0 3.7.6 5.2 1.6M22 12s-4 7-10 7c-2 0-3.7-.6-5.2-1.6M3 3l18 18',
  edit: 'M4 20h4L19 9l-4-4L4 16zM13 7l4 4',
  mask: 'M3 8c3-2 15-2 18 0c0 6-3 9-5 9c-2 0-3-2-4-2s-2 2-4 2c-2 0-5-3-5-9M7 11h3M14 11h3',
  chevronLeft: 'M15 5l-7 7 7 7',
  chevronRight: 'M9 5l7 7-7 7',
  sliders: 'M4 6h10M18 6h2M4 12h4M12 12h8M4 18h12M20 18h0M14 4v4M8 10v4M16 16v4',
};

/** @param {keyof typeof ICONS | string} name */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.setAttribute('class', 'icon');
  const p = document.createElementNS(SVG_NS, 'path');
  p.setAttribute('d', ICONS[name] || '');
  svg.append(p);
  return svg;
}

/** Language switch: shows the other language's own name, in that language. */
export function langButton() {
  const btn = h('button', {
    type: 'button', class: 'btn btn-ghost lang-switch', 'data-testid': 'lang-switch',
    i18n: { text: 'switchLanguage', title: 'switchLanguageLabel' },
    onclick: () => toggleLang(),
  });
  onLang(() => btn.setAttribute('lang', getLang() === 'lv' ? 'en' : 'lv'));
  return btn;
}
