// The Node side of bench/levels.ts's host: resident memory from the process, the built-in assets from public/.
import { readPublic } from '../src/cli/fs.ts';
import type { BenchHost } from './levels.ts';
import { mib } from './record.ts';

export const nodeHost: BenchHost = {
  rssMB: () => mib(process.memoryUsage().rss),
  readAsset: readPublic,
  progress: (message) => console.error(message),
};
