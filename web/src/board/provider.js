/**
 * The connection of one Yjs document to the Koprade server: a `WebsocketProvider` set up the way
 * every board connection needs it, through y-websocket's public options only.
 *
 * - `OwnStateAwareness` (passed as the provider's `awareness` option): stock y-websocket
 *   re-broadcasts every awareness change it applies, the states of other clients it has just
 *   received included. The server drops entries for client ids a connection does not own, so
 *   sending them only costs one upstream message per remote cursor move.
 * - Koprade's own server messages (type 100, JSON in a varstring: `hello`, `votes`, `rejected`,
 *   `closing`) go to a callback; without a handler the stock provider logs each as an error.
 */
import { WebsocketProvider } from 'y-websocket';
import { Awareness } from 'y-protocols/awareness';
import * as decoding from 'lib0/decoding';

/** Message type of Koprade's own server -> client messages (docs/protocol.md). */
export const MESSAGE_KOPRADE = 100;

/**
 * An Awareness whose `update` event only reports this client's own entry.
 *
 * In y-protocols, `change` tells what the states are (the presence list and cursors listen to
 * it) and `update` tells what changed, for whoever relays awareness; the provider is the only
 * listener of `update` here, and it relays. So `update` is narrowed to what this client may
 * send, and `change` is left as it is.
 */
export class OwnStateAwareness extends Awareness {
  /**
   * @param {string} name
   * @param {any[]} args
   */
  emit(name, args) {
    if (name !== 'update') { super.emit(name, args); return; }
    const [changes, origin] = args;
    /** @param {number[]} ids */
    const own = (ids) => ids.filter((id) => id === this.clientID);
    const added = own(changes.added);
    const updated = own(changes.updated);
    const removed = own(changes.removed);
    if (added.length + updated.length + removed.length > 0) super.emit(name, [{ added, updated, removed }, origin]);
  }
}

/**
 * @typedef {{
 *   token: string,
 *   shouldReconnect: (ev: CloseEvent) => boolean,
 *   onServerMessage: (msg: unknown) => void,
 * }} KopradeProviderOptions
 */

/** A WebsocketProvider for one Koprade board (the shared one or a private one). */
export class KopradeProvider extends WebsocketProvider {
  /**
   * @param {string} wsUrl `ws(s)://host/ws/rooms`
   * @param {string} room `{room}` or `{room}/private`
   * @param {import('yjs').Doc} doc
   * @param {KopradeProviderOptions} opts
   */
  constructor(wsUrl, room, doc, opts) {
    super(wsUrl, room, doc, {
      params: { token: opts.token },
      disableBc: true,
      maxBackoffTime: 5000,
      shouldReconnect: opts.shouldReconnect,
      awareness: new OwnStateAwareness(doc),
    });
    // `messageHandlers` is the provider's own table of message types (a copy per provider).
    this.messageHandlers[MESSAGE_KOPRADE] = (/** @type {any} */ _encoder, /** @type {decoding.Decoder} */ decoder) => {
      let msg;
      try {
        msg = JSON.parse(decoding.readVarString(decoder));
      } catch {
        return;
      }
      opts.onServerMessage(msg);
    };
  }
}
