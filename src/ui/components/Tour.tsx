// A short guided tour: five stops, each pointing at a part of the page and saying what it is for.
import { useEffect } from 'react';
import { useStore } from '../store.ts';

const STOPS = [
  {
    target: 'scenario',
    title: '1 · Pick an experiment',
    text: 'Each scenario is one of the paper’s four settings on the built-in model (or your own probe). The text under the menu says what the behaviour B is and what counts as a valid flip.',
  },
  {
    target: 'defence',
    title: '2 · Clamp features (the defence)',
    text: 'Choose SAE features to clamp and a rule. Before any attack you see the clamp’s effect: how many samples it flips. The clamp keeps the SAE’s error term, exactly as deployed defences do.',
  },
  {
    target: 'attack',
    title: '3 · Attack under the clamp',
    text:
      'The optimiser searches a small δ (‖δ‖ ≤ ρ) added to the residual. The encoder mode keeps δ orthogonal to the clamped ' +
      'features’ encoder directions, so the defence does not see it. Space plays or pauses, → steps, R resets.',
  },
  {
    target: 'charts',
    title: '4 · Watch it',
    text: 'Recovery rate climbs while the defended features barely move; the SAE’s error norm shows where the recovery goes instead. Pin a run (P) and run another mode to compare.',
  },
  {
    target: 'inspect',
    title: '5 · Inspect',
    text: 'Per-sample scores with δ’s positions on the tokens; the Jacobian panel shows why there is room to recover; the replay splits δ into what the SAE sees and what it does not.',
  },
];

export function Tour() {
  const step = useStore((s) => s.tourStep);
  const set = useStore((s) => s.set);
  useEffect(() => {
    document.querySelectorAll('.tour-target').forEach((e) => e.classList.remove('tour-target'));
    if (step === null) return;
    const el = document.querySelector(`[data-tour="${STOPS[step].target}"]`);
    el?.classList.add('tour-target');
    el?.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }, [step]);
  if (step === null) return null;
  const stop = STOPS[step];
  return (
    <div className="tour" role="dialog" aria-modal="false" aria-labelledby="tour-title" data-testid="tour">
      <h2 id="tour-title">{stop.title}</h2>
      <p>{stop.text}</p>
      <div className="row">
        <button type="button" className="btn" disabled={step === 0} onClick={() => set({ tourStep: step - 1 })}>
          Back
        </button>
        {step < STOPS.length - 1 ? (
          // biome-ignore lint/a11y/noAutofocus: the tour is a dialog the user opened; keyboard focus moves into it
          <button type="button" className="btn btn-primary" onClick={() => set({ tourStep: step + 1 })} autoFocus>
            Next
          </button>
        ) : (
          // biome-ignore lint/a11y/noAutofocus: as above
          <button type="button" className="btn btn-primary" onClick={() => set({ tourStep: null })} autoFocus>
            Done
          </button>
        )}
        <button type="button" className="btn" onClick={() => set({ tourStep: null })}>
          Close
        </button>
      </div>
    </div>
  );
}
