// The step-up demo: sign in with a password (assurance level 1); the "sensitive" page asks
// for a second factor, and passing it rotates the session cookie to a new token at level 2
// (the old cookie keeps working for a few seconds, then never again); "your devices" lists
// every browser signed in as you, with sign-out of one or all the others.
import { tenantId } from '@sessionkit/core';
import { sessionMiddleware, signIn, signOut, stepUp } from '@sessionkit/hono';
import { constantTimeEqual, SessionManager } from '@sessionkit/manager';
import { MemorySessionStore } from '@sessionkit/store-memory';
import { Hono } from 'hono';

/** Demo accounts: user -> password. A real app checks a password hash. */
const USERS = { ada: 'lovelace', grace: 'hopper' };
/** The demo's second factor: a fixed code standing in for a TOTP app. */
export const DEMO_CODE = '123456';
const TENANT = tenantId('demo');

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]);
const page = (title, body) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`;

/**
 * @param {{ clock?: () => number, secure?: boolean }} [options] secure: false drops the Secure
 *   attribute and the __Host- prefix (plain HTTP on a LAN address; browsers accept Secure on localhost).
 */
export function createApp(options = {}) {
  const clock = options.clock ?? Date.now;
  const store = new MemorySessionStore({ clock });
  const manager = new SessionManager({ store, clock });
  const app = new Hono();
  app.use(sessionMiddleware({ manager, cookie: { secure: options.secure ?? true } }));

  app.get('/', (c) => {
    const s = c.get('session');
    if (s === null) {
      return c.html(
        page(
          'Sign in',
          `<form method="post" action="/login"><input name="user" placeholder="ada"><input name="password" type="password" placeholder="lovelace"><button>Sign in</button></form>`,
        ),
      );
    }
    return c.html(
      page(
        `Hello, ${s.userId}`,
        `<p id="level">Assurance level ${s.assuranceLevel} (${esc(s.factorsUsed.join(', '))})</p>
<p><a href="/sensitive">Sensitive page</a> · <a href="/devices">Your devices</a></p>
<form method="post" action="/logout"><button>Sign out</button></form>`,
      ),
    );
  });

  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const user = String(form.user ?? '');
    const expected = Object.hasOwn(USERS, user) ? USERS[user] : undefined;
    if (expected === undefined || !constantTimeEqual(String(form.password ?? ''), expected)) {
      return c.html(page('Sign in', '<p id="error">Wrong user or password.</p><a href="/">Try again</a>'), 401);
    }
    await signIn(c, {
      userId: user,
      tenantId: TENANT,
      factorsUsed: ['password'],
      assuranceLevel: 1,
      metadata: { userAgent: c.req.header('user-agent') ?? 'unknown' },
    });
    return c.redirect('/', 303);
  });

  app.get('/sensitive', (c) => {
    const s = c.get('session');
    if (s === null) return c.redirect('/', 303);
    if (s.assuranceLevel < 2) return c.redirect('/step-up', 303);
    return c.html(page('Sensitive', `<p id="secret">Only for level 2: your recovery codes are 8F3K-22QX.</p>`));
  });

  app.get('/step-up', (c) => {
    if (c.get('session') === null) return c.redirect('/', 303);
    return c.html(
      page(
        'Second factor',
        `<p>Enter the code from your authenticator (demo: ${DEMO_CODE}).</p><form method="post" action="/step-up"><input name="code" inputmode="numeric"><button>Verify</button></form>`,
      ),
    );
  });

  app.post('/step-up', async (c) => {
    if (c.get('session') === null) return c.redirect('/', 303);
    const form = await c.req.parseBody();
    if (!constantTimeEqual(String(form.code ?? ''), DEMO_CODE)) {
      return c.html(page('Second factor', '<p id="error">Wrong code.</p><a href="/step-up">Try again</a>'), 401);
    }
    const raised = await stepUp(c, { factorsUsed: ['totp'], assuranceLevel: 2 }); // new cookie
    return c.redirect(raised === null ? '/' : '/sensitive', 303);
  });

  app.get('/devices', async (c) => {
    const s = c.get('session');
    if (s === null) return c.redirect('/', 303);
    const devices = await manager.list(s.userId, s.tenantId);
    const rows = devices
      .map((d) => {
        const me = d.handle === s.handle;
        const action = me
          ? '<em>this browser</em>'
          : `<form method="post" action="/devices/${esc(d.handle)}/revoke"><button>Sign out</button></form>`;
        return `<li class="device${me ? ' current' : ''}">${esc(d.metadata?.userAgent ?? '?')}, level ${d.assuranceLevel}, since ${d.createdAt.toISOString()}, last seen ${d.lastActivityAt.toISOString()} ${action}</li>`;
      })
      .join('');
    return c.html(
      page(
        'Your devices',
        `<ul>${rows}</ul><form method="post" action="/devices/revoke-others"><button>Sign out all other devices</button></form>`,
      ),
    );
  });

  app.post('/devices/revoke-others', async (c) => {
    const s = c.get('session');
    if (s === null) return c.redirect('/', 303);
    for (const d of await manager.list(s.userId, s.tenantId)) {
      if (d.handle !== s.handle) await manager.revoke(d.handle, s);
    }
    return c.redirect('/devices', 303);
  });

  app.post('/devices/:handle/revoke', async (c) => {
    const s = c.get('session');
    if (s === null) return c.redirect('/', 303);
    await manager.revoke(c.req.param('handle'), s); // only one of this user's own sessions
    return c.redirect('/devices', 303);
  });

  app.post('/logout', async (c) => {
    await signOut(c);
    return c.redirect('/', 303);
  });

  return { app, manager, store };
}
