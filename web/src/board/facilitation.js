/**
 * The facilitator panel: a drawer opened from the header (role `facilitator` only) with every
 * command of docs/facilitation.md — phases, timer, voting, room switches, silent brainstorming,
 * participants, rename and co-facilitator invites — and the sessions features of docs/protocol.md
 * in their own modules: participation insight (insight.js), snapshots (sessions.js), exports,
 * templates and the room's data (exports.js). Every action shows progress and its result or
 * error in the section's status line.
 */
import { h, icon } from '../dom.js';
import { t, onLang } from '../i18n/index.js';
import { listParticipants, createInvite } from '../api.js';
import { withFeedback, commandErrorText } from './commands.js';
import { confirmDialog } from './dialogs.js';
import { formatClock } from './timer.js';
import { section, statusLine, button } from './panelui.js';
import { createInsightSection } from './insight.js';
import { createSnapshotsSection } from './sessions.js';
import { createExportSection, createTemplateSection, createRoomDataSection } from './exports.js';

/**
 * @param {{
 *   state: import('./meta.js').RoomState,
 *   run: (body: {command: string} & Record<string, any>) => Promise<Record<string, any>>,
 *   room: string,
 *   token: string,
 *   cardText: (id: string) => string,
 *   voting: ReturnType<typeof import('./voting.js').createVoting>,
 *   board: import('./sessions.js').BoardHooks,
 * }} opts
 */
