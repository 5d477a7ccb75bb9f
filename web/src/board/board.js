/**
 * The board of one room: builds the page (header, toolbar, canvas) and puts the board's parts
 * together; each part is a module of its own:
 *
 * | module          | concept                                                              |
 * | --------------- | -------------------------------------------------------------------- |
 * | model.js        | the cards and frames of the shared and the private document          |
 * | connection.js   | the provider, the connection indicator, fatal ends and starting over |
 * | presence.js     | people list, live cursors, own awareness entry                       |
 * | selection.js    | selected cards, pan/select mode                                      |
 * | cards.js        | drawing, creating, deleting, colouring and editing cards             |
 * | clusters.js     | drawing, creating, deleting, moving and resizing frames              |
 * | gestures.js     | pointer gestures on the canvas                                       |
 * | keyboard.js     | keyboard shortcuts                                                   |
 * | toolbar.js      | the toolbar's buttons                                                |
 *
 * What stays here: the room's identity and title, the permissions that follow the phase, lock
 * and role (`applyPermissions`), undo/redo, and mounting/unmounting the whole.
 *
 * Navigation away from the board (the start page after deleting the room) is a callback from
 * main.js: the board never imports the start page.
 */
import * as Y from 'yjs';
import { h, icon, langButton } from '../dom.js';
import { t, onLang } from '../i18n/index.js';
import { roomSummary, changeCode, ApiError } from '../api.js';
import { clearSession, updateSession, loadSession } from '../session.js';
import { Viewport } from './viewport.js';
import { inviteDialog, helpDialog } from './dialogs.js';
import { RoomState } from './meta.js';
import { commandRunner } from './commands.js';
import { createPhaseBanner, createNotices } from './banner.js';
import { createTimerDisplay } from './timer.js';
import { createVoting } from './voting.js';
import { createFacilitationPanel } from './facilitation.js';
import { createPrivateBoard, MultiUndo } from './private.js';
import { createFollow } from './follow.js';
import { num } from './cardview.js';
import { LOCAL, createBoardModel, changedIds } from './model.js';
import { createConnection, shouldReconnect } from './connection.js';
import { createPresence } from './presence.js';
import { createSelection } from './selection.js';
import { createCards } from './cards.js';
import { createClusters } from './clusters.js';
import { createGestures } from './gestures.js';
import { bindKeyboard } from './keyboard.js';
import { createToolbar } from './toolbar.js';

/** @typedef {import('../session.js').RoomSession} RoomSession */

/**
 * Where the board can send the user; given by main.js, which routes.
 * @typedef {{toStart: (opts: {notice?: string}) => void}} BoardNavigation
 */

/**
 * Mount the board of `room` into `app`.
 * @param {HTMLElement} app
 * @param {string} room
 * @param {RoomSession} session
 * @param {BoardNavigation} nav
 * @param {{showInvite?: boolean, notice?: string, generation?: number}} [opts] `notice`: shown at once
 *   (why the board was started over); `generation`: how many times it was started over
 * @returns {() => void} unmount (closes the connections, removes global listeners)
 */
