// oidc-provider (panva; a certified OpenID provider) and a protected API, on loopback, for the tests.
//
//   node tests/oidc/server.mjs CONFIG.json
//
// CONFIG.json (written by tests/fixtures_oidc.py):
//   { "tls": {"cert": PEM path, "key": PEM path, "ca": PEM path},   server cert for 127.0.0.1, its CA
//     "control_token": "...",        required as X-Control-Token on /__control
//     "resource": "https://api.test/", "scope": "api:read api:write",
//     "access_token_ttl": 2,         seconds (integer), changeable at run time
//     "clients": [ oidc-provider client metadata, ... ] }
//
// Three HTTPS servers, each on its own port 0 (the chosen ports are printed as one JSON line on stdout
// once all listen): "issuer" (the provider), "mtls" (the same provider: the mtls_endpoint_aliases of
// its discovery document) and "api" (the protected API and /__control). All three ask for a client
// certificate (requestCert) without requiring one (rejectUnauthorized: false), so a certificate is
// read from the TLS socket wherever the client presents one.
//
// The provider: client credentials with resource indicators (JWT access tokens for "resource"),
// client authentication by every RFC 8414 method, mTLS (tls_client_auth, self_signed_tls_client_auth,
// certificate-bound tokens), DPoP (nonce requirement switchable at run time), introspection.
//
// The API (any path but /__control and /redirect/) verifies the access token against the provider's keys (iss, aud,
// exp), its cnf["x5t#S256"] against the TLS client certificate, and a DPoP proof in full (typ, alg,
// signature with the embedded jwk, htm, htu, iat window, jti replay, ath, jwk thumbprint == cnf.jkt),
// and can require a nonce it rotates every N seconds. It echoes the request body (as "received").
// /redirect/X answers 307 to /api/X (same origin), without looking at the token.
//
// /__control (X-Control-Token): GET → {"settings", "counters"}; GET /__control/events?kind=token|api|
// assertion → the recorded events; POST with a JSON body of settings to change, or {"reset": true}.

import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const tlsOptions = {
  cert: readFileSync(config.tls.cert),
  key: readFileSync(config.tls.key),
  ca: readFileSync(config.tls.ca),
  requestCert: true,
  rejectUnauthorized: false,
};
const RESOURCE = config.resource ?? 'https://api.test/';
const SCOPE = config.scope ?? 'api:read api:write';
const EVENTS_KEPT = 20000; // per kind: bounded, a test run stays far below
const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'RS256', 'PS256', 'EdDSA', 'Ed25519'];

// -- settings tests change at run time, and what the servers count ---------------------------------------

const DEFAULT_SETTINGS = {
  access_token_ttl: config.access_token_ttl ?? 2,
  token_dpop_nonce: false, // the token endpoint answers use_dpop_nonce to a proof without its nonce
  api_dpop_nonce: false, // the API does the same, with a nonce of its own
  api_nonce_rotation: 2, // seconds between the API's nonce changes
  api_iat_window: 60, // seconds a proof's iat may differ from the API's clock
};
let settings = { ...DEFAULT_SETTINGS };
let counters;
let events;

function resetCounters() {
  counters = {
    token: {}, // client_id → grant_type → outcome ("ok" or the error code) → count
    token_by_port: { issuer: 0, mtls: 0 },
    token_dpop: { with_proof: 0, without_proof: 0, use_dpop_nonce: 0 },
    assertion_replays_refused: 0, // the provider refused a client assertion's reused jti
    dpop_replays_refused: 0, // the provider refused a DPoP proof's reused jti at the token endpoint
    api: {}, // scheme (DPoP, Bearer, none) → outcome ("ok" or the reason) → count
    api_nonce_challenges: 0,
    api_dpop_replays_refused: 0,
    api_nonce_rotations: 0,
  };
  events = { token: [], api: [], assertion: [] };
}
resetCounters();

function bump(map, ...path) {
  let node = map;
  for (const key of path.slice(0, -1)) {
    node[key] ??= {};
    node = node[key];
  }
  const last = path[path.length - 1];
  node[last] = (node[last] ?? 0) + 1;
}