export function createFacilitationPanel({ state, run, room, token, cardText, voting, board }) {
  /** @type {(() => void)[]} */
  const renders = [];
  /**
   * A switch bound to a boolean of the room state.
   * @param {string} labelKey @param {string} testid @param {() => boolean} get @param {(on: boolean) => Promise<any>} set @param {HTMLElement} status
   */
  const toggle = (labelKey, testid, get, set, status) => {
    const input = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', role: 'switch', class: 'switch-input', 'data-testid': testid }));
    const label = h('label', { class: 'switch' }, input, h('span', { class: 'switch-track', 'aria-hidden': 'true' }), h('span', { i18n: { text: labelKey } }));
    input.addEventListener('change', async () => {
      const want = input.checked;
      const ok = await withFeedback({ button: input, status }, async () => { await set(want); return t(want ? 'switchedOn' : 'switchedOff', { what: t(labelKey) }); });
      if (!ok) input.checked = get();
    });
    renders.push(() => { if (document.activeElement !== input || input.getAttribute('aria-busy') !== 'true') input.checked = get(); });
    return label;
  };

  // ------------------------------------------------------------------ phases
  const phaseStatus = statusLine('phase');
  const phaseNow = h('strong', { class: 'fac-phase-now', 'data-testid': 'fac-phase-now' });
  const prevBtn = h('button', { type: 'button', class: 'btn btn-icon', 'data-testid': 'phase-prev', i18n: { 'aria-label': 'phasePrev', title: 'phasePrev' } }, icon('chevronLeft'));
  const nextBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'phase-next', i18n: { title: 'phaseNext' } }, h('span', { i18n: { text: 'phaseNext' } }), icon('chevronRight'));
  const phaseList = h('div', { class: 'fac-phase-list', role: 'group', i18n: { 'aria-label': 'phases' } });
  /** @param {string} phase @param {HTMLElement | null} btn */
  const setPhase = (phase, btn) => withFeedback({ button: btn, status: phaseStatus }, async () => {
    await run({ command: 'set_phase', phase });
    return t('phaseSet', { phase: t(`phase_${phase}`) });
  }).then(renderAll);
  /** @param {number} d */
  const step = (d) => {
    const ps = state.phases;
    const i = ps.indexOf(state.phase);
    const next = ps[i + d];
    if (next) setPhase(next, d < 0 ? prevBtn : nextBtn);
  };
  prevBtn.addEventListener('click', () => step(-1));
  nextBtn.addEventListener('click', () => step(1));
  renders.push(() => {
    const ps = state.phases;
    const i = ps.indexOf(state.phase);
    phaseNow.textContent = t(`phase_${state.phase}`);
    /** @type {HTMLButtonElement} */ (prevBtn).disabled = i <= 0;
    /** @type {HTMLButtonElement} */ (nextBtn).disabled = i < 0 || i >= ps.length - 1;
    phaseList.replaceChildren(...ps.map((p, n) => {
      const b = h('button', {
        type: 'button', class: 'btn fac-phase', 'data-testid': `phase-${p}`, 'aria-pressed': p === state.phase ? 'true' : 'false',
      }, h('span', { class: 'fac-phase-num', 'aria-hidden': 'true', text: String(n + 1) }), h('span', { text: t(`phase_${p}`) }));
      b.addEventListener('click', () => { if (p !== state.phase) setPhase(p, b); });
      return b;
    }));
  });
  const phaseSection = section('phase', 'phase',
    h('div', { class: 'fac-row fac-phase-step' }, prevBtn, phaseNow, nextBtn), phaseList, phaseStatus);

  // ------------------------------------------------------------------ timer
  const timerStatus = statusLine('timer');
  const timerNow = h('span', { class: 'fac-timer-now', 'data-testid': 'fac-timer-now' });
  const minutes = /** @type {HTMLInputElement} */ (h('input', { type: 'number', class: 'input input-small', id: 'fac-minutes', min: '1', max: '1440', step: '1', value: '5', inputmode: 'numeric', 'data-testid': 'timer-minutes' }));
  const startBtn = button('timerStart', 'timer-start', { class: 'btn btn-primary' });
  const pauseBtn = button('timerPause', 'timer-pause');
  const addBtn = button('timerAddMinute', 'timer-add');
  const stopBtn = button('timerStop', 'timer-stop');
  /** @param {HTMLElement} btn @param {Record<string, any>} args @param {string} okKey */
  const timerCmd = (btn, args, okKey) => withFeedback({ button: btn, status: timerStatus }, async () => {
    await run({ command: 'timer', ...args });
    return t(okKey);
  }).then(renderAll);
  startBtn.addEventListener('click', () => {
    const m = Number(minutes.value);
    if (!Number.isFinite(m) || m <= 0 || m > 1440) {
      timerStatus.dataset.kind = 'error';
      timerStatus.textContent = t('timerMinutesInvalid');
      minutes.focus();
      return;
    }
    timerCmd(startBtn, { action: 'start', seconds: Math.round(m * 60) }, 'timerStarted');
  });
  pauseBtn.addEventListener('click', () => {
    const paused = state.timer.state === 'paused';
    timerCmd(pauseBtn, { action: paused ? 'resume' : 'pause' }, paused ? 'timerResumed' : 'timerPausedDone');
  });
  addBtn.addEventListener('click', () => timerCmd(addBtn, { action: 'add', seconds: 60 }, 'timerAdded'));
  stopBtn.addEventListener('click', () => timerCmd(stopBtn, { action: 'stop' }, 'timerStopped'));
  let timerTick = 0;
  const renderTimer = () => {
    const tm = state.timer;
    const rem = state.timerRemaining();
    timerNow.textContent = tm.state === 'stopped' ? t('timerIdle') : `${t(tm.state === 'paused' ? 'timerPaused' : 'timerRunning')} ${formatClock(rem || 0)}`;
    pauseBtn.textContent = t(tm.state === 'paused' ? 'timerResume' : 'timerPause');
    /** @type {HTMLButtonElement} */ (pauseBtn).disabled = tm.state === 'stopped';
    /** @type {HTMLButtonElement} */ (addBtn).disabled = tm.state === 'stopped';
    /** @type {HTMLButtonElement} */ (stopBtn).disabled = tm.state === 'stopped';
    const need = tm.state === 'running' && !panel.hidden;
    if (need && !timerTick) timerTick = window.setInterval(renderTimer, 500);
    if (!need && timerTick) { clearInterval(timerTick); timerTick = 0; }
  };
  renders.push(renderTimer);
  const timerSection = section('timer', 'timer',
    timerNow,
    h('div', { class: 'fac-row' }, h('label', { for: 'fac-minutes', i18n: { text: 'timerMinutes' } }), minutes, startBtn),
    h('div', { class: 'fac-row fac-wrap' }, pauseBtn, addBtn, stopBtn), timerStatus);

  // ------------------------------------------------------------------ voting
  const voteStatus = statusLine('voting');
  const perParticipant = /** @type {HTMLInputElement} */ (h('input', { type: 'number', class: 'input input-small', id: 'fac-per-participant', min: '1', max: '100', 'data-testid': 'vote-per-participant' }));
  const perCard = /** @type {HTMLInputElement} */ (h('input', { type: 'number', class: 'input input-small', id: 'fac-per-card', min: '1', max: '100', 'data-testid': 'vote-per-card' }));
  const anonVotes = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'fac-vote-anon', 'data-testid': 'vote-anonymous' }));
  const hiddenVotes = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'fac-vote-hidden', 'data-testid': 'vote-hidden' }));
  const saveVoting = button('votingSave', 'voting-save');
  const voteState = h('p', { class: 'fac-vote-state', 'data-testid': 'fac-vote-state' });
  const closeVote = button('voteClose', 'vote-close', { class: 'btn btn-primary' });
  const reopenVote = button('voteReopen', 'vote-reopen');
  const resetVotes = button('voteReset', 'vote-reset', { class: 'btn btn-danger-outline' });
  const results = h('ol', { class: 'fac-results', 'data-testid': 'results' });
  saveVoting.addEventListener('click', () => withFeedback({ button: saveVoting, status: voteStatus }, async () => {
    await run({
      command: 'voting',
      perParticipant: Math.round(Number(perParticipant.value)),
      perCard: Math.round(Number(perCard.value)),
      anonymous: anonVotes.checked,
      hidden: hiddenVotes.checked,
    });
    return t('votingSaved');
  }).then(renderAll));
  closeVote.addEventListener('click', () => withFeedback({ button: closeVote, status: voteStatus }, async () => {
    await run({ command: 'close_vote' });
    return t('voteClosedDone');
  }).then(renderAll));
  reopenVote.addEventListener('click', () => withFeedback({ button: reopenVote, status: voteStatus }, async () => {
    await run({ command: 'reopen_vote' });
    return t('voteReopenedDone');
  }).then(renderAll));
  resetVotes.addEventListener('click', async () => {
    if (!(await confirmDialog(t('voteResetConfirm'), t('voteReset')))) return;
    await withFeedback({ button: resetVotes, status: voteStatus }, async () => {
      await run({ command: 'reset_votes' });
      return t('voteResetDone');
    });
    renderAll();
  });
  renders.push(() => {
    const v = state.voting;
    if (document.activeElement !== perParticipant) perParticipant.value = String(v.perParticipant);
    if (document.activeElement !== perCard) perCard.value = String(v.perCard);
    anonVotes.checked = v.anonymous;
    hiddenVotes.checked = v.hidden;
    const open = v.state === 'open';
    voteState.textContent = state.phase !== 'vote' ? t('voteStateNotPhase', { state: t(open ? 'voteStateOpen' : 'voteStateClosed') }) : t(open ? 'voteStateOpen' : 'voteStateClosed');
    voteState.dataset.state = v.state;
    /** @type {HTMLButtonElement} */ (closeVote).disabled = !open;
    /** @type {HTMLButtonElement} */ (reopenVote).disabled = open;
    voting.renderResults(results, cardText);
  });
  const numField = (/** @type {string} */ key, /** @type {HTMLElement} */ input) => h('div', { class: 'fac-field' }, h('label', { for: input.id, i18n: { text: key } }), input);
  const checkField = (/** @type {string} */ key, /** @type {HTMLElement} */ input) => h('label', { class: 'fac-check', for: input.id }, input, h('span', { i18n: { text: key } }));
  const votingSection = section('voting', 'voting',
    h('div', { class: 'fac-grid' }, numField('votesPerParticipant', perParticipant), numField('votesPerCard', perCard)),
    checkField('votesAnonymous', anonVotes), checkField('votesHidden', hiddenVotes),
    h('div', { class: 'fac-row' }, saveVoting),
    voteState,
    h('div', { class: 'fac-row fac-wrap' }, closeVote, reopenVote, resetVotes),
    h('h4', { i18n: { text: 'results' } }), results, voteStatus);

  // ------------------------------------------------------------------ room switches
  const boardStatus = statusLine('board');
  const boardSection = section('boardSettings', 'board',
    toggle('settingLocked', 'switch-locked', () => state.locked, (on) => run({ command: 'settings', locked: on }), boardStatus),
    toggle('settingAnonymous', 'switch-anonymous', () => state.anonymous, (on) => run({ command: 'settings', anonymous: on }), boardStatus),
    toggle('settingEditOthers', 'switch-edit-others', () => state.editOthers, (on) => run({ command: 'settings', editOthers: on }), boardStatus),
    toggle('settingFollowMe', 'switch-follow-me', () => !!state.followMe && state.followMe === state.me.id, (on) => run({ command: 'follow_me', on }), boardStatus),
    boardStatus);

  // ------------------------------------------------------------------ silent brainstorming
  const privStatus = statusLine('private');
  const revealBtn = button('reveal', 'reveal', { class: 'btn btn-primary' });
  revealBtn.addEventListener('click', () => withFeedback({ button: revealBtn, status: privStatus }, async () => {
    const res = await run({ command: 'reveal' });
    const n = typeof res.revealed === 'number' ? res.revealed : 0;
    return t('revealedCount', { n });
  }).then(renderAll));
  const privateSection = section('silentBrainstorming', 'private',
    h('p', { class: 'fac-help', i18n: { text: 'silentHelp' } }),
    toggle('settingPrivate', 'switch-private', () => state.privateMode, (on) => run({ command: 'private', on }), privStatus),
    h('div', { class: 'fac-row' }, revealBtn), privStatus);

  // ------------------------------------------------------------------ participants
  const peopleStatus = statusLine('people');
  const peopleList = h('ul', { class: 'fac-people', 'data-testid': 'fac-people' });
  const refreshPeople = h('button', { type: 'button', class: 'btn', 'data-testid': 'people-refresh', i18n: { text: 'refresh' } });
  /** @type {import('../api.js').ParticipantInfo[]} */
  let people = [];
  const loadPeople = () => withFeedback({ button: refreshPeople, status: peopleStatus }, async () => {
    people = await listParticipants(room, token);
    renderPeople();
    return t('peopleLoaded', { n: people.filter((p) => !p.removed).length });
  });
  refreshPeople.addEventListener('click', () => { loadPeople(); });
  function renderPeople() {
    const roleOrder = /** @type {Record<string, number>} */ ({ facilitator: 0, participant: 1, observer: 2 });
    const sorted = [...people].sort((a, b) => (roleOrder[a.role] ?? 3) - (roleOrder[b.role] ?? 3) || String(a.name).localeCompare(String(b.name)));
    peopleList.replaceChildren(...sorted.map((p) => {
      const self = p.participant === state.me.id;
      const removed = !!p.removed;
      const online = !!p.connected;
      const remove = h('button', { type: 'button', class: 'btn btn-danger-outline btn-small', 'data-testid': 'person-remove', text: t('remove'), 'aria-label': t('removeNamed', { name: p.name }) });
      remove.addEventListener('click', async () => {
        if (!(await confirmDialog(t('removeConfirm', { name: p.name }), t('remove')))) return;
        const ok = await withFeedback({ button: remove, status: peopleStatus }, async () => {
          await run({ command: 'remove', participant: p.participant });
          return t('removedDone', { name: p.name });
        });
        if (ok) {
          p.removed = true;
          renderPeople();
        }
      });
      return h('li', { class: `fac-person${removed ? ' removed' : ''}`, 'data-testid': 'fac-person', 'data-id': p.participant },
        h('span', { class: `online-dot${online && !removed ? ' on' : ''}`, role: 'img', 'aria-label': t(removed ? 'personRemoved' : online ? 'online' : 'offline') }),
        h('span', { class: 'fac-person-name', text: p.name }),
        h('span', { class: 'fac-person-role', text: [t(`role_${p.role}`), self ? t('you') : '', removed ? t('personRemoved') : ''].filter(Boolean).join(', ') }),
        self || removed ? null : remove);
    }));
  }
  const peopleSection = section('participants', 'people', h('div', { class: 'fac-row' }, refreshPeople), peopleList, peopleStatus);

  // ------------------------------------------------------------------ room: rename, invite
  const roomStatus = statusLine('room');
  const titleInput = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'fac-title', maxlength: '200', 'data-testid': 'rename-input' }));
  const renameBtn = button('rename', 'rename');
  renameBtn.addEventListener('click', () => {
    const title = titleInput.value.trim();
    if (!title) { roomStatus.dataset.kind = 'error'; roomStatus.textContent = t('errRequired'); titleInput.focus(); return; }
    withFeedback({ button: renameBtn, status: roomStatus }, async () => {
      await run({ command: 'rename', title });
      return t('renamed');
    });
  });
  titleInput.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); renameBtn.click(); } });
  renders.push(() => { if (document.activeElement !== titleInput && state.title) titleInput.value = state.title; });
  const inviteBtn = button('inviteCofacilitator', 'invite-cofacilitator');
  const inviteLink = /** @type {HTMLInputElement} */ (h('input', { class: 'input', id: 'fac-invite-link', readonly: true, 'data-testid': 'cofacilitator-link', hidden: true, i18n: { 'aria-label': 'cofacilitatorLink' } }));
  const copyInvite = h('button', { type: 'button', class: 'btn', hidden: true, 'data-testid': 'cofacilitator-copy' }, icon('copy'), h('span', { i18n: { text: 'copyLink' } }));
  inviteBtn.addEventListener('click', () => withFeedback({ button: inviteBtn, status: roomStatus }, async () => {
    const res = await createInvite(room, token);
    inviteLink.value = new URL(res.invite_url || `/join/?#invite=${res.invite}`, location.origin).href;
    inviteLink.hidden = false;
    copyInvite.hidden = false;
    inviteLink.select();
    return t('inviteCreated');
  }));
  copyInvite.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(inviteLink.value); } catch { inviteLink.select(); document.execCommand('copy'); }
    roomStatus.dataset.kind = 'ok';
    roomStatus.textContent = t('copied');
  });
  // a new join code (the old one stops admitting): shown in the invite dialog, with its QR code
  const newCodeBtn = button('newCode', 'fac-new-code');
  newCodeBtn.addEventListener('click', () => { if (board.newCode) board.newCode(); });
  const roomSection = section('workshop', 'room',
    h('div', { class: 'fac-field' }, h('label', { for: 'fac-title', i18n: { text: 'workshopTitle' } }), h('div', { class: 'fac-row' }, titleInput, renameBtn)),
    h('div', { class: 'fac-row' }, inviteBtn, newCodeBtn),
    h('p', { class: 'fac-help', i18n: { text: 'cofacilitatorHelp' } }),
    inviteLink, h('div', { class: 'fac-row' }, copyInvite), roomStatus);

  // ------------------------------------------------------------------ sessions (own modules)
  const ctx = { state, room, token, board, panel: { open: () => open(), close: () => close() } };
  const insightSection = createInsightSection(ctx);
  const snapshotsSection = createSnapshotsSection(ctx);
  const exportSection = createExportSection(ctx);
  const templateSection = createTemplateSection(ctx);
  const dataSection = createRoomDataSection(ctx);
  const extras = [insightSection, snapshotsSection, exportSection, templateSection, dataSection];

  // ------------------------------------------------------------------ the drawer
  const closeBtn = h('button', { type: 'button', class: 'btn btn-icon', 'data-testid': 'fac-close', i18n: { 'aria-label': 'close', title: 'close' } }, icon('close'));
  const panel = h('aside', { class: 'fac-panel', id: 'fac-panel', 'data-testid': 'fac-panel', hidden: true, 'aria-labelledby': 'fac-panel-title' },
    h('div', { class: 'fac-head' }, h('h2', { id: 'fac-panel-title', i18n: { text: 'facilitation' } }), closeBtn),
    h('div', { class: 'fac-body' }, phaseSection, timerSection, votingSection, privateSection, boardSection, peopleSection,
      insightSection.el, snapshotsSection.el, exportSection.el, templateSection.el, roomSection, dataSection.el));
  const openBtn = h('button', {
    type: 'button', class: 'btn fac-open', 'data-testid': 'fac-open', 'aria-controls': 'fac-panel', 'aria-expanded': 'false',
    i18n: { title: 'facilitationOpen' },
  }, icon('sliders'), h('span', { class: 'fac-open-label', i18n: { text: 'facilitation' } }));

  function renderAll() { for (const fn of renders) fn(); }
  function open() {
    panel.hidden = false;
    openBtn.setAttribute('aria-expanded', 'true');
    renderAll();
    loadPeople();
    for (const x of extras) x.open();
    closeBtn.focus();
  }
  function close() {
    panel.hidden = true;
    openBtn.setAttribute('aria-expanded', 'false');
    renderTimer();
    for (const x of extras) x.close();
    openBtn.focus();
  }
  openBtn.addEventListener('click', () => (panel.hidden ? open() : close()));
  closeBtn.addEventListener('click', close);
  panel.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !(ev.target instanceof HTMLInputElement && ev.target.type === 'number')) { ev.preventDefault(); close(); }
  });

  let peopleTimer = 0;
  const off = state.on((kind) => {
    if (panel.hidden) return;
    if (kind === 'meta' || kind === 'votes' || kind === 'hello') renderAll();
  });
  // the list of who is online changes without a meta change: refresh it while the panel is open
  const onPresence = () => {
    if (panel.hidden || peopleTimer) return;
    peopleTimer = window.setTimeout(() => {
      peopleTimer = 0;
      listParticipants(room, token).then((list) => { people = list; renderPeople(); }).catch((e) => {
        peopleStatus.dataset.kind = 'error';
        peopleStatus.textContent = commandErrorText(e);
      });
    }, 1500);
  };
  const offLang = onLang(() => { renderAll(); renderPeople(); });
  return {
    button: openBtn,
    panel,
    open,
    close,
    onPresence,
    /** card texts changed: the results list shows them */
    refreshResults: () => { if (!panel.hidden) voting.renderResults(results, cardText); },
    dispose() { off(); offLang(); clearInterval(timerTick); clearTimeout(peopleTimer); for (const x of extras) x.dispose(); },
  };
}
