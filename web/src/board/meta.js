/**
 * Room state of docs/facilitation.md, read on the client: the server-written `meta` and `votes`
 * maps of the board, the clock offset and the participant's own votes from the server's
 * messages (y-websocket message type 100), and what the current phase, lock and role allow.
 *
 * The server enforces every rule; the checks here only keep the UI from offering what would be
 * rejected (a rejected update costs the client its document: close 4409, see connection.js).
 */
import * as Y from 'yjs';

export const PHASES = ['explore', 'ideate', 'cluster', 'vote', 'discuss', 'closed'];

/** What participants may do in each phase (docs/facilitation.md, "Phases"). */
/** @type {Record<string, {add?: boolean, edit?: boolean, move?: boolean, clusters?: boolean, vote?: boolean}>} */
const PHASE_RULES = {
  explore: { add: true, edit: true, move: true, clusters: true },
  ideate: { add: true, edit: true, move: true },
  cluster: { add: true, edit: true, move: true, clusters: true },
  vote: { vote: true },
  discuss: { add: true, edit: true, move: true },
  closed: {},
};

/** @typedef {{state: 'stopped' | 'running' | 'paused', endsAt: number | null, remainingMs: number | null, durationMs: number}} TimerState */
/** @typedef {{perParticipant: number, perCard: number, anonymous: boolean, hidden: boolean, state: string}} VotingState */
/**
 * Who this client is. From the server's `hello`: `author` is what new cards must carry (a
 * pseudonym in an anonymous room), `pseudonym` names its anonymous cards, and `presence` is how
 * the others see it (in an anonymous room an alias and a number, "Participant 3").
 * @typedef {{id: string, name: string, role: string, author?: string, pseudonym?: string,
 *   anonymous?: boolean, presence?: {id: string, number: number | null}}} Me
 */

/** @returns {TimerState} */
const defaultTimer = () => ({ state: 'stopped', endsAt: null, remainingMs: null, durationMs: 0 });
/** @returns {VotingState} */
const defaultVoting = () => ({ perParticipant: 5, perCard: 3, anonymous: true, hidden: true, state: 'open' });

/** Plain JSON of a meta value (the server writes JSON values; nested Y types are read as JSON too). @param {any} v */
const plain = (v) => (v instanceof Y.AbstractType ? v.toJSON() : v);
/** @param {any} v @param {number | null} d */
const finite = (v, d) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
/** @param {any} v */
const isObj = (v) => !!v && typeof v === 'object' && !Array.isArray(v);

export class RoomState {
  /**
   * @param {Y.Doc} doc the shared board
   * @param {Me} me who this client is (updated from the server's `hello`)
   */
  constructor(doc, me) {
    this.meta = doc.getMap('meta');
    this.votes = doc.getMap('votes');
    this.me = me;
    /** server clock minus local clock, ms */
    this.offset = 0;
    /** @type {Record<string, number>} own votes per card (from the `votes` message) */
    this.mine = {};
    /** @type {number | null} */
    this.remaining = null;
    /** @type {number | null} */
    this.budget = null;
    /** @type {{rule: string, reason: string} | null} the last `rejected` message */
    this.rejected = null;
    /**
     * @type {string | null} the `reason` slug of a `closing` message: the server is about to
     * close the connection for good (`room_deleted`, `participant_removed`)
     */
    this.closing = null;
    /** @type {Set<(kind: string) => void>} */
    this.listeners = new Set();
    this.meta.observeDeep(() => this.emit('meta'));
    this.votes.observeDeep(() => this.emit('votes'));
  }

  /** Subscribe to changes (`meta`, `votes`, `mine`, `hello`, `rejected`, `closing`, `clock`). @param {(kind: string) => void} fn */
  on(fn) {
    this.listeners.add(fn);
    return () => { this.listeners.delete(fn); };
  }

  /** @param {string} kind */
  emit(kind) {
    for (const fn of [...this.listeners]) fn(kind);
  }

