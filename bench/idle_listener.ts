// A bare Deno process listening on a Unix socket until stdin closes: the
// runtime's own idle memory, beside an idle manager server's.
const listener = Deno.listen({ transport: "unix", path: Deno.args[0]! });
console.log("listening");
(async () => {
  for await (const conn of listener) conn.close();
})().catch(() => {});
for await (const _ of Deno.stdin.readable) { /* until the parent closes it */ }
listener.close();
