import { describe, expect, it } from 'vitest';
import { type KnownOptions, rejectUnknownOptions } from '../src/index.js';
import { closestName } from '../src/options.js';
import { thrown } from './fixtures.js';

interface Opts {
  maxSessions?: number;
  maxSessionsPerUser?: number;
  operationTimeoutMs?: number;
  prefix?: string;
}
const known: KnownOptions<Opts> = {
  maxSessions: true,
  maxSessionsPerUser: true,
  operationTimeoutMs: true,
  prefix: true,
};

describe('rejectUnknownOptions', () => {
  it('accepts known options, including ones set to undefined', () => {
    expect(() => rejectUnknownOptions('x', { maxSessions: 1, prefix: undefined }, known)).not.toThrow();
    expect(() => rejectUnknownOptions('x', {}, known)).not.toThrow();
  });

  it('rejects a misspelled option INVALID, naming it and the closest known option', () => {
    const e = thrown(() => rejectUnknownOptions('memory', { maxSession: 10 }, known));
    expect(e.code).toBe('INVALID');
    expect(e.field).toBe('maxSession');
    expect(e.message).toBe('[sessionkit/memory] constructor: unknown option maxSession: did you mean maxSessions?');
    expect(thrown(() => rejectUnknownOptions('x', { operationTimeout: 5 }, known)).message).toContain(
      'unknown option operationTimeout: did you mean operationTimeoutMs?',
    );
    expect(thrown(() => rejectUnknownOptions('x', { maxsessionsperuser: 5 }, known)).message).toContain(
      'did you mean maxSessionsPerUser?',
    );
    expect(thrown(() => rejectUnknownOptions('x', { perfix: 'a' }, known)).message).toContain('did you mean prefix?');
  });

  it('lists the known options when nothing is close', () => {
    const e = thrown(() => rejectUnknownOptions('x', { zzzzzzzz: 1 }, known));
    expect(e.message).toContain(
      'unknown option zzzzzzzz: known options: maxSessions, maxSessionsPerUser, operationTimeoutMs, prefix',
    );
  });

  it('prefixes nested option names', () => {
    const e = thrown(() => rejectUnknownOptions('jwt', { secert: 'x' }, { secret: true, kid: true }, 'encrypt.'));
    expect(e.field).toBe('encrypt.secert');
    expect(e.message).toContain('unknown option encrypt.secert: did you mean encrypt.secret?');
  });

  it('does not take an inherited property for a known option', () => {
    expect(() => rejectUnknownOptions('x', { toString: 1 }, known)).toThrow(/unknown option toString/);
  });
});

describe('closestName', () => {
  it('finds swaps, drops and case slips, and nothing when far', () => {
    expect(closestName('maxSesisons', ['maxSessions', 'prefix'])).toBe('maxSessions');
    expect(closestName('MAXSESSIONS', ['maxSessions'])).toBe('maxSessions');
    expect(closestName('ttl', ['maxSessions', 'prefix'])).toBeUndefined();
  });
});
