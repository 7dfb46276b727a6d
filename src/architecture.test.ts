// Import rules, checked on the real import graph of src/ (parsed with oxc-parser). Tests and __fixtures__ stay out of
// the graph: a test uses its subject the way the CLI does, from above, and may reach any layer to set it up.
//  - Layers: every source file belongs to a layer, the top-level folder of src/ it sits in (src/main.tsx, the page's
//    entry, is one of its own), and imports only from its own layer and the layers its row of LAYERS names. The rows
//    stack the layers on floors (core at the bottom), so no import runs upward and no two layers import each other.
//    Type-only imports count: a type from an upper layer ties the lower one to it as much as a value does.
//  - No cycle between files, type-only imports included: a circle of files can only be read, tested and moved whole.
//  - src/ holds the product: nothing in it reaches outside src/ (scripts/, bench/, e2e/) or a devDependency.
//  - Nothing the page's main thread loads (src/ui, src/main.tsx) reaches TensorFlow.js at run time — the worker owns
//    it. Type-only imports are erased at build time, so here they do not count.
//  - No source file points to a document outside the repository.
// The rules are by folder, so they hold as files are split or added inside a layer. dependency-cruiser would do the
// graph part, but its current releases need Node ≥ 22 and TypeScript's JavaScript API, which TypeScript 7 no longer ships.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseSync } from 'oxc-parser';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');

/**
 * Which layers each layer may import, floor by floor from the bottom: core is the method alone; io reads files
 * (safetensors, SAE folders, the Hub); model builds language models from checkpoints; world is the synthetic world
 * the built-in model was trained on; scenarios load and run the experiments; engine is the state machine and its
 * hosts; cli and the page's ui sit side by side at the top (neither imports the other); main.tsx starts the page.
 */
const LAYERS: Record<string, readonly string[]> = {
  core: [],
  io: ['core'],
  model: ['core', 'io'],
  world: ['core', 'io', 'model'],
  scenarios: ['core', 'io', 'model', 'world'],
  engine: ['core', 'io', 'model', 'world', 'scenarios'],
  cli: ['core', 'io', 'model', 'world', 'scenarios', 'engine'],
  ui: ['core', 'io', 'model', 'world', 'scenarios', 'engine'],
  'main.tsx': ['ui'],
};

interface Import {
  /** A relative import resolved to an absolute path, or a package's name. */
  target: string;
  typeOnly: boolean;
}
type Graph = Map<string, Import[]>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return name === '__fixtures__' ? [] : sourceFiles(p);
    return /\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name) ? [p] : [];
  });
}

