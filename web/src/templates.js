/**
 * The template picker of the start page's "create a workshop" form: `GET /api/templates`
 * (built-in methods first, then the lab's saved ones), names and descriptions in the UI
 * language, "empty board" by default, and a preview of the chosen template's frames
 * (`GET /api/templates/{id}?lang=`). The choice is sent as `template` + `lang` with
 * `POST /api/rooms`.
 */
import { h } from './dom.js';
import { t, onLang, getLang } from './i18n/index.js';
import { listTemplates, templatePreview } from './api.js';

/** @typedef {import('./api.js').TemplateEntry} TemplateEntry */

/** A template's text in the UI language (saved ones have the same words in both). @param {Record<string, string> | undefined} m */
export const localText = (m) => (m ? m[getLang()] || m.lv || m.en || '' : '');

/**
 * @param {{getKey: () => string}} opts the organizer key typed so far (saved templates are
 *   listed only with it when the server has one)
 */
export function createTemplatePicker({ getKey }) {
  const select = /** @type {HTMLSelectElement} */ (h('select', { id: 'create-template', class: 'input input-select', 'data-testid': 'template-select', 'aria-describedby': 'create-template-desc' }));
  const desc = h('p', { id: 'create-template-desc', class: 'hint template-desc', 'data-testid': 'template-desc' });
  const preview = h('div', { class: 'template-preview', 'data-testid': 'template-preview', hidden: true });
  const el = h('div', { class: 'field' },
    h('label', { for: 'create-template', i18n: { text: 'templatePick' } }), select, desc, preview);
  /** @type {TemplateEntry[]} */
  let entries = [];
  let failed = false;
  /** @type {Map<string, {cards: {id: string, text: string}[], clusters: {id: string, title: string}[]}>} */
  const previews = new Map();
  let seq = 0;

  function renderOptions() {
    const chosen = select.value;
    const empty = h('option', { value: '', text: t('templateEmpty') });
    const builtin = entries.filter((e) => e.builtin);
    const saved = entries.filter((e) => !e.builtin);
    /** @param {TemplateEntry} e */
    const option = (e) => h('option', { value: e.id, text: localText(e.name) || e.id });
    select.replaceChildren(empty);
    if (builtin.length) select.append(h('optgroup', { label: t('templatesBuiltin') }, ...builtin.map(option)));
    if (saved.length) select.append(h('optgroup', { label: t('templatesSaved') }, ...saved.map(option)));
    select.value = entries.some((e) => e.id === chosen) ? chosen : '';
  }

  async function renderChoice() {
    const id = select.value;
    const entry = entries.find((e) => e.id === id);
    if (!entry) {
      desc.textContent = failed ? t('templatesFailed') : t('templateEmptyHint');
      preview.hidden = true;
      preview.replaceChildren();
      return;
    }
    desc.textContent = localText(entry.description);
    const lang = getLang();
    const key = `${id}:${lang}`;
    const mine = ++seq;
    let board = previews.get(key);
    if (!board) {
      try {
        const res = await templatePreview(id, lang, getKey() || undefined);
        board = { cards: res.cards || [], clusters: res.clusters || [] };
        previews.set(key, board);
      } catch {
        board = { cards: [], clusters: [] };
      }
    }
    if (mine !== seq || select.value !== id) return; // another choice meanwhile
    const frames = board.clusters.map((c) => String(c.title || '').trim()).filter(Boolean);
    preview.replaceChildren(h('p', { class: 'template-preview-head', text: t('templatePreview', { frames: board.clusters.length, cards: board.cards.length }) }));
    if (frames.length) preview.append(h('ul', { class: 'template-frames', 'data-testid': 'template-frames' }, ...frames.map((f) => h('li', { text: f }))));
    if (entry.phases && entry.phases.length) preview.append(h('p', { class: 'template-phases', text: t('templatePhases', { phases: entry.phases.map((p) => t(`phase_${p}`)).join(' → ') }) }));
    preview.hidden = false;
  }

  async function load() {
    try {
      entries = await listTemplates(getKey() || undefined);
      failed = false;
    } catch {
      entries = [];
      failed = true;
    }
    renderOptions();
    renderChoice();
  }

  select.addEventListener('change', () => { renderChoice(); });
  onLang(() => { renderOptions(); renderChoice(); });
  load();
  return {
    el,
    /** the chosen template id, '' for an empty board */
    value: () => select.value,
    /** list again (an organizer key was typed: saved templates may be listed now) */
    reload: load,
  };
}
