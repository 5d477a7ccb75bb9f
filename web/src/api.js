/** HTTP join flow of docs/protocol.md section 1 and the facilitation endpoints of docs/facilitation.md. */

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} slug
   * @param {string} message
   * @param {string} [field]
   */
  constructor(status, slug, message, field) {
    super(message);
    this.status = status;
    this.slug = slug;
    this.field = field;
  }
}

/**
 * @param {string} path
 * @param {{method?: string, body?: any, token?: string, headers?: Record<string, string>}} [opts]
 */
async function request(path, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let res;
  try {
    res = await fetch(path, {
      method: opts.method || 'GET',
      headers,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  let data = null;
  try { data = await res.json(); } catch { /* non-JSON body */ }
  if (!res.ok) {
    throw new ApiError(res.status, (data && data.error) || 'http_error', (data && data.message) || res.statusText,
      data && data.field);
  }
  return data;
}

/**
 * @param {string} title
 * @param {string} [organizerKey]
 * @param {string} [name] facilitator's display name (optional)
 * @returns {Promise<{room: string, code: string, title: string, participant: string, facilitator_token: string, join_url: string, facilitator_url: string}>}
 */
export function createRoom(title, organizerKey, name) {
  return request('/api/rooms', {
    method: 'POST',
    body: name ? { title, name } : { title },
    headers: organizerKey ? { 'X-Organizer-Key': organizerKey } : {},
  });
}

/**
 * @param {string} code
 * @param {string} name
 * @param {{role?: 'observer', invite?: string}} [extra] join as observer, or with a facilitator invite
 * @returns {Promise<{room: string, title: string, participant: string, name: string, role: string, token: string}>}
 */
export function joinRoom(code, name, extra = {}) {
  return request('/api/join', { method: 'POST', body: { code, name, ...extra } });
}

/**
 * @param {string} room
 * @param {string} token
 * @returns {Promise<{room: string, title: string, code: string, created: string, counts: Record<string, number>, participant?: string, name?: string, role?: string}>}
 */
export function roomSummary(room, token) {
  return request(`/api/rooms/${encodeURIComponent(room)}`, { token });
}

/**
 * A facilitation command (`{command: "vote", card}`, `{command: "set_phase", phase}`, ...).
 * @param {string} room
 * @param {string} token
 * @param {{command: string} & Record<string, any>} body
 * @returns {Promise<{ok: boolean, serverTime?: number} & Record<string, any>>}
 */
export function command(room, token, body) {
  return request(`/api/rooms/${encodeURIComponent(room)}/commands`, { method: 'POST', body, token });
}

/**
 * @typedef {{participant: string, name: string, role: string, joined?: string, removed?: boolean | string | null, connected?: boolean | number}} ParticipantInfo
 */

/**
 * Everyone who joined the room (facilitator only).
 * @param {string} room
 * @param {string} token
 * @returns {Promise<ParticipantInfo[]>}
 */
export async function listParticipants(room, token) {
  const data = await request(`/api/rooms/${encodeURIComponent(room)}/participants`, { token });
  if (Array.isArray(data)) return data;
  return data && Array.isArray(data.participants) ? data.participants : [];
}

/**
 * A co-facilitator invite link (facilitator only).
 * @param {string} room
 * @param {string} token
 * @returns {Promise<{invite: string, invite_url: string}>}
 */
export function createInvite(room, token) {
  return request(`/api/rooms/${encodeURIComponent(room)}/invites`, { method: 'POST', body: { role: 'facilitator' }, token });
}
