import QRCode from 'qrcode';
import { h, i18n, icon } from '../dom.js';
import { t, onLang } from '../i18n/index.js';

/**
 * A modal <dialog> with a heading and a close button.
 * @param {string} id @param {string} titleKey @param {HTMLElement} body
 */
export function makeDialog(id, titleKey, body) {
  const close = h('button', { type: 'button', class: 'btn btn-icon dialog-close', i18n: { 'aria-label': 'close', title: 'close' } }, icon('close'));
  const dlg = /** @type {HTMLDialogElement} */ (h('dialog', { id, class: 'dialog', 'aria-labelledby': `${id}-title` },
    h('div', { class: 'dialog-head' }, h('h2', { id: `${id}-title`, i18n: { text: titleKey } }), close),
    body));
  close.addEventListener('click', () => dlg.close());
  dlg.addEventListener('click', (ev) => { if (ev.target === dlg) dlg.close(); });
  return dlg;
}

/**
 * The join code, its link and QR code. `changeCode` (facilitators): a "New code" action that
 * asks first, then resolves once the room has its new code (the dialog then shows it).
 * @param {{getCode: () => string, getTitle: () => string, changeCode?: () => Promise<void>}} info
 */
export function inviteDialog(info) {
  const codeEl = h('p', { class: 'invite-code', 'data-testid': 'invite-code' });
  const linkInput = /** @type {HTMLInputElement} */ (h('input', { class: 'input invite-link', id: 'invite-link', readonly: true, 'data-testid': 'invite-link' }));
  const copied = h('span', { class: 'copied', role: 'status' });
  const copyBtn = h('button', { type: 'button', class: 'btn btn-secondary' }, icon('copy'), h('span', { i18n: { text: 'copyLink' } }));
  const qr = h('div', { class: 'qr', role: 'img', 'data-testid': 'invite-qr' });
  const hostLine = h('p', { class: 'invite-host' });
  const titleEl = h('p', { class: 'invite-room-title' });
  const newCodeBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'btn btn-secondary invite-new-code', 'data-testid': 'new-code', hidden: !info.changeCode }, icon('qr'), h('span', { i18n: { text: 'newCode' } })));
  const body = h('div', { class: 'invite-body' },
    qr,
    h('div', { class: 'invite-text' },
      titleEl,
      h('p', { class: 'invite-step', i18n: { text: 'inviteStep1' } }),
      hostLine,
      h('p', { class: 'invite-code-label', i18n: { text: 'code' } }),
      codeEl,
      h('label', { for: 'invite-link', class: 'invite-link-label', i18n: { text: 'joinLink' } }),
      linkInput,
      h('div', { class: 'row' }, copyBtn, copied),
      newCodeBtn));
  const dlg = makeDialog('invite-dialog', 'inviteTitle', body);
  /** Ask, then give the room a new code and show it. */
  const newCode = async () => {
    if (!info.changeCode || !(await confirmDialog(t('newCodeConfirm'), t('newCodeOk')))) return;
    newCodeBtn.disabled = true;
    try {
      await info.changeCode();
      await refresh();
      copied.textContent = t('newCodeDone', { code: info.getCode() });
    } catch (e) {
      copied.textContent = e instanceof Error ? e.message : String(e);
    } finally {
      newCodeBtn.disabled = false;
    }
  };
  newCodeBtn.addEventListener('click', newCode);

  let lastUrl = '';
  const refresh = async () => {
    const code = info.getCode();
    const url = code ? `${location.origin}/join/${code}` : '';
    codeEl.textContent = code || '—';
    titleEl.textContent = info.getTitle();
    linkInput.value = url;
    hostLine.textContent = t('inviteStep2', { host: location.host });
    qr.setAttribute('aria-label', t('qrAlt', { url }));
    if (url && url !== lastUrl) {
      lastUrl = url;
      const svg = await QRCode.toString(url, { type: 'svg', margin: 2, errorCorrectionLevel: 'M', color: { dark: '#000000', light: '#ffffff' } });
      const tpl = document.createElement('template');
      tpl.innerHTML = svg;
      const el = tpl.content.querySelector('svg');
      if (el) {
        el.setAttribute('aria-hidden', 'true');
        el.setAttribute('focusable', 'false');
        qr.replaceChildren(el);
      }
    }
  };
  onLang(() => { if (dlg.open) refresh(); });
  copyBtn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(linkInput.value);
    } catch {
      linkInput.select();
      document.execCommand('copy');
    }
    copied.textContent = t('copied');
    setTimeout(() => { copied.textContent = ''; }, 2500);
  });
  const open = async () => { await refresh(); if (!dlg.open) dlg.showModal(); };
  return { dlg, open, refresh, newCode: async () => { await open(); await newCode(); } };
}

