// An empty script: the floor for starting a Deno process.
