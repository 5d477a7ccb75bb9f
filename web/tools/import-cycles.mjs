#!/usr/bin/env node
// Fails (exit 1) when the ES modules under web/src import each other in a cycle.
//
// A cycle makes the order in which modules run depend on which one is imported first, and it
// is usually a sign that two modules are one concept split badly (or that one should be handed
// a callback instead of importing the other). No dependencies: relative `import ... from './x.js'`
// and `export ... from` statements are read with a regular expression, which is enough for
// this code base (no dynamic imports, no bare-specifier aliases into src/).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** @param {string} dir @returns {string[]} */
function sources(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(m?js)$/.test(name) ? [path] : [];
  });
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|(?:^|[\s;])import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

/** @type {Map<string, string[]>} */
const graph = new Map();
for (const file of sources(root)) {
  const text = readFileSync(file, 'utf8');
  const deps = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] || m[2];
    if (!/\.(m?js)$/.test(spec)) continue; // styles, assets
    deps.push(resolve(dirname(file), spec));
  }
  graph.set(file, deps);
}

// depth-first search; a back edge to a module on the current path is a cycle
const WHITE = 0; const GREY = 1; const BLACK = 2;
const colour = new Map([...graph.keys()].map((k) => [k, WHITE]));
/** @type {string[]} */
const path = [];
/** @type {string[][]} */
const cycles = [];
/** @param {string} node */
function visit(node) {
  colour.set(node, GREY);
  path.push(node);
  for (const dep of graph.get(node) || []) {
    if (!graph.has(dep)) continue; // outside src/ or missing: the build reports that
    if (colour.get(dep) === GREY) cycles.push([...path.slice(path.indexOf(dep)), dep]);
    else if (colour.get(dep) === WHITE) visit(dep);
  }
  path.pop();
  colour.set(node, BLACK);
}
for (const node of graph.keys()) if (colour.get(node) === WHITE) visit(node);

const show = (/** @type {string} */ f) => relative(root, f);
if (cycles.length) {
  for (const c of cycles) console.error(`import cycle: ${c.map(show).join(' -> ')}`);
  process.exit(1);
}
console.log(`no import cycles in ${graph.size} modules under web/src`);
