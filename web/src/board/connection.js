/**
 * The board's connection to the server and what the user sees of it: the provider of the shared
 * document, the connection indicator (`data-state`, `data-pending`), reconnecting on the
 * browser's `online`, the warning before closing a tab with unsent changes, and the ways a
 * board ends:
 *
 * - fatal: the server said reconnecting cannot help (token, room, size; docs/protocol.md §3),
 *   or, in a `closing` message just before the close, that the facilitator removed this
 *   participant (`participant_removed`) or deleted the workshop (`room_deleted`);
 * - start over: the server refused an update (close 4409, after a `rejected` message); the
 *   document holds the refused change, so the board is mounted again with a fresh one.
 *
 * The private document's provider (silent brainstorming) is watched the same way (`watch`).
 */
import { h } from '../dom.js';
import { t } from '../i18n/index.js';
import { clearSession } from '../session.js';
import { KopradeProvider } from './provider.js';

/** Close codes after which reconnecting cannot help (docs/protocol.md section 3). */
const TERMINAL_CLOSE = new Set([4401, 4403, 4404, 1009]);
/**
 * "update rejected" (docs/facilitation.md): the document holds a change the server refused, so
 * reconnecting with it would be rejected again: start over with a fresh Y.Doc and provider.
 */
const REJECTED_CLOSE = 4409;

/** Reconnect after any close but the terminal ones and 4409. @param {CloseEvent} event */
export const shouldReconnect = (event) => !TERMINAL_CLOSE.has(event.code) && event.code !== REJECTED_CLOSE;

/**
 * @param {{
 *   wsUrl: string,
 *   room: string,
 *   token: string,
 *   doc: import('yjs').Doc,
 *   state: import('./meta.js').RoomState,
 *   priv: ReturnType<typeof import('./private.js').createPrivateBoard>,
 *   statusEl: HTMLElement,
 *   fatalEl: HTMLElement,
 *   getCode: () => string,
 *   lang: (fn: () => void) => void,
 *   onFatal: () => void,
 *   startOver: (notice: string) => void,
 *   onFirstSync: () => void,
 * }} opts `onFatal`: the board has ended (stop editing, close the panel); `startOver`: mount the
 *   board again with a fresh document, showing `notice`; `onFirstSync`: the board's content
 *   has arrived for the first time
 */
