/**
 * The README as jsr.io shows it: every relative link points to a file the
 * package publishes, and tables fit a browser window.
 */
import assert from "node:assert/strict";
import { publishedFiles } from "./_jsr_registry.ts";

const README = await Deno.readTextFile(new URL("../README.md", import.meta.url));

Deno.test("README links only to files the package publishes", async () => {
  const published = new Set(await publishedFiles());
  const links = [...README.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)].map((match) => match[1]!)
    .filter((target) => !/^[a-z]+:/i.test(target));
  assert.ok(links.length > 0);
  for (const target of links) {
    assert.ok(published.has(`/${target.replace(/^\.\//, "")}`), `${target} is not published`);
  }
});

Deno.test("README tables have no row wider than 120 characters", () => {
  const wide = README.split("\n").filter((line) => line.startsWith("|") && line.length > 120);
  assert.deepEqual(wide, []);
});

Deno.test("README starts with what it is, then install, then the quickstart", () => {
  const headings = [...README.matchAll(/^## (.+)$/gm)].map((match) => match[1]);
  assert.deepEqual(headings.slice(0, 2), ["Install", "Quickstart"]);
  assert.match(README, /deno add jsr:@multiprocess\/managers/);
  assert.equal(headings.at(-1), "Development", "contributor material comes last");
});
