/** The error registry and docs/server.md say the same thing (Fastify keeps its error docs in sync the same way). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HTTP_ERRORS } from '../../server/src/http/errors.ts';
import { ALL_ROUTES } from '../../server/src/http/routes/index.ts';

const doc = readFileSync(new URL('../../docs/server.md', import.meta.url), 'utf8');

describe('docs/server.md', () => {
  it('lists every error code with its status, and no other', () => {
    const documented = [...doc.matchAll(/^\| `([a-z.-]+)` \| (\d{3}) \|/gm)].map(([, code, status]) => [code, Number(status)]);
    expect(Object.fromEntries(documented)).toEqual(HTTP_ERRORS);
  });

  it('lists every route', () => {
    for (const route of ALL_ROUTES) expect(doc).toContain(`\`${route.method} ${route.url}\``);
  });
});
