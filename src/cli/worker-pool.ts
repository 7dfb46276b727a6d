// Worker processes for work that splits into independent units (the report's (scenario, seed, part), the defence
// matrix's seeds): each child runs the CLI with `--worker`, has its own wasm instance (its own core), and runs the
// jobs it is sent one after another — one start-up (Node, tsx, TF.js) for all of them rather than one per job.
import { fork } from 'node:child_process';
import path from 'node:path';

/** cpuSeconds: the job's own CPU time, which other work on the machine inflates less than its wall time. */
type Reply = { ready: true } | { ok: true; cpuSeconds: number } | { ok: false; error: string };

export interface WorkerHandle<J> {
  run: (job: J) => Promise<number>;
  close: () => void;
}

/** Start `unclamp <args>` as a worker (args include the command and `--worker`); `name` says what a job is. */
export function startWorker<J>(args: string[], name: (job: J) => string): WorkerHandle<J> {
  const bin = path.resolve(import.meta.dirname, '../../bin/unclamp.js');
  const p = fork(bin, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // A message sent before the child listens would be lost: jobs wait for its first reply.
  let ready: () => void = () => {};
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    p.once('exit', (code, signal) => reject(new Error(`${args[0]} worker exited (${signal ?? `status ${code}`}) before it started`)));
  });
  started.catch(() => {}); // a worker closed before its first job is no error; run() still sees the rejection
  let pending: { job: J; resolve: (cpuSeconds: number) => void; reject: (e: Error) => void } | null = null;
  const fail = (why: string) => {
    pending?.reject(new Error(`${args[0]} worker ${why} while running ${pending ? name(pending.job) : 'nothing'}`));
    pending = null;
  };
  p.on('message', (reply: Reply) => {
    if ('ready' in reply) return ready();
    const job = pending;
    pending = null;
    if (reply.ok) job?.resolve(reply.cpuSeconds);
    else job?.reject(new Error(reply.error));
  });
  p.on('error', (e) => fail(`failed (${e.message})`));
  p.on('exit', (code, signal) => fail(`exited (${signal ?? `status ${code}`})`));
  return {
    run: async (job) => {
      await started;
      return new Promise((resolve, reject) => {
        pending = { job, resolve, reject };
        p.send(job as object);
      });
    },
    close: () => p.connected && p.disconnect(),
  };
}

/** The worker's side: run each job the parent sends, reply; end when the parent disconnects. */
export async function serveJobs<J>(handle: (job: J) => Promise<void>): Promise<void> {
  // The parent disconnects once its queue is empty, possibly while this worker is still starting.
  const send = (r: Reply) => process.connected && process.send?.(r);
  let queue = Promise.resolve();
  process.on('message', (job: J) => {
    queue = queue.then(async () => {
      try {
        const before = process.cpuUsage();
        await handle(job);
        const used = process.cpuUsage(before);
        send({ ok: true, cpuSeconds: (used.user + used.system) / 1e6 });
      } catch (e) {
        send({ ok: false, error: (e as Error)?.stack ?? String(e) });
      }
    });
  });
  const done = new Promise<void>((resolve) => process.once('disconnect', resolve));
  send({ ready: true });
  await done;
  await queue;
}

/**
 * Run `queue` (longest first) on `jobs` workers; `onStart`/`onEnd` report each job. The first failure stops the queue;
 * every worker ends its job before this returns (or throws).
 */
export async function runPool<J>(
  queue: J[],
  jobs: number,
  start: () => WorkerHandle<J>,
  report: { onStart?: (job: J) => void; onEnd?: (job: J, wallS: number, cpuS: number) => void } = {},
): Promise<void> {
  const worker = async () => {
    const w = start();
    try {
      for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
        const t0 = Date.now();
        report.onStart?.(job);
        const cpu = await w.run(job).catch((e) => {
          queue.length = 0; // the whole run fails: start nothing more
          throw e;
        });
        report.onEnd?.(job, (Date.now() - t0) / 1000, cpu);
      }
    } finally {
      w.close();
    }
  };
  const ends = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(jobs, queue.length)) }, worker));
  for (const end of ends) if (end.status === 'rejected') throw end.reason;
}
