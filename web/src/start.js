import { h, langButton } from './dom.js';
import { t, getLang } from './i18n/index.js';
import { createRoom, joinRoom, organizerStatus, ApiError } from './api.js';
import { storedKey, storeKey } from './organizer.js';
import { saveSession } from './session.js';
import { createTemplatePicker } from './templates.js';
import { createImportBox } from './importboard.js';

/** @param {unknown} e */
function errorText(e) {
  if (e instanceof ApiError) {
    if (e.status === 0) return t('errNetwork');
    if (e.slug === 'room_not_found') return t('errRoomNotFound');
    if (e.slug === 'room_closed') return t('errRoomClosed');
    if (e.slug === 'too_many_failed_joins') return t('errTooManyJoins', { seconds: e.retryAfter || 60 });
    if (e.slug === 'template_not_found') return t('errTemplateNotFound');
    if (/invite/.test(e.slug) || e.field === 'invite') return t('errInvalidInvite');
    if (e.slug === 'organizer_key_required') return t('errOrganizerKey');
    if (e.slug === 'organizer_key_invalid') return t('errOrganizerKeyInvalid');
    if (e.slug === 'invalid_field') return t('errInvalidField', { field: e.field || e.message });
    if (e.status >= 500) return t('errServer', { status: e.status });
    return e.message || t('errServer', { status: e.status });
  }
  return t('errNetwork');
}

/**
 * @param {string} id
 * @param {string} labelKey
 * @param {Record<string, any>} inputAttrs
 * @param {string} [hintKey]
 */
function field(id, labelKey, inputAttrs, hintKey) {
  const input = h('input', { id, class: 'input', ...inputAttrs, 'aria-describedby': hintKey ? `${id}-hint` : undefined });
  return {
    input,
    el: h('div', { class: 'field' },
      h('label', { for: id, i18n: { text: labelKey } }),
      hintKey ? h('p', { id: `${id}-hint`, class: 'hint', i18n: { text: hintKey } }) : null,
      input),
  };
}

/**
 * Where the start page sends the user once a room is joined or created; given by main.js, which
 * routes (the start page never imports the board).
 * @typedef {{toBoard: (room: string, session: import('./session.js').RoomSession, opts?: {showInvite?: boolean}) => void}} StartNavigation
 */

/**
 * @param {HTMLElement} app
 * @param {StartNavigation} nav
 * @param {{code?: string, notice?: string, invite?: string}} opts `invite`: a co-facilitator
 *   invite from `/join/{CODE}#invite=...`, sent with the join
 */
