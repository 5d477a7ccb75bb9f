/**
 * The board's toolbar: new card / new frame / select mode, card colours, delete / undo / redo,
 * zoom. Only builds the buttons; what they do comes in as `actions` (called at click time, so
 * the modules behind them may be created after the toolbar).
 */
import { h, icon } from '../dom.js';
import { t } from '../i18n/index.js';
import { CARD_COLORS, DEFAULT_CARD_COLOR } from './colors.js';

/**
 * @param {{
 *   newCard: () => void, newCluster: () => void, toggleSelectMode: () => void,
 *   pickColor: (color: string) => void, deleteSelected: () => void,
 *   undo: () => void, redo: () => void,
 *   zoomIn: () => void, zoomOut: () => void, zoomReset: () => void, zoomToFit: () => void,
 * }} actions
 */
export function createToolbar(actions) {
  /** @param {string} cls @param {string} iconName @param {string} labelKey @param {boolean} showText @param {() => void} onclick @param {string} testid */
  const toolBtn = (cls, iconName, labelKey, showText, onclick, testid) => h('button', {
    type: 'button', class: `btn tool ${cls}`, 'data-testid': testid, onclick,
    i18n: showText ? { title: labelKey } : { 'aria-label': labelKey, title: labelKey },
  }, icon(iconName), showText ? h('span', { i18n: { text: labelKey } }) : null);

  const newCardBtn = toolBtn('tool-primary', 'plus', 'newCard', true, () => actions.newCard(), 'tool-new-card');
  const newClusterBtn = h('button', {
    type: 'button', class: 'btn tool', 'data-testid': 'tool-new-cluster', onclick: () => actions.newCluster(),
    i18n: { 'aria-label': 'newClusterLabel', title: 'newClusterLabel' },
  }, icon('group'), h('span', { 'aria-hidden': 'true', i18n: { text: 'newCluster' } }));
  const selectBtn = h('button', {
    type: 'button', class: 'btn tool', 'aria-pressed': 'false', 'data-testid': 'tool-select',
    i18n: { 'aria-label': 'selectMode', title: 'selectModeLabel' },
    onclick: () => actions.toggleSelectMode(),
  }, icon('select'), h('span', { class: 'tool-label', 'aria-hidden': 'true', i18n: { text: 'selectMode' } }));
  const swatches = CARD_COLORS.map((c) => {
    const b = h('button', {
      type: 'button', class: 'btn swatch', 'data-color': c.value, 'data-testid': `color-${c.id}`,
      'aria-pressed': c.value === DEFAULT_CARD_COLOR ? 'true' : 'false',
      i18n: { 'aria-label': ['colorLabel', () => ({ color: t('colorNames')[c.id] })], title: ['colorLabel', () => ({ color: t('colorNames')[c.id] })] },
      onclick: () => actions.pickColor(c.value),
    }, h('span', { class: 'swatch-chip', 'aria-hidden': 'true' }));
    /** @type {HTMLElement} */ (b.firstElementChild).style.backgroundColor = c.value;
    return b;
  });
  const colorGroup = h('div', { class: 'tool-group swatches', role: 'group', i18n: { 'aria-label': 'color' } }, ...swatches);
  const deleteBtn = toolBtn('', 'trash', 'deleteSelected', false, () => actions.deleteSelected(), 'tool-delete');
  const undoBtn = toolBtn('', 'undo', 'undo', false, () => actions.undo(), 'tool-undo');
  const redoBtn = toolBtn('', 'redo', 'redo', false, () => actions.redo(), 'tool-redo');
  const zoomOutBtn = toolBtn('', 'zoomOut', 'zoomOut', false, () => actions.zoomOut(), 'tool-zoom-out');
  const zoomInBtn = toolBtn('', 'zoomIn', 'zoomIn', false, () => actions.zoomIn(), 'tool-zoom-in');
  const zoomLabel = h('button', { type: 'button', class: 'btn tool zoom-level', 'data-testid': 'zoom-level', onclick: () => actions.zoomReset() });
  const fitBtn = toolBtn('', 'fit', 'zoomFit', false, () => actions.zoomToFit(), 'tool-fit');

  const el = h('div', { class: 'toolbar', role: 'toolbar', 'aria-orientation': 'horizontal', i18n: { 'aria-label': 'toolbar' } },
    h('div', { class: 'tool-group' }, newCardBtn, newClusterBtn, selectBtn),
    colorGroup,
    h('div', { class: 'tool-group' }, deleteBtn, undoBtn, redoBtn),
    h('div', { class: 'tool-group' }, zoomOutBtn, zoomLabel, zoomInBtn, fitBtn));
  // the groups that edit the board (hidden for observers)
  const editTools = /** @type {HTMLElement[]} */ ([...el.querySelectorAll('.tool-group')].slice(0, 3));

  return { el, newCardBtn, newClusterBtn, selectBtn, swatches, deleteBtn, undoBtn, redoBtn, zoomLabel, editTools };
}
