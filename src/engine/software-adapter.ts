// Whether a GPU adapter is a software one (the GPU emulated on the CPU), from what the browser says about it.
// No TensorFlow.js here: the worker's backend choice and the unit tests read it.

/** Software renderers by the names they give themselves, and how the page calls them. */
const SOFTWARE_RENDERERS: [RegExp, string][] = [
  [/swiftshader/i, 'SwiftShader'],
  [/llvmpipe/i, 'llvmpipe'],
  [/lavapipe/i, 'lavapipe'],
  [/softpipe/i, 'softpipe'],
  [/microsoft basic render/i, 'Microsoft Basic Render Driver'],
  [/software (renderer|rasterizer|adapter)/i, 'a software renderer'],
];

/**
 * The name of the software renderer behind an adapter ("SwiftShader"), or null for a hardware one. `strings`: what
 * the adapter reports (WebGPU's vendor, architecture, device and description; WebGL's renderer); `fallback`:
 * WebGPU's isFallbackAdapter, which a browser sets on the adapter it emulates on the CPU even when it names it
 * in no string.
 */
export function softwareRenderer(strings: readonly (string | undefined)[], fallback = false): string | null {
  const text = strings.filter(Boolean).join(' ');
  for (const [pattern, name] of SOFTWARE_RENDERERS) if (pattern.test(text)) return name;
  return fallback ? "the browser's fallback adapter" : null;
}
