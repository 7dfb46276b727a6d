// One base class for every problem with what the user gave us (a file, a setting, a link): the CLI prints
// its message on one line and exits with status 2, the worker replies with code 'input', the page shows a
// toast that names the file or setting. Everything else is our bug. Checked with instanceof, never by name.
export class InputError extends Error {
  override name = 'InputError';
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
