// The port helpers every server-starting test relies on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { freePort, portIsFree } from '../src/util.mjs';

function listen() {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe('test server ports', () => {
  it('portIsFree tells a taken port from a free one', async () => {
    const server = await listen();
    const { port } = server.address();
    assert.equal(await portIsFree(port), false);
    await new Promise((resolve) => server.close(resolve));
    assert.equal(await portIsFree(port), true);
  });

  it('freePort in a range whose only port is taken rejects, naming the range, instead of retrying forever', async () => {
    const server = await listen();
    const { port } = server.address();
    await assert.rejects(
      freePort({ min: port, max: port + 1 }),
      new RegExp(`no free TCP port on 127.0.0.1 in ${port}-${port}`),
    );
    server.close();
  });

  it('freePort returns a bindable port, from the OS or from the range', async () => {
    assert.equal(await portIsFree(await freePort()), true);
    const ranged = await freePort({ min: 20000, max: 20100 });
    assert.ok(ranged >= 20000 && ranged < 20100);
  });
});
