import './styles.css';
import { applyDocumentLang, onLang, t } from './i18n/index.js';
import { renderStart } from './start.js';
import { renderBoard } from './board/board.js';
import { loadSession, saveSession } from './session.js';
import { takeKeyFromUrl } from './organizer.js';

/**
 * Moving between the start page and a board after the page has loaded: the address bar gets
 * the new path (so a reload lands on the same page), then the page is drawn. Both pages get
 * these callbacks instead of importing each other.
 * @type {import('./start.js').StartNavigation & import('./board/board.js').BoardNavigation}
 */
const nav = {
  toBoard(room, session, opts) {
    history.pushState(null, '', `/room/${room}`);
    renderBoard(appEl(), room, session, nav, opts);
  },
  toStart(opts) {
    history.pushState(null, '', '/');
    renderStart(appEl(), nav, opts);
  },
};

const appEl = () => /** @type {HTMLElement} */ (document.getElementById('app'));

/**
 * Routes: `/` start page, `/join/{CODE}` start page with the code filled in (`#invite=...`: join
 * as co-facilitator),
 * `/room/{room}` the board (`#token=...` in the fragment is stored for the tab and removed);
 * on any of them `#key=...` (the organizer link the server prints) is stored and removed.
 */
function route() {
  const app = appEl();
  const path = location.pathname;
  const roomMatch = /^\/room\/([a-z2-9]{4,64})\/?$/i.exec(path);
  if (roomMatch) {
    const room = roomMatch[1];
    const frag = new URLSearchParams(location.hash.slice(1));
    const fragToken = frag.get('token');
    if (fragToken) {
      const prev = loadSession(room);
      saveSession(room, { ...(prev && prev.token === fragToken ? prev : {}), token: fragToken, role: 'facilitator' });
      history.replaceState(null, '', `/room/${room}`);
    }
    const session = loadSession(room);
    if (session) {
      renderBoard(app, room, session, nav);
      return;
    }
    renderStart(app, nav, { notice: t('needJoin') });
    return;
  }
  const joinMatch = /^\/join\/([^/]+)\/?$/.exec(path);
  // `/join/{CODE}#invite=...`: a co-facilitator invite (kept in memory, removed from the address bar)
  const invite = new URLSearchParams(location.hash.slice(1)).get('invite') || undefined;
  if (invite) history.replaceState(null, '', location.pathname);
  renderStart(app, nav, { code: joinMatch ? decodeURIComponent(joinMatch[1]) : '', invite });
}

applyDocumentLang();
takeKeyFromUrl(); // the server's organizer link: `/#key=...`
onLang(() => { document.title = t('appName'); });
window.addEventListener('popstate', () => { location.reload(); });
route();
