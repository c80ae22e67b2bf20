// Exit 0 when Cassandra answers CQL on 127.0.0.1:$FERRY_CASSANDRA_PORT; print its release_version.
// Used by cassandra_ready in infra/services/cassandra.sh (cqlsh is not available).
import cassandra from 'cassandra-driver';

const port = Number(process.env.FERRY_CASSANDRA_PORT ?? 9042);
const timeoutMs = Number(process.env.FERRY_CASSANDRA_READY_TIMEOUT_MS ?? 5000);
const client = new cassandra.Client({
  contactPoints: [`127.0.0.1:${port}`],
  localDataCenter: 'datacenter1',
  socketOptions: { connectTimeout: timeoutMs, readTimeout: timeoutMs },
});
const guard = setTimeout(() => {
  console.error(`no CQL answer within ${timeoutMs} ms`);
  process.exit(1);
}, timeoutMs + 1000);
try {
  const rs = await client.execute('SELECT release_version FROM system.local');
  console.log(rs.first().get('release_version'));
  process.exitCode = 0;
} catch (err) {
  console.error(String(err?.message ?? err));
  process.exitCode = 1;
} finally {
  clearTimeout(guard);
  await client.shutdown().catch(() => {});
}
