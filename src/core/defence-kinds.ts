// The defences as data: their ids (the CLI's --defence, the page's defence panel, the matrix), what each does in
// words, its threat model, and how they combine. No TensorFlow.js here, so the page can read it; the tensor side
// is defence.ts (at the hook), detector.ts (the monitor) and scenarios/defences.ts (what each needs from a scenario).
import { InputError } from './errors.ts';

export const DEFENCE_IDS = ['clamp', 'no-error-term', 'clip-error', 'reclamp', 'multi-layer', 'ablate-span', 'detect'] as const;
export type DefenceId = (typeof DEFENCE_IDS)[number];

/** What the model reads at the hook: exactly one of these acts there (the others add later layers or a monitor). */
export const HOOK_KINDS = ['clamp', 'no-error-term', 'clip-error', 'reclamp', 'ablate-span'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];

export interface DefenceText {
  label: string;
  /** What it does to the residual, in one sentence. */
  does: string;
  /** What the attacker is assumed to see and control. */
  threat: string;
}

export const DEFENCE_TEXT: Record<DefenceId, DefenceText> = {
  clamp: {
    label: 'Clamp (the paper’s)',
    does: 'clamp the defended features S and keep the SAE error term: h + D(clamp(z)) − D(z); δ is added after it.',
    threat: 'the paper’s: the attacker writes δ into the defended residual at the hook, after the clamp.',
  },
  'no-error-term': {
    label: 'No error term',
    does: 'splice the clamped reconstruction only, D(clamp(E(h + δ))): the error channel the paper finds recovery flows through is closed.',
    threat: 'δ enters the residual before the SAE; everything the model reads at the hook is the SAE’s reconstruction.',
  },
  'clip-error': {
    label: 'Clip the error term',
    does: 'keep the error term but cap its norm at a percentile of its norm on clean inputs (default the 99th).',
    threat: 'δ enters before the SAE; the error term is kept up to the cap.',
  },
  reclamp: {
    label: 'Re-clamp',
    does: 'encode h_def + δ again and re-apply the clamp at the same hook.',
    threat: 'the paper’s δ (after the clamp), then the clamp once more on what δ made.',
  },
  'multi-layer': {
    label: 'Multi-layer clamp',
    does: 'clamp at the hook and at every later layer with an SAE, each layer’s features chosen by the scenario’s rule.',
    threat: 'δ at the hook only; the later clamps act on whatever δ made of the residual there.',
  },
  'ablate-span': {
    label: 'Ablate the span',
    does: 'project span(W_dec[S]) out of the residual at the hook and at every later layer.',
    threat: 'δ enters before the projection; no component along the defended decoder directions survives.',
  },
  detect: {
    label: 'Detector',
    does: 'flag an input whose SAE error norm, L0 or feature-vector distance from clean inputs passes a threshold set at a false-positive rate on clean inputs (default 1%); a flagged input counts as defended.',
    threat: 'a monitor beside the clamp; the adaptive attacker knows its score and threshold.',
  },
};

export class DefenceSpecError extends InputError {
  override name = 'DefenceInputError';
}

/** A defence as a run asks for it: the hook's operator, the optional additions, and their settings. */
export interface DefenceChoice {
  /** The ids as given (sorted in DEFENCE_IDS order), e.g. ['no-error-term', 'detect']. */
  ids: DefenceId[];
  hook: HookKind;
  multiLayer: boolean;
  detect: boolean;
  /** clip-error: the percentile of clean error norms the cap sits at (0, 100]. */
  clipPercentile: number;
  /** detect: the false-positive rate on clean inputs the threshold is set at (0, 0.5]. */
  detectFpr: number;
}

export const DEFAULT_CLIP_PERCENTILE = 99;
export const DEFAULT_DETECT_FPR = 0.01;

/** `clamp`, `no-error-term,detect`, …: one operator at the hook at most, plus multi-layer and detect. */
export function parseDefence(text: string, settings: { clipPercentile?: number; detectFpr?: number } = {}): DefenceChoice {
  const parts = text
    .split(/[,+]/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (!parts.length) throw new DefenceSpecError(`no defence given: choose from ${DEFENCE_IDS.join(', ')}`);
  const ids: DefenceId[] = [];
  for (const p of parts) {
    if (!(DEFENCE_IDS as readonly string[]).includes(p))
      throw new DefenceSpecError(`"${p}" is not a defence: choose from ${DEFENCE_IDS.join(', ')}`);
    if (ids.includes(p as DefenceId)) throw new DefenceSpecError(`defence "${p}" is listed twice`);
    ids.push(p as DefenceId);
  }
  const hooks = ids.filter((id): id is HookKind => (HOOK_KINDS as readonly string[]).includes(id));
  if (hooks.length > 1)
    throw new DefenceSpecError(
      `${hooks.join(' and ')} both act at the hook: combine one of ${HOOK_KINDS.join(', ')} with multi-layer and/or detect`,
    );
  const hook = hooks[0] ?? 'clamp';
  const multiLayer = ids.includes('multi-layer');
  if (multiLayer && hook === 'ablate-span')
    throw new DefenceSpecError('ablate-span already acts at every later layer: it does not combine with multi-layer');
  const clipPercentile = settings.clipPercentile ?? DEFAULT_CLIP_PERCENTILE;
  if (!(clipPercentile > 0 && clipPercentile <= 100))
    throw new DefenceSpecError(`the clip percentile must be in (0, 100], got ${clipPercentile}`);
  const detectFpr = settings.detectFpr ?? DEFAULT_DETECT_FPR;
  if (!(detectFpr > 0 && detectFpr <= 0.5))
    throw new DefenceSpecError(`the detector's false-positive rate must be in (0, 0.5], got ${detectFpr}`);
  ids.sort((a, b) => DEFENCE_IDS.indexOf(a) - DEFENCE_IDS.indexOf(b));
  return { ids, hook, multiLayer, detect: ids.includes('detect'), clipPercentile, detectFpr };
}

/** The paper's defence. */
export const PAPER_DEFENCE: DefenceChoice = parseDefence('clamp');

/** The id text of a choice: `no-error-term+detect` (the matrix's row names; parseDefence reads it back). */
export function defenceKey(c: DefenceChoice): string {
  return c.ids.join('+');
}

export function describeDefence(c: DefenceChoice): string {
  return c.ids
    .map(
      (id) =>
        DEFENCE_TEXT[id].label +
        (id === 'clip-error' ? ` at p${c.clipPercentile}` : id === 'detect' ? ` at ${c.detectFpr * 100}% FPR` : ''),
    )
    .join(' + ');
}
