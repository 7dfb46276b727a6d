// The real-model scenarios' inputs: the model (a Hub repository or local files), the SAE (a known release and layer,
// a Hub folder, or local files), the prompts (the paper's set, a JSONL file, or the prompt editor mounted in the
// `promptEditor` slot), the Hub endpoint and token, the downloads, the cache, and after loading the SAE check and —
// for the paper's IOI — the paper's figures beside ours.
import { type DragEvent, type ReactNode, useEffect, useState } from 'react';
import ioiReference from '../../scenarios/reference/ioi_aggregate.json';
import { PAPER_IOI } from '../../scenarios/catalog.ts';
import { releaseWeightBytes, SAE_RELEASES } from '../../io/sae-releases.ts';
import { loadScenario } from '../engine/scenario.ts';
import {
  cancelDownloads,
  clearDownloads,
  type ModelScenarioId,
  PAPER_IOI_DOWNLOAD,
  refreshCacheSize,
  type Sources,
  useModelInputs,
} from '../model-inputs.ts';
import { useStore } from '../store.ts';
import { runSettings } from '../config.ts';
import { formatBytes } from '../../core/format.ts';
import { DownloadProgress } from './DownloadProgress.tsx';

async function loadWithDownloads(): Promise<void> {
  useModelInputs.getState().set({ armed: true });
  await loadScenario();
}

/** Files from a folder picker, a multi-file input or a drop; the folder's name is kept for results. */
function LocalFiles({ label, files, onFiles, testId }: { label: string; files: File[]; onFiles: (f: File[]) => void; testId: string }) {
  const [over, setOver] = useState(false);
  const drop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    onFiles([...e.dataTransfer.files]);
  };
  // React has no typing for the folder picker's attribute; Chromium, Firefox and Safari all take it.
  const folder = { webkitdirectory: '', directory: '' } as Record<string, string>;
  return (
    <section
      aria-label={`${label} files`}
      className={`dropzone${over ? ' dropzone-over' : ''}`}
      data-testid={testId}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={drop}
    >
      <span className="small">{label}: drop the files here, or</span>
      <label className="btn btn-small">
        choose a folder
        <input
          type="file"
          className="sr-only"
          {...folder}
          onChange={(e) => onFiles([...(e.target.files ?? [])])}
          data-testid={`${testId}-folder`}
        />
      </label>
      <label className="btn btn-small">
        choose files
        <input
          type="file"
          multiple
          className="sr-only"
          onChange={(e) => onFiles([...(e.target.files ?? [])])}
          data-testid={`${testId}-files`}
        />
      </label>
      <span className="muted small">{files.length ? files.map((f) => f.name).join(', ') : 'no files chosen'}</span>
    </section>
  );
}

function SourceKind<K extends string>({
  name,
  value,
  options,
  onChange,
}: {
  name: string;
  value: K;
  options: [K, string][];
  onChange: (k: K) => void;
}) {
  return (
    <fieldset className="source-kind">
      <legend>{name}</legend>
      {options.map(([k, text]) => (
        <label key={k} className="field checkbox">
          <input type="radio" name={name} checked={value === k} onChange={() => onChange(k)} />
          <span>{text}</span>
        </label>
      ))}
    </fieldset>
  );
}

function ModelSource({ id, sources }: { id: ModelScenarioId; sources: Sources }) {
  const { setSources, localModel, set } = useModelInputs();
  const src = sources.model;
  const fixed = id === 'paper-ioi';
  return (
    <>
      <SourceKind
        name="Model"
        value={src.kind}
        options={[
          ['hub', fixed ? `GPT-2 small from the Hub (${PAPER_IOI.model})` : 'From the Hub'],
          ['local', 'Local files (config.json, model.safetensors or its shards, tokenizer files)'],
        ]}
        onChange={(k) =>
          setSources(id, { model: k === 'hub' ? { kind: 'hub', repo: 'openai-community/gpt2', revision: 'main' } : { kind: 'local' } })
        }
      />
      {src.kind === 'hub' && !fixed && (
        <div className="row">
          <label className="field">
            <span>Repository</span>
            <input
              value={src.repo}
              onChange={(e) => setSources(id, { model: { ...src, repo: e.target.value } })}
              spellCheck={false}
              data-testid="model-repo"
            />
          </label>
          <label className="field narrow">
            <span>Revision</span>
            <input
              value={src.revision}
              onChange={(e) => setSources(id, { model: { ...src, revision: e.target.value } })}
              data-testid="model-revision"
            />
          </label>
        </div>
      )}
      {src.kind === 'local' && <LocalFiles label="Model" files={localModel} onFiles={(f) => set({ localModel: f })} testId="model-local" />}
    </>
  );
}