function record(kind, event) {
  const list = events[kind];
  if (list.length < EVENTS_KEPT) list.push({ at: Date.now() / 1000, ...event });
}

// -- the API's nonce: rotated every api_nonce_rotation seconds, only the current one accepted ------------

let apiNonce = randomBytes(16).toString('base64url');
let apiNonceSince = Date.now();

function currentApiNonce() {
  if (Date.now() - apiNonceSince >= settings.api_nonce_rotation * 1000) {
    apiNonce = randomBytes(16).toString('base64url');
    apiNonceSince = Date.now();
    counters.api_nonce_rotations += 1;
  }
  return apiNonce;
}

// -- certificates -----------------------------------------------------------------------------------------

function peerCertificate(socket) {
  const peer = socket.getPeerCertificate?.(false);
  if (!peer || !peer.raw) return undefined;
  return new X509Certificate(peer.raw);
}

function certificateThumbprint(cert) {
  return createHash('sha256').update(cert.raw).digest('base64url');
}

// An RFC 4514 DN as registered ("CN=client,O=trustme") against X509Certificate.subject ("O=trustme\nCN=client"):
// the same attributes, whatever their order.
function sameDn(registered, subject) {
  const norm = (parts) => parts.map((p) => p.trim()).filter(Boolean).sort().join('\n');
  return norm(registered.split(/(?<!\\),/)) === norm(subject.split('\n'));
}

// -- the provider -----------------------------------------------------------------------------------------

const signingKeys = await Promise.all(['ES256', 'RS256'].map(async (alg) => {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}` };
}));
const publicJwks = {
  keys: signingKeys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub), // eslint-disable-line no-unused-vars
};
const localJwks = jose.createLocalJWKSet(publicJwks);

const servers = {
  issuer: https.createServer(tlsOptions),
  mtls: https.createServer(tlsOptions),
  api: https.createServer(tlsOptions),
};
await Promise.all(Object.values(servers).map((server) => new Promise((resolve) => {
  server.listen(0, '127.0.0.1', resolve);
})));
const ports = Object.fromEntries(Object.entries(servers).map(([name, s]) => [name, s.address().port]));
const origins = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, `https://127.0.0.1:${port}`]));
const issuer = origins.issuer;

const provider = new Provider(issuer, {
  clients: config.clients,
  scopes: ['openid', 'offline_access', ...SCOPE.split(' ')],
  jwks: { keys: signingKeys },
  clientAuthMethods: [
    'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt',
    'tls_client_auth', 'self_signed_tls_client_auth', 'none',
  ],
  enabledJWA: {
    clientAuthSigningAlgValues: [
      'HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
      'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA',
    ],
    dPoPSigningAlgValues: DPOP_ALGS,
  },
  discovery: {
    mtls_endpoint_aliases: {
      token_endpoint: `${origins.mtls}/token`,
      introspection_endpoint: `${origins.mtls}/token/introspection`,
    },
  },
  ttl: {
    ClientCredentials: () => settings.access_token_ttl,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: settings.access_token_ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: () => settings.token_dpop_nonce,
    },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      tlsClientAuth: true,
      selfSignedTlsClientAuth: true,
      getCertificate: (ctx) => peerCertificate(ctx.socket),
      certificateAuthorized: (ctx) => ctx.socket.authorized === true,
      certificateSubjectMatches: (ctx, property, expected) => {
        const cert = peerCertificate(ctx.socket);
        if (property !== 'tls_client_auth_subject_dn' || !cert) return false;
        return sameDn(expected, cert.subject);
      },
    },
  },
  // Every assertion the provider verified, for the tests (jti uniqueness, exp - iat, aud).
  assertJwtClientAuthClaimsAndHeader: async (ctx, claims, header, client) => {
    record('assertion', {
      client_id: client.clientId,
      jti: claims.jti, iat: claims.iat, exp: claims.exp, nbf: claims.nbf, aud: claims.aud,
      iss: claims.iss, sub: claims.sub, alg: header.alg, kid: header.kid, 'x5t#S256': header['x5t#S256'],
      typ: header.typ,
    });
  },
});
provider.on('server_error', (ctx, err) => {
  process.stderr.write(`oidc-provider server_error: ${err?.stack ?? err}\n`);
});
provider.on('grant.error', (ctx, err) => {
  ctx.state.errorDetail = err.error_detail ?? err.error_description;
});

