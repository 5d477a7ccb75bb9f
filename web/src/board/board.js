import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { h, icon, langButton } from '../dom.js';
import { t, onLang } from '../i18n/index.js';
import { roomSummary, changeCode, ApiError } from '../api.js';
import { clearSession, updateSession, loadSession, randomId } from '../session.js';
import { Viewport } from './viewport.js';
import { bindTextInput } from './textbind.js';
import { CARD_COLORS, DEFAULT_CARD_COLOR, userColor } from './colors.js';
import { inviteDialog, helpDialog } from './dialogs.js';
import { RoomState, registerServerMessages } from './meta.js';
import { commandRunner } from './commands.js';
import { createPhaseBanner, createNotices } from './banner.js';
import { createTimerDisplay } from './timer.js';
import { createVoting } from './voting.js';
import { createFacilitationPanel } from './facilitation.js';
import { createPrivateBoard, MultiUndo } from './private.js';
import { createFollow } from './follow.js';
import { cardElements, paintCard, clusterBox, placeCluster, num } from './cardview.js';
import { renderStart } from '../start.js';

/** Transaction origin of every local edit; Y.UndoManager tracks only this origin. */
export const LOCAL = { koprade: 'local' };

const CARD_W = 200;
const CARD_H = 110; // fallback height before layout
const DRAG_THRESHOLD = 5; // screen px
const WRITE_INTERVAL = 40; // ms between shared-document writes while dragging
const CURSOR_INTERVAL = 50; // ms between awareness cursor updates
const DOUBLE_TAP_MS = 350;
const DOUBLE_TAP_PX = 30;
/** Close codes after which reconnecting cannot help (docs/protocol.md section 3). */
const TERMINAL_CLOSE = new Set([4401, 4403, 4404, 1009]);
/**
 * "update rejected" (docs/facilitation.md): the document holds a change the server refused, so
 * reconnecting with it would be rejected again: start over with a fresh Y.Doc and provider.
 */
const REJECTED_CLOSE = 4409;

/** @typedef {import('../session.js').RoomSession} RoomSession */
/** @typedef {{x: number, y: number, w: number, h: number}} Rect */

/**
 * Mount the board of `room` into `app`.
 * @param {HTMLElement} app
 * @param {string} room
 * @param {RoomSession} session
 * @param {{showInvite?: boolean, notice?: string, generation?: number}} [opts] `notice`: shown at once
 *   (why the board was started over); `generation`: how many times it was started over
 * @returns {() => void} unmount (closes the connections, removes global listeners)
 */