function SaeSource({ id, sources }: { id: ModelScenarioId; sources: Sources }) {
  const { setSources, localSae, set } = useModelInputs();
  const src = sources.sae;
  const fixed = id === 'paper-ioi';
  const jb = SAE_RELEASES[0];
  const release = src.kind === 'release' ? (SAE_RELEASES.find((r) => r.id === src.release) ?? jb) : jb;
  return (
    <>
      <SourceKind
        name="SAE"
        value={src.kind}
        options={
          fixed
            ? [
                ['release', `gpt2-small-res-jb, layer 4, from the Hub (${PAPER_IOI.sae})`],
                ['local', 'Local files (cfg.json, sae_weights.safetensors)'],
              ]
            : [
                ['release', 'A known release'],
                ['hub', 'A Hub folder'],
                ['local', 'Local files (SAELens: cfg.json, sae_weights.safetensors; Gemma Scope: params.npz)'],
              ]
        }
        onChange={(k) =>
          setSources(id, {
            sae:
              k === 'release'
                ? { kind: 'release', release: jb.id, layer: jb.defaultLayer }
                : k === 'hub'
                  ? { kind: 'hub', ref: `${jb.repo}/${jb.folder(jb.defaultLayer)}` }
                  : { kind: 'local' },
          })
        }
      />
      {src.kind === 'release' && !fixed && (
        <div className="row">
          <label className="field">
            <span>Release</span>
            <select
              value={release.id}
              onChange={(e) => {
                const r = SAE_RELEASES.find((x) => x.id === e.target.value) ?? jb;
                setSources(id, { sae: { kind: 'release', release: r.id, layer: r.defaultLayer, width: r.widths?.[0].name } });
              }}
              data-testid="sae-release"
            >
              {SAE_RELEASES.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.id} ({r.model}, {r.architecture})
                </option>
              ))}
            </select>
          </label>
          {release.widths && (
            <label className="field narrow">
              <span>Width</span>
              <select
                value={src.width ?? release.widths[0].name}
                onChange={(e) => setSources(id, { sae: { ...src, width: e.target.value } })}
                data-testid="sae-width"
              >
                {release.widths.map((w) => (
                  <option key={w.name} value={w.name}>
                    {w.name} ({w.dSae.toLocaleString('en')} features)
                  </option>
                ))}
              </select>
            </label>
          )}
          <label className="field narrow">
            <span>Layer</span>
            <select
              value={src.layer}
              onChange={(e) => setSources(id, { sae: { ...src, layer: Number(e.target.value) } })}
              data-testid="sae-layer"
            >
              {release.layers.map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          </label>
          <span className="muted small">
            {release.repo}/{release.folder(src.layer, src.width)}
            {release.needsResolution ? ' (the folder the Hub lists closest to that average L0)' : ''}, ~
            {formatBytes(releaseWeightBytes(release, src.width), { precise: true })}
          </span>
        </div>
      )}
      {src.kind === 'hub' && (
        <label className="field">
          <span>
            Hub folder (owner/name[@revision]/folder: SAELens's cfg.json + sae_weights.safetensors, or Gemma Scope's params.npz in
            layer_L/width_W/average_l0_N; …/average_l0_closest_100 picks the folder nearest that L0)
          </span>
          <input
            value={src.ref}
            onChange={(e) => setSources(id, { sae: { kind: 'hub', ref: e.target.value } })}
            spellCheck={false}
            data-testid="sae-ref"
          />
        </label>
      )}
      {src.kind === 'local' && <LocalFiles label="SAE" files={localSae} onFiles={(f) => set({ localSae: f })} testId="sae-local" />}
    </>
  );
}

function PromptSource({ sources, promptEditor }: { sources: Sources; promptEditor?: ReactNode }) {
  const { setSources, promptsFile, set } = useModelInputs();
  const readFile = async (f: File | undefined) => {
    if (f) set({ promptsFile: { name: f.name, text: await f.text() } });
  };
  return (
    <>
      <SourceKind
        name="Prompts"
        value={sources.prompts}
        options={[
          ['paper', "The paper's 64 IOI prompts"],
          ['file', 'My prompts (JSON lines: prompt, target, contrast)'],
        ]}
        onChange={(k) => setSources('prompts', { prompts: k })}
      />
      {sources.prompts === 'file' && (
        <>
          <label className="field">
            <span>Prompt file (.jsonl){promptsFile ? ` — ${promptsFile.name}` : ''}</span>
            <input type="file" accept=".jsonl,.json,.txt" onChange={(e) => void readFile(e.target.files?.[0])} data-testid="prompts-file" />
          </label>
          {promptEditor}
        </>
      )}
    </>
  );
}

