// Which GPU adapters the default backend choice treats as software (and passes over for wasm), from the strings
// real browsers report.
import { describe, expect, it } from 'vitest';
import { softwareRenderer } from './software-adapter.ts';

describe('softwareRenderer', () => {
  it('names the software renderers, from WebGPU adapter info or a WebGL renderer string', () => {
    // Chromium's WebGPU on SwiftShader: vendor "google", architecture "swiftshader".
    expect(softwareRenderer(['google', 'swiftshader', '', ''], true)).toBe('SwiftShader');
    expect(softwareRenderer(['ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)'])).toBe(
      'SwiftShader',
    );
    expect(softwareRenderer(['llvmpipe (LLVM 15.0.7, 256 bits)'])).toBe('llvmpipe');
    expect(softwareRenderer(['mesa', '', 'lavapipe', ''])).toBe('lavapipe');
    expect(softwareRenderer(['ANGLE (Microsoft, Microsoft Basic Render Driver Direct3D11 vs_5_0 ps_5_0)'])).toBe(
      'Microsoft Basic Render Driver',
    );
    expect(softwareRenderer(['Apple Software Renderer'])).toBe('a software renderer');
  });

  it('an adapter the browser flags as its fallback is software even when no string says so', () => {
    expect(softwareRenderer(['', '', '', ''], true)).toBe("the browser's fallback adapter");
    expect(softwareRenderer([undefined, undefined], true)).toBe("the browser's fallback adapter");
  });

  it('hardware adapters are not', () => {
    for (const strings of [
      ['nvidia', 'ampere', '', ''],
      ['apple', 'metal-3', '', ''],
      ['ANGLE (NVIDIA, NVIDIA GeForce RTX 3080 Direct3D11 vs_5_0 ps_5_0, D3D11)'],
      ['Mesa Intel(R) UHD Graphics 620 (KBL GT2)'],
      ['AMD Radeon Pro 5500M OpenGL Engine'],
      [],
    ])
      expect(softwareRenderer(strings)).toBeNull();
  });
});