function tokenClientId(ctx) {
  if (ctx.oidc?.client) return ctx.oidc.client.clientId;
  const params = ctx.oidc?.params ?? {};
  if (params.client_id) return params.client_id;
  const auth = ctx.headers.authorization ?? '';
  if (auth.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    return decodeURIComponent(decoded.split(':')[0]);
  }
  if (params.client_assertion) {
    try {
      return jose.decodeJwt(params.client_assertion).sub;
    } catch {
      return '(malformed assertion)';
    }
  }
  return '(unknown)';
}

// Counts every token endpoint call, whatever it answers.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || ctx.method !== 'POST') return;
  const port = ctx.socket.localPort === ports.mtls ? 'mtls' : 'issuer';
  const clientId = tokenClientId(ctx);
  const grant = ctx.oidc?.params?.grant_type ?? '(none)';
  const body = typeof ctx.body === 'object' && ctx.body ? ctx.body : {};
  const outcome = ctx.status === 200 ? 'ok' : (body.error ?? String(ctx.status));
  const detail = ctx.state.errorDetail;
  bump(counters.token, clientId, grant, outcome);
  counters.token_by_port[port] += 1;
  const withProof = ctx.headers.dpop !== undefined;
  bump(counters.token_dpop, withProof ? 'with_proof' : 'without_proof');
  if (outcome === 'use_dpop_nonce') bump(counters.token_dpop, 'use_dpop_nonce');
  if (detail === 'client assertion tokens must only be used once') counters.assertion_replays_refused += 1;
  if (detail === 'DPoP proof JWT Replay detected') counters.dpop_replays_refused += 1;
  const cert = peerCertificate(ctx.socket);
  let dpopJti;
  try {
    dpopJti = withProof ? jose.decodeJwt(ctx.headers.dpop).jti : undefined;
  } catch {
    dpopJti = '(malformed proof)';
  }
  record('token', {
    client_id: clientId,
    grant_type: grant,
    status: ctx.status,
    outcome,
    detail,
    port,
    dpop: withProof,
    dpop_jti: dpopJti,
    client_certificate: cert ? certificateThumbprint(cert) : null,
    token_type: body.token_type,
  });
});

const providerCallback = provider.callback();
servers.issuer.on('request', providerCallback);
servers.mtls.on('request', providerCallback);

// -- the protected API ------------------------------------------------------------------------------------

const seenProofJtis = new Map(); // jti → when it may be forgotten (ms)

function rememberJti(jti) {
  const now = Date.now();
  if (seenProofJtis.size > 50000) {
    for (const [key, until] of seenProofJtis) if (until < now) seenProofJtis.delete(key);
  }
  if (seenProofJtis.has(jti)) return false;
  seenProofJtis.set(jti, now + 2 * settings.api_iat_window * 1000);
  return true;
}

class Refused extends Error {
  constructor(scheme, error, description, { status = 401, nonce = false } = {}) {
    super(description);
    Object.assign(this, { scheme, error, description, status, nonce });
  }
}

const quote = (value) => `"${String(value).replace(/["\\]/g, '')}"`;

