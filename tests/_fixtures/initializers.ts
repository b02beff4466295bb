/** Initializers for the TestInitializers port; the server process imports this module. */
import type { NamespaceProxy } from "../../mod.ts";

/** CPython's `initializer(ns)`: `ns.test += 1`, run in the new server process. */
export async function incrementTest(ns: NamespaceProxy): Promise<void> {
  await ns.set("test", (await ns.get("test") as number) + 1);
}
