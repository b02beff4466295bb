/**
 * The layers of `src/` point one way (CONTRIBUTING.md, "Layout"): a file
 * imports only from its own folder or from a folder below it, a
 * `_`-prefixed file only from its own folder, and no chain of imports comes
 * back to where it started. The one lazy door upward is the server's
 * `import()` of the CPython dialect when a CPython client first connects.
 */
import assert from "node:assert/strict";

/** Bottom to top; a folder may import from the ones before it. */
const LAYERS = ["src", "wire", "objects", "sync", "server", "python", "client", "main", "mod.ts"];

/** The lazy `import()`s allowed to point up: importer → imported. */
const DOORS = new Set(["src/server/client_connection.ts -> src/python/python_dialect.ts"]);

const ROOT = new URL("../", import.meta.url);

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly lazy: boolean;
}

async function sources(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await sources(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files;
}

function resolve(from: string, specifier: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const part of specifier.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  return parts.join("/");
}

/** Relative imports of `text` (static, re-exports, side effects and `import()`); comments skipped. */
export function importsOf(from: string, text: string): Edge[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const edges: Edge[] = [];
  for (const match of code.matchAll(/\b(?:from|import)\s*(\(\s*)?["'](\.{1,2}\/[^"']+)["']/g)) {
    edges.push({ from, to: resolve(from, match[2]!), lazy: match[1] !== undefined });
  }
  return edges;
}

function layerOf(file: string): string {
  if (file === "mod.ts") return "mod.ts";
  const parts = file.split("/");
  return parts.length === 2 ? "src" : parts[1]!;
}

/** Every import that breaks a rule, described. */
export function violations(edges: readonly Edge[]): string[] {
  const found: string[] = [];
  for (const { from, to, lazy } of edges) {
    const rankFrom = LAYERS.indexOf(layerOf(from));
    const rankTo = LAYERS.indexOf(layerOf(to));
    if (rankFrom < 0 || rankTo < 0) {
      found.push(`${from} -> ${to}: a folder with no place in LAYERS`);
    } else if (rankTo > rankFrom && !(lazy && DOORS.has(`${from} -> ${to}`))) {
      found.push(`${from} -> ${to}: ${layerOf(from)}/ imports from ${layerOf(to)}/, above it`);
    }
    const name = to.split("/").at(-1)!;
    const folder = to.split("/").slice(0, -1).join("/");
    if (name.startsWith("_") && !from.startsWith(`${folder}/`)) {
      found.push(`${from} -> ${to}: ${name} is internal to ${folder}/`);
    }
  }
  return found;
}

/** An import circle among `edges` (lazy doors aside), as its files in order, or undefined. */
export function findCircle(edges: readonly Edge[]): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const { from, to, lazy } of edges) {
    if (!lazy) next.set(from, [...next.get(from) ?? [], to]);
  }
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === "done") return undefined;
    if (state.get(file) === "open") return [...path.slice(path.indexOf(file)), file];
    state.set(file, "open");
    path.push(file);
    for (const to of next.get(file) ?? []) {
      const circle = visit(to);
      if (circle !== undefined) return circle;
    }
    path.pop();
    state.set(file, "done");
    return undefined;
  };
  for (const file of next.keys()) {
    const circle = visit(file);
    if (circle !== undefined) return circle;
  }
  return undefined;
}

async function graph(): Promise<Edge[]> {
  const edges: Edge[] = [];
  for (const file of ["mod.ts", ...await sources("src")]) {
    edges.push(...importsOf(file, await Deno.readTextFile(new URL(file, ROOT))));
  }
  return edges;
}

Deno.test("imports in src/ point down the layers, and none comes back in a circle", async () => {
  const edges = await graph();
  assert.ok(edges.length > 200, `the imports were read (${edges.length})`);
  assert.deepEqual(violations(edges), []);
  assert.equal(findCircle(edges)?.join(" -> "), undefined);
});

Deno.test("the layer check fails on an import that points up, into _ files, or in a circle", () => {
  assert.deepEqual(
    violations(importsOf("src/wire/codec.ts", 'import { BaseProxy } from "../objects/proxy.ts";')),
    ["src/wire/codec.ts -> src/objects/proxy.ts: wire/ imports from objects/, above it"],
  );
  assert.deepEqual(
    violations(importsOf("src/server/x.ts", 'const m = await import("../client/manager.ts");')),
    ["src/server/x.ts -> src/client/manager.ts: server/ imports from client/, above it"],
  );
  assert.deepEqual(
    violations(importsOf("src/client/x.ts", 'import "../wire/_limits.ts";')),
    ["src/client/x.ts -> src/wire/_limits.ts: _limits.ts is internal to src/wire/"],
  );
  assert.deepEqual(
    violations(importsOf("src/client/x.ts", '// import "../main/server_main.ts";\n')),
    [],
  );
  const circle = [
    ...importsOf("src/objects/a.ts", 'import type { B } from "./b.ts";'),
    ...importsOf("src/objects/b.ts", 'export { A } from "./a.ts";'),
  ];
  assert.deepEqual(findCircle(circle), [
    "src/objects/a.ts",
    "src/objects/b.ts",
    "src/objects/a.ts",
  ]);
});
