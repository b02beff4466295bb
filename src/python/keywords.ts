/**
 * Python's keyword arguments, bound to a JavaScript function's parameters
 * by name, as Python binds them: `m.Svc(start=7)` calls
 * `constructor(start = 0)` with `7`, and `c.add(step=2)` calls
 * `add(n = 1, step = 1)` with `(undefined, 2)`, so that `n` keeps its
 * default. A function's parameter names are read from its source text.
 * Keywords no parameter names go in one options object: as the last
 * parameter when that is a destructuring pattern (`{ timeout } = {}`), or
 * after everything when there is a rest parameter (as Python's `**kwargs`
 * beside `*args`), or at the end when the source cannot be read (a native
 * or bound function). Anywhere else such a keyword, or one naming an
 * argument also given by position, is Python's `TypeError`.
 *
 * @module
 */

/** One parameter as the source declares it. */
interface Parameter {
  /** Its name, or undefined for a destructuring pattern. */
  readonly name: string | undefined;
  /** A rest parameter (`...args`). */
  readonly rest: boolean;
}

const parameterCache = new WeakMap<object, readonly Parameter[] | null>();

/**
 * The arguments to call `fn` with: `args` by position, then each keyword
 * in the place of the parameter it names. `what` names the call in errors.
 */
export function bindKeywords(
  fn: object,
  args: readonly unknown[],
  kwds: Readonly<Record<string, unknown>>,
  what: string,
): unknown[] {
  const names = Object.keys(kwds);
  if (names.length === 0) return [...args];
  const parameters = parametersOf(fn);
  // Unreadable (native or bound): the keywords go as a trailing options object.
  if (parameters === undefined) return [...args, { ...kwds }];
  const bound = [...args];
  const options: Record<string, unknown> = {};
  let optionsUsed = false;
  const last = parameters.at(-1);
  const pattern = last !== undefined && last.name === undefined && !last.rest;
  const rest = last?.rest === true;
  for (const name of names) {
    const at = parameters.findIndex((p) => p.name === name && !p.rest);
    if (at >= 0) {
      if (at < args.length) {
        throw pythonTypeError(`${what} got multiple values for argument '${name}'`);
      }
      while (bound.length < at) bound.push(undefined);
      bound[at] = kwds[name];
    } else if ((pattern && parameters.length - 1 >= args.length) || rest) {
      options[name] = kwds[name];
      optionsUsed = true;
    } else {
      throw pythonTypeError(`${what} got an unexpected keyword argument '${name}'`);
    }
  }
  if (optionsUsed) {
    // A destructuring last parameter takes them; after a rest parameter, they come last.
    const at = pattern ? parameters.length - 1 : Math.max(bound.length, parameters.length - 1);
    while (bound.length < at) bound.push(undefined);
    bound[at] = options;
  }
  return bound;
}

function pythonTypeError(message: string): Error {
  const error = new TypeError(message);
  Object.defineProperty(error, "args", { value: [message], enumerable: false });
  return error;
}

/**
 * The parameters `fn` declares (a class: its constructor's, or its nearest
 * parent's), or undefined when its source cannot be read.
 */
function parametersOf(fn: object): readonly Parameter[] | undefined {
  let found = parameterCache.get(fn);
  if (found === undefined) {
    found = readParameters(fn) ?? null;
    parameterCache.set(fn, found);
  }
  return found ?? undefined;
}

function readParameters(fn: object): readonly Parameter[] | undefined {
  const source = Function.prototype.toString.call(fn);
  if (source.includes("[native code]")) return undefined;
  if (/^class\b/.test(source)) {
    const at = constructorOf(source);
    if (at >= 0) return splitParameters(source, at);
    const parent = Object.getPrototypeOf(fn);
    return typeof parent === "function" && parent !== Function.prototype
      ? parametersOf(parent)
      : [];
  }
  const open = source.indexOf("(");
  const arrow = source.indexOf("=>");
  if (open < 0 || (arrow >= 0 && arrow < open)) {
    // `x => ...`: one parameter named before the arrow.
    const name = source.slice(0, arrow).trim().replace(/^async\s+/, "");
    return /^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(name) ? [{ name, rest: false }] : [];
  }
  return splitParameters(source, open);
}

/** The index of the `(` of the constructor declared in a class's own body, or -1. */
function constructorOf(source: string): number {
  const body = source.indexOf("{");
  let depth = 0;
  for (let i = body; i < source.length; i = skip(source, i) + 1) {
    const c = source[i];
    if (c === "{" || c === "(" || c === "[") depth++;
    else if (c === "}" || c === ")" || c === "]") depth--;
    else if (depth === 1 && source.startsWith("constructor", i) && /\W/.test(source[i - 1]!)) {
      const open = source.indexOf("(", i);
      if (/^constructor\s*$/.test(source.slice(i, open))) return open;
    }
  }
  return -1;
}

/** The end of a string, template or comment starting at `i`, else `i`. */
function skip(source: string, i: number): number {
  const c = source[i];
  if (c === '"' || c === "'" || c === "`") {
    for (let j = i + 1; j < source.length; j++) {
      if (source[j] === "\\") j++;
      else if (source[j] === c) return j;
    }
    return source.length;
  }
  if (c === "/" && source[i + 1] === "/") {
    const end = source.indexOf("\n", i);
    return end < 0 ? source.length : end;
  }
  if (c === "/" && source[i + 1] === "*") {
    const end = source.indexOf("*/", i + 2);
    return end < 0 ? source.length : end + 1;
  }
  return i;
}

/** The parameters between the `(` at `open` and its `)`; undefined if one cannot be read. */
function splitParameters(source: string, open: number): Parameter[] | undefined {
  const texts: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < source.length; i = skip(source, i) + 1) {
    const c = source[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") {
      depth--;
      if (depth === 0) {
        texts.push(source.slice(start, i));
        break;
      }
    } else if (c === "," && depth === 1) {
      texts.push(source.slice(start, i));
      start = i + 1;
    }
  }
  const parameters: Parameter[] = [];
  for (const raw of texts) {
    const text = raw.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, "").trim();
    if (text === "") continue;
    const rest = text.startsWith("...");
    const head = (rest ? text.slice(3) : text).trimStart();
    if (head.startsWith("{") || head.startsWith("[")) {
      parameters.push({ name: undefined, rest });
      continue;
    }
    const name = head.match(/^[\p{L}_$][\p{L}\p{N}_$]*/u)?.[0];
    // Not a parameter as written (the source defeated this reader): names cannot be trusted.
    if (name === undefined || !/^\s*(=|$)/.test(head.slice(name.length))) return undefined;
    parameters.push({ name, rest });
  }
  return parameters;
}
