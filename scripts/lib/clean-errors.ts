// Scripts import this first: a failure prints its own stack and exits 1, instead of Emscripten's handler
// (installed by TF.js' wasm backend) re-throwing it and printing the whole minified wasm glue file.
const fail = (e: unknown) => {
  process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
};
process.on('unhandledRejection', fail);
process.on('uncaughtException', fail);