  /** @param {string} key */
  get(key) { return plain(this.meta.get(key)); }

  get phase() {
    const p = this.get('phase');
    return typeof p === 'string' && p in PHASE_RULES ? p : 'explore';
  }

  /** @returns {string[]} */
  get phases() {
    const ps = this.get('phases');
    const list = Array.isArray(ps) ? ps.filter((p) => typeof p === 'string' && p in PHASE_RULES) : [];
    return list.length ? list : PHASES.slice();
  }

  get locked() { return this.get('locked') === true; }
  get anonymous() { return this.get('anonymous') === true; }
  get editOthers() { return this.get('editOthers') === true; }
  get privateMode() { return this.get('private') === true; }
  /** @returns {string | null} */
  get followMe() {
    const f = this.get('followMe');
    return typeof f === 'string' && f ? f : null;
  }
  /** @returns {string} */
  get title() {
    const v = this.get('title');
    return typeof v === 'string' ? v : '';
  }

  /** @returns {TimerState} */
  get timer() {
    const v = this.get('timer');
    const d = defaultTimer();
    if (!isObj(v)) return d;
    const state = v.state === 'running' || v.state === 'paused' ? v.state : 'stopped';
    return {
      state,
      endsAt: finite(v.endsAt, null),
      remainingMs: finite(v.remainingMs, null),
      durationMs: finite(v.durationMs, 0) || 0,
    };
  }

  /** @returns {VotingState} */
  get voting() {
    const v = this.get('voting');
    const d = defaultVoting();
    if (!isObj(v)) return d;
    return {
      perParticipant: finite(v.perParticipant, d.perParticipant) || d.perParticipant,
      perCard: finite(v.perCard, d.perCard) || d.perCard,
      anonymous: typeof v.anonymous === 'boolean' ? v.anonymous : d.anonymous,
      hidden: typeof v.hidden === 'boolean' ? v.hidden : d.hidden,
      state: typeof v.state === 'string' ? v.state : d.state,
    };
  }

  /** @returns {Record<string, string>} participant id -> name (empty while anonymous) */
  get people() {
    const v = this.get('people');
    if (this.anonymous || !isObj(v)) return {};
    /** @type {Record<string, string>} */
    const out = {};
    for (const [k, n] of Object.entries(v)) if (typeof n === 'string') out[k] = n;
    return out;
  }

  /** Display name of a participant, or null (anonymous mode, unknown). @param {unknown} id */
  nameOf(id) {
    if (typeof id !== 'string' || this.anonymous) return null;
    return this.people[id] || null;
  }

  /** Vote count of a card from the results in `votes`, or null when there are none. @param {string} card */
  tally(card) {
    const v = plain(this.votes.get(card));
    if (isObj(v) && typeof v.count === 'number') return v.count;
    if (typeof v === 'number') return v;
    return null;
  }

  /** Results written by the server: [card id, count] highest first. @returns {[string, number][]} */
  results() {
    /** @type {[string, number][]} */
    const out = [];
    for (const id of this.votes.keys()) {
      const n = this.tally(id);
      if (n !== null && n > 0) out.push([id, n]);
    }
    return out.sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  }

  get hasResults() { return this.votes.size > 0; }

  /** The server's clock, ms since epoch. */
  now() { return Date.now() + this.offset; }

  /** @param {unknown} serverTime */
  setServerTime(serverTime) {
    if (typeof serverTime === 'number' && Number.isFinite(serverTime)) {
      this.offset = serverTime - Date.now();
      this.emit('clock');
    }
  }

  /** Remaining time of the shared timer in ms (null when stopped). */
  timerRemaining() {
    const tm = this.timer;
    if (tm.state === 'running' && tm.endsAt !== null) return Math.max(0, tm.endsAt - this.now());
    if (tm.state === 'paused') return Math.max(0, tm.remainingMs || 0);
    return null;
  }

  // ------------------------------------------------------------------ what this client may do
  get isFacilitator() { return this.me.role === 'facilitator'; }
  get isObserver() { return this.me.role === 'observer'; }

