import { useStore } from '../store.ts';

export function Notices() {
  const notices = useStore((s) => s.notices);
  const dismiss = useStore((s) => s.dismiss);
  const busy = useStore((s) => s.busy);
  return (
    <div className="notices" aria-live="polite">
      {busy && (
        <div className="notice notice-info" data-testid="busy">
          {busy}…
        </div>
      )}
      {notices.map((n) => (
        <div key={n.id} className={`notice notice-${n.kind}`} role={n.kind === 'error' ? 'alert' : 'status'}>
          <span>
            {n.message}
            {n.hint && <span className="notice-hint"> {n.hint}</span>}
          </span>
          <button type="button" className="btn-close" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
