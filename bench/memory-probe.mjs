// A preload for measuring where a Node process's memory goes, without changing the code it runs (plain JavaScript:
// the wasm backend's pthread workers inherit the preload, and they have no TypeScript loader):
//   MEMORY_PROBE_OUT=out.json node --import ./bench/memory-probe.mjs bin/unclamp.js run …
// It finds TensorFlow.js's engine (a global, whichever copy of tfjs-core made it) and wraps its trackTensor, so every
// new tensor samples the engine's tensor bytes (tf.memory().numBytes), the wasm heap's size (which grows and never
// shrinks: its high-water mark) and, every 64th tensor or at a new high, the process's resident memory. At each new
// high of tensor bytes or of RSS (in steps of 16 MiB) it records the time and the innermost frames of the project's
// code on the stack, so a peak can be traced to the step that made it. At exit it writes the record as JSON, with the
// kernel's own VmHWM / VmRSS (/proc/self/status) beside the sampled figures. Does nothing in worker threads.
import { readFileSync, writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const MiB = 2 ** 20;

// Frames of the project's own files (TF.js's source maps name theirs …/tfjs-core/src/…, outside the root).
const ROOT = process.cwd().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const FRAME = new RegExp(`${ROOT}/(src|bench|scripts)/([^:()]+):(\\d+)`);

/** The innermost frames of the project's own code (src/, bench/, scripts/), as file:line. */
function where() {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  return stack
    .split('\n')
    .slice(2)
    .map((f) => FRAME.exec(f))
    .filter((m) => m !== null && !m[2].endsWith('memory-probe.mjs'))
    .slice(0, 8)
    .map((m) => `${m[1]}/${m[2]}:${m[3]}`)
    .join(' < ');
}

function status(field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

if (isMainThread) {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  const tensorHighs = [];
  const rssHighs = [];
  const heapSteps = [];
  let peakTensor = 0;
  let peakRss = 0;
  let lastHeap = 0;
  let count = 0;
  let engine;
  const heapBytes = () => engine?.registry.wasm?.wasm?.HEAPU8?.length ?? 0;
  const sampleRss = () => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss + 16 * MiB) rssHighs.push({ ms: ms(), bytes: rss, tensorBytes: engine?.state.numBytes ?? 0, where: where() });
    peakRss = Math.max(peakRss, rss);
  };
  const sample = () => {
    count++;
    const nb = engine.state.numBytes;
    if (nb > peakTensor) {
      if (nb > (tensorHighs.at(-1)?.bytes ?? 0) + 16 * MiB) tensorHighs.push({ ms: ms(), bytes: nb, where: where() });
      peakTensor = nb;
      sampleRss();
    } else if (count % 64 === 0) sampleRss();
    const heap = heapBytes();
    if (heap > lastHeap) {
      heapSteps.push({ ms: ms(), bytes: heap, tensorBytes: nb, where: where() });
      lastHeap = heap;
    }
  };
  const attach = () => {
    if (engine) return true;
    const e = globalThis._tfengine;
    if (!e) return false;
    engine = e;
    const track = e.trackTensor.bind(e);
    e.trackTensor = (...args) => {
      const r = track(...args);
      sample();
      return r;
    };
    return true;
  };
  const timer = setInterval(() => {
    if (attach()) sampleRss();
  }, 20);
  timer.unref();
  process.on('exit', () => {
    sampleRss();
    const record = {
      vmHWM: status('VmHWM'),
      vmRSS: status('VmRSS'),
      peakRssSampled: peakRss,
      peakTensorBytes: peakTensor,
      finalTensorBytes: engine?.state.numBytes ?? 0,
      wasmHeapBytes: heapBytes(),
      ms: ms(),
      tensorHighs,
      rssHighs,
      heapSteps,
    };
    const out = process.env.MEMORY_PROBE_OUT;
    if (out) writeFileSync(out, JSON.stringify(record, null, 1));
    else
      process.stderr.write(
        `memory-probe: VmHWM ${(record.vmHWM / MiB).toFixed(0)} MiB, peak tensors ${(peakTensor / MiB).toFixed(0)} MiB\n`,
      );
  });
}