function Settings() {
  const { endpoint, token, set } = useModelInputs();
  const [draft, setDraft] = useState(endpoint);
  const valid = /^https?:\/\/[^\s/]+/.test(draft);
  return (
    <details className="model-settings">
      <summary>Hub settings</summary>
      <label className="field">
        <span>Hub endpoint (a mirror, or the Hub itself){valid ? '' : ' — not a URL'}</span>
        <input
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onBlur={() => valid && set({ endpoint: draft.replace(/\/+$/, '') })}
          spellCheck={false}
          data-testid="hub-endpoint"
        />
      </label>
      <label className="field">
        <span>Access token for gated repositories (kept in this tab's memory only: never saved, put in a link or exported)</span>
        <input type="password" autoComplete="off" value={token} onChange={(e) => set({ token: e.target.value })} data-testid="hub-token" />
      </label>
    </details>
  );
}

function SaeCheckView() {
  const check = useStore((s) => s.scenario?.saeCheck);
  if (!check) return null;
  return (
    <div className="scenario-facts" data-testid="sae-check">
      <p>
        <strong>SAE check</strong> on the prompts: L0 {check.l0.toFixed(1)}, explained variance {check.explainedVariance.toFixed(3)}
        {check.lossClean !== null && check.lossSpliced !== null
          ? `, next-token loss ${check.lossClean.toFixed(3)} → ${check.lossSpliced.toFixed(3)} nats with the SAE spliced in.`
          : '.'}
      </p>
      {check.warnings.map((w) => (
        <p key={w} className="warn small" role="status">
          ⚠ {w}
        </p>
      ))}
    </div>
  );
}

/** Where downloads are kept, and — once there are files, or a large download asked — whether the browser keeps them for good. */
function StorageNote() {
  const cache = useModelInputs((s) => s.cache);
  const asked = useModelInputs((s) => s.persistAsked);
  if (!cache) return null;
  if (cache.kind === 'none')
    return (
      <p className="muted small" data-testid="hub-storage">
        This page cannot keep downloads (it needs https or localhost): every load downloads the files again.
      </p>
    );
  const where =
    cache.kind === 'opfs'
      ? "Kept in this site's own files (the origin-private file system)"
      : 'Kept in Cache Storage (this browser has no origin-private file system)';
  const shown = cache.files > 0 || cache.unfinished > 0 || asked;
  const persistence =
    !shown || cache.persisted === null
      ? ''
      : cache.persisted
        ? '; persistent storage granted: the browser keeps them until you clear them'
        : '; persistent storage not granted: the browser may delete them when the disk runs low, and they are then downloaded again';
  return (
    <p
      className="muted small"
      data-testid="hub-storage"
      data-persisted={shown && cache.persisted !== null ? String(cache.persisted) : undefined}
    >
      {where}
      {persistence}.
    </p>
  );
}

type PaperMode = { n_prompts: number; n_valid_flips: number; n_recovered_success: number; mean_final_act_drift_l2_valid: number };

/** The paper's released IOI figures (src/scenarios/reference/ioi_aggregate.json) beside this page's. */
function PaperFigures() {
  const config = useStore((s) => s.config);
  const defence = useStore((s) => s.defence);
  const result = useStore((s) => s.result);
  const n = useStore((s) => s.scenario?.n);
  const modes = ioiReference.aggregate_by_mode as Record<string, PaperMode>;
  const mode = runSettings(config).mode;
  const agg = result?.aggregate;
  const cell = (v: number | null | undefined, digits = 2) =>
    v === null || v === undefined ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(digits);
  return (
    <table className="paper-figures" data-testid="paper-figures">
      <caption className="small">The paper's figures beside ours</caption>
      <thead>
        <tr>
          <th scope="col" />
          <th scope="col">paper, none</th>
          <th scope="col">paper, encoder</th>
          <th scope="col">here, {mode}</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th scope="row">valid flips</th>
          <td>
            {modes.none.n_valid_flips} of {modes.none.n_prompts}
          </td>
          <td>
            {modes.encoder.n_valid_flips} of {modes.encoder.n_prompts}
          </td>
          <td>{defence ? `${defence.validFlips} of ${n}` : '—'}</td>
        </tr>
        <tr>
          <th scope="row">recovered</th>
          <td>{modes.none.n_recovered_success}</td>
          <td>{modes.encoder.n_recovered_success}</td>
          <td>{cell(agg?.recovered)}</td>
        </tr>
        <tr>
          <th scope="row">abs drift (valid)</th>
          <td>{modes.none.mean_final_act_drift_l2_valid.toFixed(2)}</td>
          <td>{modes.encoder.mean_final_act_drift_l2_valid.toFixed(2)}</td>
          <td>{cell(agg?.meanAbsDrift)}</td>
        </tr>
      </tbody>
    </table>
  );
}

function PaperNeeds() {
  return (
    <details className="explain" data-testid="paper-needs">
      <summary>What this needs, and how to run it without a network</summary>
      <p>
        From the Hub: <code>config.json</code> and <code>model.safetensors</code> of <code>{PAPER_IOI.model.slice(3)}</code> (~
        {PAPER_IOI_DOWNLOAD.modelMB} MB), and <code>cfg.json</code> and <code>sae_weights.safetensors</code> of{' '}
        <code>{PAPER_IOI.sae.slice(3)}</code> (~{PAPER_IOI_DOWNLOAD.saeMB} MB). They are downloaded once and kept in this browser.
      </p>
      <p>
        Without a network, fetch the two folders on another machine (
        <code>huggingface-cli download openai-community/gpt2 config.json model.safetensors</code>;{' '}
        <code>huggingface-cli download jbloom/GPT2-Small-SAEs-Reformatted --include "blocks.4.hook_resid_pre/*"</code>), then choose “Local
        files” above and pick each folder (or drop its files), or point the Hub endpoint at a mirror.
      </p>
    </details>
  );
}

export function ModelPanel({ scenario, promptEditor }: { scenario: ModelScenarioId; promptEditor?: ReactNode }) {
  const inputs = useModelInputs();
  const busy = useStore((s) => s.busy);
  const loaded = useStore((s) => s.scenario);
  const sources = inputs.sources[scenario];
  useEffect(() => {
    void refreshCacheSize();
  }, []);
  const failed = Object.values(inputs.downloads).some((d) => d.state === 'failed');
  return (
    <div className="model-panel" data-testid="model-panel">
      {scenario === 'paper-ioi' && <PaperNeeds />}
      <ModelSource id={scenario} sources={sources} />
      <SaeSource id={scenario} sources={sources} />
      {scenario === 'prompts' && <PromptSource sources={sources} promptEditor={promptEditor} />}
      <Settings />
      <button
        type="button"
        className="btn btn-primary"
        disabled={busy !== null}
        onClick={() => void loadWithDownloads()}
        data-testid="model-load"
      >
        {sources.model.kind === 'hub' || sources.sae.kind !== 'local' ? 'Download and load' : 'Load'}
      </button>
      {inputs.waiting && !loaded && (
        <p className="muted small" data-testid="model-waiting">
          Not loaded yet — {inputs.waiting}. Press “Download and load”.
        </p>
      )}
      <DownloadProgress downloads={inputs.downloads} />
      {Object.values(inputs.downloads).some((d) => d.state === 'downloading') && (
        <button type="button" className="btn btn-small" onClick={cancelDownloads} data-testid="model-cancel">
          Cancel the download
        </button>
      )}
      {failed && scenario === 'paper-ioi' && (
        <p className="small">Without a network: see “What this needs” above for the files and how to give them from disk.</p>
      )}
      <p className="cache-line small" data-testid="hub-cache">
        <span>
          Downloaded files in this browser:{' '}
          {inputs.cache
            ? `${inputs.cache.files} file${inputs.cache.files === 1 ? '' : 's'}, ${formatBytes(inputs.cache.bytes, { precise: true })}${inputs.cache.unfinished ? `, and ${formatBytes(inputs.cache.unfinished, { precise: true })} of unfinished downloads that the next download continues` : ''}`
            : 'unknown'}
        </span>
        <button
          type="button"
          className="btn btn-small"
          disabled={!inputs.cache?.files}
          onClick={() => void clearDownloads()}
          data-testid="hub-clear"
        >
          Clear downloaded files
        </button>
      </p>
      <StorageNote />
      {loaded && <SaeCheckView />}
      {scenario === 'paper-ioi' && loaded && <PaperFigures />}
    </div>
  );
}
