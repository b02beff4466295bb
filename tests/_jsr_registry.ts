/**
 * This package served over loopback HTTP the way jsr.io serves a published
 * version, so that a throw-away project can `deno add jsr:@multiprocess/managers`
 * with `JSR_URL` pointing here: `meta.json`, `<version>_meta.json` with
 * each file's size and SHA-256 (Deno checks them), and the files that
 * `deno.json`'s `publish` settings include, unchanged.
 */

const ROOT = new URL("../", import.meta.url);

interface PackageConfig {
  name: string;
  version: string;
  exports: string | Record<string, string>;
  publish: { include: string[]; exclude?: string[] };
}

/** A running registry; `url` is the value for `JSR_URL`. */
export interface JsrRegistry extends AsyncDisposable {
  readonly url: string;
  readonly name: string;
  readonly version: string;
  /** Paths of every request, in order. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

/** Starts the registry on a free loopback port. */
export async function serveAsJsr(): Promise<JsrRegistry> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as PackageConfig;
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const path of [...await publishedFiles(config), "/deno.json"]) {
    files.set(path, await Deno.readFile(new URL(`.${path}`, ROOT)));
  }
  const manifest: Record<string, { size: number; checksum: string }> = {};
  for (const [path, bytes] of files) {
    manifest[path] = { size: bytes.length, checksum: `sha256-${await sha256(bytes)}` };
  }
  const exports = typeof config.exports === "string" ? { ".": config.exports } : config.exports;
  const base = `/${config.name}`;
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    requests.push(path);
    if (path === `${base}/meta.json`) {
      const [scope, name] = config.name.slice(1).split("/");
      return Response.json({
        scope,
        name,
        latest: config.version,
        versions: { [config.version]: {} },
      });
    }
    if (path === `${base}/${config.version}_meta.json`) return Response.json({ manifest, exports });
    const prefix = `${base}/${config.version}`;
    const file = path.startsWith(`${prefix}/`) ? files.get(path.slice(prefix.length)) : undefined;
    if (file === undefined) return new Response("not found", { status: 404 });
    return new Response(file, { headers: { "content-type": contentType(path) } });
  });
  const close = async (): Promise<void> => {
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    name: config.name,
    version: config.version,
    requests,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function contentType(path: string): string {
  if (path.endsWith(".ts")) return "application/typescript";
  if (path.endsWith(".json")) return "application/json";
  return "text/plain";
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The files `deno publish` would upload, as `/path` (simple globs: `*` and `**`). */
export async function publishedFiles(config?: PackageConfig): Promise<string[]> {
  config ??= JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))) as PackageConfig;
  const include = config.publish.include.map(globToRegExp);
  const exclude = (config.publish.exclude ?? []).map(globToRegExp);
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(new URL(dir || ".", ROOT))) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (!entry.name.startsWith(".") && entry.name !== "node_modules") await walk(path);
      } else if (include.some((r) => r.test(path)) && !exclude.some((r) => r.test(path))) {
        found.push(`/${path}`);
      }
    }
  };
  await walk("");
  return found.sort();
}

function globToRegExp(glob: string): RegExp {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .split("**/")
    .map((part) => part.replace(/\*/g, "[^/]*"))
    .join("(?:.*/)?");
  return new RegExp(`^${pattern}$`);
}
