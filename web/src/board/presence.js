/**
 * Presence: who is on the board (the header's people list) and where their pointers are (live
 * cursors), from the provider's awareness; and this client's own awareness entry
 * `{user: {name, color, id, role}, cursor: {x, y} | null}` (cursor in board coordinates,
 * throttled to one update per CURSOR_INTERVAL).
 *
 * In an anonymous room the server relays every state under an alias with a number and no colour
 * or name (docs/protocol.md), including our own: that one is recognised and shown once, as "you".
 */
import { h } from '../dom.js';
import { t } from '../i18n/index.js';
import { userColor } from './colors.js';

const CURSOR_INTERVAL = 50; // ms between awareness cursor updates

/**
 * @param {{
 *   provider: import('./provider.js').KopradeProvider,
 *   me: import('./meta.js').Me,
 *   state: import('./meta.js').RoomState,
 *   vp: import('./viewport.js').Viewport,
 *   presenceEl: HTMLElement,
 *   presenceList: HTMLElement,
 *   cursorLayer: HTMLElement,
 *   lang: (fn: () => void) => void,
 * }} opts `lang`: run on every language change (until the board is unmounted)
 */
export function createPresence({ provider, me, state, vp, presenceEl, presenceList, cursorLayer, lang }) {
  const awareness = provider.awareness;
  awareness.setLocalState({
    user: { name: me.name || t(me.role === 'facilitator' ? 'facilitatorDefaultName' : 'you'), color: userColor(me.id), id: me.id, role: me.role },
    cursor: null,
  });

  provider.on('status', (/** @type {{status: string}} */ ev) => {
    if (ev.status === 'connected') {
      // Re-announce ourselves with a higher awareness clock: peers that dropped our state while
      // we were away ignore a re-sent state with an unchanged clock.
      const st = awareness.getLocalState();
      if (st) awareness.setLocalState({ ...st });
    } else if (ev.status === 'disconnected') {
      // y-websocket dropped the others' states; forget their clocks too, so that their current
      // (unchanged) states are accepted again when the server re-sends them after reconnecting.
      for (const id of [...awareness.meta.keys()]) {
        if (id !== awareness.clientID && !awareness.states.has(id)) awareness.meta.delete(id);
      }
    }
  });

  // ------------------------------------------------------------------ own cursor
  let lastCursorSent = 0;
  let cursorTimer = 0;
  /** @type {{x: number, y: number} | null} */
  let pendingCursor = null;
  /** @param {{x: number, y: number} | null} c null: the pointer left (or a finger lifted) */
  function setCursor(c) {
    pendingCursor = c;
    const now = performance.now();
    const send = () => {
      cursorTimer = 0;
      lastCursorSent = performance.now();
      const cur = awareness.getLocalState();
      if (!cur) return;
      awareness.setLocalStateField('cursor', pendingCursor);
    };
    if (c === null) { clearTimeout(cursorTimer); send(); return; }
    if (now - lastCursorSent >= CURSOR_INTERVAL) send();
    else if (!cursorTimer) cursorTimer = window.setTimeout(send, CURSOR_INTERVAL - (now - lastCursorSent));
  }
  /** @param {PointerEvent} ev */
  function sendCursor(ev) {
    const p = vp.toBoard(ev.clientX, ev.clientY);
    setCursor({ x: Math.round(p.x), y: Math.round(p.y) });
  }

  // ------------------------------------------------------------------ the others
  /** @type {Map<number, HTMLElement>} */
  const cursorEls = new Map();
  let lastPresence = '';
  const getLangTag = () => t('you');
  /** @param {unknown} c */
  const safeUserColor = (c) => (typeof c === 'string' && /^#[0-9a-f]{6}$/i.test(c) ? c : '#37474f');
  /**
   * Anonymous states carry no color (it would tell who was who before the switch): derive one
   * from the alias, as for our own color from our id. @param {any} u an awareness `user`
   */
  const presenceColor = (u) => (u.color ? safeUserColor(u.color) : userColor(String(u.id || '')));
  /** @param {any} u an awareness `user` */
  const isMe = (u) => u.id === me.id || state.isOwnPresence(u);
  /**
   * The name shown for an awareness `user`: in an anonymous room a numbered neutral label in the
   * UI language ("Dalībnieks 3"), else the name the server bound from the token.
   * @param {any} u
   */
  const presenceName = (u) => (Number.isInteger(u.number)
    ? t(u.role === 'observer' ? 'anonObserver' : 'anonParticipant', { n: u.number })
    : String(u.name || '?').slice(0, 60));

  function render() {
    const states = awareness.getStates();
    /** @type {Map<string, {name: string, color: string, self: boolean, role: string, number: number | null}>} */
    const people = new Map();
    for (const [clientId, st] of states) {
      const u = st && st.user;
      if (!u) continue;
      const local = clientId === awareness.clientID;
      // In an anonymous room the server relays our own state back under an alias: one entry.
      const self = local || isMe(u);
      const pid = self ? '\u0000self' : String(u.id || `c${clientId}`);
      const prev = people.get(pid);
      if (prev && !local) continue;
      const shown = self && me.presence && me.presence.number !== null ? { ...u, id: me.presence.id, color: null, number: me.presence.number, role: me.role } : u;
      people.set(pid, { name: presenceName(shown), color: presenceColor(shown), self, role: String(u.role || ''), number: Number.isInteger(shown.number) ? shown.number : null });
    }
    const list = [...people.values()].sort((a, b) => (a.self === b.self ? a.name.localeCompare(b.name) : a.self ? -1 : 1));
    const signature = JSON.stringify([getLangTag(), list]);
    if (signature !== lastPresence) {
      lastPresence = signature;
      renderPeople(list);
    }
    renderCursors(states);
  }

  /** @param {{name: string, color: string, self: boolean, role: string, number: number | null}[]} list */
  function renderPeople(list) {
    presenceList.replaceChildren(...list.map((p) => {
      const dot = h('span', { class: 'avatar', 'aria-hidden': 'true', text: p.number !== null ? String(p.number) : (p.name.trim()[0] || '?').toUpperCase() });
      dot.style.backgroundColor = p.color;
      const extra = [p.self ? t('you') : '', p.role === 'facilitator' ? t('facilitator') : ''].filter(Boolean).join(', ');
      const li = h('li', { class: `person${p.self ? ' self' : ''}`, 'data-testid': 'person' },
        dot, h('span', { class: 'person-name', text: p.name }), extra ? h('span', { class: 'person-extra', text: `(${extra})` }) : null);
      li.title = extra ? `${p.name} (${extra})` : p.name;
      return li;
    }));
    /** @type {HTMLElement} */ (presenceEl.querySelector('.presence-count')).textContent = t('peopleCount', { n: list.length });
  }

  /** Live cursors of the others. @param {Map<number, any>} states */
  function renderCursors(states) {
    const seen = new Set();
    for (const [clientId, st] of states) {
      if (clientId === awareness.clientID || !st || !st.user || !st.cursor || state.isOwnPresence(st.user)) continue;
      const { x, y } = st.cursor;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      seen.add(clientId);
      let el = cursorEls.get(clientId);
      if (!el) {
        const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
        svg.setAttribute('viewBox', '0 0 16 16');
        svg.setAttribute('class', 'cursor-arrow');
        const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
        path.setAttribute('d', 'M1 1l5 14 2-6 6-2z');
        svg.append(path);
        el = h('div', { class: 'cursor', 'data-testid': 'cursor' }, svg, h('span', { class: 'cursor-name' }));
        cursorLayer.append(el);
        cursorEls.set(clientId, el);
      }
      const color = presenceColor(st.user);
      el.style.transform = `translate(${x}px, ${y}px)`;
      el.style.color = color;
      const nameEl = /** @type {HTMLElement} */ (el.querySelector('.cursor-name'));
      nameEl.textContent = presenceName(st.user);
      nameEl.style.backgroundColor = color;
    }
    for (const [clientId, el] of cursorEls) {
      if (!seen.has(clientId)) { el.remove(); cursorEls.delete(clientId); }
    }
  }

  awareness.on('change', render);
  lang(render);

  return {
    setCursor,
    sendCursor,
    /**
     * Who this client is changed (server `hello`, room summary): publish it.
     * @param {{id: string, name: string, role: string}} who
     */
    announce(who) {
      const st = awareness.getLocalState();
      if (st) awareness.setLocalState({ ...st, user: { ...st.user, id: who.id, name: who.name || st.user.name, role: who.role } });
    },
    dispose() { clearTimeout(cursorTimer); },
  };
}
