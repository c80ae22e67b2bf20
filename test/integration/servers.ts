import net from 'node:net';

/** The local servers that integration tests need, where infra/up.sh starts them. */
export const servers = {
  kafka: { host: '127.0.0.1', port: Number(process.env.FERRY_KAFKA_PORT ?? 9092) },
  cassandra: { host: '127.0.0.1', port: Number(process.env.FERRY_CASSANDRA_PORT ?? 9042) },
  temporal: { host: '127.0.0.1', port: Number(process.env.FERRY_TEMPORAL_PORT ?? 7233) },
  temporalUi: { host: '127.0.0.1', port: Number(process.env.FERRY_TEMPORAL_UI_PORT ?? 8233) },
  bigquery: { host: '127.0.0.1', port: Number(process.env.FERRY_BIGQUERY_PORT ?? 9050) },
  redis: { host: '127.0.0.1', port: Number(process.env.FERRY_REDIS_PORT ?? 6379) },
} as const;

export type ServerName = keyof typeof servers;

export const bigqueryProject = process.env.FERRY_BIGQUERY_PROJECT ?? 'ferry-local';

/** The emulator's gRPC port (Storage Read/Write API), started with its REST port by infra/up.sh bigquery. */
export const bigqueryStorageEndpoint = `127.0.0.1:${process.env.FERRY_BIGQUERY_GRPC_PORT ?? 9060}`;

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Throws an error naming the server and the command that starts it. */
export async function requireServer(name: ServerName): Promise<void> {
  const { host, port } = servers[name];
  if (!(await canConnect(host, port, 2000))) {
    throw new Error(
      `${name} is not reachable at ${host}:${port}. Start the local servers with \`npm run infra:up\` ` +
        `(or \`bash infra/up.sh ${name.replace('Ui', '')}\`), then check \`npm run infra:status\`.`,
    );
  }
}
