/**
 * Snapshots in the facilitator panel (docs/protocol.md "Snapshots"): the list (newest first,
 * with time, author and kind — labels translated by `kind`, never the server's English auto
 * names), taking one by name, viewing one read-only (snapshotview.js), restoring it into the
 * live board, copying it into a new room for the next session, deleting it.
 */
import { h, icon } from '../dom.js';
import { t, onLang, getLang } from '../i18n/index.js';
import {
  listSnapshots, takeSnapshot, snapshotState, restoreSnapshot, duplicateSnapshot, deleteSnapshot,
} from '../api.js';
import { withFeedback, commandErrorText } from './commands.js';
import { confirmDialog, inputDialog } from './dialogs.js';
import { section, statusLine, button, setStatus } from './panelui.js';
import { openSnapshotView } from './snapshotview.js';

/**
 * What the board gives the panel's sessions sections.
 * @typedef {{
 *   host: HTMLElement,
 *   me: import('./meta.js').Me,
 *   getCode: () => string,
 *   getTitle: () => string,
 *   onDeleted: (title: string) => void,
 *   newCode?: () => Promise<void>,
 * }} BoardHooks
 */
/**
 * @typedef {{
 *   state: import('./meta.js').RoomState,
 *   room: string,
 *   token: string,
 *   board: BoardHooks,
 *   panel: {open: () => void, close: () => void},
 * }} SectionContext
 * @typedef {{el: HTMLElement, open: () => void, close: () => void, dispose: () => void}} PanelSection
 */

/** @typedef {import('../api.js').SnapshotEntry} SnapshotEntry */

const AUTO_NAME = /^(Before phase: |Session closed$|Before restoring: )/;

/** A phase's name in the UI language. @param {string | null} phase */
const phaseName = (phase) => (phase ? t(`phase_${phase}`) : '');

/**
 * A snapshot's name for people: a facilitator's own name as it is, automatic ones by kind.
 * @param {SnapshotEntry} e
 * @returns {string}
 */
export function snapshotLabel(e) {
  if (e.kind === 'phase') return e.phase ? t('snapName_phase', { phase: phaseName(e.phase) }) : t('snapName_phaseBare');
  if (e.kind === 'closed') return t('snapName_closed');
  if (e.kind === 'restore') {
    // "Before restoring: <name>": the restored snapshot's name, when a person gave it
    const inner = /^Before restoring: ([\s\S]*)$/.exec(e.name);
    return inner && inner[1] && !AUTO_NAME.test(inner[1]) ? t('snapName_restore', { name: inner[1] }) : t('snapName_restoreBare');
  }
  return e.name;
}

