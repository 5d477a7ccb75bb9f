// Builds web/dist/ (index.html, assets/app.js, assets/app.css, assets/icon.svg).
//   node build.mjs          build into dist/
//   node build.mjs --check  build into a temporary directory and fail if dist/ differs
// The output is deterministic: same sources + same package-lock.json => same bytes.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, readdirSync, statSync, copyFileSync, existsSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes('--check');
const dist = join(here, 'dist');
const out = check ? mkdtempSync(join(tmpdir(), 'koprade-web-')) : dist;

async function build(outdir) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'assets'), { recursive: true });
  await esbuild.build({
    absWorkingDir: here,
    entryPoints: { app: 'src/main.js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020', 'chrome90', 'edge90', 'firefox90', 'safari15'],
    minify: true,
    legalComments: 'eof',
    charset: 'utf8',
    sourcemap: false,
    define: { 'process.env.NODE_ENV': '"production"' },
    outdir: join(outdir, 'assets'),
    entryNames: '[name]',
    logLevel: 'warning',
  });
  const hash = (f) => createHash('sha256').update(readFileSync(join(outdir, 'assets', f))).digest('hex').slice(0, 12);
  const html = readFileSync(join(here, 'src', 'index.html'), 'utf8')
    .replace('{{JS_HASH}}', hash('app.js'))
    .replace('{{CSS_HASH}}', hash('app.css'));
  writeFileSync(join(outdir, 'index.html'), html);
  copyFileSync(join(here, 'src', 'icon.svg'), join(outdir, 'assets', 'icon.svg'));
}

function listFiles(root) {
  const files = [];
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p); else files.push(relative(root, p));
    }
  };
  if (existsSync(root)) walk(root);
  return files;
}

await build(out);

if (check) {
  const a = listFiles(dist);
  const b = listFiles(out);
  const problems = [];
  for (const f of new Set([...a, ...b])) {
    if (!a.includes(f)) problems.push(`missing in web/dist: ${f}`);
    else if (!b.includes(f)) problems.push(`stale file in web/dist: ${f}`);
    else if (!readFileSync(join(dist, f)).equals(readFileSync(join(out, f)))) problems.push(`differs: web/dist/${f}`);
  }
  rmSync(out, { recursive: true, force: true });
  if (problems.length) {
    console.error('web/dist is stale; run `npm run build` in web/ and commit the result:');
    for (const p of problems) console.error(`  ${p}`);
    process.exit(1);
  }
  console.log('web/dist is up to date');
} else {
  for (const f of ['assets/app.js', 'assets/app.css']) {
    const buf = readFileSync(join(dist, f));
    console.log(`${f}: ${(buf.length / 1024).toFixed(1)} KiB, gzip ${(gzipSync(buf, { level: 9 }).length / 1024).toFixed(1)} KiB`);
  }
}
