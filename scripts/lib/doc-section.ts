// Replace one "## Heading" section of a generated document, keeping the rest (several scripts write
// docs/reliability.md, each its own section).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function writeDocSection(file: string, title: string, heading: string, section: string): void {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : `# ${title}\n\n`;
  const at = text.indexOf(heading);
  if (at < 0) text = `${text.trimEnd()}\n\n${section}`;
  else {
    const next = text.indexOf('\n## ', at + heading.length);
    text = `${text.slice(0, at)}${section}${next < 0 ? '' : text.slice(next)}`;
  }
  writeFileSync(file, `${text.trimEnd()}\n`);
}
