/**
 * The values of CPython's manager protocol that have no JavaScript
 * counterpart of their own: a slice (the argument of `lst[1:3]`), a
 * manager's token and a proxy rebuilt from one. The pickle reader makes
 * them; the pickle writer writes them; code that talks to CPython reads
 * them. Python's data values (tuples, floats, datetimes and the rest) are
 * `wire/python_data.ts`, where the MessagePack codec sees them too.
 *
 * @module
 */

/** A Python `slice(start, stop, step)`. */
export class PySlice {
  /** Creates the slice; `null` is Python's `None`. */
  constructor(
    readonly start: number | null,
    readonly stop: number | null,
    readonly step: number | null,
  ) {}
}

/** A `multiprocessing.managers.Token`: what a CPython proxy knows of its referent. */
export class PyToken {
  /** Creates the token. */
  constructor(
    /** The referent's typeid. */
    readonly typeid: string,
    /** The server's address: a socket path, or `[host, port]`. */
    readonly address: string | readonly [string, number],
    /** The referent's id, as CPython writes it (hex digits). */
    readonly id: string,
  ) {}
}

/** A CPython proxy in a value: `RebuildProxy(<proxy type>, token, serializer, kwds)`. */
export class PyProxy {
  /** Creates the proxy reference. */
  constructor(
    /** The referent's token. */
    readonly token: PyToken,
    /** The proxy type's name (`AutoProxy`, `DictProxy`, ...). */
    readonly proxyType: string,
    /** The exposed methods, when the proxy carries them (an `AutoProxy`). */
    readonly exposed: readonly string[] | undefined,
  ) {}
}

/** Exception classes of `builtins` a pickle may name. */
export const BUILTIN_EXCEPTIONS: ReadonlySet<string> = new Set([
  "BaseException",
  "Exception",
  "ArithmeticError",
  "AssertionError",
  "AttributeError",
  "BufferError",
  "EOFError",
  "FloatingPointError",
  "ImportError",
  "IndexError",
  "KeyError",
  "LookupError",
  "MemoryError",
  "ModuleNotFoundError",
  "NameError",
  "NotImplementedError",
  "OSError",
  "OverflowError",
  "RecursionError",
  "ReferenceError",
  "RuntimeError",
  "StopIteration",
  "SyntaxError",
  "SystemError",
  "TimeoutError",
  "TypeError",
  "UnboundLocalError",
  "UnicodeError",
  "ValueError",
  "ZeroDivisionError",
  "ConnectionError",
  "BrokenPipeError",
  "ConnectionResetError",
  "ConnectionRefusedError",
  "FileNotFoundError",
  "FileExistsError",
  "PermissionError",
  "ProcessLookupError",
  "InterruptedError",
  "BlockingIOError",
  "ChildProcessError",
  "IsADirectoryError",
  "NotADirectoryError",
]);
