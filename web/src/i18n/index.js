import lv from './lv.js';
import en from './en.js';

/** @typedef {'lv' | 'en'} Lang */
const dicts = { lv, en };
const STORAGE_KEY = 'koprade:lang';

/** @returns {Lang} */
function detect() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'lv' || saved === 'en') return saved;
  } catch { /* storage may be blocked */ }
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ''];
  for (const l of langs) {
    const base = String(l).toLowerCase().split('-')[0];
    if (base === 'lv') return 'lv';
    if (base === 'en') return 'en';
  }
  return 'en';
}

/** @type {Lang} */
let current = detect();
/** @type {Set<() => void>} */
const listeners = new Set();

/** @returns {Lang} */
export const getLang = () => current;

/**
 * Look up a string and fill `{name}` placeholders.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 * @returns {any}
 */
export function t(key, vars) {
  const d = /** @type {Record<string, any>} */ (dicts[current]);
  let s = d[key];
  if (s === undefined) s = /** @type {Record<string, any>} */ (dicts.en)[key];
  if (s === undefined) return key;
  if (vars && typeof s === 'string') {
    s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  }
  return s;
}

/**
 * A count in words: `{key}_one` or `{key}_other` by the language's plural rule (Latvian: 1, 21,
 * 31, ... but not 11 take the singular), with `{n}` and `vars` filled in.
 * @param {string} key @param {number} n @param {Record<string, string | number>} [vars]
 */
export function tn(key, n, vars = {}) {
  const one = current === 'lv' ? n % 10 === 1 && n % 100 !== 11 : n === 1;
  return t(`${key}_${one ? 'one' : 'other'}`, { n, ...vars });
}

/** @param {Lang} lang */
export function setLang(lang) {
  if (lang === current) return;
  current = lang;
  try { localStorage.setItem(STORAGE_KEY, lang); } catch { /* ignore */ }
  applyDocumentLang();
  for (const fn of [...listeners]) fn();
}

export function toggleLang() {
  setLang(current === 'lv' ? 'en' : 'lv');
}

export function applyDocumentLang() {
  document.documentElement.lang = current;
}

/**
 * Call `fn` now and whenever the language changes; returns an unsubscribe function.
 * @param {() => void} fn
 */
export function onLang(fn) {
  listeners.add(fn);
  fn();
  return () => listeners.delete(fn);
}
