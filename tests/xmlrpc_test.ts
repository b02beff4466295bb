/**
 * The XML-RPC reader and writer (CPython's `serializer='xmlrpclib'`)
 * against the real CPython: what `xmlrpc.client.dumps(..., allow_none=1)`
 * writes reads as the value table says, what we write `loads` reads back
 * the same, and what is not that subset (a DTD, an entity, nesting past
 * the limit, broken markup) is refused by name.
 */
import assert from "node:assert/strict";
import { readXmlrpc, writeXmlrpc, XmlrpcError } from "../src/python/xmlrpc.ts";
import { pythonTest, runPython } from "./_python.ts";

const LIMITS = { maxDepth: 32, maxLength: 10_000 };

/** Runs `code` in CPython 3.13 with `stdin` as its input; returns its stdout as text. */
async function python(code: string, stdin = ""): Promise<string> {
  return new TextDecoder().decode(await runPython("3.13.0", code, stdin));
}

await pythonTest(
  ["3.13.0"],
  "CPython's XML-RPC documents read as the value table says, and ours load back equal",
  async () => {
    const expressions = [
      "None",
      "True",
      "-7",
      "2.5",
      "'héllo <&> \"q\"'",
      "b'\\x00\\xff'",
      "[1, [2, 'x'], None]",
      "(1, 2)",
      "{'a': 1, 'b': {'c': [True]}}",
      "xmlrpc.client.DateTime('20240102T03:04:05')",
    ];
    const documents: string[] = JSON.parse(
      await python(`import xmlrpc.client, json
print(json.dumps([xmlrpc.client.dumps((v,), None, None, None, 1) for v in [${
        expressions.join(", ")
      }]]))`),
    );
    const expected: unknown[] = [
      null,
      true,
      -7,
      2.5,
      'héllo <&> "q"',
      Uint8Array.of(0, 255),
      [1, [2, "x"], null],
      [1, 2],
      { a: 1, b: { c: [true] } },
      new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
    ];
    documents.forEach((document, i) => {
      assert.deepStrictEqual(
        readXmlrpc(new TextEncoder().encode(document), LIMITS),
        expected[i],
        expressions[i],
      );
    });
    const ours = [null, false, 2 ** 40, -0.5, "a<b&c", Uint8Array.of(7), [1, "x"], { k: [null] }];
    const loaded = await python(
      `import xmlrpc.client, json, sys
for doc in json.loads(sys.stdin.read()):
    value = xmlrpc.client.loads(doc)[0][0]
    print(repr(value.data if isinstance(value, xmlrpc.client.Binary) else value))`,
      JSON.stringify(ours.map((value) => new TextDecoder().decode(writeXmlrpc(value)))),
    );
    assert.deepStrictEqual(loaded.trim().split("\n"), [
      "None",
      "False",
      "1099511627776",
      "-0.5",
      "'a<b&c'",
      "b'\\x07'",
      "[1, 'x']",
      "{'k': [None]}",
    ]);
  },
);

Deno.test("what is not XML-RPC's subset is refused with an XmlrpcError", () => {
  const read = (xml: string): unknown => readXmlrpc(new TextEncoder().encode(xml), LIMITS);
  const wrap = (value: string): string =>
    `<?xml version='1.0'?><params><param>${value}</param></params>`;
  assert.throws(
    () => read(`<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a "b">]><params/>`),
    { name: "XmlrpcError", message: /DTDs/ },
  );
  assert.throws(() => read(wrap("<value><string>&a;</string></value>")), /unknown entity &a;/);
  assert.throws(() => read(wrap("<value><object/></value>")), /an empty <object\/>/);
  assert.throws(() => read(wrap("<value><int>1.5</int></value>")), /a malformed <int>/);
  assert.throws(
    () => read(wrap("<value><array><data>".repeat(40) + "</data></array></value>".repeat(40))),
    /nest deeper than the limit of 32 levels/,
  );
  assert.throws(
    () =>
      read(
        wrap(
          "<value><struct><member><name>__proto__</name><value>1</value></member></struct></value>",
        ),
      ),
    /__proto__/,
  );
  const good = new TextDecoder().decode(writeXmlrpc({ a: [1, "two", null] }));
  for (let cut = 0; cut < good.length; cut += 3) {
    try {
      read(good.slice(0, cut));
    } catch (error) {
      assert.ok(error instanceof XmlrpcError, `cut at ${cut}: ${error}`);
    }
  }
  assert.deepStrictEqual(read(good), { a: [1, "two", null] });
});
