/**
 * Follow-me (docs/facilitation.md "Follow-me"). While `meta.followMe` names this client's
 * participant, it publishes `viewport: {x, y, zoom}` (board coordinates of the view's centre) in
 * its awareness state, throttled. Every other client follows that viewport until its user stops
 * (the stop button, or panning/zooming by hand) and can follow again.
 */
import { h } from '../dom.js';
import { t, onLang } from '../i18n/index.js';

const PUBLISH_INTERVAL = 120; // ms

/**
 * @param {{
 *   state: import('./meta.js').RoomState,
 *   awareness: import('y-protocols/awareness').Awareness,
 *   vp: import('./viewport.js').Viewport,
 *   selfClientId: number,
 * }} opts
 */
export function createFollow({ state, awareness, vp, selfClientId }) {
  const text = h('span', { class: 'follow-text' });
  const btn = h('button', { type: 'button', class: 'btn follow-btn', 'data-testid': 'follow-toggle' });
  const el = h('div', { class: 'follow-chip', role: 'status', 'data-testid': 'follow', hidden: true }, text, btn);

  let stopped = false;
  let applying = false;
  /** the followMe value the user stopped following (a new follow-me starts following again) */
  let stoppedFor = /** @type {string | null} */ (null);
  let lastSent = 0;
  let sendTimer = 0;
  /** @type {string} */
  let lastApplied = '';

  const leading = () => !!state.followMe && state.followMe === state.me.id && !state.isObserver;

  function publish() {
    sendTimer = 0;
    lastSent = performance.now();
    const c = vp.center();
    awareness.setLocalStateField('viewport', { x: Math.round(c.x), y: Math.round(c.y), zoom: Math.round(vp.z * 1000) / 1000 });
  }

  /** Awareness state of the leader: by participant id, else (anonymous mode hides ids) the facilitator that publishes a viewport. */
  function leaderState() {
    const id = state.followMe;
    if (!id) return null;
    let fallback = null;
    for (const [clientId, st] of awareness.getStates()) {
      if (clientId === selfClientId || !st || !st.user) continue;
      const v = st.viewport;
      if (!v || !Number.isFinite(v.x) || !Number.isFinite(v.y) || !Number.isFinite(v.zoom)) continue;
      if (st.user.id === id) return st;
      if (st.user.role === 'facilitator') fallback = st;
    }
    return fallback;
  }

  function follow() {
    const st = leaderState();
    if (!st) return;
    const { x, y, zoom } = st.viewport;
    const key = `${x},${y},${zoom}`;
    if (key === lastApplied) return;
    lastApplied = key;
    applying = true;
    try { vp.centerOn(x, y, zoom); } finally { applying = false; }
  }

  function render() {
    const id = state.followMe;
    if (stoppedFor !== null && stoppedFor !== id) { stopped = false; stoppedFor = null; }
    const followerMode = !!id && !leading();
    el.hidden = !id;
    if (!id) {
      el.hidden = true;
    } else if (leading()) {
      text.textContent = t('followLeading');
      btn.hidden = true;
    } else {
      const st = leaderState();
      const name = st && st.user && st.user.name ? String(st.user.name).slice(0, 60) : t('facilitator');
      text.textContent = stopped ? t('followPaused', { name }) : t('following', { name });
      btn.hidden = false;
      btn.textContent = stopped ? t('followAgain') : t('followStop');
    }
    el.dataset.mode = !id ? 'off' : leading() ? 'leading' : stopped ? 'paused' : 'following';
    if (followerMode && !stopped) follow();
    // the leader publishes; everyone else clears a viewport they published earlier
    const cur = awareness.getLocalState();
    if (leading()) {
      if (!cur || !cur.viewport) publish();
    } else if (cur && cur.viewport) {
      awareness.setLocalStateField('viewport', null);
    }
  }

  btn.addEventListener('click', () => {
    stopped = !stopped;
    stoppedFor = stopped ? state.followMe : null;
    lastApplied = '';
    render();
  });

  /** Call on every viewport change: publishes as leader, stops following on manual moves. */
  function onViewportChange() {
    if (applying) return;
    if (leading()) {
      const now = performance.now();
      if (now - lastSent >= PUBLISH_INTERVAL) publish();
      else if (!sendTimer) sendTimer = window.setTimeout(publish, PUBLISH_INTERVAL - (now - lastSent));
      return;
    }
    if (state.followMe && !stopped && lastApplied) {
      stopped = true;
      stoppedFor = state.followMe;
      render();
    }
  }

  const onAwareness = () => { if (state.followMe) render(); };
  awareness.on('change', onAwareness);
  const off = state.on((kind) => { if (kind === 'meta' || kind === 'hello') render(); });
  const offLang = onLang(render);
  return {
    el,
    onViewportChange,
    get following() { return !!state.followMe && !leading() && !stopped; },
    dispose() {
      awareness.off('change', onAwareness);
      off();
      offLang();
      clearTimeout(sendTimer);
    },
  };
}
