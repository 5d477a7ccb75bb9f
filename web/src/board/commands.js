/**
 * Facilitation commands (`POST /api/rooms/{room}/commands`): one runner that keeps the clock
 * offset from every response, reports a removed participant, and turns error slugs into
 * friendly, translated messages.
 */
import { command, ApiError } from '../api.js';
import { t } from '../i18n/index.js';

/** Error slugs of docs/facilitation.md ("Commands") that have their own message. */
const KNOWN = new Set([
  'unknown_command', 'facilitator_only', 'observer', 'card_not_found', 'wrong_phase', 'voting_closed',
  'no_votes_left', 'card_limit', 'no_vote_to_remove', 'votes_cast', 'last_phase_missing',
  'participant_removed', 'invalid_token', 'room_not_found',
  // sessions (docs/protocol.md: snapshots, templates, import)
  'snapshot_not_found', 'template_not_found', 'body_too_large', 'invalid_json', 'organizer_key_required', 'organizer_key_invalid',
]);

/** @param {unknown} e */
export function commandErrorText(e) {
  if (e instanceof ApiError) {
    if (e.status === 0) return t('errNetwork');
    if (KNOWN.has(e.slug)) return t(`cmdErr_${e.slug}`);
    if (e.slug === 'invalid_field') return t('errInvalidField', { field: e.field || e.message });
    if (e.status >= 500) return t('errServer', { status: e.status });
    return e.message || t('errServer', { status: e.status });
  }
  return t('errNetwork');
}

/**
 * @param {string} room
 * @param {() => string} getToken
 * @param {import('./meta.js').RoomState} state
 * @param {() => void} onRemoved called when the server says this participant was removed
 */
export function commandRunner(room, getToken, state, onRemoved) {
  /**
   * @param {{command: string} & Record<string, any>} body
   * @returns {Promise<Record<string, any>>}
   */
  return async function run(body) {
    try {
      const res = await command(room, getToken(), body);
      if (res) state.setServerTime(res.serverTime);
      return res || {};
    } catch (e) {
      if (e instanceof ApiError && (e.slug === 'participant_removed' || (e.status === 401 && /removed/i.test(e.message)))) onRemoved();
      throw e;
    }
  };
}

/**
 * Run an async action from a button with feedback in a status element: busy state while it
 * runs, then a success text (or nothing) / the error message.
 * @param {{button?: HTMLElement | null, status?: HTMLElement | null, busy?: string}} ui `busy`: the
 *   progress text (default "Please wait…")
 * @param {() => Promise<string | void>} action returns the success text
 */
export async function withFeedback(ui, action) {
  const { button, status } = ui;
  if (button) {
    /** @type {HTMLButtonElement} */ (button).disabled = true;
    button.setAttribute('aria-busy', 'true');
  }
  if (status) {
    status.dataset.kind = 'busy';
    status.textContent = ui.busy || t('working');
  }
  try {
    const msg = await action();
    if (status) {
      status.dataset.kind = 'ok';
      status.textContent = msg || t('done');
    }
    return true;
  } catch (e) {
    if (status) {
      status.dataset.kind = 'error';
      status.textContent = commandErrorText(e);
    }
    return false;
  } finally {
    if (button) {
      /** @type {HTMLButtonElement} */ (button).disabled = false;
      button.removeAttribute('aria-busy');
    }
  }
}
