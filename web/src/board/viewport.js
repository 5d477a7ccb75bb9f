/**
 * Pan/zoom state of the board: screen = board * z + (x, y), relative to the canvas element.
 */
export const MIN_ZOOM = 0.1;
export const MAX_ZOOM = 4;

export class Viewport {
  /** @param {HTMLElement} canvas @param {HTMLElement} world @param {() => void} onChange */
  constructor(canvas, world, onChange) {
    this.canvas = canvas;
    this.world = world;
    this.onChange = onChange;
    this.x = 40;
    this.y = 40;
    this.z = 1;
    this._raf = 0;
  }

  apply() {
    this.world.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.z})`;
    this.onChange();
  }

  /** @param {number} clientX @param {number} clientY */
  toBoard(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    return { x: (clientX - r.left - this.x) / this.z, y: (clientY - r.top - this.y) / this.z };
  }

  /** Board point at the centre of the visible canvas. */
  center() {
    const r = this.canvas.getBoundingClientRect();
    return this.toBoard(r.left + r.width / 2, r.top + r.height / 2);
  }

  /** @param {number} dx @param {number} dy screen pixels */
  panBy(dx, dy) {
    this.x += dx;
    this.y += dy;
    this.apply();
  }

  /**
   * Zoom by `factor` keeping the screen point (clientX, clientY) fixed.
   * @param {number} factor @param {number} [clientX] @param {number} [clientY]
   */
  zoomAt(factor, clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    const cx = clientX === undefined ? r.left + r.width / 2 : clientX;
    const cy = clientY === undefined ? r.top + r.height / 2 : clientY;
    const nz = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, this.z * factor));
    const px = cx - r.left;
    const py = cy - r.top;
    this.x = px - ((px - this.x) / this.z) * nz;
    this.y = py - ((py - this.y) / this.z) * nz;
    this.z = nz;
    this.apply();
  }

  /**
   * Fit a board rectangle into the canvas.
   * @param {{x: number, y: number, w: number, h: number} | null} rect
   */
  fit(rect) {
    const r = this.canvas.getBoundingClientRect();
    if (!rect || rect.w <= 0 || rect.h <= 0) {
      this.z = 1;
      this.x = 40;
      this.y = 40;
      this.apply();
      return;
    }
    const pad = 48;
    const z = Math.min((r.width - 2 * pad) / rect.w, (r.height - 2 * pad) / rect.h, 1.5);
    this.z = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, z));
    this.x = (r.width - rect.w * this.z) / 2 - rect.x * this.z;
    this.y = (r.height - rect.h * this.z) / 2 - rect.y * this.z;
    this.apply();
  }

  /**
   * Put the board point (x, y) at the centre of the canvas at zoom `z` (follow-me).
   * @param {number} x @param {number} y @param {number} z
   */
  centerOn(x, y, z) {
    const r = this.canvas.getBoundingClientRect();
    this.z = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, z));
    this.x = r.width / 2 - x * this.z;
    this.y = r.height / 2 - y * this.z;
    this.apply();
  }

  /** Pan so that the board rect is visible (keyboard focus on an off-screen card). */
  reveal(/** @type {{x: number, y: number, w: number, h: number}} */ rect) {
    const r = this.canvas.getBoundingClientRect();
    const m = 24;
    const sx = rect.x * this.z + this.x;
    const sy = rect.y * this.z + this.y;
    const sw = rect.w * this.z;
    const sh = rect.h * this.z;
    let dx = 0;
    let dy = 0;
    if (sx < m) dx = m - sx; else if (sx + sw > r.width - m) dx = Math.max(m - sx, r.width - m - (sx + sw));
    if (sy < m) dy = m - sy; else if (sy + sh > r.height - m) dy = Math.max(m - sy, r.height - m - (sy + sh));
    if (dx || dy) this.panBy(dx, dy);
  }

  toJSON() {
    return { x: this.x, y: this.y, z: this.z };
  }
}
