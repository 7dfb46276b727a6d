// A button bound to an action of the registry: label, shortcut hint and enabled state come from there.
import { useStore } from '../store.ts';
import { action } from '../actions.ts';

export function ActionButton({ id, label, primary, small }: { id: string; label?: string; primary?: boolean; small?: boolean }) {
  const a = action(id);
  const enabled = useStore((s) => a.enabled(s));
  return (
    <button
      type="button"
      className={['btn', primary && 'btn-primary', small && 'btn-small'].filter(Boolean).join(' ')}
      disabled={!enabled}
      onClick={() => void a.perform()}
      aria-keyshortcuts={a.shortcut?.key === ' ' ? 'Space' : a.shortcut?.key}
      title={a.shortcut ? `${a.label} (${a.shortcut.display})` : a.label}
      data-action={id}
    >
      {label ?? a.label}
      {a.shortcut && <kbd>{a.shortcut.display}</kbd>}
    </button>
  );
}
