/**
 * The live view page (GET /live) as served: page.html with page.css and page.js inlined, so the browser
 * fetches nothing but GET /v1/live and needs no third-party origin. The page holds no data: its script reads
 * GET /v1/live with the admin token the engineer types in (kept in the tab's sessionStorage), every few seconds.
 *
 * Everything from the API reaches the page through textContent or SVG attributes, never through innerHTML.
 * The Content-Security-Policy allows exactly the inlined script and style (by hash of the text inlined), and
 * fetches to this origin only.
 *
 * The three files sit beside this module (the build copies them into dist/) and are read once, at import.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const readAsset = (name: string) => readFileSync(new URL(name, import.meta.url), 'utf8');

/**
 * Puts `replacement` where page.html refers to an asset. The reference must be there exactly once: a page
 * that kept its <link> or <script src> would be refused by its own CSP and show nothing.
 */
function inlineAt(html: string, reference: string, replacement: string): string {
  const at = html.indexOf(reference);
  if (at < 0 || html.indexOf(reference, at + reference.length) >= 0) {
    throw new Error(`live page: page.html must refer to its asset exactly once as ${reference}`);
  }
  // slicing, not String.replace: the script is full of "$" and replace would read "$&" or "$'" as patterns
  return html.slice(0, at) + replacement + html.slice(at + reference.length);
}

const cspHash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page as served and the CSP that lets exactly its own inlined style and script run. */
export function buildLivePage(files: { html: string; css: string; js: string }) {
  // the line break after the opening tag keeps the inlined code on lines of its own; it is part of the hashed text
  const style = `\n${files.css}`;
  const script = `\n${files.js}`;
  const withStyle = inlineAt(files.html, '<link rel="stylesheet" href="page.css">', `<style>${style}</style>`);
  return {
    html: inlineAt(withStyle, '<script src="page.js"></script>', `<script>${script}</script>`),
    /** Only this page's own script and style run, and they may only talk to this origin. */
    contentSecurityPolicy: [
      "default-src 'none'",
      `script-src ${cspHash(script)}`,
      `style-src ${cspHash(style)}`,
      "connect-src 'self'",
      'img-src data:',
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
  };
}

export const livePage = buildLivePage({ html: readAsset('page.html'), css: readAsset('page.css'), js: readAsset('page.js') });
