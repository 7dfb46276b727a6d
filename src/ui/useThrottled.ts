// A store slice that re-renders its component at most every `ms` milliseconds, shifted by `offset`, so
// several charts fed by the same fast stream update in separate tasks instead of one long one, each
// rendered as a transition (time-sliced) rather than in one blocking pass. A plain useStore subscription re-renders
// synchronously (zustand reads the store through useSyncExternalStore, whose updates React never time-slices): a
// heavy component should take every slice it draws from here — the run's status too, whose flip at a run's start
// and end would otherwise redraw all four charts in one task.
import { startTransition, useEffect, useRef, useState } from 'react';
import { useStore, type PlaygroundState } from './store.ts';

/** Element-wise ===, for a selector that returns a tuple of slices. */
export function sameItems<T extends readonly unknown[]>(a: T, b: T): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

/** `equal`: when two selections are the same (default Object.is; sameItems for a tuple of slices). */
export function useThrottledStore<T>(
  select: (s: PlaygroundState) => T,
  ms: number,
  offset = 0,
  equal: (a: T, b: T) => boolean = Object.is,
): T {
  const [value, setValue] = useState(() => select(useStore.getState()));
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const last = useRef(0);
  const selectRef = useRef(select);
  selectRef.current = select;
  const equalRef = useRef(equal);
  equalRef.current = equal;
  useEffect(() => {
    const unsub = useStore.subscribe((s, prev) => {
      if (timer.current || equalRef.current(selectRef.current(s), selectRef.current(prev))) return;
      const wait = Math.max(0, last.current + ms - performance.now()) + offset;
      timer.current = setTimeout(() => {
        timer.current = null;
        last.current = performance.now();
        // A transition: React renders it in interruptible slices, yielding to input every few milliseconds.
        const next = selectRef.current(useStore.getState());
        startTransition(() => setValue((v) => (equalRef.current(v, next) ? v : next)));
      }, wait);
    });
    return () => {
      unsub();
      if (timer.current) clearTimeout(timer.current);
    };
  }, [ms, offset]);
  return value;
}
