"""Console views, one module per area. Every view is login-protected by middleware; tenant
views check membership and role through `users.access`."""
