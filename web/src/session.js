/**
 * Per-tab identity: the token (and what we know about the room) is kept in sessionStorage keyed
 * by room, so a reload of the tab returns to the same identity while other tabs can join as
 * someone else.
 */

/**
 * @typedef {{token: string, participant?: string, name?: string, role?: string, title?: string, code?: string}} RoomSession
 */

const key = (/** @type {string} */ room) => `koprade:room:${room}`;

/** @param {string} room @returns {RoomSession | null} */
export function loadSession(room) {
  try {
    const raw = sessionStorage.getItem(key(room));
    if (!raw) return null;
    const s = JSON.parse(raw);
    return s && typeof s.token === 'string' ? s : null;
  } catch {
    return null;
  }
}

/** @param {string} room @param {RoomSession} s */
export function saveSession(room, s) {
  try { sessionStorage.setItem(key(room), JSON.stringify(s)); } catch { /* ignore */ }
}

/** @param {string} room @param {Partial<RoomSession>} patch */
export function updateSession(room, patch) {
  const s = loadSession(room);
  if (s) saveSession(room, { ...s, ...patch });
}

/** @param {string} room */
export function clearSession(room) {
  try { sessionStorage.removeItem(key(room)); } catch { /* ignore */ }
}

/** Random id for cards and clusters (works outside secure contexts too). */
export function randomId() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
