import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const semver = require('semver') as { subset(a: string, b: string): boolean };
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Record<string, Record<string, string>>;
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
  packages: Record<string, { engines?: { node?: string }; dev?: boolean; peer?: boolean; version?: string }>;
};

describe('the published package', () => {
  it('promises only Node versions every installed dependency supports (no EBADENGINE on install)', () => {
    const ours = pkg.engines!.node!;
    const broken = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.engines?.node && !semver.subset(ours, p.engines.node))
      .map(([path, p]) => `${path} wants node ${p.engines!.node}`);
    expect(broken).toEqual([]);
  });

  it('leaves drachtio-srf to the application (a peer dependency), and installs it for its own use', () => {
    expect(pkg.peerDependencies).toEqual({ 'drachtio-srf': expect.stringMatching(/^\^5\./) });
    expect(pkg.dependencies!['drachtio-srf']).toBeUndefined();
    expect(pkg.devDependencies!['drachtio-srf']).toBeUndefined();
    // installed as a peer, not as a dev dependency: `npm prune --omit=dev` in the image keeps it
    expect(lock.packages['node_modules/drachtio-srf']).toMatchObject({ peer: true });
    expect(lock.packages['node_modules/drachtio-srf']?.dev).toBeUndefined();
  });

  it('exports its entry point with types, and nothing from inside', () => {
    expect(pkg.exports).toEqual({
      '.': { types: './dist/index.d.ts', import: './dist/index.js' },
      './package.json': './package.json',
    });
    expect(pkg.license).toBe('MIT');
  });
});
