"""The end-user side (Auth0's Authentication API): the endpoints SDKs call, found by the
tenant's domain or the path form /tenants/<slug>/ (`tenancy`), and the tenants' token-signing
keys (`crypto` at rest, `keys` to sign and verify). See docs/authentication.md."""
