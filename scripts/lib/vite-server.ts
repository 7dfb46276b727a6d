// A Vite server of this project started from a script or a test, on a port nobody else uses, and a build made the same way.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/** A port nobody listens on now (the OS picks it), so a server started on it never collides with another. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start `vite [command] …args` on `port` and resolve once it answers (within `seconds`). Vite's own script under
 * this Node, not npx: the process started here is the server, and killing it stops it.
 */
export async function startVite(port: number, args: string[], seconds = 60): Promise<{ server: ChildProcess; url: string }> {
  const server = spawn(
    process.execPath,
    [path.join(root, 'node_modules/vite/bin/vite.js'), ...args, '--host', '127.0.0.1', '--port', String(port), '--strictPort'],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const url = `http://127.0.0.1:${port}/`;
  for (let waited = 0; waited < seconds * 1000; waited += 500) {
    if (server.exitCode !== null) throw new Error(`vite ${args.join(' ')} exited with ${server.exitCode}`);
    try {
      if ((await fetch(url)).ok) return { server, url };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  server.kill();
  throw new Error(`vite ${args.join(' ')} did not answer at ${url}`);
}

/** Run `vite build …args` here (Vite's own script under this Node) and throw if it fails. */
export function viteBuild(args: string[]): void {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`vite build ${args.join(' ')} exited with ${r.status ?? r.signal}`);
}
