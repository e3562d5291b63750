// Auth0's official Node SDK (npm `auth0`, ManagementClient) against a live server, as an
// application written for Auth0 would use it. Run by tests/api/test_node_sdk.py with
// BASE_URL (the live server, http://127.0.0.1:PORT) and TOKEN (an API client's token); prints
// one JSON object on stdout for the Python test to assert on.
//
// The SDK always speaks https://<domain>/api/v2; the test server is plain HTTP, so requests to
// that origin are sent to BASE_URL instead. Nothing else about the SDK is touched.
import { gunzipSync } from "node:zlib";
import { ManagementClient } from "auth0";

const base = new URL(process.env.BASE_URL);
const sdkOrigin = `https://${base.host}`;
const plainFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = typeof input === "string" || input instanceof URL ? String(input) : input.url;
  const target = url.startsWith(sdkOrigin) ? base.origin + url.slice(sdkOrigin.length) : url;
  return plainFetch(typeof input === "string" || input instanceof URL ? target : new Request(target, input), init);
};

const client = new ManagementClient({ domain: base.host, token: process.env.TOKEN });
const connection = "Username-Password-Authentication";

async function finished(id) {
  for (let i = 0; i < 100; i += 1) {
    const job = await client.jobs.get(id);
    if (job.status === "completed" || job.status === "failed") return job;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${id} did not finish`);
}

async function gunzipped(location) {
  const response = await plainFetch(location);
  const bytes = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    contentEncoding: response.headers.get("content-encoding"),
    text: gunzipSync(bytes).toString("utf8"),
  };
}

const out = {};
out.created = await client.users.create({
  connection,
  email: "Node.User@Acme.test",
  user_metadata: { theme: "dark", n: 1 },
  app_metadata: { plan: "pro" },
});
const id = out.created.user_id;
out.fetched = await client.users.get(id);
out.patched = await client.users.update(id, { user_metadata: { n: null, lang: "fr" } });
out.byEmail = await client.users.listUsersByEmail({ email: "node.user@acme.test" });
const page = await client.users.list({ q: "user_metadata.theme:dark", search_engine: "v3" });
out.listed = page.data;

const exportJob = await client.jobs.usersExports.create({
  format: "json",
  fields: [{ name: "email" }, { name: "user_metadata" }, { name: "created_at" }, { name: "nickname" }],
});
out.exportJob = await finished(exportJob.id);
out.exportFile = await gunzipped(out.exportJob.location);

const rows = [
  { email: "fine@acme.test", user_metadata: { a: 1 } },
  { email: "node.user@acme.test", password_hash: "$2b$10$abcdefghijklmnopqrstuv" },
  { name: "no email" },
];
const importJob = await client.jobs.usersImports.create({
  users: { data: Buffer.from(JSON.stringify(rows)), filename: "users.json", contentType: "application/json" },
  connection_id: connection,
});
out.importJob = await finished(importJob.id);
out.importErrors = await client.jobs.errors.get(importJob.id);

process.stdout.write(JSON.stringify(out));