/** Date and time in the UI language. @param {string} iso */
export function formatWhen(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(getLang() === 'lv' ? 'lv-LV' : 'en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/** "24 Nov, 14:02 · Ilze · phase: Ideate" @param {SnapshotEntry} e */
const snapshotDetail = (e) => [formatWhen(e.created), e.authorName || '', e.phase ? t('snapPhase', { phase: phaseName(e.phase) }) : '']
  .filter(Boolean).join(' · ');

/** @param {SectionContext} ctx @returns {PanelSection} */
export function createSnapshotsSection({ state, room, token, board, panel }) {
  const status = statusLine('snapshots');
  const nameInput = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'fac-snapshot-name', maxlength: '200', autocomplete: 'off', 'data-testid': 'snapshot-name', i18n: { placeholder: 'snapshotNamePlaceholder' } }));
  const takeBtn = button('snapshotTake', 'snapshot-take', { class: 'btn btn-primary' });
  const list = h('ul', { class: 'fac-snapshots', 'data-testid': 'snapshot-list' });
  const dupResult = h('div', { class: 'fac-result', 'data-testid': 'dup-result', hidden: true });
  /** @type {SnapshotEntry[]} */
  let entries = [];
  let loaded = false;
  let isOpen = false;

  const load = async () => {
    entries = await listSnapshots(room, token);
    loaded = true;
    render();
  };
  const reload = () => load().catch((e) => setStatus(status, 'error', commandErrorText(e)));

  takeBtn.addEventListener('click', () => {
    const name = nameInput.value.trim();
    if (!name) { setStatus(status, 'error', t('errRequired')); nameInput.focus(); return; }
    withFeedback({ button: takeBtn, status }, async () => {
      const e = await takeSnapshot(room, token, name);
      nameInput.value = '';
      await load();
      return t('snapshotTaken', { name: snapshotLabel(e) });
    });
  });
  nameInput.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); takeBtn.click(); } });

  /** @type {{close: () => void} | null} the snapshot shown now */
  let viewer = null;
  let replacing = false;
  /** @param {SnapshotEntry} e @param {HTMLElement} btn */
  const view = (e, btn) => withFeedback({ button: btn, status }, async () => {
    const bytes = await snapshotState(room, token, e.id);
    if (viewer) { replacing = true; viewer.close(); replacing = false; }
    panel.close();
    viewer = openSnapshotView({
      host: board.host,
      state: bytes,
      title: () => snapshotLabel(e),
      detail: () => snapshotDetail(e),
      me: board.me,
      // back to the panel the snapshot was opened from
      onClose: () => { viewer = null; if (!replacing) panel.open(); },
    });
    return t('snapshotShown', { name: snapshotLabel(e) });
  });

  /** @param {SnapshotEntry} e @param {HTMLElement} btn */
  const restore = async (e, btn) => {
    if (!(await confirmDialog(t('snapshotRestoreConfirm', { name: snapshotLabel(e) }), t('snapshotRestore')))) return;
    await withFeedback({ button: btn, status }, async () => {
      const res = await restoreSnapshot(room, token, e.id);
      await load();
      return t('snapshotRestored', { name: snapshotLabel(res.restored || e), backup: snapshotLabel(res.backup) });
    });
  };

  /** @param {SnapshotEntry} e @param {HTMLElement} btn */
  const duplicate = async (e, btn) => {
    const title = await inputDialog({
      text: t('snapshotDuplicateText', { name: snapshotLabel(e) }),
      label: t('workshopTitle'),
      value: board.getTitle(),
      okText: t('snapshotDuplicateOk'),
      titleKey: 'snapshotDuplicate',
      testid: 'duplicate-dialog',
    });
    if (title === null) return;
    await withFeedback({ button: btn, status }, async () => {
      const res = await duplicateSnapshot(room, token, e.id, title);
      const open = h('a', { class: 'btn btn-primary', href: res.facilitator_url, target: '_blank', rel: 'noopener', 'data-testid': 'dup-open' },
        icon('leave'), h('span', { text: t('snapshotDuplicateOpen') }));
      const join = h('input', { class: 'input', readonly: true, value: res.join_url, 'aria-label': t('joinLink'), 'data-testid': 'dup-join' });
      dupResult.replaceChildren(
        h('p', { text: t('snapshotDuplicated', { title: res.title, code: res.code }) }),
        h('div', { class: 'fac-row fac-wrap' }, open),
        h('p', { class: 'fac-help', text: t('snapshotDuplicateJoin') }), join);
      dupResult.hidden = false;
      return t('snapshotDuplicatedShort', { title: res.title });
    });
  };

  /** @param {SnapshotEntry} e @param {HTMLElement} btn */
  const remove = async (e, btn) => {
    if (!(await confirmDialog(t('snapshotDeleteConfirm', { name: snapshotLabel(e) }), t('snapshotDelete')))) return;
    await withFeedback({ button: btn, status }, async () => {
      await deleteSnapshot(room, token, e.id);
      await load();
      return t('snapshotDeleted', { name: snapshotLabel(e) });
    });
  };

  function render() {
    if (!loaded) return;
    if (!entries.length) {
      list.replaceChildren(h('li', { class: 'fac-empty', text: t('snapshotsNone') }));
      return;
    }
    list.replaceChildren(...entries.map((e) => {
      const label = snapshotLabel(e);
      /** @param {string} key @param {string} testid @param {(e: SnapshotEntry, b: HTMLElement) => any} fn @param {string} [cls] */
      const act = (key, testid, fn, cls = 'btn btn-small') => {
        const b = h('button', { type: 'button', class: cls, 'data-testid': testid, text: t(key), 'aria-label': `${t(key)}: ${label}` });
        b.addEventListener('click', () => fn(e, b));
        return b;
      };
      const del = h('button', { type: 'button', class: 'btn btn-icon btn-small btn-danger-outline fac-snapshot-del', 'data-testid': 'snapshot-delete', 'aria-label': `${t('snapshotDelete')}: ${label}`, title: t('snapshotDelete') }, icon('trash'));
      del.addEventListener('click', () => remove(e, del));
      const kind = t(`snapKind_${e.kind}`);
      return h('li', { class: 'fac-snapshot', 'data-testid': 'snapshot', 'data-id': String(e.id), 'data-kind': e.kind },
        h('div', { class: 'fac-snapshot-head' },
          h('span', { class: 'fac-snapshot-name', 'data-testid': 'snapshot-label', text: label }),
          h('span', { class: `chip chip-${e.kind}`, text: kind === `snapKind_${e.kind}` ? e.kind : kind }), del),
        h('div', { class: 'fac-snapshot-meta', text: snapshotDetail(e) }),
        h('div', { class: 'fac-row fac-wrap fac-actions' },
          act('snapshotView', 'snapshot-open', view),
          act('snapshotRestore', 'snapshot-restore', restore),
          act('snapshotDuplicate', 'snapshot-duplicate', duplicate)));
    }));
  }

  const el = section('snapshots', 'snapshots',
    h('p', { class: 'fac-help', i18n: { text: 'snapshotsHelp' } }),
    h('div', { class: 'fac-field' }, h('label', { for: 'fac-snapshot-name', i18n: { text: 'snapshotName' } }), h('div', { class: 'fac-row' }, nameInput, takeBtn)),
    status, list, dupResult);

  // a phase change (or closing the room) takes a snapshot on the server: list it
  let lastPhase = state.phase;
  let phaseTimer = 0;
  const off = state.on((kind) => {
    if (kind !== 'meta' || state.phase === lastPhase) return;
    lastPhase = state.phase;
    if (!isOpen) return;
    clearTimeout(phaseTimer);
    phaseTimer = window.setTimeout(reload, 400);
  });
  const offLang = onLang(render);
  return {
    el,
    open() { isOpen = true; reload(); },
    close() { isOpen = false; },
    dispose() { off(); offLang(); clearTimeout(phaseTimer); if (viewer) { replacing = true; viewer.close(); } },
  };
}
