/**
 * Silent brainstorming (docs/facilitation.md "Silent brainstorming"): a participant's private
 * document with the same `cards` map as the board, synced only by its owner over a second
 * WebsocketProvider (room name `{room}/private`, same token). The facilitator's `reveal` moves
 * its cards onto the shared board (same ids) and empties it.
 *
 * Also `MultiUndo`: one undo/redo history over the shared and the private document (a
 * Y.UndoManager only covers types of one document).
 */
import * as Y from 'yjs';
import { KopradeProvider } from './provider.js';

/**
 * @param {{
 *   wsUrl: string, room: string, token: string,
 *   shouldReconnect: (ev: CloseEvent) => boolean,
 *   onServerMessage: (msg: unknown) => void,
 *   setup: (provider: KopradeProvider) => void,
 * }} opts `setup` registers close and sync listeners on the provider
 */
export function createPrivateBoard(opts) {
  const doc = new Y.Doc();
  const cards = doc.getMap('cards');
  const flagKey = `koprade:private:${opts.room}`;
  /** @type {KopradeProvider | null} */
  let provider = null;

  /** Connect (once; the connection then stays for the life of the board). */
  function connect() {
    if (provider) return provider;
    try { sessionStorage.setItem(flagKey, '1'); } catch { /* ignore */ }
    provider = new KopradeProvider(opts.wsUrl, `${opts.room}/private`, doc, {
      token: opts.token,
      shouldReconnect: opts.shouldReconnect,
      onServerMessage: opts.onServerMessage,
    });
    // nobody else is on this document: publish no presence
    provider.awareness.setLocalState(null);
    opts.setup(provider);
    return provider;
  }

  /** This tab wrote private cards before (a reload must show them again). */
  function usedBefore() {
    try { return sessionStorage.getItem(flagKey) === '1'; } catch { return false; }
  }

  return {
    doc,
    cards,
    connect,
    usedBefore,
    get provider() { return provider; },
    get synced() { return !provider || (provider.wsconnected && provider.synced); },
    destroy() {
      if (provider) provider.destroy();
      provider = null;
      doc.destroy();
    },
  };
}

/**
 * Undo/redo over several Y.UndoManagers in the order the changes were made.
 */
export class MultiUndo {
  /** @param {Y.UndoManager[]} managers */
  constructor(managers) {
    this.managers = managers;
    /** @type {Y.UndoManager[]} */
    this.undoOrder = [];
    /** @type {Y.UndoManager[]} */
    this.redoOrder = [];
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    for (const m of managers) {
      m.on('stack-item-added', (/** @type {{type: 'undo' | 'redo'}} */ ev) => {
        (ev.type === 'undo' ? this.undoOrder : this.redoOrder).push(m);
        this.changed();
      });
      m.on('stack-item-popped', () => this.changed());
      m.on('stack-cleared', () => {
        this.undoOrder = this.undoOrder.filter((x) => x.undoStack.length);
        this.redoOrder = this.redoOrder.filter((x) => x.redoStack.length);
        this.changed();
      });
    }
  }

  changed() { for (const fn of [...this.listeners]) fn(); }

  /** @param {() => void} fn */
  onChange(fn) { this.listeners.add(fn); }

  /** @param {Y.UndoManager[]} order @param {'undoStack' | 'redoStack'} stack */
  static pick(order, stack) {
    while (order.length) {
      const m = /** @type {Y.UndoManager} */ (order.pop());
      if (m[stack].length) return m;
    }
    return null;
  }

  undo() { MultiUndo.pick(this.undoOrder, 'undoStack')?.undo(); }
  redo() { MultiUndo.pick(this.redoOrder, 'redoStack')?.redo(); }
  stopCapturing() { for (const m of this.managers) m.stopCapturing(); }
  clear() { for (const m of this.managers) m.clear(); }
  get canUndo() { return this.managers.some((m) => m.undoStack.length > 0); }
  get canRedo() { return this.managers.some((m) => m.redoStack.length > 0); }
  get undoStack() { return this.managers.flatMap((m) => m.undoStack); }
  get redoStack() { return this.managers.flatMap((m) => m.redoStack); }
}
