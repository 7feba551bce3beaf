#!/usr/bin/env node
/**
 * Builds a JavaScript package of Weir functions into a WebAssembly
 * component:
 *
 *     node sdk/js/build.mjs --project <dir> --wit <wit dir or file> \
 *         [--out <file.wasm>] --tools <dir> [--world functions] \
 *         [--disable http,fetch-event] [--install]
 *
 * `<dir>/package.json` names the entry module (`main`, default `index.js`)
 * and the package (`name`; the output defaults to
 * `<dir>/target/<name without scope>.wasm`). The entry module imports the
 * SDK as `@weir/sdk` (or `weir`); esbuild bundles it with the SDK sources
 * next to this file and the WIT glue (`src/glue.js`), then componentize-js
 * (SpiderMonkey) makes a component of the world `functions`.
 *
 * `--tools` is a directory where the packages of `TOOLS` (`tools.json`)
 * are installed: `npm install --save-exact --prefix <dir> <TOOLS...>`, or
 * `--install` here. Nothing is downloaded at build time: builds work
 * offline once the tools are there. `--aot` is deliberately not offered:
 * it downloads a compiler from outside the npm registry.
 *
 * The WASI features `http` and `fetch-event` are left out (Weir does not
 * link `wasi:http`); `--disable stdio,random,clocks,http,fetch-event`
 * leaves a component with no WASI imports at all (then `console.log`,
 * `Math.random` and `Date.now` do nothing useful).
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CONFIG = JSON.parse(readFileSync(path.join(HERE, 'tools.json'), 'utf8'));

/** The npm packages a build needs, pinned (`name@version`). */
export const TOOLS = CONFIG.packages;
/** WASI features left out by default. */
export const DISABLE = CONFIG.disable;
/** The `weir:function` version the SDK's glue imports. */
export const WIT_VERSION = '0.2.0';
/** Every WASI feature componentize-js knows. */
const FEATURES = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];

class BuildError extends Error {}

function usage() {
  return 'usage: node build.mjs --project <dir> --wit <wit dir or file> --tools <dir> [--out <file.wasm>] '
    + '[--world functions] [--disable http,fetch-event] [--install] [--quiet]';
}

function parseArgs(argv) {
  const opts = { world: 'functions', disable: DISABLE, install: false, quiet: false };
  const takes = { '--project': 'project', '--wit': 'wit', '--out': 'out', '--tools': 'tools', '--world': 'world', '--disable': 'disable' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (flag === '--install') opts.install = true;
    else if (flag === '--quiet') opts.quiet = true;
    else if (flag === '-h' || flag === '--help') { console.log(usage()); process.exit(0); }
    else if (takes[flag]) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new BuildError(`${flag} needs a value\n${usage()}`);
      opts[takes[flag]] = flag === '--disable' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v;
    } else throw new BuildError(`unknown argument '${a}'\n${usage()}`);
  }
  for (const need of ['project', 'wit', 'tools']) {
    if (!opts[need]) throw new BuildError(`--${need} is required\n${usage()}`);
  }
  for (const f of opts.disable) {
    if (!FEATURES.includes(f)) throw new BuildError(`--disable: unknown feature '${f}' (one of ${FEATURES.join(', ')})`);
  }
  return opts;
}

/** `name` and absolute `main` of the package in `dir`. */
export function readPackage(dir) {
  const file = path.join(dir, 'package.json');
  let doc;
  try { doc = JSON.parse(readFileSync(file, 'utf8')); } catch (e) { throw new BuildError(`reading ${file}: ${e.message}`); }
  const full = typeof doc.name === 'string' ? doc.name : '';
  const name = full.split('/').pop();
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new BuildError(`${file} needs a "name" (letters, digits, - _ .)`);
  const main = path.resolve(dir, typeof doc.main === 'string' ? doc.main : 'index.js');
  if (!existsSync(main)) throw new BuildError(`${file} names ${main} as its main module, which does not exist`);
  return { name, main };
}

/** Installs the pinned tools into `dir` with npm (needs the registry once). */
export function installTools(dir, log = console.error) {
  mkdirSync(dir, { recursive: true });
  log(`installing ${TOOLS.join(' ')} into ${dir}`);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--save-exact', '--loglevel=error', '--prefix', dir, ...TOOLS], { stdio: 'inherit' });
}

