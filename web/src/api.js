/**
 * HTTP endpoints of docs/protocol.md: the join flow (section 1), the facilitation endpoints of
 * docs/facilitation.md, and sessions: participation insight, snapshots, templates, exports,
 * import, the room's data and its deletion.
 */

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} slug
   * @param {string} message
   * @param {string} [field]
   * @param {number} [retryAfter] seconds (429)
   */
  constructor(status, slug, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.slug = slug;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

/**
 * @typedef {{method?: string, body?: any, rawBody?: string, token?: string, headers?: Record<string, string>, accept?: string}} RequestOptions
 */

/**
 * One HTTP request; a network failure or a 4xx/5xx becomes an ApiError (slug and message from
 * the `{"error", "message"}` body).
 * @param {string} path
 * @param {RequestOptions} [opts] `body` is sent as JSON, `rawBody` as it is (JSON text)
 * @returns {Promise<Response>}
 */
async function send(path, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = { Accept: opts.accept || 'application/json', ...(opts.headers || {}) };
  const hasBody = opts.body !== undefined || opts.rawBody !== undefined;
  if (hasBody) headers['Content-Type'] = 'application/json';
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let res;
  try {
    res = await fetch(path, {
      method: opts.method || 'GET',
      headers,
      body: opts.rawBody !== undefined ? opts.rawBody : opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { /* non-JSON body */ }
    const retryAfter = Number(res.headers.get('retry-after')) || undefined;
    throw new ApiError(res.status, (data && data.error) || 'http_error', (data && data.message) || res.statusText,
      data && data.field, retryAfter);
  }
  return res;
}

/**
 * A JSON request; resolves to the parsed body (null for 204 or a non-JSON body).
 * @param {string} path
 * @param {RequestOptions} [opts]
 */
async function request(path, opts = {}) {
  const res = await send(path, opts);
  if (res.status === 204) return null;
  try { return await res.json(); } catch { return null; }
}

/** @param {string} room */
const roomPath = (room) => `/api/rooms/${encodeURIComponent(room)}`;

/**
 * @typedef {{room: string, code: string, title: string, created?: string, participant: string, facilitator_token: string, join_url: string, facilitator_url: string}} NewRoom
 */

/** @param {string} [organizerKey] @returns {Record<string, string>} */
const keyHeader = (organizerKey) => (organizerKey ? { 'X-Organizer-Key': organizerKey } : {});

/**
 * @param {string} title
 * @param {string} [organizerKey]
 * @param {string} [name] facilitator's display name (optional)
 * @param {{template?: string, lang?: string}} [start] start from a template, its texts in `lang`
 * @returns {Promise<NewRoom>}
 */
export function createRoom(title, organizerKey, name, start = {}) {
  /** @type {Record<string, string>} */
  const body = { title };
  if (name) body.name = name;
  if (start.template) {
    body.template = start.template;
    if (start.lang) body.lang = start.lang;
  }
  return request('/api/rooms', { method: 'POST', body, headers: keyHeader(organizerKey) });
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
  return request(roomPath(room), { token });
}

/**
 * A facilitation command (`{command: "vote", card}`, `{command: "set_phase", phase}`, ...).
 * @param {string} room
 * @param {string} token
 * @param {{command: string} & Record<string, any>} body
 * @returns {Promise<{ok: boolean, serverTime?: number} & Record<string, any>>}
 */
export function command(room, token, body) {
  return request(`${roomPath(room)}/commands`, { method: 'POST', body, token });
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
  const data = await request(`${roomPath(room)}/participants`, { token });
  if (Array.isArray(data)) return data;
  return data && Array.isArray(data.participants) ? data.participants : [];
}

/**
 * A new join code for the room (facilitator only); the old code stops working.
 * @param {string} room
 * @param {string} token
 * @returns {Promise<{code: string, join_url: string}>}
 */
export function changeCode(room, token) {
  return request(`${roomPath(room)}/code`, { method: 'POST', token });
}

/**
 * Does creating a room need the organizer key here, and is `organizerKey` the right one.
 * @param {string} [organizerKey]
 * @returns {Promise<{keyRequiredToCreate: boolean, keyAccepted: boolean}>}
 */
export function organizerStatus(organizerKey) {
  return request('/api/organizer', { headers: keyHeader(organizerKey) });
}

/**
 * A co-facilitator invite link (facilitator only).
 * @param {string} room
 * @param {string} token
 * @returns {Promise<{invite: string, invite_url: string}>}
 */
export function createInvite(room, token) {
  return request(`${roomPath(room)}/invites`, { method: 'POST', body: { role: 'facilitator' }, token });
}

// ------------------------------------------------------------------ participation insight

/**
 * @typedef {{participant?: string, name?: string, role: string, cards: number, edits: number, votes: number, secondsActive: number, connected: boolean, removed: boolean}} InsightRow
 * @typedef {{anonymous: boolean, phase: string | null, participants: InsightRow[],
 *   totals: {participants: number, cards: number, edits: number, votes: number, silent: number},
 *   equality: {topQuarterShare: number | null, gini: number | null, quarterSize: number}}} Insight
 */

/**
 * Who contributed how much (facilitator only).
 * @param {string} room @param {string} token
 * @returns {Promise<Insight>}
 */
export function roomInsight(room, token) {
  return request(`${roomPath(room)}/insight`, { token });
}

// ------------------------------------------------------------------ snapshots

/**
 * @typedef {{id: number, name: string, kind: string, phase: string | null, author: string | null, authorName: string | null, created: string, bytes: number}} SnapshotEntry
 */

/** @param {string} room @param {string} token @returns {Promise<SnapshotEntry[]>} newest first */
export async function listSnapshots(room, token) {
  const data = await request(`${roomPath(room)}/snapshots`, { token });
  return data && Array.isArray(data.snapshots) ? data.snapshots : [];
}

/** @param {string} room @param {string} token @param {string} name @returns {Promise<SnapshotEntry>} */
export function takeSnapshot(room, token, name) {
  return request(`${roomPath(room)}/snapshots`, { method: 'POST', body: { name }, token });
}

/**
 * A snapshot's Yjs state (apply it to a fresh Y.Doc).
 * @param {string} room @param {string} token @param {number} id
 * @returns {Promise<Uint8Array>}
 */
export async function snapshotState(room, token, id) {
  const res = await send(`${roomPath(room)}/snapshots/${id}?format=yjs`, { token, accept: 'application/octet-stream' });
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * @param {string} room @param {string} token @param {number} id
 * @returns {Promise<{restored: SnapshotEntry, backup: SnapshotEntry}>}
 */
export function restoreSnapshot(room, token, id) {
  return request(`${roomPath(room)}/snapshots/${id}/restore`, { method: 'POST', token });
}

/**
 * A new room with the snapshot's cards and clusters; the caller is its facilitator.
 * @param {string} room @param {string} token @param {number} id @param {string} [title]
 * @returns {Promise<NewRoom>}
 */
export function duplicateSnapshot(room, token, id, title) {
  return request(`${roomPath(room)}/snapshots/${id}/duplicate`, { method: 'POST', body: title ? { title } : {}, token });
}

/** @param {string} room @param {string} token @param {number} id */
export function deleteSnapshot(room, token, id) {
  return request(`${roomPath(room)}/snapshots/${id}`, { method: 'DELETE', token });
}

// ------------------------------------------------------------------ templates

/**
 * @typedef {{id: string, builtin: boolean, name: Record<string, string>, description: Record<string, string>, cards: number, clusters: number, phases: string[] | null, created: string | null, sourceRoom: string | null}} TemplateEntry
 * @typedef {{id: string, title: string, x: number, y: number, w: number, h: number}} ClusterExport
 * @typedef {{id: string, text: string}} CardExport
 */

/**
 * Built-in templates, then saved ones (saved ones only with the organizer key when the server has one).
 * @param {string} [organizerKey]
 * @returns {Promise<TemplateEntry[]>}
 */
export async function listTemplates(organizerKey) {
  const data = await request('/api/templates', { headers: keyHeader(organizerKey) });
  return data && Array.isArray(data.templates) ? data.templates : [];
}

/**
 * A template's board in `lang` (the export format plus `template`).
 * @param {string} id @param {string} lang @param {string} [organizerKey]
 * @returns {Promise<{cards: CardExport[], clusters: ClusterExport[], template: TemplateEntry}>}
 */
export function templatePreview(id, lang, organizerKey) {
  return request(`/api/templates/${encodeURIComponent(id)}?lang=${encodeURIComponent(lang)}`, { headers: keyHeader(organizerKey) });
}

/**
 * Save the room's board as a template of the lab's own.
 * @param {string} room @param {string} token @param {string} name @param {string} [description]
 * @returns {Promise<TemplateEntry>}
 */
export function saveTemplate(room, token, name, description) {
  return request(`${roomPath(room)}/templates`, { method: 'POST', body: description ? { name, description } : { name }, token });
}

// ------------------------------------------------------------------ exports, import, data

/**
 * A download (`export?format=...`, `data`) with the facilitator's token.
 * @param {string} path @param {string} token
 * @returns {Promise<{blob: Blob, filename: string}>}
 */
export async function fetchDownload(path, token) {
  const res = await send(path, { token, accept: '*/*' });
  const blob = await res.blob();
  return { blob, filename: filenameOf(res.headers.get('content-disposition')) };
}

/**
 * The file name of a `Content-Disposition: attachment; filename="..."` header ('' if none).
 * @param {string | null} header
 */
export function filenameOf(header) {
  if (!header) return '';
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (star) {
    try { return decodeURIComponent(star[1].trim()); } catch { /* fall through */ }
  }
  const plain = /filename\s*=\s*(?:"([^"]*)"|([^;\s]+))/.exec(header);
  const name = plain ? (plain[1] ?? plain[2] ?? '') : '';
  // a file name, never a path
  return name.replace(/[\\/]/g, '_').trim();
}

/** @param {string} room @param {string} format @param {string} lang */
export const exportPath = (room, format, lang) => `${roomPath(room)}/export?format=${encodeURIComponent(format)}&lang=${encodeURIComponent(lang)}`;
/** @param {string} room */
export const dataPath = (room) => `${roomPath(room)}/data`;

/**
 * A new room from a JSON export (the file's text as it is); the importer is its facilitator.
 * @param {string} exportText
 * @param {{title?: string, name?: string, organizerKey?: string}} [opts]
 * @returns {Promise<NewRoom & {imported?: {version: number, cards: number, clusters: number, votes: number}}>}
 */
export function importRoom(exportText, opts = {}) {
  const q = new URLSearchParams();
  if (opts.title) q.set('title', opts.title);
  if (opts.name) q.set('name', opts.name);
  const qs = q.toString();
  return request(`/api/rooms/import${qs ? `?${qs}` : ''}`, { method: 'POST', rawBody: exportText, headers: keyHeader(opts.organizerKey) });
}

/**
 * Delete the room with everything stored about it (facilitator only).
 * @param {string} room @param {string} token
 */
export function deleteRoom(room, token) {
  return request(roomPath(room), { method: 'DELETE', token });
}
