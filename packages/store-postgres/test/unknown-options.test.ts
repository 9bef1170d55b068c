// A misspelled option is rejected INVALID, naming it and the closest known option,
// instead of being ignored (and its default used) without a word.
import { SessionError } from '@sessionkit/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { rejection } from '../../core/test/fixtures/rejection.mjs';
import { PostgresSessionStore } from '../src/index.js';

describe('unknown options', () => {
  // The pool never connects: the options are rejected before any use of it.
  const pool = new pg.Pool({ host: '127.0.0.1', port: 1 });

  it('rejects operationTimeout, suggesting operationTimeoutMs', () => {
    const e = rejection(() => new PostgresSessionStore({ pool, operationTimeout: 1000 } as never));
    expect(SessionError.hasCode(e, 'INVALID')).toBe(true);
    expect((e as SessionError).field).toBe('operationTimeout');
    expect((e as Error).message).toContain('unknown option operationTimeout: did you mean operationTimeoutMs?');
  });

  it('rejects tabel and maxSession with the closest names', () => {
    expect((rejection(() => new PostgresSessionStore({ pool, tabel: 'x' } as never)) as Error).message).toContain(
      'unknown option tabel: did you mean table?',
    );
    expect((rejection(() => new PostgresSessionStore({ pool, maxSession: 3 } as never)) as Error).message).toContain(
      'did you mean maxSessionsPerUser?',
    );
  });
});
