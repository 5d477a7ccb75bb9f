/**
 * Two-way binding between a <textarea>/<input> and a Y.Text.
 *
 * Local edits: on every `input` event the old and new value are compared (common prefix and
 * suffix) and the difference is applied to the Y.Text as one delete + one insert, in a
 * transaction with the local origin (so Y.UndoManager tracks it).
 * Remote (and undo/redo) changes: the Y.Text delta is used to shift the caret/selection, then
 * the value is replaced. Simple and robust; works with IME composition and autocorrect.
 */

/** @param {string} s @param {number} i */
const isHigh = (s, i) => { const c = s.charCodeAt(i); return c >= 0xd800 && c <= 0xdbff; };

/**
 * @param {HTMLTextAreaElement | HTMLInputElement} el
 * @param {import('yjs').Text} ytext
 * @param {any} origin
 * @param {() => void} [onChange] called after the value changed (either direction)
 * @returns {() => void} unbind
 */
export function bindTextInput(el, ytext, origin, onChange) {
  let last = ytext.toString();
  el.value = last;

  const onInput = () => {
    const v = el.value;
    if (v === last) return;
    let start = 0;
    const min = Math.min(v.length, last.length);
    while (start < min && v.charCodeAt(start) === last.charCodeAt(start)) start++;
    if (start > 0 && isHigh(last, start - 1)) start--; // never split a surrogate pair
    let endOld = last.length;
    let endNew = v.length;
    while (endOld > start && endNew > start && v.charCodeAt(endNew - 1) === last.charCodeAt(endOld - 1)) {
      endOld--; endNew--;
    }
    if (endOld < last.length && endOld > start && isHigh(last, endOld - 1)) { endOld++; endNew++; }
    const doc = /** @type {import('yjs').Doc} */ (ytext.doc);
    doc.transact(() => {
      if (endOld > start) ytext.delete(start, endOld - start);
      if (endNew > start) ytext.insert(start, v.slice(start, endNew));
    }, origin);
    last = v;
    if (onChange) onChange();
  };

  /** @param {import('yjs').YTextEvent} event */
  const observer = (event) => {
    const next = ytext.toString();
    if (next === el.value) { last = next; return; }
    const focused = document.activeElement === el;
    let s = el.selectionStart ?? 0;
    let e = el.selectionEnd ?? 0;
    let pos = 0;
    for (const op of event.delta) {
      if (op.retain) pos += op.retain;
      else if (op.insert !== undefined) {
        const n = typeof op.insert === 'string' ? op.insert.length : 1;
        if (pos < s) s += n;
        if (pos < e) e += n;
        pos += n;
      } else if (op.delete) {
        const n = op.delete;
        if (pos < s) s -= Math.min(n, s - pos);
        if (pos < e) e -= Math.min(n, e - pos);
      }
    }
    el.value = next;
    last = next;
    if (focused) el.setSelectionRange(Math.min(s, next.length), Math.min(e, next.length));
    if (onChange) onChange();
  };

  el.addEventListener('input', onInput);
  ytext.observe(observer);
  return () => {
    el.removeEventListener('input', onInput);
    ytext.unobserve(observer);
  };
}
