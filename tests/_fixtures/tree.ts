/** A tree of shared nodes, for the pipelining tests: child() returns a shared node. */
import { BaseManager, shared } from "../../mod.ts";

/** A manager class of the pipelining tests' own. */
export class TreeManager extends BaseManager {}

let made = 0;

@shared({ manager: TreeManager, typeid: "Node" })
export class Node {
  /** child() returns a shared Node: on the proxy it is pipelined. */
  static readonly _methodToTypeid_ = { child: "Node" } as const;
  readonly #name: string;
  readonly #children = new Map<string, Node>();
  constructor(name = "root") {
    if (name === "refuse") throw new RangeError("this node cannot be made");
    this.#name = name;
    made++;
  }
  /** The child called `name`, made on first use; "missing" fails. */
  child(name: string): Node {
    if (name === "missing") throw new RangeError(`${this.#name} has no child 'missing'`);
    let node = this.#children.get(name);
    if (node === undefined) this.#children.set(name, node = new Node(`${this.#name}/${name}`));
    return node;
  }
  path(): string {
    return this.#name;
  }
  size(): number {
    return this.#children.size;
  }
  /** Nodes made so far in this server process. */
  made(): number {
    return made;
  }
}
