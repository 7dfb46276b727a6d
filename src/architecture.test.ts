// Import boundaries, checked on the real import graph (parsed with oxc-parser; type-only imports are erased
// at build time, so they do not count):
//  - nothing the page's main thread loads (src/ui, src/main.tsx) reaches TensorFlow.js — the worker owns it;
//  - src/core reaches nothing in src/engine, src/ui or src/cli — the method stands alone (Node, worker, tests);
//  - no source file points to a document outside the repository.
// dependency-cruiser would do the graph part, but its current releases need Node ≥ 22 and TypeScript's
// JavaScript API, which TypeScript 7 no longer ships.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseSync } from 'oxc-parser';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return name === '__fixtures__' ? [] : sourceFiles(p);
    return /\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) ? [p] : [];
  });
}

/** What a module imports at run time: relative files resolved to paths, packages by name. */
function runtimeImports(file: string): string[] {
  const { module, errors } = parseSync(file, readFileSync(file, 'utf8'));
  if (errors.length) throw new Error(`${path.relative(root, file)}: ${errors[0].message}`);
  const code = readFileSync(file, 'utf8');
  const specifiers = [
    ...module.staticImports.filter((i) => i.entries.length === 0 || i.entries.some((e) => !e.isType)).map((i) => i.moduleRequest.value),
    ...module.staticExports.flatMap((e) => e.entries.filter((x) => x.moduleRequest && !x.isType).map((x) => x.moduleRequest!.value)),
    ...module.dynamicImports.map((d) => code.slice(d.moduleRequest.start, d.moduleRequest.end).replace(/^['"`]|['"`]$/g, '')),
  ];
  return specifiers.map((s) => (s.startsWith('.') ? path.resolve(path.dirname(file), s.replace(/\?.*$/, '')) : s));
}

const graph = new Map(sourceFiles(src).map((f) => [f, runtimeImports(f)]));

/** Every module reachable from `start`, with the chain that reaches it (for the failure message). */
function reachable(start: string): Map<string, string[]> {
  const seen = new Map<string, string[]>([[start, [start]]]);
  const queue = [start];
  while (queue.length) {
    const at = queue.shift()!;
    for (const dep of graph.get(at) ?? []) {
      if (seen.has(dep)) continue;
      seen.set(dep, [...seen.get(at)!, dep]);
      if (graph.has(dep)) queue.push(dep);
    }
  }
  return seen;
}

const rel = (chain: string[]) => chain.map((p) => (path.isAbsolute(p) ? path.relative(root, p) : p)).join(' → ');

function violations(from: (f: string) => boolean, forbidden: (dep: string) => boolean): string[] {
  const out: string[] = [];
  for (const file of graph.keys()) {
    if (!from(file)) continue;
    for (const [dep, chain] of reachable(file)) if (forbidden(dep)) out.push(rel(chain));
  }
  return out;
}

const under = (dir: string) => (f: string) => f.startsWith(path.join(src, dir) + path.sep);

describe('import boundaries', () => {
  it('parses every source file and resolves every relative import to one', () => {
    expect(graph.size).toBeGreaterThan(50);
    const missing = [...graph].flatMap(([f, deps]) =>
      deps.filter((d) => path.isAbsolute(d) && !graph.has(d) && !/\.(css|json|wasm)$/.test(d)).map((d) => `${rel([f])} → ${rel([d])}`),
    );
    expect(missing).toEqual([]);
  });

  it('the page (src/ui, src/main.tsx) never reaches TensorFlow.js', () => {
    const page = (f: string) => under('ui')(f) || f === path.join(src, 'main.tsx');
    // The worker is started by URL (new Worker(new URL(...))), which is not an import: it stays out of the graph.
    expect(violations(page, (d) => d.startsWith('@tensorflow/'))).toEqual([]);
  });

  it('src/core reaches nothing in engine, ui or cli', () => {
    expect(violations(under('core'), (d) => ['engine', 'ui', 'cli'].some((dir) => under(dir)(d)))).toEqual([]);
  });

  it('the check sees a forbidden import when there is one', () => {
    // src/engine/browser-backend.ts imports the TF.js backends: from there, TensorFlow.js is reachable.
    const engine = (f: string) => f === path.join(src, 'engine/browser-backend.ts');
    expect(violations(engine, (d) => d.startsWith('@tensorflow/')).length).toBeGreaterThan(0);
  });

  it('no source or doc points to a document outside the repository', () => {
    const docs = [path.join(root, 'README.md'), ...readdirSync(path.join(root, 'docs')).map((f) => path.join(root, 'docs', f))];
    // The pattern is assembled from pieces so that this test does not itself name those documents.
    const outside = new RegExp([['DESIGN', '§'].join(' '), ['\\.\\.', 'shared', ''].join('/'), ['PAPER', 'NOTES'].join('-')].join('|'));
    const offenders = [...graph.keys(), ...docs].filter((f) => outside.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });
});
