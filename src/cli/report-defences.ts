// The Defences section of docs/results.md, rendered from the defence matrix that `unclamp report --all` keeps under
// `defences` in docs/results.json (the same tables `unclamp defences` prints, from defence-tables.ts). Rendering only.
import type { DefenceMatrix } from '../scenarios/defence-matrix.ts';
import { budgetTable, costTable, detectorSentence, failedChecks, recoveryTable, siteNotes } from './defence-tables.ts';
import { mdTable } from './table.ts';

const REGENERATE =
  '`npx unclamp report --all` runs the defence matrix on the built-in IOI scenario over the report’s seeds and writes it ' +
  'here (and under `defences` in [results.json](results.json)); `npx unclamp defences --scenario ioi` runs the same matrix alone.';

/** `## Defences`: the matrix's tables and what its checks say, or how to make it when results.json has none. */
export function defencesSection(m: DefenceMatrix | undefined): string {
  const head = '## Defences';
  const what = 'What each defence does, its threat model, the two attackers and the checks: [defences.md](defences.md).';
  if (!m) return `${head}\n\nNot generated yet. ${REGENERATE} ${what}\n`;
  const changed = Object.entries(m.settings)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} ${String(v)}`);
  const parts = [
    head,
    `The defence matrix on ${m.title.toLowerCase()} (\`${m.scenario}\`), seed${m.seeds.length > 1 ? 's' : ''} ${m.seeds.join(', ')}, ` +
      `${changed.length ? `the scenario's settings but ${changed.join(', ')}` : "the scenario's settings"}. ${what} ` +
      "Each defence meets two attackers: the paper's (δ optimised against the paper's clamp, then applied under the defence) " +
      `and the adaptive one (δ optimised through the defence, with λ_detect = ${m.lambdaDetect} times the monitor's excess score ` +
      'where there is a monitor). Rates are the valid flips recovered, pooled over seeds, with 95% Wilson intervals; a valid flip is a ' +
      'sample the defence itself suppresses, so each defence has its own denominator. The gap is adaptive − paper in points; the ' +
      'relative drift is on the defended features at the δ positions; "detected" is the share of valid flips the monitor flags at the ' +
      'reported δ (a flagged sample counts as defended).',
  ];
  for (const mode of m.modes) {
    const t = recoveryTable(m, mode);
    parts.push(`### Recovery, ${mode} mode\n\n${mdTable(t.head, t.rows)}`);
  }
  const cost = costTable(m);
  const failed = m.defences.flatMap((d) => failedChecks(m, d).map((f) => `- **${d.defence}**: ${f.sentence}.`));
  parts.push(
    `### Cost, a random δ and the checks\n\n${mdTable(cost.head, cost.rows)}\n\n` +
      'Valid flips without an attack: the samples the defence still suppresses (over all held-out samples, pooled). CE and KL: ' +
      'next-token cross-entropy of the built-in model on clean held-out text without and with the defence, and KL(undefended ‖ ' +
      `defended), per token (seed ${m.seeds[0]}). Random δ: a δ of the budget's norm in a random direction at the same positions. AUC: ` +
      `the area under the adaptive attacker's recovery against budget (below), the budget scaled to the largest multiple. Checks: ` +
      'recovery does not fall as the budget grows, twice the steps does not recover less, and the best attacker beats the random δ.' +
      (failed.length ? `\n\n${failed.join('\n')}` : '\n\nEvery defence passes every check.'),
  );
  const curve = budgetTable(m);
  parts.push(
    `### Recovery against budget (adaptive attacker, ${m.curveMode} mode, seed ${m.seeds[0]})\n\n${mdTable(curve.head, curve.rows)}`,
  );
  const monitors = m.defences.map(detectorSentence).filter((s): s is string => s !== null);
  if (monitors.length)
    parts.push(
      `### The monitor\n\n${monitors.map((s) => `- ${s}.`).join('\n')}\n\n` +
        'The threshold is a conformal quantile of the scores of half the clean inputs at the false-positive rate asked for; the other ' +
        'half measures the rate. The ROC AUC is over the monitor’s score in the curve’s mode: 0.5 cannot tell attacked inputs from clean ones.',
    );
  const notes = m.defences.flatMap((d) => siteNotes(d).map((n) => `- ${d.defence}: ${n}`));
  if (notes.length) parts.push(`What acts where (seed ${m.seeds[0]}):\n\n${notes.join('\n')}`);
  return `${parts.join('\n\n')}\n`;
}