export function createConnection(opts) {
  const { room, doc, state, priv, statusEl, fatalEl } = opts;
  const provider = new KopradeProvider(opts.wsUrl, room, doc, {
    token: opts.token,
    shouldReconnect,
    onServerMessage: (msg) => state.receive(msg),
  });

  let everSynced = false;
  let pending = false;
  /** @type {string | null} */
  let fatal = null;
  let startingOver = false;

  doc.on('update', (/** @type {Uint8Array} */ _u, /** @type {any} */ origin) => {
    if (origin !== provider && !(provider.wsconnected && provider.synced)) {
      pending = true;
      updateStatus();
    }
  });
  priv.doc.on('update', (/** @type {Uint8Array} */ _u, /** @type {any} */ origin) => {
    if (origin !== priv.provider && !priv.synced) {
      pending = true;
      updateStatus();
    }
  });

  function updateStatus() {
    /** @type {string} */
    let st;
    if (fatal) st = 'fatal';
    else if (!navigator.onLine) st = 'offline';
    else if (provider.wsconnected && provider.synced && priv.synced) st = 'connected';
    else if (everSynced) st = 'reconnecting';
    else st = 'connecting';
    if (st === 'connected') pending = false;
    statusEl.dataset.state = st;
    statusEl.dataset.pending = pending ? 'true' : 'false';
    const label = {
      fatal: 'statusOffline', offline: 'statusOffline', connected: 'statusConnected',
      reconnecting: 'statusReconnecting', connecting: 'statusConnecting',
    }[st] || 'statusConnecting';
    const sub = pending && st !== 'connected' ? t('statusPending') : '';
    /** @type {HTMLElement} */ (statusEl.querySelector('.conn-text')).textContent = t(label);
    /** @type {HTMLElement} */ (statusEl.querySelector('.conn-sub')).textContent = sub;
    statusEl.title = sub ? `${t(label)}: ${sub}` : t(label);
  }
  opts.lang(updateStatus);

  provider.on('status', () => updateStatus());
  provider.on('sync', (/** @type {boolean} */ synced) => {
    if (synced && !everSynced) {
      everSynced = true;
      opts.onFirstSync();
    }
    updateStatus();
  });
  provider.on('closed', onClosed);

  /** Listen to the closes and the sync of another provider of this board. @param {KopradeProvider} p */
  function watch(p) {
    p.on('closed', onClosed);
    p.on('sync', () => updateStatus());
  }

  // The server says why, just before it closes the socket for good.
  const offClosing = state.on((kind) => {
    if (kind === 'closing' && state.closing) endFor(state.closing);
  });

  /**
   * End the board for a `closing` reason; false for a reason this client does not know (the
   * close code that follows decides then).
   * @param {string} reason
   */
  function endFor(reason) {
    if (reason === 'participant_removed') showRemoved();
    else if (reason === 'room_deleted') { if (fatal !== 'fatalRoomDeleted') showFatal('fatalRoomDeleted', 'home'); }
    else return false;
    return true;
  }

  /** Server closes that end this connection (of the board or the private document). @param {{code: number, reason: string}} ev */
  function onClosed(ev) {
    if (ev.code === REJECTED_CLOSE) startOver(ev.reason);
    else if (state.closing && endFor(state.closing)) { /* said by the `closing` message */ }
    else if (ev.code === 4401 || ev.code === 4403) showFatal('fatalToken', 'rejoin');
    else if (ev.code === 4404) showFatal('fatalRoom', 'reload');
    else if (ev.code === 1009) showFatal('fatalTooBig', 'reload');
  }

  // warn before closing the tab while changes have not reached the server yet
  const onBeforeUnload = (/** @type {BeforeUnloadEvent} */ ev) => {
    if (pending && !(provider.wsconnected && provider.synced && priv.synced)) {
      ev.preventDefault();
      ev.returnValue = '';
    }
  };
  const onOffline = () => { provider.disconnect(); priv.provider?.disconnect(); updateStatus(); };
  const onOnline = () => { if (!fatal) { provider.connect(); priv.provider?.connect(); } updateStatus(); };
  window.addEventListener('beforeunload', onBeforeUnload);
  window.addEventListener('offline', onOffline);
  window.addEventListener('online', onOnline);
  if (!navigator.onLine) provider.disconnect();

  /** @param {string} key @param {'rejoin' | 'reload' | 'home'} next what the user can do */
  function showFatal(key, next) {
    fatal = key;
    provider.disconnect();
    priv.provider?.disconnect();
    if (next !== 'reload') clearSession(room);
    const code = opts.getCode();
    const action = next === 'rejoin'
      ? h('a', { class: 'btn btn-primary', href: code ? `/join/${code}` : '/', i18n: { text: 'rejoin' } })
      : next === 'home'
        ? h('a', { class: 'btn btn-primary', href: '/', i18n: { text: 'toStart' } })
        : h('button', { type: 'button', class: 'btn btn-primary', i18n: { text: 'reload' }, onclick: () => location.reload() });
    fatalEl.replaceChildren(h('p', { i18n: { text: key } }), action);
    fatalEl.dataset.reason = key;
    fatalEl.hidden = false;
    opts.onFatal();
    updateStatus();
  }
  /** The facilitator removed this participant: the token no longer works. */
  function showRemoved() {
    if (fatal !== 'fatalRemoved') showFatal('fatalRemoved', 'home');
  }

  /**
   * The server refused an update (close 4409): explain why, then start over with a fresh
   * document and connection; the old document holds the refused change.
   * @param {string} closeReason
   */
  function startOver(closeReason) {
    if (startingOver || fatal) return;
    startingOver = true;
    // the rule in the user's language when we know it, else the server's own words
    const rule = state.rejected ? `rejectRule_${state.rejected.rule}` : '';
    const reason = (rule && t(rule) !== rule ? t(rule) : '')
      || (state.rejected && state.rejected.reason) || String(closeReason || '').replace(/^update rejected:\s*/i, '');
    const notice = reason ? t('rejectedNotice', { reason }) : t('rejectedNoticePlain');
    window.setTimeout(() => opts.startOver(notice), 0);
  }

  return {
    provider,
    watch,
    updateStatus,
    showFatal,
    showRemoved,
    /** The key of the message the board ended with, if it has. */
    get fatal() { return fatal; },
    dispose() {
      offClosing();
      window.removeEventListener('beforeunload', onBeforeUnload);
      window.removeEventListener('offline', onOffline);
      window.removeEventListener('online', onOnline);
      provider.destroy();
    },
  };
}
