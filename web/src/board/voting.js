/**
 * Dot voting on the client (docs/facilitation.md "Dot voting"): a vote control on every card
 * while the room votes, the participant's own dots and remaining budget (server message `votes`
 * and the command responses), and the results the server writes into the `votes` map (count
 * badges on cards, a ranked list for the facilitator panel).
 */
import { h } from '../dom.js';
import { t, onLang } from '../i18n/index.js';
import { commandErrorText } from './commands.js';

/**
 * @param {{
 *   state: import('./meta.js').RoomState,
 *   run: (body: {command: string} & Record<string, any>) => Promise<Record<string, any>>,
 *   notify: (text: string, kind?: string) => void,
 * }} opts
 */
export function createVoting({ state, run, notify }) {
  const chipLong = h('span', { class: 'votes-long', 'data-testid': 'votes-left' });
  const chipShort = h('span', { class: 'votes-short', 'aria-hidden': 'true' });
  const chip = h('div', { class: 'votes-chip', 'data-testid': 'votes-chip', role: 'status', hidden: true },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), chipLong, chipShort);
  /** @type {Set<string>} cards with a vote request on the way */
  const busy = new Set();

  function renderChip() {
    const show = state.phase === 'vote' && !state.isObserver && state.remaining !== null;
    chip.hidden = !show;
    if (!show) return;
    const budget = state.budget ?? state.voting.perParticipant;
    const left = /** @type {number} */ (state.remaining);
    chipLong.textContent = t('votesLeft', { left, budget });
    chipShort.textContent = t('votesLeftShort', { left, budget });
    chip.title = chipLong.textContent;
    chip.dataset.left = String(left);
    chip.classList.toggle('empty', left <= 0);
  }

  /** @param {string} card @param {1 | -1} dir @param {HTMLElement} btn */
  async function cast(card, dir, btn) {
    if (busy.has(card)) return;
    busy.add(card);
    btn.setAttribute('aria-busy', 'true');
    try {
      const res = await run({ command: dir > 0 ? 'vote' : 'unvote', card });
      state.setVotes(res);
    } catch (e) {
      notify(commandErrorText(e), 'error');
    } finally {
      busy.delete(card);
      btn.removeAttribute('aria-busy');
    }
  }

  /**
   * Build or update the vote row of one card.
   * @param {string} id card id
   * @param {HTMLElement} box the card's `.card-votes` element
   * @param {boolean} isPrivate private cards cannot be voted on
   */
  function renderCard(id, box, isPrivate) {
    const canVote = state.canVote() && !isPrivate;
    const mine = state.mine[id] || 0;
    const tally = state.tally(id);
    const showTally = tally !== null;
    if (!canVote && !showTally && !mine) {
      if (box.firstChild) box.replaceChildren();
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const signature = JSON.stringify([canVote, mine, tally, state.remaining, state.voting.perCard, t('you')]);
    if (box.dataset.sig === signature) return;
    box.dataset.sig = signature;
    const parts = [];
    if (mine > 0 || canVote) {
      const dots = h('span', { class: 'vote-dots', 'data-testid': 'my-dots', 'data-count': String(mine), role: 'img', 'aria-label': t('myVotesOnCard', { n: mine }) },
        ...Array.from({ length: mine }, () => h('span', { class: 'dot', 'aria-hidden': 'true' })));
      parts.push(dots);
    }
    if (canVote) {
      const add = h('button', {
        type: 'button', class: 'btn card-vote-btn vote-add', 'data-testid': 'vote-add',
        'aria-label': t('voteAdd'), title: t('voteAdd'), text: '+',
      });
      /** @type {HTMLButtonElement} */ (add).disabled = state.remaining === 0 || mine >= state.voting.perCard;
      add.addEventListener('click', (ev) => { ev.stopPropagation(); cast(id, 1, add); });
      const remove = h('button', {
        type: 'button', class: 'btn card-vote-btn vote-remove', 'data-testid': 'vote-remove',
        'aria-label': t('voteRemove'), title: t('voteRemove'), text: '−',
      });
      /** @type {HTMLButtonElement} */ (remove).disabled = mine === 0;
      remove.addEventListener('click', (ev) => { ev.stopPropagation(); cast(id, -1, remove); });
      parts.push(add, remove);
    }
    if (showTally) {
      parts.push(h('span', { class: 'vote-tally', 'data-testid': 'vote-tally', 'data-count': String(tally), title: t('tallyLabel', { n: tally }), 'aria-label': t('tallyLabel', { n: tally }) }, String(tally)));
    }
    box.replaceChildren(...parts);
  }

  /**
   * Ranked results (highest first) into an <ol>.
   * @param {HTMLElement} list
   * @param {(id: string) => string} cardText
   */
  function renderResults(list, cardText) {
    const rows = state.results();
    if (!rows.length) {
      list.replaceChildren(h('li', { class: 'results-empty', text: state.voting.hidden && state.voting.state === 'open' ? t('resultsHidden') : t('resultsNone') }));
      return;
    }
    list.replaceChildren(...rows.map(([id, n]) => h('li', { class: 'result', 'data-testid': 'result', 'data-id': id },
      h('span', { class: 'result-text', text: cardText(id) || t('cardLabelEmpty') }),
      h('span', { class: 'result-count', text: t('tallyLabel', { n }) }))));
  }

  const offLang = onLang(renderChip);
  const off = state.on(renderChip);
  return { chip, renderCard, renderResults, dispose: () => { off(); offLang(); } };
}