/** Everything a module imports or re-exports, and whether only types come through. */
function importsOf(file: string): Import[] {
  const code = readFileSync(file, 'utf8');
  const { module, errors } = parseSync(file, code);
  if (errors.length) throw new Error(`${path.relative(root, file)}: ${errors[0].message}`);
  const found: { specifier: string; typeOnly: boolean }[] = [
    ...module.staticImports.map((i) => ({
      specifier: i.moduleRequest.value,
      // A bare `import './x'` has no entries and runs the module.
      typeOnly: i.entries.length > 0 && i.entries.every((e) => e.isType),
    })),
    ...module.staticExports.flatMap((e) =>
      e.entries.filter((x) => x.moduleRequest).map((x) => ({ specifier: x.moduleRequest!.value, typeOnly: x.isType })),
    ),
    // Only a literal names a module here; import(SOME_CONSTANT) (an optional package on Node) is left out.
    ...module.dynamicImports.flatMap((d) => {
      const literal = /^(['"`])([^'"`]*)\1$/.exec(code.slice(d.moduleRequest.start, d.moduleRequest.end));
      return literal ? [{ specifier: literal[2], typeOnly: false }] : [];
    }),
  ];
  return found.map(({ specifier, typeOnly }) => ({
    target: specifier.startsWith('.') ? path.resolve(path.dirname(file), specifier.replace(/\?.*$/, '')) : specifier,
    typeOnly,
  }));
}

const graph: Graph = new Map(sourceFiles(src).map((f) => [f, importsOf(f)]));
const runtime = (g: Graph) => new Map([...g].map(([f, deps]) => [f, deps.filter((d) => !d.typeOnly)]));

const rel = (p: string) => (path.isAbsolute(p) ? path.relative(root, p) : p);
const chain = (files: string[]) => files.map(rel).join(' → ');

/** The layer a path in src/ belongs to: its top-level folder, or the file itself at the top. Null outside src/. */
function layerOf(p: string): string | null {
  const r = path.relative(src, p);
  return r.startsWith('..') || path.isAbsolute(r) ? null : r.split(path.sep)[0];
}

/** Every import that leaves the layers: from a file in no layer, to outside src/, or to a layer not in its row. */
function layerViolations(g: Graph, layers: Record<string, readonly string[]>): string[] {
  const out: string[] = [];
  for (const [file, deps] of g) {
    const from = layerOf(file);
    if (from === null || !(from in layers)) {
      out.push(`${rel(file)} is in no layer of the table`);
      continue;
    }
    for (const { target, typeOnly } of deps) {
      if (!path.isAbsolute(target)) continue;
      const to = layerOf(target);
      const what = `${chain([file, target])}${typeOnly ? ' (types only)' : ''}`;
      if (to === null) out.push(`${what}: outside src/`);
      else if (to !== from && !layers[from].includes(to)) out.push(`${what}: ${from} may not import ${to}`);
    }
  }
  return out;
}

/** The import cycles between files (Tarjan's strongly connected components), each as one closed path through it. */
function cycles(g: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const next = (f: string) => [...new Set((g.get(f) ?? []).map((d) => d.target).filter((t) => g.has(t)))];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set<string>();
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.add(w);
    } while (w !== v);
    if (component.size > 1 || next(v).includes(v)) found.push(closedPath(v, component));
  };
  // One way round the component from `start` and back, for a message that names every link.
  const closedPath = (start: string, component: Set<string>): string[] => {
    const back = new Map<string, string>([[start, start]]);
    const queue = [start];
    while (queue.length) {
      const at = queue.shift()!;
      for (const w of next(at)) {
        if (w === start) {
          const pathBack = [at];
          while (pathBack[0] !== start) pathBack.unshift(back.get(pathBack[0])!);
          return [...pathBack, start];
        }
        if (component.has(w) && !back.has(w)) {
          back.set(w, at);
          queue.push(w);
        }
      }
    }
    return [...component];
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** Every module reachable from `start` in `g`, with the chain that reaches it (for the failure message). */
function reachable(g: Graph, start: string): Map<string, string[]> {
  const seen = new Map<string, string[]>([[start, [start]]]);
  const queue = [start];
  while (queue.length) {
    const at = queue.shift()!;
    for (const { target } of g.get(at) ?? []) {
      if (seen.has(target)) continue;
      seen.set(target, [...seen.get(at)!, target]);
      if (g.has(target)) queue.push(target);
    }
  }
  return seen;
}

function reachViolations(g: Graph, from: (f: string) => boolean, forbidden: (dep: string) => boolean): string[] {
  const out: string[] = [];
  for (const file of g.keys()) {
    if (!from(file)) continue;
    for (const [dep, via] of reachable(g, file)) if (forbidden(dep)) out.push(chain(via));
  }
  return out;
}

const under = (dir: string) => (f: string) => f.startsWith(path.join(src, dir) + path.sep);

/** A graph written by hand, for the checks' own tests: 'core/a.ts' → 'ui/b.ts' (prefix with ':' for types only). */
function handGraph(edges: Record<string, string[]>): Graph {
  const at = (f: string) => path.join(src, f);
  const g: Graph = new Map();
  for (const [file, deps] of Object.entries(edges))
    g.set(
      at(file),
      deps.map((d) => ({ target: at(d.replace(/^:/, '')), typeOnly: d.startsWith(':') })),
    );
  // Targets in src/ are files too (with no imports of their own), as in the real graph.
  for (const deps of Object.values(edges))
    for (const d of deps) {
      const target = at(d.replace(/^:/, ''));
      if (!g.has(target) && layerOf(target) !== null) g.set(target, []);
    }
  return g;
}

describe('import rules', () => {
  it('parses every source file and resolves every relative import to one', () => {
    expect(graph.size).toBeGreaterThan(50);
    const missing = [...graph].flatMap(([f, deps]) =>
      deps
        .filter((d) => path.isAbsolute(d.target) && !graph.has(d.target) && !/\.(css|json|wasm)$/.test(d.target))
        .map((d) => chain([f, d.target])),
    );
    expect(missing).toEqual([]);
  });

  it('the table stacks the layers: no layer may reach itself through the others', () => {
    const layerGraph: Graph = new Map(
      Object.entries(LAYERS).map(([l, may]) => [path.join(src, l), may.map((m) => ({ target: path.join(src, m), typeOnly: false }))]),
    );
    expect(cycles(layerGraph)).toEqual([]);
    expect(
      Object.values(LAYERS)
        .flat()
        .filter((l) => !(l in LAYERS)),
    ).toEqual([]);
  });

  it('every import stays in its layer or goes down to one its row of the table names', () => {
    expect(layerViolations(graph, LAYERS)).toEqual([]);
  });

  it('no files import each other in a circle, type-only imports included', () => {
    expect(cycles(graph).map(chain)).toEqual([]);
  });

  it('src holds the product: no devDependency in it', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const dev = Object.keys(pkg.devDependencies);
    const isDev = (d: string) => dev.some((p) => d === p || d.startsWith(`${p}/`));
    const offenders = [...graph].flatMap(([f, deps]) => deps.filter((d) => isDev(d.target)).map((d) => chain([f, d.target])));
    expect(offenders).toEqual([]);
  });

  it('the page (src/ui, src/main.tsx) never reaches TensorFlow.js', () => {
    const page = (f: string) => under('ui')(f) || f === path.join(src, 'main.tsx');
    // The worker is started by URL (new Worker(new URL(...))), which is not an import: it stays out of the graph.
    expect(reachViolations(runtime(graph), page, (d) => d.startsWith('@tensorflow/'))).toEqual([]);
  });

  it('the checks see a forbidden import when there is one', () => {
    // src/engine/browser-backend.ts imports the TF.js backends: from there, TensorFlow.js is reachable.
    const engine = (f: string) => f === path.join(src, 'engine/browser-backend.ts');
    expect(reachViolations(runtime(graph), engine, (d) => d.startsWith('@tensorflow/')).length).toBeGreaterThan(0);
    // An upward import, a sideways one between the two top layers, one to a type only, one leaving src/, and a file
    // outside every layer; imports within a layer and downward pass.
    const upward = handGraph({
      'core/a.ts': ['core/b.ts', ':ui/c.ts'],
      'cli/d.ts': ['ui/c.ts', 'scenarios/e.ts', '../bench/f.ts'],
      'scenarios/e.ts': ['core/a.ts'],
      'stray.ts': [],
    });
    expect(layerViolations(upward, LAYERS)).toEqual([
      'src/core/a.ts → src/ui/c.ts (types only): core may not import ui',
      'src/cli/d.ts → src/ui/c.ts: cli may not import ui',
      'src/cli/d.ts → bench/f.ts: outside src/',
      'src/stray.ts is in no layer of the table',
    ]);
    // A circle closed by a type-only import, next to a file that imports itself; a diamond is no circle.
    const circles = handGraph({
      'scenarios/load.ts': ['scenarios/builtin/index.ts'],
      'scenarios/builtin/index.ts': ['scenarios/builtin/refusal.ts'],
      'scenarios/builtin/refusal.ts': [':scenarios/load.ts'],
      'io/self.ts': ['io/self.ts'],
      'core/top.ts': ['core/left.ts', 'core/right.ts'],
      'core/left.ts': ['core/bottom.ts'],
      'core/right.ts': ['core/bottom.ts'],
    });
    expect(cycles(circles).map(chain)).toEqual([
      'src/scenarios/load.ts → src/scenarios/builtin/index.ts → src/scenarios/builtin/refusal.ts → src/scenarios/load.ts',
      'src/io/self.ts → src/io/self.ts',
    ]);
  });

  it('no source or doc points to a document outside the repository', () => {
    const docs = [path.join(root, 'README.md'), ...readdirSync(path.join(root, 'docs')).map((f) => path.join(root, 'docs', f))];
    // The pattern is assembled from pieces so that this test does not itself name those documents.
    const outside = new RegExp([['DESIGN', '§'].join(' '), ['\\.\\.', 'shared', ''].join('/'), ['PAPER', 'NOTES'].join('-')].join('|'));
    const offenders = [...graph.keys(), ...docs].filter((f) => outside.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => path.relative(root, f))).toEqual([]);
  });
});