export function renderBoard(app, room, session, nav, opts = {}) {
  app.replaceChildren();
  app.className = 'board-view';
  /** @type {(() => void)[]} */
  const cleanups = [];
  /** onLang that is undone on unmount @param {() => void} fn */
  const lang = (fn) => { const off = onLang(fn); cleanups.push(() => { off(); }); };

  const doc = new Y.Doc();
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/rooms`;
  // silent brainstorming: this participant's private cards (connected when first needed)
  const priv = createPrivateBoard({
    wsUrl, room, token: session.token, shouldReconnect,
    onServerMessage: (msg) => state.receive(msg),
    setup: (p) => connection.watch(p),
  });
  const trackLocal = { trackedOrigins: new Set([LOCAL]), captureTimeout: 400 };
  const undo = new MultiUndo([
    new Y.UndoManager([doc.getMap('cards'), doc.getMap('clusters')], trackLocal),
    new Y.UndoManager([priv.cards], trackLocal),
  ]);

  /** @type {import('./meta.js').Me} */
  const me = {
    id: session.participant || `anon-${doc.clientID}`,
    name: session.name || '',
    role: session.role || 'participant',
  };
  const mountedRole = me.role;
  const state = new RoomState(doc, me);
  let title = session.title || '';
  let code = session.code || '';
  const { el: noticesEl, notify } = createNotices();
  /** @type {ReturnType<typeof createFacilitationPanel> | null} */
  let panel = null;
  const run = commandRunner(room, () => session.token, state, () => connection.showRemoved());

  // ---------------------------------------------------------------- page skeleton
  const titleEl = h('h1', { class: 'room-title', 'data-testid': 'room-title', text: title || '…' });
  const codeBtn = h('button', { type: 'button', class: 'btn btn-code', 'data-testid': 'code-button', 'aria-haspopup': 'dialog' },
    icon('qr'), h('span', { class: 'code-text' }));
  const statusEl = h('div', { class: 'conn', role: 'status', 'data-testid': 'connection', 'data-state': 'connecting' },
    h('span', { class: 'conn-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'conn-lines' }, h('span', { class: 'conn-text' }), h('span', { class: 'conn-sub' })));
  // focusable: with a full header the list scrolls, and must scroll by keyboard too
  const presenceList = h('ul', { class: 'presence-list', 'data-testid': 'presence', tabindex: '0', i18n: { 'aria-label': 'people' } });
  const presenceEl = h('div', { class: 'presence', role: 'group', i18n: { 'aria-label': 'people' } },
    h('span', { class: 'presence-count', 'data-testid': 'presence-count' }), presenceList);
  const langBtn = langButton();
  const helpBtn = h('button', { type: 'button', class: 'btn btn-icon', 'aria-haspopup': 'dialog', 'data-testid': 'help-button', i18n: { 'aria-label': 'help', title: 'help' } }, icon('help'));

  const timer = createTimerDisplay(state);
  const voting = createVoting({ state, run, notify });
  cleanups.push(timer.dispose, voting.dispose);

  const header = h('header', { class: 'topbar' },
    h('a', { href: '/', class: 'brand' }, h('img', { src: '/assets/icon.svg', alt: t('appName'), width: '32', height: '32' })),
    titleEl, codeBtn, statusEl, presenceEl, timer.el, voting.chip, h('div', { class: 'spacer' }), langBtn, helpBtn);

  const toolbar = createToolbar({
    newCard: () => cards.createAtCenter(),
    newCluster: () => clusters.create(),
    toggleSelectMode: () => selection.setMode(selection.mode === 'select' ? 'pan' : 'select'),
    pickColor: (color) => cards.pickColor(color),
    deleteSelected: () => cards.deleteSelected(),
    undo: () => doUndo(),
    redo: () => doRedo(),
    zoomOut: () => vp.zoomAt(1 / 1.25),
    zoomIn: () => vp.zoomAt(1.25),
    zoomReset: () => vp.zoomAt(1 / vp.z),
    zoomToFit: () => zoomToFit(),
  });
  const { zoomLabel } = toolbar;

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

  const main = h('main', { class: 'board-main', id: 'main' }, toolbar.el, canvas, noticesEl, fatalEl);
  app.append(header, main, invite.dlg, help);

  const renderCode = () => {
    /** @type {HTMLElement} */ (codeBtn.querySelector('.code-text')).textContent = code ? t('joinCodeButton', { code }) : t('invite');
    codeBtn.setAttribute('aria-label', code ? `${t('invite')}: ${t('joinCodeButton', { code })}` : t('invite'));
  };
  lang(renderCode);

  // ---------------------------------------------------------------- viewport
  // the view of this room is kept for the tab (a reload shows the same part of the board)
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

  // ---------------------------------------------------------------- content
  /** @type {Map<string, import('./model.js').CardEntry>} */
  const cardEls = new Map();
  /** @type {Map<string, import('./clusters.js').ClusterEntry>} */
  const clusterEls = new Map();
  const model = createBoardModel({ doc, priv, state, notify, cardEls });
  const selection = createSelection({ cardEls, canEditCard: model.canEditCard, deleteBtn: toolbar.deleteBtn, selectBtn: toolbar.selectBtn, canvas });
  const cards = createCards({
    model, cardEls, state, me, priv, selection, voting, undo, vp, cardLayer, canvas,
    swatches: toolbar.swatches, isPointerActive: () => gestures.pointerActive,
  });
  const clusters = createClusters({ model, clusterEls, state, selection, undo, vp, clusterLayer, canvas });

  function updateEmptyHint() {
    emptyHint.hidden = !model.isEmpty();
  }
  function renderAll() {
    const ids = model.allCardIds().sort((a, b) => num(model.cardMap(a)?.get('created')) - num(model.cardMap(b)?.get('created')));
    for (const id of ids) cards.render(id);
    for (const id of model.clusters.keys()) clusters.render(id);
    updateEmptyHint();
  }
  model.cards.observeDeep((events) => {
    for (const id of changedIds(model.cards, events)) cards.render(id);
    updateEmptyHint();
    panel?.refreshResults();
  });
  model.pcards.observeDeep((events) => {
    for (const id of changedIds(model.pcards, events)) cards.render(id);
    updateEmptyHint();
  });
  model.clusters.observeDeep((events) => {
    for (const id of changedIds(model.clusters, events)) clusters.render(id);
    updateEmptyHint();
  });
  lang(() => { for (const id of cardEls.keys()) cards.render(id); for (const id of clusterEls.keys()) clusters.label(id); });

  // ---------------------------------------------------------------- undo
  // Undo/redo are offered only while this client may change the board; a phase or lock change
  // clears the history (undoing across it would be rejected by the server).
  const undoAllowed = () => state.isFacilitator || !state.frozen;
  function doUndo() {
    if (!undoAllowed()) return;
    cards.stopEdit(false);
    undo.undo();
  }
  function doRedo() {
    if (!undoAllowed()) return;
    cards.stopEdit(false);
    undo.redo();
  }
  const updateUndoUi = () => {
    /** @type {HTMLButtonElement} */ (toolbar.undoBtn).disabled = !undo.canUndo || !undoAllowed();
    /** @type {HTMLButtonElement} */ (toolbar.redoBtn).disabled = !undo.canRedo || !undoAllowed();
  };
  undo.onChange(updateUndoUi);
  updateUndoUi();

  function zoomToFit() {
    vp.fit(model.contentBounds());
  }

  // ---------------------------------------------------------------- connection and presence
  const connection = createConnection({
    wsUrl, room, token: session.token, doc, state, priv, statusEl, fatalEl, lang,
    getCode: () => code,
    onFatal: () => { cards.stopEdit(false); panel?.close(); },
    startOver: (notice) => {
      unmount();
      renderBoard(app, room, loadSession(room) || session, nav, { notice, generation: (opts.generation || 0) + 1 });
    },
    onFirstSync: () => {
      renderAll();
      if (!hadSavedViewport && (model.cards.size || model.clusters.size)) zoomToFit();
    },
  });
  const { provider } = connection;
  const awareness = provider.awareness;
  const presence = createPresence({ provider, me, state, vp, presenceEl, presenceList, cursorLayer, lang });

  // ---------------------------------------------------------------- input
  const gestures = createGestures({ canvas, lasso, vp, model, state, undo, selection, cards, clusters, cardEls, clusterEls, presence });
  cleanups.push(bindKeyboard({
    app, main, invite, help, vp, model, selection, cards, clusters,
    undoRedo: { undo: doUndo, redo: doRedo }, zoomToFit,
  }));

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
      if (e.slug === 'participant_removed') connection.showRemoved();
      else if (e.status === 401 || e.status === 403) connection.showFatal('fatalToken', 'rejoin');
      else if (e.status === 404) connection.showFatal('fatalRoom', 'reload');
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
    if (patch.role && patch.role !== mountedRole && !connection.fatal) {
      unmount();
      renderBoard(app, room, session, nav, { generation: opts.generation || 0 });
      return;
    }
    presence.announce(me);
    renderAll();
    applyPermissions();
  }

  /** This facilitator deleted the room: to the start page, which says so. @param {string} what the room's title */
  function roomDeleted(what) {
    unmount();
    clearSession(room);
    nav.toStart({ notice: t('roomDeletedNotice', { title: what }) });
  }

  const follow_ = createFollow({ state, awareness, vp, selfClientId: awareness.clientID });
  follow = follow_;
  const banner = createPhaseBanner(state, [follow_.el]);
  toolbar.el.after(banner.el);
  cleanups.push(follow_.dispose, banner.dispose);
  if (mountedRole === 'facilitator') {
    const board = { host: main, me, getCode: () => code, getTitle: () => title, onDeleted: roomDeleted, newCode: invite.newCode };
    panel = createFacilitationPanel({ state, run, room, token: session.token, cardText: model.cardText, voting, board });
    header.insertBefore(panel.button, langBtn);
    main.append(panel.panel);
    cleanups.push(panel.dispose);
    // someone came or went: the participant list shows who is online
    const onPeople = (/** @type {{added: number[], removed: number[]}} */ ch) => { if (ch.added.length || ch.removed.length) panel?.onPresence(); };
    awareness.on('change', onPeople);
  }

  /** Enable/disable what the phase, the lock and the role allow (facilitators: everything). */
  let permKey = '';
  function applyPermissions() {
    const observer = state.isObserver;
    for (const g of toolbar.editTools) g.hidden = observer;
    /** @type {HTMLButtonElement} */ (toolbar.newCardBtn).disabled = !state.canAdd();
    /** @type {HTMLButtonElement} */ (toolbar.newClusterBtn).disabled = !state.canClusters();
    canvas.dataset.clusters = state.canClusters() ? 'on' : 'off';
    canvas.dataset.readonly = state.frozen && !state.isFacilitator ? 'true' : 'false';
    for (const e of clusterEls.values()) e.input.readOnly = !state.canClusters();
    const editingId = cards.editingId;
    if (editingId && !model.canEditCard(editingId)) cards.stopEdit(false);
    const key = JSON.stringify([state.phase, state.locked, state.editOthers, state.me.role]);
    if (key !== permKey) {
      if (permKey && !state.isFacilitator) undo.clear();
      permKey = key;
    }
    selection.changed();
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
      for (const id of cardEls.keys()) cards.render(id);
    }
  });
  cleanups.push(offState);
  lang(applyPermissions);
  if (mountedRole === 'participant' && priv.usedBefore()) priv.connect();

  renderAll();
  selection.changed();
  connection.updateStatus();
  renderCode();
  applyPermissions();
  if (opts.showInvite) invite.open();
  if (opts.notice) notify(opts.notice, 'warn', { sticky: true, testid: 'restart-notice' });

  let unmounted = false;
  /** Close the connections and remove every global listener (before mounting a new board). */
  function unmount() {
    if (unmounted) return;
    unmounted = true;
    cards.stopEdit(false);
    for (const fn of cleanups.splice(0)) {
      try { fn(); } catch { /* keep cleaning up */ }
    }
    clearTimeout(vpSaveTimer);
    presence.dispose();
    gestures.dispose();
    connection.dispose();
    priv.destroy();
    doc.destroy();
  }

  // test/debug hook (read-only use in browser tests)
  /** @type {any} */ (window).koprade = {
    doc, provider, undo, vp, selection: selection.ids, meta: state, privateDoc: priv.doc,
    get privateProvider() { return priv.provider; },
    generation: opts.generation || 0,
    follow: follow_,
  };
  return unmount;
}
