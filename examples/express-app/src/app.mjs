// The example app: sign in (fixed demo users), "your devices" (every session of the user:
// user agent, IP, last active, "this device"), revoke one device, log out everywhere.
// Sessions live in any sessionkit store through SessionkitStore (see main.mjs).
import express from 'express';
import session from 'express-session';

/** Demo users: name -> password. */
export const USERS = { alice: 'wonderland', bob: 'builder' };

const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; color: #222 }
  table { border-collapse: collapse; width: 100% } td, th { border-bottom: 1px solid #ddd; padding: .4rem; text-align: left }
  .this { font-weight: bold; color: #06c } form.inline { display: inline } .error { color: #b00 }
  button { cursor: pointer }
</style></head>
<body><h1>${esc(title)}</h1>${body}</body></html>`;
}

function signInPage(error) {
  return page(
    'Sign in',
    `${error ? `<p class="error" id="error">${esc(error)}</p>` : ''}
<form method="post" action="/login" id="sign-in">
  <p><label>User <input name="username" autocomplete="username"></label></p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
  <p><button type="submit">Sign in</button></p>
</form>
<p>Demo users: ${Object.entries(USERS)
      .map(([u, p]) => `<code>${esc(u)}</code> / <code>${esc(p)}</code>`)
      .join(', ')}</p>`,
  );
}

/**
 * @param {{ sessionStore: import('@sessionkit/express-session').SessionkitStore, secret?: string }} options
 */
export function createApp({ sessionStore, secret = 'change me: a long random secret for signing cookies' }) {
  const app = express();
  app.set('trust proxy', 'loopback');
  app.use(express.urlencoded({ extended: false }));
  app.use(
    session({
      store: sessionStore,
      secret,
      name: 'sid',
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { httpOnly: true, sameSite: 'lax', maxAge: 7 * 24 * 3600 * 1000 },
    }),
  );

  const signedIn = (req, res, next) => (req.session.userId ? next() : res.redirect(303, '/'));

  app.get('/', (req, res) => {
    if (req.session.userId) return res.redirect(303, '/devices');
    res.type('html').send(signInPage());
  });

  app.post('/login', (req, res, next) => {
    const { username, password } = req.body ?? {};
    if (!Object.hasOwn(USERS, username) || USERS[username] !== password) {
      return res.status(401).type('html').send(signInPage('Unknown user or wrong password'));
    }
    // A new session id at sign-in (no session fixation), then the user on it.
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.userId = username;
      req.session.device = { userAgent: req.get('user-agent') ?? 'unknown', ip: req.ip, signedInAt: new Date() };
      res.redirect(303, '/devices');
    });
  });

  app.get('/devices', signedIn, async (req, res, next) => {
    try {
      const mine = sessionStore.handleOf(req.sessionID);
      const sessions = await sessionStore.listSessions(req.session.userId);
      const rows = sessions
        .map((s) => {
          const device = s.session.device ?? {};
          const here = s.handle === mine;
          return `<tr data-handle="${esc(s.handle)}" class="${here ? 'this' : 'other'}">
  <td>${esc(device.userAgent ?? 'unknown')}</td><td>${esc(device.ip ?? '')}</td>
  <td>${esc(s.lastActivityAt.toISOString())}</td>
  <td>${
    here
      ? '<span class="this">this device</span>'
      : `<form class="inline" method="post" action="/devices/revoke"><input type="hidden" name="handle" value="${esc(s.handle)}"><button type="submit">Revoke</button></form>`
  }</td></tr>`;
        })
        .join('\n');
      res.type('html').send(
        page(
          'Your devices',
          `<p>Signed in as <strong id="user">${esc(req.session.userId)}</strong>: ${sessions.length} session(s).</p>
<table id="devices"><thead><tr><th>Browser</th><th>IP</th><th>Last active</th><th></th></tr></thead>
<tbody>${rows}</tbody></table>
<p><form class="inline" method="post" action="/logout"><button type="submit">Log out</button></form>
<form class="inline" method="post" action="/logout-everywhere"><button type="submit" id="everywhere">Log out everywhere</button></form></p>`,
        ),
      );
    } catch (error) {
      next(error);
    }
  });

  app.post('/devices/revoke', signedIn, async (req, res, next) => {
    try {
      // revokeSession checks that the handle is one of this user's sessions
      await sessionStore.revokeSession(req.session.userId, String(req.body?.handle ?? ''));
      res.redirect(303, '/devices');
    } catch (error) {
      next(error);
    }
  });

  app.post('/logout-everywhere', signedIn, async (req, res, next) => {
    try {
      await sessionStore.revokeUser(req.session.userId);
      req.session.destroy((err) => (err ? next(err) : res.clearCookie('sid').redirect(303, '/')));
    } catch (error) {
      next(error);
    }
  });

  app.post('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.clearCookie('sid').redirect(303, '/')));
  });

  app.use((err, _req, res, _next) => {
    console.error(err);
    res
      .status(500)
      .type('html')
      .send(page('Something went wrong', `<p class="error">${esc(err.code ?? 'ERROR')}: ${esc(err.message)}</p>`));
  });
  return app;
}
