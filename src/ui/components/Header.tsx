import { useStore } from '../store.ts';
import { ActionButton } from './ActionButton.tsx';

export function BackendBadge() {
  const backend = useStore((s) => s.backend);
  if (!backend)
    return (
      <span className="badge" data-testid="backend-badge">
        starting…
      </span>
    );
  // WebGPU was there but emulated on the CPU: the slower choice was passed over on purpose, one click away.
  const softwareGpu = backend.name !== 'webgpu' && backend.passedOver?.[0]?.name === 'webgpu';
  const ok = backend.name === 'webgpu' || softwareGpu;
  return (
    <span className={`badge ${ok ? 'badge-ok' : 'badge-warn'}`} data-testid="backend-badge" title={backend.reasons.join('\n') || undefined}>
      <span data-testid="backend-name">{backend.name}</span>
      {backend.adapter && <span className="badge-detail"> · {backend.adapter}</span>}
      {backend.name !== 'webgpu' && backend.reasons[0] && (
        <span className="badge-reason" data-testid="backend-reason">
          {' '}
          — {softwareGpu ? backend.reasons[0] : `not WebGPU: ${backend.reasons[0].replace(/^WebGPU: /, '')}`}
        </span>
      )}
      {softwareGpu && (
        <>
          {' '}
          <ActionButton id="use-webgpu" small />
        </>
      )}
    </span>
  );
}

export function Header() {
  return (
    <header className="header">
      <div className="brand">
        <h1>Unclamp</h1>
        <p className="tagline">Clamp SAE features, then watch a small residual perturbation bring the behaviour back.</p>
      </div>
      <div className="header-tools">
        <BackendBadge />
        <ActionButton id="tour" />
        <ActionButton id="import-json" />
        <ActionButton id="copy-link" />
      </div>
    </header>
  );
}
