import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { projectRoot } from '../../../scripts/tool-paths';

/** The product's source folders (the dashboard is its own project with its own build). */
const SOURCE_FOLDERS = ['bin', 'cli', 'workers', 'api', 'workflows', 'activities', 'adapters', 'domain', 'scripts'];
/** What the domain may not import: it is pure logic below every other layer. */
const ABOVE_DOMAIN = ['adapters', 'api', 'workflows', 'activities', 'workers', 'cli', 'bin', 'scripts'];
/** The layers, top first: each imports only the ones below it. */
const LAYERS = ['bin', 'cli', 'workers', 'api', 'workflows', 'activities', 'adapters', 'domain'];
/**
 * The one import up the layers: a workflow's messages (signals, queries, updates) are the names by which a Temporal
 * client talks to it, and the Temporal adapters that signal or query a workflow take them from where it defines them.
 */
const WORKFLOW_MESSAGES = /^workflows\/[a-z-]+-messages\.ts$/;

function upwardImports(graph: Map<string, string[]>): string[] {
  const layerOf = (file: string): number => LAYERS.indexOf(file.split('/')[0] as string);
  return [...graph].flatMap(([file, targets]) => {
    const layer = layerOf(file);
    if (layer < 0) return [];
    return targets
      .filter((target) => {
        const targetLayer = layerOf(target);
        return targetLayer >= 0 && targetLayer < layer && !(file.startsWith('adapters/temporal/') && WORKFLOW_MESSAGES.test(target));
      })
      .map((target) => `${file} -> ${target}`);
  });
}

function sourceFiles(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|js)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

// Static imports and re-exports (type-only ones too: a circle of types is still a circle to read), require() and import().
const SPECIFIER = /(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s+'([^']+)'|(?:^|\n)\s*import\s+'([^']+)'|\brequire\('([^']+)'\)|\bimport\('([^']+)'\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const specifier = match[1] ?? match[2] ?? match[3] ?? match[4];
    if (!specifier?.startsWith('.')) continue;
    const base = resolve(dirname(file), specifier);
    const target = [base, `${base}.ts`, `${base}.js`, join(base, 'index.ts')].find((path) => existsSync(path) && statSync(path).isFile());
    if (target) found.push(target);
  }
  return found;
}

function importGraph(): Map<string, string[]> {
  const files = SOURCE_FOLDERS.map((folder) => join(projectRoot, folder)).filter((folder) => existsSync(folder)).flatMap(sourceFiles);
  return new Map(files.map((file) => [relative(projectRoot, file), importsOf(file).map((target) => relative(projectRoot, target))]));
}

/** Strongly connected components with more than one module, or a module that imports itself (Tarjan). */
function circles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next += 1;
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node) as number, low.get(target) as number));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node) as number, index.get(target) as number));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
        onStack.delete(member);
        component.push(member);
        if (member === node) break;
      }
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('the import graph', () => {
  const graph = importGraph();

  it('is read from the sources: the scan finds the modules and their imports', () => {
    expect(graph.size).toBeGreaterThan(150);
    expect(graph.get('workflows/keymap-sync.ts')).toContain('domain/keymap/sync-outcome.ts');
    expect(graph.get('domain/keymap/snapshot.ts')).toContain('domain/signed-object.ts');
    expect(circles(new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]))).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('has no circle', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('keeps the domain below every other layer: it imports nothing from adapters, api, workflows, activities or scripts', () => {
    const upward = [...graph].flatMap(([file, targets]) => (file.startsWith('domain/')
      ? targets.filter((target) => ABOVE_DOMAIN.some((layer) => target.startsWith(`${layer}/`))).map((target) => `${file} -> ${target}`)
      : []));
    expect(upward).toEqual([]);
  });

  it('keeps every layer below the ones above it (bin, cli, workers, api, workflows, activities, adapters, domain): activities and adapters import no service of the API', () => {
    expect(upwardImports(new Map([['activities/a.ts', ['api/services/s.ts', 'adapters/b.ts']]]))).toEqual(['activities/a.ts -> api/services/s.ts']);
    expect(upwardImports(graph)).toEqual([]);
  });
});
