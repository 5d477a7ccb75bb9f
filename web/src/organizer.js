/**
 * The organizer key in this browser. The server prints a start-page link carrying its key in
 * the fragment (`/#key=...`, never sent to the server nor logged); the page takes it from
 * there once, keeps it in localStorage (it outlives the tab, as the organizer's laptop should
 * remember it) and removes it from the address bar. It is sent as `X-Organizer-Key`.
 */

const STORAGE_KEY = 'koprade:organizerKey';

/** The stored key, '' if none. */
export function storedKey() {
  try { return localStorage.getItem(STORAGE_KEY) || ''; } catch { return ''; }
}

/** @param {string} key */
export function storeKey(key) {
  try {
    if (key) localStorage.setItem(STORAGE_KEY, key);
    else localStorage.removeItem(STORAGE_KEY);
  } catch { /* private mode: the typed key still works for this page */ }
}

/** Move `#key=...` from the address bar into storage; true if there was one. */
export function takeKeyFromUrl() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const key = frag.get('key');
  if (!key) return false;
  storeKey(key.trim());
  frag.delete('key');
  const rest = frag.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  return true;
}