  /** @param {'add' | 'edit' | 'move' | 'clusters' | 'vote'} what */
  phaseAllows(what) { return !!PHASE_RULES[this.phase][what]; }

  /** Participant rules apply (not a facilitator, not an observer, board not locked). @param {'add' | 'edit' | 'move' | 'clusters'} what */
  participantMay(what) {
    if (this.isFacilitator) return true;
    if (this.isObserver || this.locked) return false;
    return this.phaseAllows(what);
  }

  /** New cards of this client go into its private document (silent brainstorming). */
  get writesPrivately() { return this.privateMode && !this.isFacilitator && !this.isObserver; }

  canAdd() { return this.participantMay('add'); }

  /**
   * Rewrite, recolour, delete. A participant's private cards are theirs alone: always.
   * @param {unknown} author @param {boolean} [isPrivate]
   */
  canEdit(author, isPrivate = false) {
    if (this.isFacilitator) return true;
    if (isPrivate) return !this.isObserver;
    if (!this.participantMay('edit')) return false;
    return this.isMine(author) || this.editOthers;
  }

  /** A card's `author` names this client: its participant id or its anonymous pseudonym. @param {unknown} author */
  isMine(author) {
    return typeof author === 'string' && !!author && (author === this.me.id || author === this.me.pseudonym);
  }

  /** The awareness `user` of a state is this client's own (relayed back under its alias). @param {any} user */
  isOwnPresence(user) {
    return !!user && !!this.me.presence && user.id === this.me.presence.id;
  }

  /** @param {boolean} [isPrivate] */
  canMove(isPrivate = false) {
    if (isPrivate) return !this.isObserver;
    return this.participantMay('move');
  }
  canClusters() { return this.participantMay('clusters'); }

  canVote() {
    if (this.isObserver) return false;
    return this.phase === 'vote' && this.voting.state === 'open';
  }

  /** Nothing on the board may be changed by this client right now. */
  get frozen() { return !this.canAdd() && !this.canMove() && !this.participantMay('edit'); }

  // ------------------------------------------------------------------ server messages
  /** @param {any} msg a parsed message-100 payload */
  receive(msg) {
    if (!isObj(msg)) return;
    if (msg.type === 'hello') {
      this.setServerTime(msg.serverTime);
      if (typeof msg.participant === 'string' && msg.participant) this.me.id = msg.participant;
      if (typeof msg.role === 'string' && msg.role) this.me.role = msg.role;
      if (typeof msg.name === 'string' && msg.name) this.me.name = msg.name;
      if (typeof msg.author === 'string' && msg.author) this.me.author = msg.author;
      if (typeof msg.anonymous === 'boolean') this.me.anonymous = msg.anonymous;
      if (typeof msg.pseudonym === 'string' && msg.pseudonym) this.me.pseudonym = msg.pseudonym;
      const p = msg.presence;
      if (isObj(p) && typeof p.id === 'string') {
        this.me.presence = { id: p.id, number: Number.isInteger(p.number) ? p.number : null };
      }
      this.emit('hello');
    } else if (msg.type === 'votes') {
      this.setVotes(msg);
    } else if (msg.type === 'rejected') {
      this.rejected = { rule: String(msg.rule || ''), reason: String(msg.reason || '') };
      this.emit('rejected');
    } else if (msg.type === 'closing' && typeof msg.reason === 'string') {
      this.closing = msg.reason;
      this.emit('closing');
    }
  }

  /** Own votes from a `votes` message or a vote/unvote response. @param {any} data */
  setVotes(data) {
    if (isObj(data.mine)) {
      /** @type {Record<string, number>} */
      const mine = {};
      for (const [k, n] of Object.entries(data.mine)) if (typeof n === 'number' && n > 0) mine[k] = n;
      this.mine = mine;
    }
    if (typeof data.remaining === 'number') this.remaining = data.remaining;
    if (typeof data.budget === 'number') this.budget = data.budget;
    this.emit('mine');
  }
}