export function renderStart(app, nav, opts = {}) {
  app.replaceChildren();
  app.className = 'start-view';

  // join form
  const code = field('join-code', 'code', {
    name: 'code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', maxlength: '16',
    required: true, class: 'input input-code', value: opts.code ? opts.code.toUpperCase() : '',
  }, 'codeHint');
  const name = field('join-name', 'name', { name: 'name', autocomplete: 'nickname', maxlength: '60', required: true }, 'nameHint');
  const observer = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', id: 'join-observer', name: 'observer', 'data-testid': 'join-observer' }));
  const observerField = h('div', { class: 'field field-check' }, observer, h('label', { for: 'join-observer', i18n: { text: 'joinAsObserver' } }));
  const inviteNote = opts.invite ? h('p', { class: 'notice', role: 'status', 'data-testid': 'invite-notice', i18n: { text: 'inviteNotice' } }) : null;
  if (opts.invite) observerField.hidden = true;
  const joinError = h('p', { class: 'form-error', role: 'alert', id: 'join-error' });
  const joinBtn = h('button', { type: 'submit', class: 'btn btn-primary btn-big', i18n: { text: 'join' } });
  const joinForm = h('form', { class: 'card-panel', 'aria-labelledby': 'join-heading', novalidate: true },
    h('h2', { id: 'join-heading', i18n: { text: 'joinHeading' } }),
    inviteNote,
    h('p', { class: 'intro', i18n: { text: 'joinIntro' } }),
    code.el, name.el, observerField, joinError, joinBtn);

  joinForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    joinError.textContent = '';
    const c = /** @type {HTMLInputElement} */ (code.input).value.trim();
    const n = /** @type {HTMLInputElement} */ (name.input).value.trim();
    if (!c) { joinError.textContent = t('errRequired'); code.input.focus(); return; }
    if (!n) { joinError.textContent = t('errRequired'); name.input.focus(); return; }
    busy(joinBtn, true);
    try {
      /** @type {{role?: 'observer', invite?: string}} */
      const extra = opts.invite ? { invite: opts.invite } : observer.checked ? { role: 'observer' } : {};
      const res = await joinRoom(c, n, extra);
      const session = { token: res.token, participant: res.participant, name: res.name, role: res.role || extra.role || 'participant', title: res.title };
      saveSession(res.room, session);
      nav.toBoard(res.room, session);
    } catch (e) {
      joinError.textContent = errorText(e);
      busy(joinBtn, false);
    }
  });

  // create form
  const title = field('create-title', 'workshopTitle', { name: 'title', maxlength: '200', required: true, autocomplete: 'off', i18n: { placeholder: 'workshopTitlePlaceholder' } });
  const fname = field('create-name', 'yourNameOptional', { name: 'name', autocomplete: 'nickname', maxlength: '60' }, 'facilitatorNameHint');
  // The organizer key: from the server's printed link (kept in this browser), or typed here.
  const key = field('create-key', 'organizerKey', { name: 'organizer_key', type: 'password', autocomplete: 'off', 'data-testid': 'organizer-key', value: storedKey() }, 'organizerKeyHint');
  key.el.hidden = true;
  const keyValue = () => /** @type {HTMLInputElement} */ (key.input).value.trim();
  const showKey = () => { key.el.hidden = false; keyOffer.hidden = true; key.input.focus(); };
  const keyStatus = h('p', { class: 'hint key-status', role: 'status', 'data-testid': 'key-status' });
  const forgetKey = h('button', { type: 'button', class: 'btn btn-link', 'data-testid': 'key-forget', i18n: { text: 'organizerKeyForget' } });
  const keyBox = h('div', { class: 'key-box', hidden: true }, keyStatus, forgetKey);
  const keyOffer = h('button', { type: 'button', class: 'btn btn-link', hidden: true, 'data-testid': 'key-offer', i18n: { text: 'organizerKeyOffer' } });
  keyOffer.addEventListener('click', showKey);
  const picker = createTemplatePicker({ getKey: keyValue });
  /** Ask the server whether the key is needed and whether ours is right; show what follows. */
  const checkKey = async () => {
    let status;
    try { status = await organizerStatus(keyValue() || undefined); } catch { return; }
    keyBox.hidden = !status.keyAccepted;
    if (status.keyAccepted) {
      storeKey(keyValue());
      key.el.hidden = true;
      keyOffer.hidden = true;
      keyStatus.textContent = t('organizerKeySaved');
      return;
    }
    if (keyValue()) {
      storeKey('');
      createError.textContent = t('errOrganizerKeyInvalid');
    }
    if (status.keyRequiredToCreate) showKeyField(); else keyOffer.hidden = !key.el.hidden;
  };
  const showKeyField = () => { key.el.hidden = false; keyOffer.hidden = true; };
  forgetKey.addEventListener('click', () => {
    storeKey('');
    /** @type {HTMLInputElement} */ (key.input).value = '';
    createError.textContent = '';
    picker.reload();
    checkKey();
  });
  key.input.addEventListener('change', () => { createError.textContent = ''; picker.reload(); checkKey(); });
  const createError = h('p', { class: 'form-error', role: 'alert', id: 'create-error' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-secondary btn-big', i18n: { text: 'create' } });
  const createForm = h('form', { 'aria-labelledby': 'create-heading', novalidate: true },
    h('h2', { id: 'create-heading', i18n: { text: 'createHeading' } }),
    h('p', { class: 'intro', i18n: { text: 'createIntro' } }),
    title.el, fname.el, picker.el, key.el, keyBox, keyOffer, createError, createBtn);
  /** Open a new room as its facilitator. @param {import('./api.js').NewRoom} res @param {string} displayName */
  const openAsFacilitator = (res, displayName) => {
    const session = { token: res.facilitator_token, participant: res.participant, name: displayName, role: 'facilitator', title: res.title, code: res.code };
    saveSession(res.room, session);
    nav.toBoard(res.room, session, { showInvite: true });
  };
  const importBox = createImportBox({
    getKey: keyValue,
    getName: () => /** @type {HTMLInputElement} */ (fname.input).value.trim(),
    needKey: showKey,
    errorText,
    opened: openAsFacilitator,
  });
  const createPanel = h('div', { class: 'card-panel create-panel' }, createForm, importBox.el);

  createForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    createError.textContent = '';
    const ti = /** @type {HTMLInputElement} */ (title.input).value.trim();
    if (!ti) { createError.textContent = t('errRequired'); title.input.focus(); return; }
    busy(createBtn, true);
    try {
      const fn = /** @type {HTMLInputElement} */ (fname.input).value.trim();
      const displayName = fn || t('facilitatorDefaultName');
      const template = picker.value();
      const res = await createRoom(ti, keyValue() || undefined, displayName, template ? { template, lang: getLang() } : {});
      if (keyValue()) storeKey(keyValue());
      openAsFacilitator(res, displayName);
    } catch (e) {
      if (e instanceof ApiError && e.slug.startsWith('organizer_key')) showKey();
      createError.textContent = errorText(e);
      busy(createBtn, false);
    }
  });

  const notice = opts.notice ? h('p', { class: 'notice', role: 'status', 'data-testid': 'start-notice', text: opts.notice }) : null;

  app.append(
    h('header', { class: 'start-header' },
      h('span', { class: 'brand', 'aria-hidden': 'true' }, h('img', { src: '/assets/icon.svg', alt: '', width: '32', height: '32' }), h('span', { i18n: { text: 'appName' } })),
      langButton()),
    h('main', { class: 'start-main', id: 'main' },
      h('h1', { class: 'start-title' }, h('span', { i18n: { text: 'appName' } })),
      h('p', { class: 'tagline', i18n: { text: 'tagline' } }),
      notice,
      h('div', { class: 'start-grid' }, joinForm, createPanel)),
  );
  if (opts.code) name.input.focus();
  checkKey();
}

/** @param {HTMLElement} btn @param {boolean} on */
function busy(btn, on) {
  /** @type {HTMLButtonElement} */ (btn).disabled = on;
  btn.setAttribute('aria-busy', on ? 'true' : 'false');
}
