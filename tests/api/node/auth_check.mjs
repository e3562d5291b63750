// Auth0's official Node SDK (npm `auth0`, its AuthenticationClient) against a live server, as
// an application written for Auth0 would use it: sign-up, password-realm sign-in with the
// SDK's own ID-token validation, and the refusals. Run by tests/auth/test_node_auth.py with
// BASE_URL (the live server, http://127.0.0.1:PORT), TENANT (a slug), CLIENT_ID and
// CLIENT_SECRET; prints one JSON object on stdout for the Python test to assert on.
//
// auth0 v7 no longer has AuthenticationClient in its main entry point; it ships node-auth0
// v4's (4.37.x) as `auth0/legacy`, and that is the one an application uses today.
//
// The SDK's domain is the path form HOST/tenants/<slug>; it always speaks https://<domain>/.
// The test server is plain HTTP, so requests to https://HOST go to BASE_URL instead: the
// SDK's own calls go through fetch, and the ID-token validator's JWKS download through
// node:https `get` (jose's remote key set), so both are mapped. Nothing else is touched: the
// validator still fetches https://<domain>/.well-known/jwks.json and checks
// iss === https://<domain>/, aud, exp, iat, nonce and the RS256 signature.
import { createRequire, syncBuiltinESMExports } from "node:module";
import { AuthenticationClient, AuthApiError, IdTokenValidatorError } from "auth0/legacy";

const base = new URL(process.env.BASE_URL);
const sdkOrigin = `https://${base.host}`;
const mapped = (url) => (url.startsWith(sdkOrigin) ? base.origin + url.slice(sdkOrigin.length) : url);

const requests = [];
const plainFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = typeof input === "string" || input instanceof URL ? String(input) : input.url;
  requests.push(url);
  const target = mapped(url);
  return plainFetch(typeof input === "string" || input instanceof URL ? target : new Request(target, input), init);
};

const require = createRequire(import.meta.url);
const http = require("node:http");
const https = require("node:https");
const jwksFetches = [];
const httpsGet = https.get;
https.get = (url, options, callback) => {
  const href = String(url);
  if (!href.startsWith(sdkOrigin)) return httpsGet(url, options, callback);
  jwksFetches.push(href);
  const { agent, ...rest } = typeof options === "object" && options !== null ? options : {};
  return http.get(mapped(href), rest, typeof options === "function" ? options : callback);
};
syncBuiltinESMExports(); // `import * as https from "https"` in jose now sees the mapped get

const domain = `${base.host}/tenants/${process.env.TENANT}`;
const auth0 = new AuthenticationClient({
  domain,
  clientId: process.env.CLIENT_ID,
  clientSecret: process.env.CLIENT_SECRET,
});
const connection = "Username-Password-Authentication";
const email = "Grace@Acme.test";
const password = "Correct-horse-9";

function refusal(error) {
  return {
    class: error.constructor.name,
    isAuthApiError: error instanceof AuthApiError,
    isIdTokenValidatorError: error instanceof IdTokenValidatorError,
    error: error.error ?? null,
    error_description: error.error_description ?? null,
    statusCode: error.statusCode ?? null,
    message: error.message,
  };
}

async function refused(call) {
  try {
    await call();
  } catch (error) {
    return refusal(error);
  }
  return null;
}

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

const out = { domain };
const signedUp = await auth0.database.signUp({
  email,
  password,
  connection,
  given_name: "Grace",
  user_metadata: { color: "blue", plan: "pro" },
});
out.signUp = { status: signedUp.status, data: signedUp.data };
out.duplicateSignUp = await refused(() => auth0.database.signUp({ email, password, connection }));

const signedIn = await auth0.oauth.passwordGrant(
  { username: email, password, realm: connection, scope: "openid profile email", nonce: "n-42" },
  { idTokenValidateOptions: { nonce: "n-42" } },
);
out.signIn = {
  status: signedIn.status,
  data: signedIn.data,
  idTokenClaims: claims(signedIn.data.id_token),
  accessTokenClaims: claims(signedIn.data.access_token),
};
out.jwksFetchesAfterSignIn = [...jwksFetches];

// The validation is on: a nonce other than the one sent is refused by the SDK itself.
out.nonceMismatch = await refused(() =>
  auth0.oauth.passwordGrant(
    { username: email, password, realm: connection, scope: "openid", nonce: "sent" },
    { idTokenValidateOptions: { nonce: "expected" } },
  ),
);
out.wrongPassword = await refused(() =>
  auth0.oauth.passwordGrant({ username: email, password: "Wrong-horse-9", realm: connection }),
);
out.noSuchUser = await refused(() =>
  auth0.oauth.passwordGrant({ username: "nobody@acme.test", password, realm: connection }),
);
out.requests = requests;
out.jwksFetches = jwksFetches;

process.stdout.write(JSON.stringify(out));
