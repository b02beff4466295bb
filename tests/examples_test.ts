/** The examples run as a user of this repository would run them, and leave nothing behind. */
import { CHECKS, denoRunner, EXAMPLES } from "./_examples.ts";

const runner = denoRunner(new URL("../examples", import.meta.url).pathname);

for (const example of EXAMPLES) {
  Deno.test(`examples/${example} runs as documented`, () => CHECKS[example](runner));
}
