import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin?: Record<string, string>; scripts?: Record<string, string> };
const build = JSON.parse(readFileSync('tsconfig.build.json', 'utf8')) as { compilerOptions?: { rootDir?: string; outDir?: string } };

describe('the callgate command', () => {
  it('is the package bin, built from src/cli/main.ts by `npm ci` (prepare), and runs under node by its shebang', () => {
    expect(pkg.bin).toEqual({ callgate: 'dist/cli/main.js' });
    expect(pkg.scripts?.prepare).toBe('npm run build');
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(readFileSync('src/cli/main.ts', 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });
});
