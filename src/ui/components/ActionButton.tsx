// A button bound to an action of the registry: label, shortcut hint and enabled state come from there.
import { useStore } from '../store.ts';
import { action } from '../actions.ts';

export function ActionButton({ id, label, primary }: { id: string; label?: string; primary?: boolean }) {
  const a = action(id);
  const enabled = useStore((s) => a.enabled(s));
  return (
    <button
      type="button"
      className={primary ? 'btn btn-primary' : 'btn'}
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
