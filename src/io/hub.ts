// Files from the Hugging Face Hub (or a mirror with its URL layout: {endpoint}/{repo}/resolve/{revision}/{path}).
// `hf:owner/name[@revision]/path/in/repo` names a file or folder. This module is the Hub's URL layout, the
// references and the error messages; the Node downloader with its cache is src/cli/hub-cache.ts.
import { InputError } from '../core/errors.ts';

export class HubInputError extends InputError {
  override name = 'HubInputError';
}

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface HubRef {
  repo: string;
  revision: string;
  /** A path inside the repository ('' for its root). */
  path: string;
}

/** Is this CLI argument a Hub reference rather than a local path? */
export const isHubRef = (s: string) => s.startsWith('hf:');

/** "hf:owner/name@rev/sub/dir" → {repo "owner/name", revision "rev", path "sub/dir"} (revision defaults to main). */
export function parseHubRef(s: string): HubRef {
  const m = /^hf:([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@([\w./-]+?))?(?:\/(.*))?$/.exec(s.trim());
  if (!m) throw new HubInputError(`"${s}" is not a Hub reference (hf:owner/name[@revision][/path], e.g. hf:openai-community/gpt2)`);
  const path = (m[3] ?? '').replace(/\/+$/, '');
  if (path.split('/').some((part) => part === '..')) throw new HubInputError(`"${s}": a Hub path may not contain ".."`);
  return { repo: m[1], revision: m[2] ?? 'main', path };
}

export function hubFileUrl(endpoint: string, ref: HubRef, file: string): string {
  const path = [ref.path, file].filter(Boolean).join('/');
  const enc = (p: string) => p.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${enc(path)}`;
}

/** What a failed Hub response means, for the person at the keyboard. */
export function hubStatusMessage(status: number, what: string, hasToken: boolean, tokenHint = 'set HF_TOKEN or pass --hub-token'): string {
  if (status === 404) return `${what} was not found on the Hub (check the repository id, the folder and the revision)`;
  if (status === 401 || status === 403)
    return hasToken
      ? `${what}: the Hub refused the access token (status ${status}); check that it can read this repository`
      : `${what} needs an access token (a gated or private repository): ${tokenHint}`;
  if (status === 429) return `${what}: the Hub is rate-limiting requests (status 429); try again later`;
  return `${what}: the Hub answered status ${status}`;
}