async function checkProof(req, proof, token, payloadOfToken) {
  const fail = (error, why, options) => { throw new Refused('DPoP', error, why, options); };
  let header;
  try {
    header = jose.decodeProtectedHeader(proof);
  } catch {
    fail('invalid_dpop_proof', 'the proof is not a JWS');
  }
  if (header.typ !== 'dpop+jwt') fail('invalid_dpop_proof', 'typ must be dpop+jwt');
  if (!DPOP_ALGS.includes(header.alg)) fail('invalid_dpop_proof', `alg ${header.alg} not accepted`);
  if (!header.jwk || typeof header.jwk !== 'object') fail('invalid_dpop_proof', 'no jwk in the header');
  if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in header.jwk)) {
    fail('invalid_dpop_proof', 'the jwk carries private key members');
  }
  let payload;
  try {
    ({ payload } = await jose.jwtVerify(proof, jose.EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_ALGS }));
  } catch (err) {
    fail('invalid_dpop_proof', `signature: ${err.code ?? err.message}`);
  }
  if (payload.htm !== req.method) fail('invalid_dpop_proof', 'htm mismatch');
  const htu = URL.parse(typeof payload.htu === 'string' ? payload.htu : '');
  if (!htu || htu.search || htu.hash || payload.htu.includes('?') || payload.htu.includes('#')) {
    fail('invalid_dpop_proof', 'htu must be a URL without query and fragment');
  }
  const expected = new URL(req.url, origins.api);
  if (htu.origin !== expected.origin || htu.pathname !== expected.pathname) fail('invalid_dpop_proof', 'htu mismatch');
  if (typeof payload.iat !== 'number') fail('invalid_dpop_proof', 'iat missing');
  if (Math.abs(Date.now() / 1000 - payload.iat) > settings.api_iat_window) fail('invalid_dpop_proof', 'iat outside the window');
  if (typeof payload.jti !== 'string' || !payload.jti) fail('invalid_dpop_proof', 'jti missing');
  const ath = createHash('sha256').update(token).digest('base64url');
  if (payload.ath !== ath) fail('invalid_dpop_proof', 'ath mismatch');
  const thumbprint = await jose.calculateJwkThumbprint(header.jwk, 'sha256');
  if (payloadOfToken.cnf?.jkt !== thumbprint) fail('invalid_token', 'the proof key is not the one the token is bound to');
  if (settings.api_dpop_nonce) {
    const nonce = currentApiNonce();
    if (payload.nonce !== nonce) {
      counters.api_nonce_challenges += 1;
      fail('use_dpop_nonce', payload.nonce ? 'stale nonce' : 'nonce required', { nonce: true });
    }
  }
  if (!rememberJti(payload.jti)) {
    counters.api_dpop_replays_refused += 1;
    fail('invalid_dpop_proof', 'jti replayed');
  }
  return { jti: payload.jti, nonce: payload.nonce, alg: header.alg, thumbprint };
}

function received(body) {
  if (!body.length) return null;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
  }
}

async function api(req, body) {
  const authorization = req.headers.authorization ?? '';
  const [rawScheme, token, ...rest] = authorization.split(' ');
  const scheme = rawScheme ? (rawScheme.toLowerCase() === 'dpop' ? 'DPoP' : rawScheme.toLowerCase() === 'bearer' ? 'Bearer' : rawScheme) : 'none';
  if (!token || rest.length) {
    throw new Refused(scheme === 'DPoP' ? 'DPoP' : 'Bearer', authorization ? 'invalid_request' : undefined, 'no access token');
  }
  if (scheme !== 'DPoP' && scheme !== 'Bearer') throw new Refused('Bearer', 'invalid_request', 'unknown scheme');
  let claims;
  try {
    ({ payload: claims } = await jose.jwtVerify(token, localJwks, {
      issuer, audience: RESOURCE, typ: 'at+jwt', clockTolerance: 0,
    }));
  } catch (err) {
    throw new Refused(scheme, 'invalid_token', `token: ${err.code ?? err.message}`);
  }
  const bound = claims.cnf ?? {};
  const cert = peerCertificate(req.socket);
  if (bound['x5t#S256'] !== undefined) {
    if (!cert) throw new Refused(scheme, 'invalid_token', 'certificate-bound token without a client certificate');
    if (certificateThumbprint(cert) !== bound['x5t#S256']) {
      throw new Refused(scheme, 'invalid_token', 'certificate-bound token with another client certificate');
    }
  }
  let proof = null;
  if (bound.jkt !== undefined && scheme !== 'DPoP') {
    throw new Refused('DPoP', 'invalid_token', 'DPoP-bound token presented as Bearer');
  }
  if (scheme === 'DPoP') {
    if (bound.jkt === undefined) throw new Refused('DPoP', 'invalid_token', 'DPoP scheme with a token not bound to a key');
    const proofs = req.headersDistinct?.dpop ?? [];
    if (proofs.length !== 1) throw new Refused('DPoP', 'invalid_dpop_proof', 'exactly one DPoP header is required');
    proof = await checkProof(req, proofs[0], token, claims);
  }
  return {
    ok: true,
    scheme,
    method: req.method,
    path: new URL(req.url, origins.api).pathname,
    client_id: claims.client_id,
    sub: claims.sub,
    scope: claims.scope,
    cnf: claims.cnf ?? null,
    exp: claims.exp,
    jti: claims.jti,
    proof,
    received: received(body),
  };
}

