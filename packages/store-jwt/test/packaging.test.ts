// The built package, as users load it: the CommonJS build require()s jose (ESM-only),
// which needs Node >= 20.19. Runs after `pnpm build` (turbo's test task depends on it).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

describe('built package', () => {
  it('dist exists (run pnpm build first)', () => {
    expect(existsSync(`${dist}index.cjs`) && existsSync(`${dist}index.js`), `no build in ${dist}`).toBe(true);
  });

  it('the CommonJS build loads and issues tokens the ESM build accepts', () => {
    const script = `
      const { JwtSessionStore, MemoryRevocationStore } = require(${JSON.stringify(`${dist}index.cjs`)});
      const store = new JwtSessionStore({ secret: 'x'.repeat(32), revocations: new MemoryRevocationStore(), jwks: { keys: [] } });
      const now = Date.now();
      store.create({ id: '', userId: 'u', tenantId: 't', transactionId: '', factorsUsed: [], assuranceLevel: 0, metadata: null,
        createdAt: new Date(now), expiresAt: new Date(now + 60000), lastActivityAt: new Date(now) })
        .then((token) => process.stdout.write(token), (e) => { console.error(e); process.exit(1); });`;
    const token = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    const check = `
      import { JwtSessionStore } from ${JSON.stringify(`${dist}index.js`)};
      const got = await new JwtSessionStore({ secret: 'x'.repeat(32) }).get(${JSON.stringify(token)});
      process.stdout.write(got ? got.userId : 'null');`;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', check], { encoding: 'utf8' })).toBe('u');
  });
});
