import { requireServer, type ServerName, servers } from './servers.ts';

// Integration tests need the local servers; a missing one fails the run with the command
// that starts it. FERRY_REQUIRE_SERVERS=cassandra,redis narrows the check when running
// one file by hand; `npm test` always checks them all.
export default async function globalSetup(): Promise<void> {
  const all = Object.keys(servers) as ServerName[];
  const wanted = process.env.FERRY_REQUIRE_SERVERS?.split(',').map((s) => s.trim()) ?? all;
  const unknown = wanted.filter((n) => !all.includes(n as ServerName));
  if (unknown.length > 0)
    throw new Error(`FERRY_REQUIRE_SERVERS names unknown servers: ${unknown.join(', ')}`);
  const results = await Promise.allSettled((wanted as ServerName[]).map((n) => requireServer(n)));
  const missing = results.flatMap((r) =>
    r.status === 'rejected' ? [String(r.reason?.message ?? r.reason)] : [],
  );
  if (missing.length > 0)
    throw new Error(`Integration tests need the local servers:\n- ${missing.join('\n- ')}`);
}
