import { requireServer, type ServerName, servers } from './servers.ts';

// Integration tests need every server; a missing one fails the run with the command that starts it.
export default async function globalSetup(): Promise<void> {
  const names = Object.keys(servers) as ServerName[];
  const results = await Promise.allSettled(names.map((n) => requireServer(n)));
  const missing = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason?.message ?? r.reason)] : []));
  if (missing.length > 0) throw new Error(`Integration tests need the local servers:\n- ${missing.join('\n- ')}`);
}
