// A one-line progress bar on stderr (only when stderr is a terminal, or when forced).

/** `unit`: what `done` counts, for the rate (steps of a run; runs of a matrix). */
export function progressBar(total: number, label: string, stream: NodeJS.WriteStream = process.stderr, unit = 'steps') {
  const tty = Boolean(stream.isTTY);
  let lastDraw = 0;
  const started = Date.now();
  return {
    update(done: number, note = '') {
      const now = Date.now();
      if (!tty && done < total && now - lastDraw < 2000) return;
      if (tty && done < total && now - lastDraw < 80) return;
      lastDraw = now;
      const width = 28;
      const filled = Math.round((done / total) * width);
      const rate = done / Math.max(1e-3, (now - started) / 1000);
      const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${rate.toFixed(1)} ${unit}/s ${note}`;
      stream.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
    },
    done() {
      if (tty) stream.write('\n');
    },
  };
}