export function renderBoard(app, room, session, opts = {}) {
  app.replaceChildren();
  app.className = 'board-view';
  /** @type {(() => void)[]} */
  const cleanups = [];
  /** onLang that is undone on unmount @param {() => void} fn */
  const lang = (fn) => { const off = onLang(fn); cleanups.push(() => { off(); }); };

  const doc = new Y.Doc();
  const cards = doc.getMap('cards');
  const clusters = doc.getMap('clusters');
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/rooms`;
  const shouldReconnect = (/** @type {CloseEvent} */ event) => !TERMINAL_CLOSE.has(event.code) && event.code !== REJECTED_CLOSE;
  // silent brainstorming: this participant's private cards (connected when first needed)
  const priv = createPrivateBoard({
    wsUrl, room, token: session.token, shouldReconnect,
    setup: (p) => {
      registerServerMessages(p, state);
      p.on('closed', onClosed);
      p.on('sync', () => updateStatus());
    },
  });
  const pcards = priv.cards;
  const trackLocal = { trackedOrigins: new Set([LOCAL]), captureTimeout: 400 };
  const undo = new MultiUndo([new Y.UndoManager([cards, clusters], trackLocal), new Y.UndoManager([pcards], trackLocal)]);

  /** @type {import('./meta.js').Me} */
  const me = {
    id: session.participant || `anon-${doc.clientID}`,
    name: session.name || '',
    role: session.role || 'participant',
  };
  const mountedRole = me.role;
  const state = new RoomState(doc, me);
  const myColor = userColor(me.id);
  let title = session.title || '';
  let code = session.code || '';
  const { el: noticesEl, notify } = createNotices();
  /** @type {ReturnType<typeof createFacilitationPanel> | null} */
  let panel = null;
  const run = commandRunner(room, () => session.token, state, () => showRemoved());

  // ---------------------------------------------------------------- DOM skeleton
  const titleEl = h('h1', { class: 'room-title', 'data-testid': 'room-title', text: title || '…' });
  const codeBtn = h('button', { type: 'button', class: 'btn btn-code', 'data-testid': 'code-button', 'aria-haspopup': 'dialog' },
    icon('qr'), h('span', { class: 'code-text' }));
  const statusEl = h('div', { class: 'conn', role: 'status', 'data-testid': 'connection', 'data-state': 'connecting' },
    h('span', { class: 'conn-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'conn-lines' }, h('span', { class: 'conn-text' }), h('span', { class: 'conn-sub' })));
  // focusable: with a full header the list scrolls, and must scroll by keyboard too
  const presenceList = h('ul', { class: 'presence-list', 'data-testid': 'presence', tabindex: '0', i18n: { 'aria-label': 'people' } });
  const presence = h('div', { class: 'presence', role: 'group', i18n: { 'aria-label': 'people' } },
    h('span', { class: 'presence-count', 'data-testid': 'presence-count' }), presenceList);
  const langBtn = langButton();
  const helpBtn = h('button', { type: 'button', class: 'btn btn-icon', 'aria-haspopup': 'dialog', 'data-testid': 'help-button', i18n: { 'aria-label': 'help', title: 'help' } }, icon('help'));

  const timer = createTimerDisplay(state);
  const voting = createVoting({ state, run, notify });
  cleanups.push(timer.dispose, voting.dispose);

  const header = h('header', { class: 'topbar' },
    h('a', { href: '/', class: 'brand' }, h('img', { src: '/assets/icon.svg', alt: t('appName'), width: '32', height: '32' })),
    titleEl, codeBtn, statusEl, presence, timer.el, voting.chip, h('div', { class: 'spacer' }), langBtn, helpBtn);

  /** @param {string} cls @param {string} iconName @param {string} labelKey @param {boolean} showText @param {() => void} onclick @param {string} testid */
  const toolBtn = (cls, iconName, labelKey, showText, onclick, testid) => h('button', {
    type: 'button', class: `btn tool ${cls}`, 'data-testid': testid, onclick,
    i18n: showText ? { title: labelKey } : { 'aria-label': labelKey, title: labelKey },
  }, icon(iconName), showText ? h('span', { i18n: { text: labelKey } }) : null);

  const newCardBtn = toolBtn('tool-primary', 'plus', 'newCard', true, () => createCardAtCenter(), 'tool-new-card');
  const newClusterBtn = h('button', {
    type: 'button', class: 'btn tool', 'data-testid': 'tool-new-cluster', onclick: () => createCluster(),
    i18n: { 'aria-label': 'newClusterLabel', title: 'newClusterLabel' },
  }, icon('group'), h('span', { 'aria-hidden': 'true', i18n: { text: 'newCluster' } }));
  const selectBtn = h('button', {
    type: 'button', class: 'btn tool', 'aria-pressed': 'false', 'data-testid': 'tool-select',
    i18n: { 'aria-label': 'selectMode', title: 'selectModeLabel' },
    onclick: () => setMode(mode === 'select' ? 'pan' : 'select'),
  }, icon('select'), h('span', { class: 'tool-label', 'aria-hidden': 'true', i18n: { text: 'selectMode' } }));
  const swatches = CARD_COLORS.map((c) => {
    const b = h('button', {
      type: 'button', class: 'btn swatch', 'data-color': c.value, 'data-testid': `color-${c.id}`,
      'aria-pressed': c.value === DEFAULT_CARD_COLOR ? 'true' : 'false',
      i18n: { 'aria-label': ['colorLabel', () => ({ color: t('colorNames')[c.id] })], title: ['colorLabel', () => ({ color: t('colorNames')[c.id] })] },
      onclick: () => pickColor(c.value),
    }, h('span', { class: 'swatch-chip', 'aria-hidden': 'true' }));
    /** @type {HTMLElement} */ (b.firstElementChild).style.backgroundColor = c.value;
    return b;
  });
  const colorGroup = h('div', { class: 'tool-group swatches', role: 'group', i18n: { 'aria-label': 'color' } }, ...swatches);
  const deleteBtn = toolBtn('', 'trash', 'deleteSelected', false, () => deleteSelected(), 'tool-delete');
  const undoBtn = toolBtn('', 'undo', 'undo', false, () => doUndo(), 'tool-undo');
  const redoBtn = toolBtn('', 'redo', 'redo', false, () => doRedo(), 'tool-redo');
  const zoomOutBtn = toolBtn('', 'zoomOut', 'zoomOut', false, () => vp.zoomAt(1 / 1.25), 'tool-zoom-out');
  const zoomInBtn = toolBtn('', 'zoomIn', 'zoomIn', false, () => vp.zoomAt(1.25), 'tool-zoom-in');
  const zoomLabel = h('button', { type: 'button', class: 'btn tool zoom-level', 'data-testid': 'zoom-level', onclick: () => vp.zoomAt(1 / vp.z) });
  const fitBtn = toolBtn('', 'fit', 'zoomFit', false, () => zoomToFit(), 'tool-fit');

  const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-orientation': 'horizontal', i18n: { 'aria-label': 'toolbar' } },
    h('div', { class: 'tool-group' }, newCardBtn, newClusterBtn, selectBtn),
    colorGroup,
    h('div', { class: 'tool-group' }, deleteBtn, undoBtn, redoBtn),
    h('div', { class: 'tool-group' }, zoomOutBtn, zoomLabel, zoomInBtn, fitBtn));

  const clusterLayer = h('div', { class: 'layer clusters-layer' });
  const cardLayer = h('div', { class: 'layer cards-layer' });
  const cursorLayer = h('div', { class: 'layer cursors-layer', 'aria-hidden': 'true' });
  const world = h('div', { class: 'world' }, clusterLayer, cardLayer, cursorLayer);
  const lasso = h('div', { class: 'lasso', hidden: true });
  const emptyHint = h('p', { class: 'empty-hint', i18n: { text: 'emptyHint' } });
  const canvas = h('div', { class: 'canvas', id: 'board', role: 'application', 'data-testid': 'canvas', 'data-mode': 'pan', i18n: { 'aria-label': 'canvasLabel' } },
    world, lasso, emptyHint);
  const fatalEl = h('div', { class: 'fatal', role: 'alert', hidden: true, 'data-testid': 'fatal' });

  const invite = inviteDialog({
    getCode: () => code,
    getTitle: () => title,
    // facilitators can give the room a new code (the old one stops admitting)
    changeCode: me.role === 'facilitator' ? async () => {
      code = (await changeCode(room, session.token)).code;
      updateSession(room, { code });
      renderCode();
    } : undefined,
  });
  const help = helpDialog();
  codeBtn.addEventListener('click', () => {
    invite.open();
    // a facilitator may have given the room a new code since this page loaded
    roomSummary(room, session.token).then((s) => {
      if (s.code && s.code !== code) { code = s.code; updateSession(room, { code }); renderCode(); invite.refresh(); }
    }).catch(() => { /* the code shown stays; the connection status tells of trouble */ });
  });
  helpBtn.addEventListener('click', () => help.showModal());

  const editTools = /** @type {HTMLElement[]} */ ([...toolbar.querySelectorAll('.tool-group')].slice(0, 3));
  const main = h('main', { class: 'board-main', id: 'main' }, toolbar, canvas, noticesEl, fatalEl);
  app.append(header, main, invite.dlg, help);

  const renderCode = () => {
    /** @type {HTMLElement} */ (codeBtn.querySelector('.code-text')).textContent = code ? t('joinCodeButton', { code }) : t('invite');
    codeBtn.setAttribute('aria-label', code ? `${t('invite')}: ${t('joinCodeButton', { code })}` : t('invite'));
  };
  lang(renderCode);

  // ---------------------------------------------------------------- viewport
  const vpKey = `koprade:vp:${room}`;
  let vpSaveTimer = 0;
  /** @type {ReturnType<typeof createFollow> | null} */
  let follow = null;
  const vp = new Viewport(canvas, world, () => {
    if (follow) follow.onViewportChange();
    zoomLabel.textContent = `${Math.round(vp.z * 100)} %`;
    zoomLabel.setAttribute('aria-label', t('zoomLevel', { pct: Math.round(vp.z * 100) }));
    canvas.style.setProperty('--inv-zoom', String(1 / vp.z));
    canvas.style.backgroundPosition = `${vp.x}px ${vp.y}px`;
    canvas.style.backgroundSize = `${24 * vp.z}px ${24 * vp.z}px`;
    clearTimeout(vpSaveTimer);
    vpSaveTimer = window.setTimeout(() => {
      try { sessionStorage.setItem(vpKey, JSON.stringify(vp.toJSON())); } catch { /* ignore */ }
    }, 300);
  });
  let hadSavedViewport = false;
  try {
    const saved = JSON.parse(sessionStorage.getItem(vpKey) || 'null');
    if (saved && Number.isFinite(saved.x) && Number.isFinite(saved.y) && Number.isFinite(saved.z)) {
      vp.x = saved.x; vp.y = saved.y; vp.z = saved.z;
      hadSavedViewport = true;
    }
  } catch { /* ignore */ }
  vp.apply();
  lang(() => vp.apply());

  // ---------------------------------------------------------------- state
  /** @type {Set<string>} */
  const selection = new Set();
  /** @type {Map<string, {el: HTMLElement, textEl: HTMLElement, authorEl: HTMLElement, votesEl: HTMLElement}>} */
  const cardEls = new Map();
  /** @type {Map<string, {el: HTMLElement, input: HTMLInputElement, unbind: () => void}>} */
  const clusterEls = new Map();
  /** @type {{id: string, textarea: HTMLTextAreaElement, unbind: () => void, ytext: Y.Text} | null} */
  let editing = null;
  /** @type {'pan' | 'select'} */
  let mode = 'pan';
  let currentColor = DEFAULT_CARD_COLOR;
  let pointerActive = false;
  let lastPointerType = 'mouse';

  /** A card of the shared board, else of the private document. @param {string} id @returns {Y.Map<any> | null} */
  const cardMap = (id) => {
    const m = cards.get(id) || pcards.get(id);
    return m instanceof Y.Map ? m : null;
  };
  /** Only in this participant's private document (silent brainstorming). @param {string} id */
  const isPrivateCard = (id) => !cards.has(id) && pcards.has(id);
  /** Ids of the shared and the private cards. @returns {string[]} */
  const allCardIds = () => (pcards.size ? [...new Set([...cards.keys(), ...pcards.keys()])] : [...cards.keys()]);
  /** Every local edit: one transaction (origin LOCAL) on the board and on the private document. @param {() => void} fn */
  const edit = (fn) => doc.transact(() => priv.doc.transact(fn, LOCAL), LOCAL);
  /** @param {string} id */
  const canEditCard = (id) => state.canEdit(cardMap(id)?.get('author'), isPrivateCard(id));
  const canMoveCard = (/** @type {string} */ id) => state.canMove(isPrivateCard(id));
  /**
   * Tell the user why an action is not possible now.
   * @param {'add' | 'edit' | 'move' | 'clusters' | 'delete'} what
   */
  function explainDenied(what) {
    let key = 'denyPhase';
    if (state.isObserver) key = 'denyObserver';
    else if (state.locked) key = 'denyLocked';
    else if ((what === 'edit' || what === 'delete') && state.phaseAllows('edit')) key = 'denyNotYours';
    notify(t(key, { phase: t(`phase_${state.phase}`) }), 'info');
  }
  /** @param {string} id @returns {Y.Map<any> | null} */
  const clusterMap = (id) => { const m = clusters.get(id); return m instanceof Y.Map ? m : null; };

  /** Board rectangle of a card (uses the rendered height). @param {string} id @returns {Rect | null} */
  function cardRect(id) {
    const m = cardMap(id);
    if (!m) return null;
    const e = cardEls.get(id);
    const hgt = e && e.el.offsetHeight ? e.el.offsetHeight : CARD_H;
    const w = e && e.el.offsetWidth ? e.el.offsetWidth : CARD_W;
    return { x: num(m.get('x')), y: num(m.get('y')), w, h: hgt };
  }
  /** @param {string} id @returns {Rect | null} */
  function clusterRect(id) {
    const m = clusterMap(id);
    return m ? clusterBox(m) : null;
  }

  // ---------------------------------------------------------------- cards: rendering
  /** @param {string} id */
  function renderCard(id) {
    const m = cardMap(id);
    let entry = cardEls.get(id);
    if (!m) {
      if (entry) {
        if (editing && editing.id === id) stopEdit(false);
        entry.el.remove();
        cardEls.delete(id);
        selection.delete(id);
        updateSelectionUi();
      }
      return;
    }
    if (!entry) {
      entry = cardElements(id);
      const cardEl = entry.el;
      cardEl.addEventListener('focus', () => onCardFocus(id));
      cardEls.set(id, entry);
      cardLayer.append(cardEl);
    }
    const { el, votesEl } = entry;
    const isPrivate = isPrivateCard(id);
    // a reveal moved the card being edited from the private document onto the board
    if (editing && editing.id === id && m.get('text') !== editing.ytext) stopEdit(false);
    // author: a name from meta.people (none while anonymous), "you" on one's own cards
    const author = m.get('author');
    const own = state.isMine(author);
    const authorName = own ? t('you') : state.nameOf(author);
    paintCard(entry, m, isPrivate ? t('privateCard') : authorName ? t('cardBy', { name: authorName }) : '');
    el.classList.toggle('private', isPrivate);
    el.classList.toggle('own', own);
    el.classList.toggle('readonly', !canEditCard(id));
    el.dataset.private = isPrivate ? 'true' : 'false';
    el.classList.toggle('selected', selection.has(id));
    voting.renderCard(id, votesEl, isPrivate);
  }

  /** @param {string} id */
  function renderCluster(id) {
    const m = clusterMap(id);
    let entry = clusterEls.get(id);
    if (!m) {
      if (entry) {
        entry.unbind();
        entry.el.remove();
        clusterEls.delete(id);
      }
      return;
    }
    const ytitle = m.get('title');
    if (!entry) {
      const input = /** @type {HTMLInputElement} */ (h('input', {
        class: 'cluster-title', type: 'text', maxlength: '120', 'data-testid': 'cluster-title',
        i18n: { 'aria-label': 'clusterTitleLabel', placeholder: 'clusterPlaceholder' },
      }));
      input.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === 'Escape') { ev.preventDefault(); input.blur(); }
      });
      const grip = h('button', { type: 'button', class: 'btn btn-icon cluster-grip', 'data-testid': 'cluster-grip', i18n: { 'aria-label': 'clusterMove', title: 'clusterMove' } }, icon('grip'));
      grip.addEventListener('keydown', (ev) => onClusterKey(ev, id, 'move'));
      const del = h('button', { type: 'button', class: 'btn btn-icon cluster-del', 'data-testid': 'cluster-delete', i18n: { 'aria-label': 'clusterDelete', title: 'clusterDelete' } }, icon('close'));
      del.addEventListener('click', () => deleteCluster(id));
      const resize = h('button', { type: 'button', class: 'btn btn-icon cluster-resize', 'data-testid': 'cluster-resize', i18n: { 'aria-label': 'clusterResize', title: 'clusterResize' } }, icon('resize'));
      resize.addEventListener('keydown', (ev) => onClusterKey(ev, id, 'resize'));
      const el = h('div', { class: 'cluster', role: 'group', 'data-id': id, 'data-testid': 'cluster' },
        h('div', { class: 'cluster-head' }, grip, input, del), resize);
      const unbind = ytitle instanceof Y.Text
        ? bindTextInput(input, ytitle, LOCAL, () => labelCluster(id))
        : () => {};
      entry = { el, input, unbind };
      clusterEls.set(id, entry);
      clusterLayer.append(el);
    }
    placeCluster(entry.el, /** @type {Rect} */ (clusterRect(id)));
    entry.input.readOnly = !state.canClusters();
    labelCluster(id);
  }

  /** @param {string} id */
  function labelCluster(id) {
    const entry = clusterEls.get(id);
    const m = clusterMap(id);
    if (!entry || !m) return;
    const ytitle = m.get('title');
    const s = ytitle instanceof Y.Text ? ytitle.toString().trim() : '';
    entry.el.setAttribute('aria-label', t('clusterLabel', { title: s || t('clusterPlaceholder') }));
  }

  function updateEmptyHint() {
    emptyHint.hidden = cards.size > 0 || pcards.size > 0 || clusters.size > 0;
  }

  function renderAll() {
    const ids = allCardIds().sort((a, b) => num(cardMap(a)?.get('created')) - num(cardMap(b)?.get('created')));
    for (const id of ids) renderCard(id);
    for (const id of clusters.keys()) renderCluster(id);
    updateEmptyHint();
  }

  /**
   * Ids of the entries of a root map touched by a batch of deep events.
   * @param {Y.Map<any>} root
   * @param {Array<Y.YEvent<any>>} events
   */
  function changedIds(root, events) {
    /** @type {Set<string>} */
    const ids = new Set();
    for (const ev of events) {
      if (ev.target === root) {
        for (const key of ev.changes.keys.keys()) ids.add(key);
      } else if (ev.path.length > 0) {
        ids.add(String(ev.path[0]));
      }
    }
    return ids;
  }

  cards.observeDeep((events) => {
    for (const id of changedIds(cards, events)) renderCard(id);
    updateEmptyHint();
    panel?.refreshResults();
  });
  pcards.observeDeep((events) => {
    for (const id of changedIds(pcards, events)) renderCard(id);
    updateEmptyHint();
  });
  clusters.observeDeep((events) => {
    for (const id of changedIds(clusters, events)) renderCluster(id);
    updateEmptyHint();
  });
  lang(() => { for (const id of cardEls.keys()) renderCard(id); for (const id of clusterEls.keys()) labelCluster(id); });

  // ---------------------------------------------------------------- cards: actions
  /** @param {number} x @param {number} y board coordinates of the card's top-left corner */
  function createCard(x, y) {
    if (!state.canAdd()) { explainDenied('add'); return null; }
    const id = randomId();
    // silent brainstorming: a participant's new cards go into the private document
    const target = state.writesPrivately ? pcards : cards;
    if (target === pcards) priv.connect();
    undo.stopCapturing();
    edit(() => {
      const m = new Y.Map();
      m.set('text', new Y.Text());
      m.set('x', Math.round(x));
      m.set('y', Math.round(y));
      m.set('color', currentColor);
      m.set('author', me.author || me.id); // a pseudonym in an anonymous room (hello)
      m.set('created', Date.now());
      target.set(id, m);
    });
    const c = clusterAt(x + CARD_W / 2, y + CARD_H / 2);
    if (c) edit(() => cardMap(id)?.set('cluster', c));
    selectOnly(id);
    startEdit(id);
    return id;
  }

  function createCardAtCenter() {
    if (!state.canAdd()) { explainDenied('add'); return; }
    const c = vp.center();
    let x = c.x - CARD_W / 2;
    let y = c.y - CARD_H / 2;
    // avoid stacking exactly on top of another card
    for (let i = 0; i < 20; i++) {
      const clash = allCardIds().some((id) => {
        const m = cardMap(id);
        return m && Math.abs(num(m.get('x')) - x) < 12 && Math.abs(num(m.get('y')) - y) < 12;
      });
      if (!clash) break;
      x += 24; y += 24;
    }
    createCard(x, y);
  }

  function deleteSelected() {
    if (selection.size === 0) return;
    const ids = [...selection].filter((id) => canEditCard(id));
    if (ids.length < selection.size) explainDenied('delete');
    if (!ids.length) return;
    if (editing && ids.includes(editing.id)) stopEdit(false);
    undo.stopCapturing();
    edit(() => { for (const id of ids) (cards.has(id) ? cards : pcards).delete(id); });
    selection.clear();
    updateSelectionUi();
    canvas.focus({ preventScroll: true });
  }

  /** @param {string} color */
  function pickColor(color) {
    currentColor = color;
    for (const s of swatches) s.setAttribute('aria-pressed', s.dataset.color === color ? 'true' : 'false');
    const ids = [...selection].filter((id) => canEditCard(id));
    if (ids.length) {
      undo.stopCapturing();
      edit(() => { for (const id of ids) cardMap(id)?.set('color', color); });
    }
  }

  /** @param {string} id */
  function startEdit(id) {
    if (editing && editing.id === id) { editing.textarea.focus(); return; }
    stopEdit(false);
    const m = cardMap(id);
    const entry = cardEls.get(id);
    if (!m || !entry) return;
    if (!canEditCard(id)) { explainDenied('edit'); return; }
    let ytext = m.get('text');
    if (!(ytext instanceof Y.Text)) {
      edit(() => m.set('text', new Y.Text(typeof ytext === 'string' ? ytext : '')));
      ytext = m.get('text');
    }
    const textarea = /** @type {HTMLTextAreaElement} */ (h('textarea', {
      class: 'card-editor', rows: '3', maxlength: '2000', 'data-testid': 'card-editor',
      i18n: { 'aria-label': 'cardEditorLabel', placeholder: 'cardPlaceholder' },
    }));
    const autosize = () => {
      textarea.style.height = 'auto';
      textarea.style.height = `${textarea.scrollHeight}px`;
    };
    entry.el.classList.add('editing');
    entry.textEl.after(textarea);
    const unbind = bindTextInput(textarea, ytext, LOCAL, autosize);
    editing = { id, textarea, unbind, ytext };
    autosize();
    textarea.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' || (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey))) {
        ev.preventDefault();
        ev.stopPropagation();
        stopEdit(true);
      }
    });
    textarea.addEventListener('blur', () => {
      // a blur caused by removing the element is handled by stopEdit itself
      if (editing && editing.textarea === textarea) stopEdit(false);
    });
    textarea.focus({ preventScroll: true });
    textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    undo.stopCapturing();
  }

  /** @param {boolean} refocusCard */
  function stopEdit(refocusCard) {
    if (!editing) return;
    const { id, textarea, unbind } = editing;
    editing = null;
    unbind();
    textarea.remove();
    undo.stopCapturing();
    const entry = cardEls.get(id);
    if (entry) {
      entry.el.classList.remove('editing');
      renderCard(id);
      if (refocusCard) entry.el.focus({ preventScroll: true });
    }
  }

  // ---------------------------------------------------------------- selection
  /** @param {string} id */
  function selectOnly(id) {
    selection.clear();
    selection.add(id);
    updateSelectionUi();
  }
  function updateSelectionUi() {
    for (const [id, e] of cardEls) e.el.classList.toggle('selected', selection.has(id));
    /** @type {HTMLButtonElement} */ (deleteBtn).disabled = ![...selection].some((id) => canEditCard(id));
  }
  /** @param {string} id */
  function onCardFocus(id) {
    if (pointerActive) return;
    if (!selection.has(id)) selectOnly(id);
    const r = cardRect(id);
    if (r) vp.reveal(r);
  }
  /** @param {'pan' | 'select'} m */
  function setMode(m) {
    mode = m;
    selectBtn.setAttribute('aria-pressed', m === 'select' ? 'true' : 'false');
    canvas.dataset.mode = m;
  }

  // ---------------------------------------------------------------- clusters
  /** Smallest cluster containing the board point. @param {number} x @param {number} y */
  function clusterAt(x, y) {
    let best = null;
    let bestArea = Infinity;
    for (const id of clusters.keys()) {
      const r = clusterRect(id);
      if (!r) continue;
      if (x >= r.x && x <= r.x + r.w && y >= r.y && y <= r.y + r.h && r.w * r.h < bestArea) {
        best = id;
        bestArea = r.w * r.h;
      }
    }
    return best;
  }

  /** Set/delete `cluster` on cards by which frame contains their centre. @param {Iterable<string>} ids */
  function updateMembership(ids) {
    edit(() => {
      for (const id of ids) {
        if (!canMoveCard(id)) continue;
        const m = cardMap(id);
        const r = cardRect(id);
        if (!m || !r) continue;
        const c = clusterAt(r.x + r.w / 2, r.y + r.h / 2);
        if (c) {
          if (m.get('cluster') !== c) m.set('cluster', c);
        } else if (m.has('cluster')) {
          m.delete('cluster');
        }
      }
    });
  }

  function createCluster() {
    if (!state.canClusters()) { explainDenied('clusters'); return null; }
    const id = randomId();
    let rect;
    const members = [...selection].filter((s) => cardMap(s));
    if (members.length) {
      let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
      for (const s of members) {
        const r = /** @type {Rect} */ (cardRect(s));
        x0 = Math.min(x0, r.x); y0 = Math.min(y0, r.y);
        x1 = Math.max(x1, r.x + r.w); y1 = Math.max(y1, r.y + r.h);
      }
      rect = { x: x0 - 24, y: y0 - 72, w: x1 - x0 + 48, h: y1 - y0 + 96 };
    } else {
      const c = vp.center();
      rect = { x: c.x - 260, y: c.y - 180, w: 520, h: 360 };
    }
    undo.stopCapturing();
    edit(() => {
      const m = new Y.Map();
      m.set('title', new Y.Text());
      m.set('x', Math.round(rect.x));
      m.set('y', Math.round(rect.y));
      m.set('w', Math.round(rect.w));
      m.set('h', Math.round(rect.h));
      clusters.set(id, m);
      for (const s of members) if (canMoveCard(s)) cardMap(s)?.set('cluster', id);
    });
    undo.stopCapturing();
    const entry = clusterEls.get(id);
    if (entry) entry.input.focus({ preventScroll: true });
    return id;
  }

  /** @param {string} id */
  function deleteCluster(id) {
    if (!state.canClusters()) { explainDenied('clusters'); return; }
    undo.stopCapturing();
    edit(() => {
      for (const cid of allCardIds()) {
        const m = cardMap(cid);
        if (m && m.get('cluster') === id) m.delete('cluster');
      }
      clusters.delete(id);
    });
    canvas.focus({ preventScroll: true });
  }

  /** @param {string} id */
  const clusterMembers = (id) => allCardIds().filter((cid) => cardMap(cid)?.get('cluster') === id);

  /**
   * Keyboard move/resize of a cluster from its grip / resize buttons.
   * @param {KeyboardEvent} ev @param {string} id @param {'move' | 'resize'} kind
   */
  function onClusterKey(ev, id, kind) {
    const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[ev.key];
    if (!d) return;
    ev.preventDefault();
    ev.stopPropagation();
    const step = ev.shiftKey ? 50 : 10;
    const m = clusterMap(id);
    if (!m) return;
    if (!state.canClusters()) { explainDenied('clusters'); return; }
    edit(() => {
      if (kind === 'move') {
        m.set('x', num(m.get('x')) + d[0] * step);
        m.set('y', num(m.get('y')) + d[1] * step);
        for (const cid of clusterMembers(id)) {
          const c = cardMap(cid);
          if (!c) continue;
          c.set('x', num(c.get('x')) + d[0] * step);
          c.set('y', num(c.get('y')) + d[1] * step);
        }
      } else {
        m.set('w', Math.max(200, num(m.get('w'), 400) + d[0] * step));
        m.set('h', Math.max(150, num(m.get('h'), 300) + d[1] * step));
      }
    });
    if (kind === 'resize') updateMembership(allCardIds());
  }

  // ---------------------------------------------------------------- undo
  // Undo/redo are offered only while this client may change the board; a phase or lock change
  // clears the history (undoing across it would be rejected by the server).
  const undoAllowed = () => state.isFacilitator || !state.frozen;
  function doUndo() {
    if (!undoAllowed()) return;
    if (editing) stopEdit(false);
    undo.undo();
  }
  function doRedo() {
    if (!undoAllowed()) return;
    if (editing) stopEdit(false);
    undo.redo();
  }
  const updateUndoUi = () => {
    /** @type {HTMLButtonElement} */ (undoBtn).disabled = !undo.canUndo || !undoAllowed();
    /** @type {HTMLButtonElement} */ (redoBtn).disabled = !undo.canRedo || !undoAllowed();
  };
  undo.onChange(updateUndoUi);
  updateUndoUi();

  // ---------------------------------------------------------------- zoom to fit
  function contentBounds() {
    let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
    const add = (/** @type {Rect | null} */ r) => {
      if (!r) return;
      x0 = Math.min(x0, r.x); y0 = Math.min(y0, r.y);
      x1 = Math.max(x1, r.x + r.w); y1 = Math.max(y1, r.y + r.h);
    };
    for (const id of allCardIds()) add(cardRect(id));
    for (const id of clusters.keys()) add(clusterRect(id));
    return x0 === Infinity ? null : { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }
  function zoomToFit() {
    vp.fit(contentBounds());
  }

  // ---------------------------------------------------------------- pointer gestures
  /**
   * @typedef {{kind: 'pan', last: {x: number, y: number}, start: {x: number, y: number}, moved: boolean, pointerType: string}} PanG
   * @typedef {{kind: 'lasso', start: {x: number, y: number}, base: Set<string>, moved: boolean}} LassoG
   * @typedef {{kind: 'card', id: string, wasSelected: boolean, shift: boolean, ids: string[], starts: Map<string, {x: number, y: number}>, origin: {x: number, y: number}, screen: {x: number, y: number}, moved: boolean, dx: number, dy: number}} CardG
   * @typedef {{kind: 'cluster', id: string, members: string[], starts: Map<string, {x: number, y: number}>, cstart: {x: number, y: number}, origin: {x: number, y: number}, screen: {x: number, y: number}, moved: boolean, dx: number, dy: number}} ClusterG
   * @typedef {{kind: 'resize', id: string, w0: number, h0: number, origin: {x: number, y: number}, screen: {x: number, y: number}, moved: boolean, dx: number, dy: number}} ResizeG
   */
  /** @type {Map<number, PanG | LassoG | CardG | ClusterG | ResizeG>} */
  const gestures = new Map();
  /** @type {{a: number, b: number, dist: number, mid: {x: number, y: number}} | null} */
  let pinch = null;
  /** @type {Map<number, {x: number, y: number}>} */
  const pointerPos = new Map();
  let lastWrite = 0;
  let writeTimer = 0;
  /** @type {{time: number, x: number, y: number} | null} */
  let lastTap = null;
  /** @type {string | null} */
  let dropTarget = null;

  /** @param {PointerEvent} ev */
  function onPointerDown(ev) {
    lastPointerType = ev.pointerType;
    const target = /** @type {HTMLElement} */ (ev.target);
    if (ev.pointerType === 'mouse' && ev.button !== 0 && ev.button !== 1) return;
    if (target.closest('textarea, input, .cluster-del, .card-vote-btn')) return;
    pointerActive = true;
    pointerPos.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    const screen = { x: ev.clientX, y: ev.clientY };
    const origin = vp.toBoard(ev.clientX, ev.clientY);
    const cardEl = /** @type {HTMLElement | null} */ (target.closest('.card'));
    const gripEl = target.closest('.cluster-grip, .cluster-head');
    const resizeEl = target.closest('.cluster-resize');
    const clusterEl = /** @type {HTMLElement | null} */ (target.closest('.cluster'));

    // a second finger on the background turns a pan into a pinch
    if (!cardEl && !gripEl && !resizeEl && ev.pointerType !== 'mouse') {
      const other = [...gestures.entries()].find(([, g]) => g.kind === 'pan' || g.kind === 'lasso');
      if (other && !pinch) {
        const [otherId] = other;
        const p1 = /** @type {{x: number, y: number}} */ (pointerPos.get(otherId));
        gestures.delete(otherId);
        lasso.hidden = true;
        pinch = { a: otherId, b: ev.pointerId, dist: Math.hypot(p1.x - screen.x, p1.y - screen.y) || 1, mid: { x: (p1.x + screen.x) / 2, y: (p1.y + screen.y) / 2 } };
        lastTap = null;
        capture(ev);
        ev.preventDefault();
        return;
      }
    }

    if (ev.button === 1) {
      gestures.set(ev.pointerId, { kind: 'pan', last: screen, start: screen, moved: false, pointerType: ev.pointerType });
    } else if (cardEl) {
      const id = /** @type {string} */ (cardEl.dataset.id);
      if (editing && editing.id === id) return;
      const wasSelected = selection.has(id);
      if (ev.shiftKey) {
        if (wasSelected) selection.delete(id); else selection.add(id);
        updateSelectionUi();
      } else if (!wasSelected) {
        selectOnly(id);
      }
      const ids = selection.has(id) ? [...selection] : [id];
      const starts = new Map();
      for (const s of ids) {
        const m = cardMap(s);
        if (m && canMoveCard(s)) starts.set(s, { x: num(m.get('x')), y: num(m.get('y')) });
      }
      gestures.set(ev.pointerId, { kind: 'card', id, wasSelected, shift: ev.shiftKey, ids, starts, origin, screen, moved: false, dx: 0, dy: 0 });
      if (editing) stopEdit(false);
      cardEl.focus({ preventScroll: true });
    } else if (resizeEl && clusterEl && state.canClusters()) {
      const id = /** @type {string} */ (clusterEl.dataset.id);
      const r = /** @type {Rect} */ (clusterRect(id));
      gestures.set(ev.pointerId, { kind: 'resize', id, w0: r.w, h0: r.h, origin, screen, moved: false, dx: 0, dy: 0 });
    } else if (gripEl && clusterEl && state.canClusters()) {
      const id = /** @type {string} */ (clusterEl.dataset.id);
      const r = /** @type {Rect} */ (clusterRect(id));
      const members = clusterMembers(id);
      const starts = new Map();
      for (const s of members) {
        const m = cardMap(s);
        if (m) starts.set(s, { x: num(m.get('x')), y: num(m.get('y')) });
      }
      if (editing) stopEdit(false);
      gestures.set(ev.pointerId, { kind: 'cluster', id, members, starts, cstart: { x: r.x, y: r.y }, origin, screen, moved: false, dx: 0, dy: 0 });
    } else {
      // background (or the empty area of a cluster frame)
      if (editing) stopEdit(false);
      if (document.activeElement instanceof HTMLInputElement) document.activeElement.blur();
      if (mode === 'select' || ev.shiftKey) {
        if (!ev.shiftKey) { selection.clear(); updateSelectionUi(); }
        gestures.set(ev.pointerId, { kind: 'lasso', start: origin, base: new Set(selection), moved: false });
      } else {
        gestures.set(ev.pointerId, { kind: 'pan', last: screen, start: screen, moved: false, pointerType: ev.pointerType });
      }
      canvas.focus({ preventScroll: true });
    }
    capture(ev);
    ev.preventDefault();
  }

  /** @param {PointerEvent} ev */
  function capture(ev) {
    try { canvas.setPointerCapture(ev.pointerId); } catch { /* pointer already gone */ }
  }

  /** Write pending drag positions to the shared document (throttled). @param {boolean} force */
  function flushDrag(force) {
    const now = performance.now();
    if (!force && now - lastWrite < WRITE_INTERVAL) {
      if (!writeTimer) writeTimer = window.setTimeout(() => { writeTimer = 0; flushDrag(true); }, WRITE_INTERVAL);
      return;
    }
    lastWrite = now;
    clearTimeout(writeTimer);
    writeTimer = 0;
    // the phase or lock may have changed during the drag: write only what is still allowed
    edit(() => {
      for (const g of gestures.values()) {
        if (!g.moved) continue;
        if (g.kind === 'card' || g.kind === 'cluster') {
          if (g.kind === 'cluster' && !state.canClusters()) continue;
          for (const [id, s] of g.starts) {
            const m = cardMap(id);
            if (!m || !canMoveCard(id)) continue;
            m.set('x', Math.round(s.x + g.dx));
            m.set('y', Math.round(s.y + g.dy));
          }
          if (g.kind === 'cluster') {
            const m = clusterMap(g.id);
            if (m) {
              m.set('x', Math.round(g.cstart.x + g.dx));
              m.set('y', Math.round(g.cstart.y + g.dy));
            }
          }
        } else if (g.kind === 'resize') {
          const m = clusterMap(g.id);
          if (m && state.canClusters()) {
            m.set('w', Math.round(Math.max(200, g.w0 + g.dx)));
            m.set('h', Math.round(Math.max(150, g.h0 + g.dy)));
          }
        }
      }
    });
  }

  /** @param {PointerEvent} ev */
  function onPointerMove(ev) {
    sendCursor(ev);
    if (!pointerPos.has(ev.pointerId)) return;
    pointerPos.set(ev.pointerId, { x: ev.clientX, y: ev.clientY });
    if (pinch && (ev.pointerId === pinch.a || ev.pointerId === pinch.b)) {
      const pa = pointerPos.get(pinch.a);
      const pb = pointerPos.get(pinch.b);
      if (!pa || !pb) return;
      const dist = Math.hypot(pa.x - pb.x, pa.y - pb.y) || 1;
      const mid = { x: (pa.x + pb.x) / 2, y: (pa.y + pb.y) / 2 };
      vp.panBy(mid.x - pinch.mid.x, mid.y - pinch.mid.y);
      vp.zoomAt(dist / pinch.dist, mid.x, mid.y);
      pinch.dist = dist;
      pinch.mid = mid;
      return;
    }
    const g = gestures.get(ev.pointerId);
    if (!g) return;
    if (g.kind === 'pan') {
      if (!g.moved && Math.hypot(ev.clientX - g.start.x, ev.clientY - g.start.y) > DRAG_THRESHOLD) g.moved = true;
      vp.panBy(ev.clientX - g.last.x, ev.clientY - g.last.y);
      g.last = { x: ev.clientX, y: ev.clientY };
      return;
    }
    const p = vp.toBoard(ev.clientX, ev.clientY);
    if (g.kind === 'lasso') {
      g.moved = true;
      const x0 = Math.min(g.start.x, p.x); const y0 = Math.min(g.start.y, p.y);
      const x1 = Math.max(g.start.x, p.x); const y1 = Math.max(g.start.y, p.y);
      const cr = canvas.getBoundingClientRect();
      lasso.hidden = false;
      lasso.style.left = `${x0 * vp.z + vp.x}px`;
      lasso.style.top = `${y0 * vp.z + vp.y}px`;
      lasso.style.width = `${(x1 - x0) * vp.z}px`;
      lasso.style.height = `${(y1 - y0) * vp.z}px`;
      void cr;
      selection.clear();
      for (const s of g.base) selection.add(s);
      for (const id of allCardIds()) {
        const r = cardRect(id);
        if (r && r.x < x1 && r.x + r.w > x0 && r.y < y1 && r.y + r.h > y0) selection.add(id);
      }
      updateSelectionUi();
      return;
    }
    if (g.kind === 'card' && g.starts.size === 0) {
      // cards that may not be moved now: a drag is no tap, but moves nothing
      if (Math.hypot(ev.clientX - g.screen.x, ev.clientY - g.screen.y) > DRAG_THRESHOLD) g.moved = true;
      return;
    }
    if (!g.moved) {
      if (Math.hypot(ev.clientX - g.screen.x, ev.clientY - g.screen.y) <= DRAG_THRESHOLD) return;
      g.moved = true;
      undo.stopCapturing();
      if (g.kind === 'card') for (const id of g.ids) cardEls.get(id)?.el.classList.add('dragging');
      if (g.kind === 'cluster') {
        clusterEls.get(g.id)?.el.classList.add('dragging');
        for (const id of g.members) cardEls.get(id)?.el.classList.add('dragging');
      }
    }
    g.dx = p.x - g.origin.x;
    g.dy = p.y - g.origin.y;
    // optimistic local rendering; the shared document is written at most every WRITE_INTERVAL
    if (g.kind === 'card' || g.kind === 'cluster') {
      for (const [id, s] of g.starts) {
        const e = cardEls.get(id);
        if (e) e.el.style.transform = `translate(${Math.round(s.x + g.dx)}px, ${Math.round(s.y + g.dy)}px)`;
      }
    }
    if (g.kind === 'card') {
      const r = cardRect(g.id);
      const s = g.starts.get(g.id);
      const target = r && s ? clusterAt(s.x + g.dx + r.w / 2, s.y + g.dy + r.h / 2) : null;
      if (target !== dropTarget) {
        if (dropTarget) clusterEls.get(dropTarget)?.el.classList.remove('drop-target');
        dropTarget = target;
        if (dropTarget) clusterEls.get(dropTarget)?.el.classList.add('drop-target');
      }
    }
    flushDrag(false);
  }

  /** @param {PointerEvent} ev */
  function onPointerUp(ev) {
    const cancelled = ev.type === 'pointercancel';
    if (ev.pointerType !== 'mouse' && ev.pointerType !== 'pen') setCursor(null); // a lifted finger has no position
    pointerPos.delete(ev.pointerId);
    if (pinch && (ev.pointerId === pinch.a || ev.pointerId === pinch.b)) {
      pinch = null;
      pointerActive = pointerPos.size > 0;
      return;
    }
    const g = gestures.get(ev.pointerId);
    if (!g) { pointerActive = pointerPos.size > 0; return; }
    if (g.kind === 'card' || g.kind === 'cluster' || g.kind === 'resize') {
      if (g.moved) {
        flushDrag(true);
        // cards whose move was not written (the phase or lock changed meanwhile) snap back
        if (g.kind !== 'resize') for (const id of g.starts.keys()) renderCard(id);
        if (g.kind === 'card') {
          for (const id of g.ids) cardEls.get(id)?.el.classList.remove('dragging');
          updateMembership(g.ids);
        } else if (g.kind === 'cluster') {
          clusterEls.get(g.id)?.el.classList.remove('dragging');
          for (const id of g.members) cardEls.get(id)?.el.classList.remove('dragging');
        } else {
          updateMembership(allCardIds());
        }
        undo.stopCapturing();
      } else if (g.kind === 'card' && !cancelled && !g.shift && g.wasSelected && selection.size === 1) {
        gestures.delete(ev.pointerId);
        pointerActive = pointerPos.size > 0;
        startEdit(g.id);
        return;
      }
    } else if (g.kind === 'lasso') {
      lasso.hidden = true;
    } else if (g.kind === 'pan' && !g.moved && !cancelled) {
      // a tap on the background clears the selection; a double tap creates a card
      if (selection.size) { selection.clear(); updateSelectionUi(); }
      if (g.pointerType !== 'mouse') {
        const now = performance.now();
        if (lastTap && now - lastTap.time < DOUBLE_TAP_MS && Math.hypot(ev.clientX - lastTap.x, ev.clientY - lastTap.y) < DOUBLE_TAP_PX) {
          lastTap = null;
          const p = vp.toBoard(ev.clientX, ev.clientY);
          gestures.delete(ev.pointerId);
          pointerActive = pointerPos.size > 0;
          createCard(p.x - CARD_W / 2, p.y - CARD_H / 2);
          return;
        }
        lastTap = { time: now, x: ev.clientX, y: ev.clientY };
      }
    }
    if (dropTarget) { clusterEls.get(dropTarget)?.el.classList.remove('drop-target'); dropTarget = null; }
    gestures.delete(ev.pointerId);
    pointerActive = pointerPos.size > 0;
  }

  canvas.addEventListener('pointerdown', onPointerDown);
  canvas.addEventListener('pointermove', onPointerMove);
  canvas.addEventListener('pointerup', onPointerUp);
  canvas.addEventListener('pointercancel', onPointerUp);
  canvas.addEventListener('pointerleave', (ev) => { if (ev.pointerType === 'mouse') setCursor(null); });
  canvas.addEventListener('dblclick', (ev) => {
    if (lastPointerType !== 'mouse') return; // touch/pen double taps are recognised in onPointerUp
    // pointer capture retargets click events to the canvas: look at what is really under the pointer
    const target = /** @type {HTMLElement | null} */ (document.elementFromPoint(ev.clientX, ev.clientY));
    if (!target || !canvas.contains(target) || target.closest('.card, .cluster-head, .cluster-resize, textarea, input, button')) return;
    const p = vp.toBoard(ev.clientX, ev.clientY);
    createCard(p.x - CARD_W / 2, p.y - CARD_H / 2);
  });
  canvas.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const unit = ev.deltaMode === 1 ? 16 : ev.deltaMode === 2 ? 400 : 1;
    const dy = ev.deltaY * unit;
    const dx = ev.deltaX * unit;
    if (ev.ctrlKey || ev.metaKey) {
      vp.zoomAt(Math.exp(-dy * 0.01), ev.clientX, ev.clientY);
    } else if (ev.shiftKey) {
      vp.panBy(-dy || -dx, 0);
    } else {
      vp.zoomAt(Math.exp(-dy * 0.0015), ev.clientX, ev.clientY);
    }
  }, { passive: false });
  // focus of off-screen content must never scroll the canvas itself
  canvas.addEventListener('scroll', () => { canvas.scrollLeft = 0; canvas.scrollTop = 0; });
  canvas.tabIndex = 0;

  // ---------------------------------------------------------------- keyboard
  /** @param {KeyboardEvent} ev */
  function onKeyDown(ev) {
    if (!app.contains(/** @type {Node} */ (ev.target)) && ev.target !== document.body) return;
    // a dialog or the read-only snapshot view is open: the board takes no keys
    if (invite.dlg.open || help.open || document.querySelector('dialog[open]') || main.querySelector('.snapshot-view')) return;
    const target = /** @type {HTMLElement} */ (ev.target);
    if (target.closest && target.closest('.fac-panel, .notices, .follow-chip')) return;
    const inText = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
    const mod = ev.ctrlKey || ev.metaKey;
    const k = ev.key.toLowerCase();
    if (mod && k === 'z' && !ev.altKey) {
      ev.preventDefault();
      if (ev.shiftKey) doRedo(); else doUndo();
      return;
    }
    if (mod && k === 'y') { ev.preventDefault(); doRedo(); return; }
    if (inText) return;
    if (mod && k === 'a') {
      ev.preventDefault();
      for (const id of allCardIds()) selection.add(id);
      updateSelectionUi();
      return;
    }
    if (mod || ev.altKey) return;
    const cardEl = /** @type {HTMLElement | null} */ (target.closest && target.closest('.card'));
    const onButton = target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement;
    switch (ev.key) {
      case 'n': case 'N': ev.preventDefault(); createCardAtCenter(); return;
      case 'g': case 'G': ev.preventDefault(); createCluster(); return;
      case '?': ev.preventDefault(); help.showModal(); return;
      case '+': case '=': ev.preventDefault(); vp.zoomAt(1.25); return;
      case '-': case '_': ev.preventDefault(); vp.zoomAt(1 / 1.25); return;
      case '0': ev.preventDefault(); zoomToFit(); return;
      case 'Delete': case 'Backspace':
        if (selection.size) { ev.preventDefault(); deleteSelected(); }
        return;
      case 'Escape':
        if (selection.size) { selection.clear(); updateSelectionUi(); }
        if (mode === 'select') setMode('pan');
        return;
      case 'Enter': case 'F2':
        if (onButton) return;
        if (cardEl && cardEl.dataset.id) { ev.preventDefault(); startEdit(cardEl.dataset.id); return; }
        if (selection.size === 1) { ev.preventDefault(); startEdit([...selection][0]); }
        return;
      default: break;
    }
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const d = /** @type {Record<string, number[]>} */ (arrows)[ev.key];
    if (d && !onButton) {
      ev.preventDefault();
      if (selection.size) {
        const movable = [...selection].filter((id) => canMoveCard(id));
        if (!movable.length) { explainDenied('move'); return; }
        const step = ev.shiftKey ? 50 : 10;
        edit(() => {
          for (const id of movable) {
            const m = cardMap(id);
            if (!m) continue;
            m.set('x', num(m.get('x')) + d[0] * step);
            m.set('y', num(m.get('y')) + d[1] * step);
          }
        });
        updateMembership(selection);
        const first = cardRect([...selection][0]);
        if (first) vp.reveal(first);
      } else {
        vp.panBy(-d[0] * 60, -d[1] * 60);
      }
    }
  }
  document.addEventListener('keydown', onKeyDown);
  cleanups.push(() => document.removeEventListener('keydown', onKeyDown));

  // ---------------------------------------------------------------- connection
  const provider = new WebsocketProvider(wsUrl, room, doc, {
    params: { token: session.token },
    disableBc: true,
    maxBackoffTime: 5000,
    shouldReconnect,
  });
  registerServerMessages(provider, state);
  const awareness = provider.awareness;
  // Stock y-websocket re-broadcasts every awareness change it applies, including the states of
  // other clients it just received. The server drops entries for client ids this connection does
  // not own, so only send our own entries (saves one upstream message per remote cursor move).
  {
    const p = /** @type {any} */ (provider);
    const original = p._awarenessUpdateHandler;
    if (typeof original === 'function') {
      awareness.off('update', original);
      const own = (/** @type {number[]} */ ids) => ids.filter((id) => id === awareness.clientID);
      p._awarenessUpdateHandler = (/** @type {{added: number[], updated: number[], removed: number[]}} */ ch, /** @type {any} */ origin) => {
        const added = own(ch.added);
        const updated = own(ch.updated);
        const removed = own(ch.removed);
        if (added.length + updated.length + removed.length > 0) original({ added, updated, removed }, origin);
      };
      awareness.on('update', p._awarenessUpdateHandler);
    }
  }
  awareness.setLocalState({
    user: { name: me.name || t(me.role === 'facilitator' ? 'facilitatorDefaultName' : 'you'), color: myColor, id: me.id, role: me.role },
    cursor: null,
  });

  let everSynced = false;
  let pending = false;
  /** @type {string | null} */
  let fatal = null;

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
    let state;
    if (fatal) state = 'fatal';
    else if (!navigator.onLine) state = 'offline';
    else if (provider.wsconnected && provider.synced && priv.synced) state = 'connected';
    else if (everSynced) state = 'reconnecting';
    else state = 'connecting';
    if (state === 'connected') pending = false;
    statusEl.dataset.state = state;
    statusEl.dataset.pending = pending ? 'true' : 'false';
    const label = {
      fatal: 'statusOffline', offline: 'statusOffline', connected: 'statusConnected',
      reconnecting: 'statusReconnecting', connecting: 'statusConnecting',
    }[state] || 'statusConnecting';
    const sub = pending && state !== 'connected' ? t('statusPending') : '';
    /** @type {HTMLElement} */ (statusEl.querySelector('.conn-text')).textContent = t(label);
    /** @type {HTMLElement} */ (statusEl.querySelector('.conn-sub')).textContent = sub;
    statusEl.title = sub ? `${t(label)}: ${sub}` : t(label);
  }
  lang(updateStatus);

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
    updateStatus();
  });
  provider.on('sync', (/** @type {boolean} */ synced) => {
    if (synced && !everSynced) {
      everSynced = true;
      renderAll();
      if (!hadSavedViewport && (cards.size || clusters.size)) zoomToFit();
    }
    updateStatus();
  });
  provider.on('closed', onClosed);
  /** Server closes that end this connection (of the board or the private document). @param {{code: number, reason: string}} ev */
  function onClosed(ev) {
    if (ev.code === REJECTED_CLOSE) startOver(ev.reason);
    else if (ev.code === 4403 && /removed/i.test(ev.reason || '')) showRemoved();
    else if (ev.code === 4401 || ev.code === 4403) showFatal('fatalToken', 'rejoin');
    else if (ev.code === 4404) {
      // `room deleted`: a facilitator deleted it, for good; else it was never found
      const deleted = /deleted/i.test(ev.reason || '');
      showFatal(deleted ? 'fatalRoomDeleted' : 'fatalRoom', deleted ? 'home' : 'reload');
    }
    else if (ev.code === 1009) showFatal('fatalTooBig', 'reload');
  }
  // warn before closing the tab while changes have not reached the server yet
  const onBeforeUnload = (/** @type {BeforeUnloadEvent} */ ev) => {
    if (pending && !(provider.wsconnected && provider.synced && priv.synced)) {
      ev.preventDefault();
      ev.returnValue = '';
    }
  };
  window.addEventListener('beforeunload', onBeforeUnload);
  const onOffline = () => { provider.disconnect(); priv.provider?.disconnect(); updateStatus(); };
  const onOnline = () => { if (!fatal) { provider.connect(); priv.provider?.connect(); } updateStatus(); };
  window.addEventListener('offline', onOffline);
  window.addEventListener('online', onOnline);
  cleanups.push(() => {
    window.removeEventListener('beforeunload', onBeforeUnload);
    window.removeEventListener('offline', onOffline);
    window.removeEventListener('online', onOnline);
  });
  if (!navigator.onLine) provider.disconnect();

  /** @param {string} key @param {'rejoin' | 'reload' | 'home'} next what the user can do */
  function showFatal(key, next) {
    fatal = key;
    provider.disconnect();
    priv.provider?.disconnect();
    if (next !== 'reload') clearSession(room);
    const action = next === 'rejoin'
      ? h('a', { class: 'btn btn-primary', href: code ? `/join/${code}` : '/', i18n: { text: 'rejoin' } })
      : next === 'home'
        ? h('a', { class: 'btn btn-primary', href: '/', i18n: { text: 'toStart' } })
        : h('button', { type: 'button', class: 'btn btn-primary', i18n: { text: 'reload' }, onclick: () => location.reload() });
    fatalEl.replaceChildren(h('p', { i18n: { text: key } }), action);
    fatalEl.dataset.reason = key;
    fatalEl.hidden = false;
    if (editing) stopEdit(false);
    panel?.close();
    updateStatus();
  }
  /** This facilitator deleted the room: to the start page, which says so. @param {string} what the room's title */
  function roomDeleted(what) {
    unmount();
    clearSession(room);
    history.pushState(null, '', '/');
    renderStart(app, { notice: t('roomDeletedNotice', { title: what }) });
  }
  /** The facilitator removed this participant: the token no longer works. */
  function showRemoved() {
    if (fatal !== 'fatalRemoved') showFatal('fatalRemoved', 'home');
  }

  let startingOver = false;
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
    window.setTimeout(() => {
      unmount();
      renderBoard(app, room, loadSession(room) || session, { notice, generation: (opts.generation || 0) + 1 });
    }, 0);
  }

  // ---------------------------------------------------------------- presence
  let lastCursorSent = 0;
  let cursorTimer = 0;
  /** @type {{x: number, y: number} | null} */
  let pendingCursor = null;
  /** @param {{x: number, y: number} | null} c */
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

  /** @type {Map<number, HTMLElement>} */
  const cursorEls = new Map();
  function renderPresence() {
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
  let lastPresence = '';
  const getLangTag = () => t('you');
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
    /** @type {HTMLElement} */ (presence.querySelector('.presence-count')).textContent = t('peopleCount', { n: list.length });
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
  /** @param {unknown} c */
  const safeUserColor = (c) => (typeof c === 'string' && /^#[0-9a-f]{6}$/i.test(c) ? c : '#37474f');
  awareness.on('change', renderPresence);
  lang(renderPresence);

  // ---------------------------------------------------------------- room summary
  const applyTitle = () => {
    titleEl.textContent = title || t('board');
    document.title = title ? `${title} · ${t('appName')}` : t('appName');
  };
  lang(applyTitle);
  roomSummary(room, session.token).then((s) => {
    title = state.title || s.title;
    code = s.code;
    updateSession(room, { title, code });
    applyTitle();
    renderCode();
    if (invite.dlg.open) invite.refresh();
    learnIdentity(s.participant, s.role, s.name);
  }).catch((e) => {
    if (e instanceof ApiError) {
      if (e.slug === 'participant_removed') showRemoved();
      else if (e.status === 401 || e.status === 403) showFatal('fatalToken', 'rejoin');
      else if (e.status === 404) showFatal('fatalRoom', 'reload');
    }
  });

  // ---------------------------------------------------------------- facilitation
  /**
   * Who this token belongs to (server `hello`, room summary). A facilitator link only carries the
   * token, so the participant id may be learnt here; a different role re-mounts the board.
   * @param {unknown} participant @param {unknown} role @param {unknown} name
   */
  function learnIdentity(participant, role, name) {
    /** @type {Partial<RoomSession>} */
    const patch = {};
    if (typeof participant === 'string' && participant && participant !== session.participant) patch.participant = participant;
    if (typeof role === 'string' && role && role !== session.role) patch.role = role;
    if (typeof name === 'string' && name && name !== session.name) patch.name = name;
    if (!Object.keys(patch).length) return;
    Object.assign(session, patch);
    updateSession(room, patch);
    if (patch.participant) me.id = patch.participant;
    if (patch.name) me.name = patch.name;
    if (patch.role && patch.role !== mountedRole && !fatal) {
      unmount();
      renderBoard(app, room, session, { generation: opts.generation || 0 });
      return;
    }
    const st = awareness.getLocalState();
    if (st) awareness.setLocalState({ ...st, user: { ...st.user, id: me.id, name: me.name || st.user.name, role: me.role } });
    renderAll();
    applyPermissions();
  }

  const follow_ = createFollow({ state, awareness, vp, selfClientId: awareness.clientID });
  follow = follow_;
  const banner = createPhaseBanner(state, [follow_.el]);
  toolbar.after(banner.el);
  cleanups.push(follow_.dispose, banner.dispose);
  if (mountedRole === 'facilitator') {
    const board = { host: main, me, getCode: () => code, getTitle: () => title, onDeleted: roomDeleted, newCode: invite.newCode };
    panel = createFacilitationPanel({ state, run, room, token: session.token, cardText, voting, board });
    header.insertBefore(panel.button, langBtn);
    main.append(panel.panel);
    cleanups.push(panel.dispose);
    // someone came or went: the participant list shows who is online
    const onPeople = (/** @type {{added: number[], removed: number[]}} */ ch) => { if (ch.added.length || ch.removed.length) panel?.onPresence(); };
    awareness.on('change', onPeople);
  }
  /** @param {string} id */
  function cardText(id) {
    const tx = cardMap(id)?.get('text');
    return tx instanceof Y.Text ? tx.toString().trim() : '';
  }

  /** Enable/disable what the phase, the lock and the role allow (facilitators: everything). */
  let permKey = '';
  function applyPermissions() {
    const observer = state.isObserver;
    for (const g of editTools) g.hidden = observer;
    /** @type {HTMLButtonElement} */ (newCardBtn).disabled = !state.canAdd();
    /** @type {HTMLButtonElement} */ (newClusterBtn).disabled = !state.canClusters();
    canvas.dataset.clusters = state.canClusters() ? 'on' : 'off';
    canvas.dataset.readonly = state.frozen && !state.isFacilitator ? 'true' : 'false';
    for (const [id, e] of clusterEls) {
      e.input.readOnly = !state.canClusters();
      void id;
    }
    if (editing && !canEditCard(editing.id)) stopEdit(false);
    const key = JSON.stringify([state.phase, state.locked, state.editOthers, state.me.role]);
    if (key !== permKey) {
      if (permKey && !state.isFacilitator) undo.clear();
      permKey = key;
    }
    updateSelectionUi();
    updateUndoUi();
    emptyHint.textContent = t(state.canAdd() ? 'emptyHint' : 'emptyHintReadonly');
    if (state.writesPrivately) priv.connect();
  }
  let lastMetaTitle = '';
  let helloAnonymous = /** @type {boolean | null} */ (null);
  const offState = state.on((kind) => {
    if (kind === 'hello') {
      // The room went anonymous while we are here. Our Yjs client id stamps everything we write,
      // and the others saw it next to our name until now: write under a new one from here on
      // (Yjs itself takes a new client id this way when it detects a clash).
      if (me.anonymous && helloAnonymous === false) doc.clientID = crypto.getRandomValues(new Uint32Array(1))[0] & 0x3fffffff;
      helloAnonymous = !!me.anonymous;
      learnIdentity(me.id, me.role, me.name);
    }
    if (kind === 'meta' || kind === 'hello') {
      applyPermissions();
      if (state.title && state.title !== lastMetaTitle) {
        lastMetaTitle = state.title;
        title = state.title;
        updateSession(room, { title });
        applyTitle();
      }
    }
    if (kind === 'meta' || kind === 'votes' || kind === 'mine' || kind === 'hello') {
      for (const id of cardEls.keys()) renderCard(id);
    }
  });
  cleanups.push(offState);
  lang(applyPermissions);
  if (mountedRole === 'participant' && priv.usedBefore()) priv.connect();

  renderAll();
  updateSelectionUi();
  updateStatus();
  renderCode();
  applyPermissions();
  if (opts.showInvite) invite.open();
  if (opts.notice) notify(opts.notice, 'warn', { sticky: true, testid: 'restart-notice' });

  let unmounted = false;
  /** Close the connections and remove every global listener (before mounting a new board). */
  function unmount() {
    if (unmounted) return;
    unmounted = true;
    if (editing) stopEdit(false);
    for (const fn of cleanups.splice(0)) {
      try { fn(); } catch { /* keep cleaning up */ }
    }
    clearTimeout(vpSaveTimer);
    clearTimeout(cursorTimer);
    clearTimeout(writeTimer);
    provider.destroy();
    priv.destroy();
    doc.destroy();
  }

  // test/debug hook (read-only use in browser tests)
  /** @type {any} */ (window).koprade = {
    doc, provider, undo, vp, selection, meta: state, privateDoc: priv.doc,
    get privateProvider() { return priv.provider; },
    generation: opts.generation || 0,
    follow: follow_,
  };
  return unmount;
}