function reply(res, status, body, headers = {}) {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers });
  res.end(data);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 1 << 20) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function control(req, res, url) {
  if (req.headers['x-control-token'] !== config.control_token) return reply(res, 403, { error: 'forbidden' });
  if (req.method === 'GET' && url.pathname === '/__control/events') {
    const kind = url.searchParams.get('kind') ?? 'token';
    return reply(res, 200, events[kind] ?? []);
  }
  if (req.method === 'POST') {
    const change = JSON.parse((await readBody(req)).toString('utf8') || '{}');
    if (change.reset) {
      settings = { ...DEFAULT_SETTINGS };
      resetCounters();
      seenProofJtis.clear();
    }
    delete change.reset;
    for (const [name, value] of Object.entries(change)) {
      if (!(name in DEFAULT_SETTINGS)) return reply(res, 400, { error: `unknown setting ${name}` });
      settings[name] = value;
    }
    if ('api_dpop_nonce' in change || 'api_nonce_rotation' in change) apiNonceSince = 0; // a new nonce now
  }
  return reply(res, 200, { settings, counters, ports, issuer });
}

servers.api.on('request', async (req, res) => {
  const url = new URL(req.url, origins.api);
  try {
    if (url.pathname.startsWith('/__control')) return await control(req, res, url);
    const sent = await readBody(req);
    if (url.pathname.startsWith('/redirect/')) {
      // 307 keeps the method and the body: the client must send a new proof for the new URL.
      bump(counters.api, 'redirect', 'sent');
      const location = `/api/${url.pathname.slice('/redirect/'.length)}${url.search}`;
      res.writeHead(307, { Location: location, 'Content-Length': 0 });
      return res.end();
    }
    const body = await api(req, sent);
    bump(counters.api, body.scheme, 'ok');
    record('api', { scheme: body.scheme, outcome: 'ok', path: body.path, proof_jti: body.proof?.jti, nonce: body.proof?.nonce, token_jti: body.jti });
    const headers = settings.api_dpop_nonce && body.scheme === 'DPoP' ? { 'DPoP-Nonce': currentApiNonce() } : {};
    return reply(res, 200, body, headers);
  } catch (err) {
    if (!(err instanceof Refused)) {
      process.stderr.write(`api error: ${err?.stack ?? err}\n`);
      return reply(res, 500, { error: 'server_error' });
    }
    const schemeSent = (req.headers.authorization ?? '').split(' ')[0] || 'none';
    const scheme = /^dpop$/i.test(schemeSent) ? 'DPoP' : /^bearer$/i.test(schemeSent) ? 'Bearer' : schemeSent;
    bump(counters.api, scheme, err.error ?? 'no_token');
    record('api', { scheme, outcome: err.error ?? 'no_token', detail: err.description, path: url.pathname });
    const params = [err.error && `error=${quote(err.error)}`, err.description && `error_description=${quote(err.description)}`]
      .filter(Boolean).join(', ');
    const challenges = err.scheme === 'DPoP'
      ? [`DPoP ${params ? `${params}, ` : ''}algs="${DPOP_ALGS.join(' ')}"`]
      : [`Bearer realm="api"${params ? `, ${params}` : ''}`, `DPoP algs="${DPOP_ALGS.join(' ')}"`];
    const headers = { 'WWW-Authenticate': challenges.join(', ') };
    if (settings.api_dpop_nonce && (err.nonce || scheme === 'DPoP')) headers['DPoP-Nonce'] = currentApiNonce();
    return reply(res, err.status, { error: err.error ?? 'invalid_request', error_description: err.description }, headers);
  }
});

process.stdout.write(`${JSON.stringify({ ready: true, ports, issuer, api: origins.api, mtls: origins.mtls })}\n`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    for (const server of Object.values(servers)) server.close();
    process.exit(0);
  });
}
