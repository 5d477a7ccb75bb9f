/**
 * Participation insight in the facilitator panel (`GET /api/rooms/{room}/insight`): who wrote
 * how much, most active first, with a "connected" dot; the totals; the equality measure in plain
 * words ("The most active 25 % of participants wrote 60 % of the cards", "2 participants have
 * no card yet"); quiet participants highlighted so the facilitator can invite them in. In an
 * anonymous room the rows carry no names: only the distribution is shown. Refreshed every 15 s
 * while the panel is open, and on demand.
 */
import { h } from '../dom.js';
import { t, tn, onLang } from '../i18n/index.js';
import { roomInsight } from '../api.js';
import { withFeedback, commandErrorText } from './commands.js';
import { section, statusLine, button, setStatus } from './panelui.js';

export const INSIGHT_REFRESH_MS = 15000;

/** "45 s", "12 min", "1 h 5 min" @param {number} seconds */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t('durSeconds', { s });
  const m = Math.round(s / 60);
  if (m < 60) return t('durMinutes', { m });
  return t('durHours', { h: Math.floor(m / 60), m: m % 60 });
}

/**
 * The equality sentences of an insight.
 * @param {import('../api.js').Insight} data
 * @returns {{equality: string, balance: string, silent: string}}
 */
export function insightSentences(data) {
  const total = data.totals.participants;
  const eq = data.equality;
  let equality = '';
  let balance = '';
  if (!total) equality = t('insNoParticipants');
  else if (eq.topQuarterShare === null || !eq.quarterSize) equality = t('insNoCards');
  else {
    const n = eq.quarterSize;
    const pct = Math.round((100 * n) / total);
    const share = Math.round(100 * eq.topQuarterShare);
    equality = t('insEquality', { n, pct, share, total });
    // compared with everyone writing the same number of cards
    const ratio = eq.topQuarterShare / (n / total);
    if (total >= 2 && ratio >= 1.8) balance = t('insUneven');
    else if (total >= 2 && ratio <= 1.25) balance = t('insEven');
  }
  const silent = !total ? '' : data.totals.silent > 0 ? tn('insSilent', data.totals.silent) : t('insNoneSilent');
  return { equality, balance, silent };
}

/** @param {import('./sessions.js').SectionContext} ctx @returns {import('./sessions.js').PanelSection} */
export function createInsightSection({ room, token }) {
  const status = statusLine('insight');
  const refreshBtn = button('insightRefresh', 'insight-refresh');
  const summary = h('div', { class: 'ins-summary', 'data-testid': 'insight-summary', 'aria-live': 'polite' });
  const totalsEl = h('dl', { class: 'ins-totals', 'data-testid': 'insight-totals' });
  const anonNote = h('p', { class: 'fac-help ins-anon', 'data-testid': 'insight-anonymous', hidden: true, i18n: { text: 'insAnonymous' } });
  const list = h('ul', { class: 'ins-list', 'data-testid': 'insight-list' });
  /** @type {import('../api.js').Insight | null} */
  let data = null;
  let timer = 0;
  let busy = false;

  const fetchNow = async () => {
    data = await roomInsight(room, token);
    render();
  };
  /** Refresh on a timer: quiet unless it fails. */
  const poll = async () => {
    if (busy) return;
    busy = true;
    try { await fetchNow(); if (status.dataset.kind === 'error') setStatus(status, 'ok', ''); } catch (e) { setStatus(status, 'error', commandErrorText(e)); } finally { busy = false; }
  };
  refreshBtn.addEventListener('click', () => withFeedback({ button: refreshBtn, status }, async () => {
    await fetchNow();
    return t('insightUpdated', { time: new Date().toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }) });
  }));

  function render() {
    if (!data) return;
    const d = data;
    const s = insightSentences(d);
    summary.replaceChildren(...[
      h('p', { class: 'ins-equality', 'data-testid': 'insight-equality', text: s.equality }),
      s.balance ? h('p', { class: 'ins-balance', 'data-testid': 'insight-balance', text: s.balance }) : null,
      s.silent ? h('p', { class: `ins-silent${d.totals.silent > 0 ? ' warn' : ''}`, 'data-testid': 'insight-silent', text: s.silent }) : null,
    ].filter((x) => x !== null));
    /** @param {string} key @param {number} n @param {string} testid */
    const stat = (key, n, testid) => h('div', { class: 'ins-stat' }, h('dt', { text: t(key) }), h('dd', { 'data-testid': testid, text: String(n) }));
    totalsEl.replaceChildren(
      stat('insParticipants', d.totals.participants, 'insight-total-participants'),
      stat('insCards', d.totals.cards, 'insight-total-cards'),
      stat('insEdits', d.totals.edits, 'insight-total-edits'),
      stat('insVotes', d.totals.votes, 'insight-total-votes'));
    anonNote.hidden = !d.anonymous;
    const max = Math.max(1, ...d.participants.map((r) => r.cards));
    list.replaceChildren(...d.participants.map((r, i) => {
      const quiet = r.role === 'participant' && r.cards === 0 && !r.removed;
      const fill = h('span', { class: 'ins-bar-fill' });
      fill.style.width = `${Math.round((100 * r.cards) / max)}%`;
      const name = d.anonymous || !r.name ? t('insHiddenName', { n: i + 1 }) : r.name;
      const tags = [
        r.role === 'facilitator' ? t('role_facilitator') : '',
        r.removed ? t('personRemoved') : '',
      ].filter(Boolean).join(', ');
      const figures = [
        t('insRowCards', { n: r.cards }), t('insRowEdits', { n: r.edits }), t('insRowVotes', { n: r.votes }),
        t('insRowTime', { time: formatDuration(r.secondsActive) }),
      ].join(' · ');
      return h('li', {
        class: `ins-person${quiet ? ' quiet' : ''}${r.removed ? ' removed' : ''}`, 'data-testid': 'insight-person',
        'data-quiet': quiet ? 'true' : 'false', 'data-cards': String(r.cards), ...(r.participant ? { 'data-id': r.participant } : {}),
      },
      h('div', { class: 'ins-person-head' },
        d.anonymous ? null : h('span', { class: `online-dot${r.connected && !r.removed ? ' on' : ''}`, role: 'img', 'aria-label': t(r.connected ? 'online' : 'offline') }),
        h('span', { class: 'ins-name', 'data-testid': 'insight-name', text: name }),
        tags ? h('span', { class: 'ins-tags', text: tags }) : null,
        quiet ? h('span', { class: 'ins-quiet', 'data-testid': 'insight-quiet', text: t('insQuiet') }) : null),
      h('div', { class: 'ins-bar', 'aria-hidden': 'true' }, fill),
      h('div', { class: 'ins-figures', text: figures }));
    }));
    if (!d.participants.length) list.replaceChildren(h('li', { class: 'fac-empty', text: t('insNoParticipants') }));
  }

  const el = section('insight', 'insight',
    h('p', { class: 'fac-help', i18n: { text: 'insightHelp' } }),
    summary, totalsEl, anonNote, list,
    h('div', { class: 'fac-row' }, refreshBtn), status);
  const offLang = onLang(render);
  const stop = () => { clearInterval(timer); timer = 0; };
  return {
    el,
    open() {
      poll();
      if (!timer) timer = window.setInterval(poll, INSIGHT_REFRESH_MS);
    },
    close: stop,
    dispose() { stop(); offLang(); },
  };
}
