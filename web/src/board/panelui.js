/**
 * Building blocks of the facilitator panel's sections (one look for all of them): a titled
 * section, a status line (progress, result, translated error: see `withFeedback` in
 * commands.js) and buttons.
 */
import { h } from '../dom.js';

/**
 * @param {string} titleKey i18n key of the heading
 * @param {string} testid the section is `fac-{testid}`, its heading `#fac-{testid}`
 * @param {...(Node | null | false)} children
 */
export function section(titleKey, testid, ...children) {
  const id = `fac-${testid}`;
  return h('section', { class: 'fac-section', 'aria-labelledby': id, 'data-testid': `fac-${testid}` },
    h('h3', { id, i18n: { text: titleKey } }), ...children);
}

/** @param {string} testid the line is `fac-status-{testid}` */
export function statusLine(testid) {
  return h('p', { class: 'fac-status', role: 'status', 'data-testid': `fac-status-${testid}` });
}

/** @param {string} labelKey @param {string} testid @param {Record<string, any>} [attrs] */
export function button(labelKey, testid, attrs = {}) {
  return h('button', { type: 'button', class: 'btn', 'data-testid': testid, i18n: { text: labelKey }, ...attrs });
}

/**
 * Show a message in a status line.
 * @param {HTMLElement} status @param {'ok' | 'error' | 'busy'} kind @param {string} text
 */
export function setStatus(status, kind, text) {
  status.dataset.kind = kind;
  status.textContent = text;
}
