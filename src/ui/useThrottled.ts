// A store slice that re-renders its component at most every `ms` milliseconds, shifted by `offset`, so
// several charts fed by the same fast stream update in separate tasks instead of one long one, each
// rendered as a transition (time-sliced) rather than in one blocking pass.
import { startTransition, useEffect, useRef, useState } from 'react';
import { useStore, type PlaygroundState } from './store.ts';

export function useThrottledStore<T>(select: (s: PlaygroundState) => T, ms: number, offset = 0): T {
  const [value, setValue] = useState(() => select(useStore.getState()));
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const last = useRef(0);
  const selectRef = useRef(select);
  selectRef.current = select;
  useEffect(() => {
    const unsub = useStore.subscribe((s, prev) => {
      if (selectRef.current(s) === selectRef.current(prev) || timer.current) return;
      const wait = Math.max(0, last.current + ms - performance.now()) + offset;
      timer.current = setTimeout(() => {
        timer.current = null;
        last.current = performance.now();
        // A transition: React renders it in interruptible slices, yielding to input every few milliseconds.
        startTransition(() => setValue(selectRef.current(useStore.getState())));
      }, wait);
    });
    return () => {
      unsub();
      if (timer.current) clearTimeout(timer.current);
    };
  }, [ms, offset]);
  return value;
}
