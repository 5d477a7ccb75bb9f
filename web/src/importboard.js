/**
 * "Import a board from a JSON export" on the start page: the file's JSON goes as it is to
 * `POST /api/rooms/import` (optional `?title=`, `?name=`; the organizer key header when the
 * server asks for one), and the new room opens with the importer as its facilitator.
 */
import { h, refreshI18n } from './dom.js';
import { t } from './i18n/index.js';
import { importRoom, ApiError } from './api.js';

/** The server's limit for an import (docs/protocol.md). */
export const MAX_IMPORT_BYTES = 5 * 1024 * 1024;

/**
 * @param {{
 *   getKey: () => string,
 *   getName: () => string,
 *   needKey: () => void,
 *   errorText: (e: unknown) => string,
 *   opened: (res: import('./api.js').NewRoom, name: string) => void,
 * }} opts `needKey`: the server wants an organizer key (show its field); `opened`: go to the room
 */
export function createImportBox({ getKey, getName, needKey, errorText, opened }) {
  // the browser's own file button speaks the browser's language: ours speaks the page's
  const file = /** @type {HTMLInputElement} */ (h('input', { type: 'file', id: 'import-file', class: 'file-input', accept: '.json,application/json', 'data-testid': 'import-file', 'aria-describedby': 'import-file-hint import-file-name' }));
  const fileName = h('span', { id: 'import-file-name', class: 'file-name', 'data-testid': 'import-file-name', i18n: { text: 'importNoFile' } });
  const pick = h('label', { for: 'import-file', class: 'btn file-pick', 'aria-hidden': 'true', i18n: { text: 'importPickFile' } });
  file.addEventListener('change', () => {
    const f = file.files && file.files[0];
    if (f) fileName.textContent = f.name; else refreshI18n(fileName);
  });
  const title = /** @type {HTMLInputElement} */ (h('input', { id: 'import-title', class: 'input', maxlength: '200', autocomplete: 'off', 'data-testid': 'import-title' }));
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'import-error' });
  const submit = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'btn btn-secondary', 'data-testid': 'import-submit', i18n: { text: 'importSubmit' } }));
  const form = h('form', { class: 'import-form', novalidate: true, i18n: { 'aria-label': 'importHeading' } },
    h('div', { class: 'field' },
      h('label', { for: 'import-file', i18n: { text: 'importFile' } }),
      h('p', { id: 'import-file-hint', class: 'hint', i18n: { text: 'importFileHint' } }),
      h('div', { class: 'file-row' }, file, pick, fileName)),
    h('div', { class: 'field' },
      h('label', { for: 'import-title', i18n: { text: 'importTitle' } }),
      h('p', { id: 'import-title-hint', class: 'hint', i18n: { text: 'importTitleHint' } }), title),
    error, submit);
  title.setAttribute('aria-describedby', 'import-title-hint');
  const el = h('details', { class: 'import-box', 'data-testid': 'import-box' },
    h('summary', { i18n: { text: 'importHeading' } }), form);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const f = file.files && file.files[0];
    if (!f) { error.textContent = t('importChooseFile'); file.focus(); return; }
    if (f.size > MAX_IMPORT_BYTES) { error.textContent = t('importTooLarge'); return; }
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      const text = await f.text();
      let parsed;
      try { parsed = JSON.parse(text); } catch { throw new Error('not-json'); }
      if (!parsed || typeof parsed !== 'object' || parsed.format !== 'koprade-board') throw new Error('not-export');
      const name = getName();
      const res = await importRoom(text, { title: title.value.trim() || undefined, name: name || undefined, organizerKey: getKey() || undefined });
      opened(res, name || t('facilitatorDefaultName'));
    } catch (e) {
      if (e instanceof ApiError && e.slug.startsWith('organizer_key')) needKey();
      error.textContent = e instanceof Error && e.message === 'not-json' ? t('importNotJson')
        : e instanceof Error && e.message === 'not-export' ? t('importNotExport')
          : e instanceof ApiError && e.slug === 'body_too_large' ? t('importTooLarge')
            : e instanceof ApiError && e.slug === 'invalid_field' ? t('importInvalid', { field: e.field || e.message })
              : errorText(e);
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });
  return { el };
}
