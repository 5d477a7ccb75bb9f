/**
 * The shared countdown in the header (`meta.timer`, docs/facilitation.md "Timer"): mm:ss from the
 * server's clock (`RoomState.now()`), a flashing "time is up" at zero and an optional short
 * beep (WebAudio, off by default, the choice remembered in localStorage).
 */
import { h, icon } from '../dom.js';
import { t, onLang } from '../i18n/index.js';

const SOUND_KEY = 'koprade:sound';

/** @param {number} ms */
export function formatClock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/** @type {AudioContext | null} */
let audio = null;
function audioContext() {
  if (!audio) {
    const Ctx = window.AudioContext || /** @type {any} */ (window).webkitAudioContext;
    if (!Ctx) return null;
    audio = new Ctx();
  }
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  return audio;
}

/** Two short tones. */
export function beep() {
  const ctx = audioContext();
  if (!ctx) return;
  const start = ctx.currentTime + 0.02;
  for (const [i, freq] of [[0, 880], [1, 660]]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    const t0 = start + i * 0.28;
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(0.3, t0 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.24);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0);
    osc.stop(t0 + 0.26);
  }
}

/**
 * @param {import('./meta.js').RoomState} state
 * @returns {{el: HTMLElement, dispose: () => void}}
 */
export function createTimerDisplay(state) {
  let soundOn = false;
  try { soundOn = localStorage.getItem(SOUND_KEY) === '1'; } catch { /* ignore */ }

  const clock = h('span', { class: 'timer-clock', 'data-testid': 'timer' });
  const label = h('span', { class: 'timer-label' });
  const live = h('span', { class: 'sr-only', role: 'status' });
  const soundBtn = h('button', {
    type: 'button', class: 'btn btn-icon btn-ghost timer-sound', 'data-testid': 'timer-sound', 'aria-pressed': soundOn ? 'true' : 'false',
    i18n: { 'aria-label': 'timerSound', title: 'timerSound' },
    onclick: () => {
      soundOn = !soundOn;
      soundBtn.setAttribute('aria-pressed', soundOn ? 'true' : 'false');
      soundBtn.replaceChildren(icon(soundOn ? 'bell' : 'bellOff'));
      try { localStorage.setItem(SOUND_KEY, soundOn ? '1' : '0'); } catch { /* ignore */ }
      if (soundOn) audioContext(); // unlock audio within the click
    },
  }, icon(soundOn ? 'bell' : 'bellOff'));
  const el = h('div', { class: 'timer', 'data-testid': 'timer-box', 'data-state': 'stopped', hidden: true },
    icon('clock'), h('span', { class: 'timer-lines' }, clock, label), soundBtn, live);

  /** endsAt of the running countdown we saw with time left (the beep plays once per run) */
  let armedFor = /** @type {number | null} */ (null);
  let tick = 0;
  let lastState = '';

  function render() {
    const tm = state.timer;
    const rem = state.timerRemaining();
    /** @type {string} */
    let view = tm.state;
    if (tm.state === 'running' && rem !== null && rem <= 0) view = 'ended';
    el.hidden = tm.state === 'stopped';
    el.dataset.state = view;
    if (rem !== null) clock.textContent = formatClock(rem);
    label.textContent = view === 'ended' ? t('timeUp') : view === 'paused' ? t('timerPaused') : '';
    el.setAttribute('aria-label', view === 'ended' ? t('timeUp') : t('timerLabel', { time: clock.textContent || '' }));
    if (tm.state === 'running' && rem !== null && rem > 0) armedFor = tm.endsAt;
    if (view === 'ended' && armedFor !== null && armedFor === tm.endsAt) {
      armedFor = null;
      if (soundOn) beep();
    }
    if (view !== lastState) {
      lastState = view;
      live.textContent = view === 'ended' ? t('timeUp') : '';
    }
    const needTick = tm.state === 'running' && view !== 'ended';
    if (needTick && !tick) tick = window.setInterval(render, 250);
    if (!needTick && tick) { clearInterval(tick); tick = 0; }
  }
  const off = state.on((kind) => { if (kind === 'meta' || kind === 'clock') render(); });
  const offLang = onLang(render);
  return {
    el,
    dispose: () => { off(); offLang(); clearInterval(tick); tick = 0; },
  };
}
