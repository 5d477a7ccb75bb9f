/** Card colours (pale, dark text stays above 7:1 contrast) and presence colours (white text above 4.5:1). */
export const CARD_COLORS = [
  { id: 'yellow', value: '#ffe27a' },
  { id: 'pink', value: '#ffc4d6' },
  { id: 'green', value: '#c5eaa8' },
  { id: 'blue', value: '#b9dcf7' },
  { id: 'orange', value: '#ffcf9e' },
  { id: 'purple', value: '#ddd0f7' },
];
export const DEFAULT_CARD_COLOR = CARD_COLORS[0].value;

const USER_COLORS = ['#b3261e', '#1d6b34', '#0b57d0', '#7b1fa2', '#a23c00', '#00695c', '#ad1457', '#37474f', '#5b4d00', '#283593'];

/** Stable presence colour for a participant id. @param {string} id */
export function userColor(id) {
  let hsh = 2166136261;
  for (let i = 0; i < id.length; i++) {
    hsh ^= id.charCodeAt(i);
    hsh = Math.imul(hsh, 16777619);
  }
  return USER_COLORS[(hsh >>> 0) % USER_COLORS.length];
}

/** Accept only plain hex colours from the shared document. @param {unknown} c */
export function safeColor(c) {
  return typeof c === 'string' && /^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(c) ? c : DEFAULT_CARD_COLOR;
}
