/**
 * The phase banner everyone sees (current phase and what one can do now, with lock, closed,
 * silent-brainstorming and read-only indicators) and short notices (toasts) for errors and
 * explanations.
 */
import { h, icon } from '../dom.js';
import { t, onLang } from '../i18n/index.js';

/**
 * @param {import('./meta.js').RoomState} state
 * @param {HTMLElement[]} extras elements shown at the end of the banner (follow-me chip)
 */
export function createPhaseBanner(state, extras = []) {
  const name = h('strong', { class: 'phase-name', 'data-testid': 'phase-name' });
  const hint = h('span', { class: 'phase-hint', 'data-testid': 'phase-hint' });
  const flags = h('span', { class: 'phase-flags' });
  const el = h('div', { class: 'phase-banner', role: 'status', 'data-testid': 'phase-banner', 'aria-live': 'polite' },
    h('span', { class: 'phase-main' }, name, h('span', { class: 'phase-sep', 'aria-hidden': 'true', text: ' — ' }), hint),
    flags, ...extras);

  /** @param {string} iconName @param {string} text @param {string} testid @param {string} [cls] */
  const flag = (iconName, text, testid, cls = '') => h('span', { class: `flag ${cls}`, 'data-testid': testid }, icon(iconName), h('span', { text }));

  function render() {
    const phase = state.phase;
    el.dataset.phase = phase;
    name.textContent = t(`phase_${phase}`);
    let key = `phaseHint_${phase}`;
    if (state.isObserver) key = 'phaseHintObserver';
    else if (state.isFacilitator) key = 'phaseHintFacilitator';
    else if (state.locked) key = 'phaseHintLocked';
    else if (state.writesPrivately && state.canAdd()) key = 'phaseHintPrivate';
    hint.textContent = t(key, { hint: t(`phaseHint_${phase}`) });
    const list = [];
    if (state.locked) list.push(flag('lock', t('flagLocked'), 'flag-locked', 'flag-warn'));
    if (phase === 'closed') list.push(flag('lock', t('flagClosed'), 'flag-closed', 'flag-warn'));
    if (state.privateMode) list.push(flag('eyeOff', t('flagPrivate'), 'flag-private'));
    if (state.isObserver) list.push(flag('eye', t('flagObserver'), 'flag-observer'));
    else if (!state.isFacilitator && !state.editOthers && state.participantMay('edit')) list.push(flag('edit', t('flagOwnOnly'), 'flag-own-only'));
    if (state.anonymous) list.push(flag('mask', t('flagAnonymous'), 'flag-anonymous'));
    flags.replaceChildren(...list);
    el.classList.toggle('frozen', !state.isFacilitator && state.frozen);
  }
  const off = state.on((kind) => { if (kind === 'meta' || kind === 'hello') render(); });
  const offLang = onLang(render);
  return { el, dispose: () => { off(); offLang(); } };
}

/** Toast notices at the top of the board. */
export function createNotices() {
  const el = h('div', { class: 'notices', 'data-testid': 'notices' });
  /**
   * @param {string} text
   * @param {string} [kind] 'info' | 'error' | 'warn'
   * @param {{sticky?: boolean, testid?: string}} [opts] sticky notices stay until closed
   */
  function notify(text, kind = 'info', opts = {}) {
    const close = h('button', { type: 'button', class: 'btn btn-icon btn-ghost notice-close', i18n: { 'aria-label': 'close', title: 'close' } }, icon('close'));
    const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': opts.testid || 'notice' },
      h('p', { text }), close);
    const remove = () => item.remove();
    close.addEventListener('click', remove);
    // the same text twice in a row: keep one
    for (const old of el.querySelectorAll('.toast')) if (old.textContent === item.textContent) old.remove();
    el.append(item);
    while (el.children.length > 3) /** @type {Element} */ (el.firstElementChild).remove();
    if (!opts.sticky) window.setTimeout(remove, 7000);
  }
  return { el, notify };
}