/** Imports a package installed under `tools`, by its package name. */
async function importTool(tools, pkg) {
  const dir = path.join(tools, 'node_modules', ...pkg.split('/'));
  let doc;
  try { doc = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')); } catch {
    throw new BuildError(`${pkg} is not installed in ${tools}: run npm install --save-exact --prefix ${tools} ${TOOLS.join(' ')} (or pass --install)`);
  }
  const want = TOOLS.find((t) => t.startsWith(`${pkg}@`)).slice(pkg.length + 1);
  if (doc.version !== want) throw new BuildError(`${tools} has ${pkg} ${doc.version}; this SDK is built with ${want}`);
  let entry;
  const exp = doc.exports?.['.'] ?? doc.exports;
  if (typeof exp === 'string') entry = exp;
  else if (exp && typeof exp === 'object') entry = exp.import ?? exp.default ?? exp.require;
  entry = entry ?? doc.module ?? doc.main ?? 'index.js';
  if (typeof entry === 'object') entry = entry.default;
  const mod = await import(pathToFileURL(path.join(dir, entry)).href);
  return mod.default && !mod.componentize && !mod.build ? mod.default : mod;
}

/** The WIT package version in `wit` (a file or a directory of them). */
function witVersion(wit) {
  const files = statSync(wit).isDirectory()
    ? execFileSync('ls', [wit]).toString().split('\n').filter((f) => f.endsWith('.wit')).map((f) => path.join(wit, f))
    : [wit];
  for (const f of files) {
    const m = /package\s+weir:function@([0-9.]+)\s*;/.exec(readFileSync(f, 'utf8'));
    if (m) return m[1];
  }
  return null;
}

/**
 * Builds the package in `project`; returns `{ out, bytes, seconds, imports }`.
 * `opts`: `wit`, `tools`, `out`, `world`, `disable`, `log`.
 */
export async function build(project, opts) {
  const log = opts.log ?? (() => {});
  const started = performance.now();
  const pkg = readPackage(project);
  const out = path.resolve(opts.out ?? path.join(project, 'target', `${pkg.name}.wasm`));
  const wit = path.resolve(opts.wit);
  if (!existsSync(wit)) throw new BuildError(`no WIT at ${wit}`);
  const version = witVersion(wit);
  if (version !== null && version !== WIT_VERSION) {
    throw new BuildError(`${wit} is weir:function@${version}; this SDK speaks ${WIT_VERSION}`);
  }
  const tools = path.resolve(opts.tools);
  const esbuild = await importTool(tools, 'esbuild');
  const { componentize } = await importTool(tools, '@bytecodealliance/componentize-js');

  const work = mkdtempSync(path.join(tmpdir(), 'weir-js-build-'));
  try {
    const sdk = path.join(HERE, 'src', 'index.js');
    const entry = path.join(work, 'entry.js');
    writeFileSync(entry, `import ${JSON.stringify(pkg.main)};\n`
      + `export { registry, transform, keyed, window } from ${JSON.stringify(path.join(HERE, 'src', 'glue.js'))};\n`);
    const bundle = path.join(work, 'bundle.js');
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      conditions: ['import', 'default'],
      target: 'es2022',
      alias: { '@weir/sdk': sdk, weir: sdk },
      external: ['weir:function/*'],
      outfile: bundle,
      logLevel: 'silent',
      absWorkingDir: path.resolve(project),
    }).catch((e) => {
      const msgs = (e.errors ?? []).map((m) => `${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`);
      throw new BuildError(`bundling ${pkg.main} failed:\n  ${msgs.join('\n  ') || e.message}`);
    });
    for (const w of result.warnings) log(`warning: ${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`);
    log(`bundled ${pkg.main} (${statSync(bundle).size} bytes)`);

    let made;
    try {
      made = await componentize({
        sourcePath: bundle,
        witPath: wit,
        worldName: opts.world ?? 'functions',
        disableFeatures: opts.disable ?? DISABLE,
      });
    } catch (e) {
      throw new BuildError(`componentize-js failed on ${pkg.main}: ${e.message ?? e}`);
    }
    mkdirSync(path.dirname(out), { recursive: true });
    const partial = `${out}.partial-${process.pid}`;
    writeFileSync(partial, made.component);
    renameSync(partial, out);
    const imports = (made.imports ?? []).map((i) => (Array.isArray(i) ? i[0] : String(i)));
    return { out, bytes: made.component.length, seconds: (performance.now() - started) / 1000, imports };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
    const log = opts.quiet ? () => {} : (m) => console.error(m);
    if (opts.install) installTools(path.resolve(opts.tools), log);
    const r = await build(path.resolve(opts.project), { ...opts, log });
    log(`built ${r.out}: ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(1)} s`
      + (r.imports.length ? `; imports ${[...new Set(r.imports)].join(', ')}` : '; no imports'));
  } catch (e) {
    console.error(`error: ${e instanceof BuildError ? e.message : (e.stack ?? e)}`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
