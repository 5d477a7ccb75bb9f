/**
 * Facilitator panel sections for getting a board out and for the room's data:
 * * Export — JSON, Markdown, CSV, SVG, PNG, PDF (`GET /api/rooms/{room}/export`, with the
 *   Bearer token, saved under the server's file name from Content-Disposition);
 * * Save as template (`POST /api/rooms/{room}/templates`);
 * * Room data — everything stored about the room (`GET /api/rooms/{room}/data`) and deleting
 *   the room (`DELETE /api/rooms/{room}`, confirmed by typing its code or title).
 */
import { h } from '../dom.js';
import { t, getLang } from '../i18n/index.js';
import { fetchDownload, exportPath, dataPath, saveTemplate, deleteRoom } from '../api.js';
import { withFeedback } from './commands.js';
import { inputDialog } from './dialogs.js';
import { section, statusLine, button, setStatus } from './panelui.js';

/** Export formats in the order of the buttons: [format, i18n key of the label]. */
export const EXPORT_FORMATS = /** @type {const} */ ([
  ['pdf', 'exportPdf'], ['md', 'exportMd'], ['csv', 'exportCsv'], ['png', 'exportPng'], ['svg', 'exportSvg'], ['json', 'exportJson'],
]);

/** "830 B", "101 KB", "1,2 MB" (decimal sign of the UI language) @param {number} bytes */
export function formatSize(bytes) {
  if (bytes < 1024) return t('sizeBytes', { n: bytes });
  if (bytes < 1024 * 1024) return t('sizeKiB', { n: Math.round(bytes / 1024) });
  const n = (bytes / 1024 / 1024).toLocaleString(getLang() === 'lv' ? 'lv-LV' : 'en-GB', { maximumFractionDigits: 1 });
  return t('sizeMiB', { n });
}

/**
 * Save a blob as a file (a temporary `blob:` link with `download`).
 * @param {Blob} blob @param {string} filename
 */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/**
 * Download `path` with the token and save it; resolves to the success text.
 * @param {string} path @param {string} token @param {string} fallbackName
 */
async function download(path, token, fallbackName) {
  const { blob, filename } = await fetchDownload(path, token);
  const name = filename || fallbackName;
  saveBlob(blob, name);
  return t('downloaded', { name, size: formatSize(blob.size) });
}

/** @param {import('./sessions.js').SectionContext} ctx @returns {import('./sessions.js').PanelSection} */
export function createExportSection({ room, token }) {
  const status = statusLine('export');
  const langSelect = /** @type {HTMLSelectElement} */ (h('select', { class: 'input input-select', id: 'fac-export-lang', 'data-testid': 'export-lang' },
    h('option', { value: 'lv', text: 'Latviešu', lang: 'lv' }), h('option', { value: 'en', text: 'English', lang: 'en' })));
  langSelect.value = getLang();
  const buttons = EXPORT_FORMATS.map(([format, key]) => {
    const b = h('button', { type: 'button', class: 'btn fac-export-btn', 'data-testid': `export-${format}`, 'data-format': format, i18n: { text: key } });
    b.addEventListener('click', () => withFeedback({ button: b, status, busy: t('exportPreparing', { format: t(key) }) },
      () => download(exportPath(room, format, langSelect.value), token, `koprade-${room}.${format}`)));
    return b;
  });
  const el = section('export', 'export',
    h('p', { class: 'fac-help', i18n: { text: 'exportHelp' } }),
    h('div', { class: 'fac-field fac-inline' }, h('label', { for: 'fac-export-lang', i18n: { text: 'exportLang' } }), langSelect),
    h('div', { class: 'fac-export-grid' }, ...buttons),
    status);
  return { el, open() {}, close() {}, dispose() {} };
}

/** @param {import('./sessions.js').SectionContext} ctx @returns {import('./sessions.js').PanelSection} */
export function createTemplateSection({ room, token }) {
  const status = statusLine('template');
  const nameInput = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'fac-template-name', maxlength: '200', autocomplete: 'off', 'data-testid': 'template-name' }));
  const descInput = /** @type {HTMLTextAreaElement} */ (h('textarea', { class: 'input fac-textarea', id: 'fac-template-desc', maxlength: '1000', rows: '2', 'data-testid': 'template-description' }));
  const saveBtn = button('templateSave', 'template-save');
  saveBtn.addEventListener('click', () => {
    const name = nameInput.value.trim();
    if (!name) { setStatus(status, 'error', t('errRequired')); nameInput.focus(); return; }
    withFeedback({ button: saveBtn, status }, async () => {
      const entry = await saveTemplate(room, token, name, descInput.value.trim());
      nameInput.value = '';
      descInput.value = '';
      return t('templateSaved', { name: entry.name[getLang()] || name });
    });
  });
  const el = section('saveTemplate', 'template',
    h('p', { class: 'fac-help', i18n: { text: 'templateHelp' } }),
    h('div', { class: 'fac-field' }, h('label', { for: 'fac-template-name', i18n: { text: 'templateName' } }), nameInput),
    h('div', { class: 'fac-field' }, h('label', { for: 'fac-template-desc', i18n: { text: 'templateDescription' } }), descInput),
    h('div', { class: 'fac-row' }, saveBtn), status);
  return { el, open() {}, close() {}, dispose() {} };
}

/** Codes are matched like the server does: case-insensitive, without spaces and dashes. @param {string} s */
const normCode = (s) => s.replace(/[\s-]/g, '').toUpperCase();

/** @param {import('./sessions.js').SectionContext} ctx @returns {import('./sessions.js').PanelSection} */
export function createRoomDataSection({ room, token, board }) {
  const status = statusLine('data');
  const dataBtn = button('roomDataDownload', 'data-download');
  dataBtn.addEventListener('click', () => withFeedback({ button: dataBtn, status },
    () => download(dataPath(room), token, `koprade-${room}-data.json`)));
  const deleteBtn = button('roomDelete', 'room-delete', { class: 'btn btn-danger-outline' });
  deleteBtn.addEventListener('click', async () => {
    const code = board.getCode();
    const title = board.getTitle();
    const answer = await inputDialog({
      text: t('roomDeleteConfirm', { title }),
      label: code ? t('roomDeleteTypeCode', { code }) : t('roomDeleteTypeTitle'),
      okText: t('roomDeleteOk'),
      danger: true,
      testid: 'delete-dialog',
      titleKey: 'roomDelete',
      mustMatch: (v) => (!!code && normCode(v) === normCode(code)) || (!!title && v.trim() === title.trim()),
    });
    if (answer === null) return;
    const ok = await withFeedback({ button: deleteBtn, status, busy: t('roomDeleting') }, async () => {
      await deleteRoom(room, token);
      return t('roomDeletedNotice', { title });
    });
    if (ok) board.onDeleted(title);
  });
  const el = section('roomData', 'data',
    h('p', { class: 'fac-help', i18n: { text: 'roomDataHelp' } }),
    h('div', { class: 'fac-row' }, dataBtn),
    h('p', { class: 'fac-help fac-warn', i18n: { text: 'roomDeleteHelp' } }),
    h('div', { class: 'fac-row' }, deleteBtn), status);
  return { el, open() {}, close() {}, dispose() {} };
}