export function helpDialog() {
  const section = (/** @type {string} */ headKey, /** @type {string} */ listKey, /** @type {boolean} */ keys) => {
    const tbody = h('tbody');
    const table = h('table', { class: 'help-table' },
      h('caption', { i18n: { text: headKey } }), tbody);
    onLang(() => {
      tbody.replaceChildren(...(/** @type {[string, string][]} */ (t(listKey))).map(([k, v]) =>
        h('tr', {}, h('th', { scope: 'row', class: keys ? 'keys' : '' }, keys ? h('kbd', { text: k }) : k), h('td', { text: v }))));
    });
    return table;
  };
  const body = h('div', { class: 'help-body' }, section('helpKeys', 'shortcuts', true), section('helpPointer', 'gestures', false));
  return makeDialog('help-dialog', 'helpTitle', body);
}

/**
 * A modal yes/no question (tablet-friendly, unlike window.confirm). Resolves true on "OK".
 * @param {string} text the question
 * @param {string} okText label of the confirming button
 * @returns {Promise<boolean>}
 */
export function confirmDialog(text, okText) {
  return new Promise((resolve) => {
    const ok = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'confirm-ok', text: okText });
    const cancel = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'confirm-cancel', i18n: { text: 'cancel' } });
    const body = h('div', { class: 'confirm-body' }, h('p', { class: 'confirm-text', text }), h('div', { class: 'row confirm-actions' }, cancel, ok));
    const dlg = makeDialog(`confirm-${Math.random().toString(36).slice(2, 8)}`, 'confirmTitle', body);
    dlg.classList.add('dialog-confirm');
    dlg.dataset.testid = 'confirm';
    let answer = false;
    ok.addEventListener('click', () => { answer = true; dlg.close(); });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(answer); });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

/**
 * A modal question with a text field. Resolves to the trimmed text on "OK", null on cancel.
 * `mustMatch`: OK stays disabled until the text passes it (a strong confirmation: type the
 * room's code); `danger`: a red OK button.
 * @param {{text: string, label: string, okText: string, value?: string, maxlength?: number,
 *   mustMatch?: (value: string) => boolean, danger?: boolean, testid?: string, titleKey?: string}} opts
 * @returns {Promise<string | null>}
 */
export function inputDialog(opts) {
  return new Promise((resolve) => {
    const id = `input-${Math.random().toString(36).slice(2, 8)}`;
    const input = /** @type {HTMLInputElement} */ (h('input', {
      class: 'input', id: `${id}-field`, autocomplete: 'off', spellcheck: 'false', 'data-testid': 'input-dialog-field',
      maxlength: String(opts.maxlength || 200), value: opts.value || '',
    }));
    const ok = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: `btn ${opts.danger ? 'btn-danger' : 'btn-primary'}`, 'data-testid': 'input-dialog-ok', text: opts.okText }));
    const cancel = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'input-dialog-cancel', i18n: { text: 'cancel' } });
    const form = h('form', { class: 'confirm-body', novalidate: true },
      h('p', { class: 'confirm-text', text: opts.text }),
      h('div', { class: 'field' }, h('label', { for: `${id}-field`, text: opts.label }), input),
      h('div', { class: 'row confirm-actions' }, cancel, ok));
    const dlg = makeDialog(id, opts.titleKey || 'confirmTitle', form);
    dlg.classList.add('dialog-confirm');
    dlg.dataset.testid = opts.testid || 'input-dialog';
    const check = () => { ok.disabled = opts.mustMatch ? !opts.mustMatch(input.value) : !input.value.trim(); };
    input.addEventListener('input', check);
    check();
    /** @type {string | null} */
    let answer = null;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (ok.disabled) return;
      answer = input.value.trim();
      dlg.close();
    });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(answer); });
    document.body.append(dlg);
    dlg.showModal();
    input.focus();
    if (opts.value) input.select();
  });
}

export { i18n };
