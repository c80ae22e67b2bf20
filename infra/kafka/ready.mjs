// Exit 0 when the Kafka broker at 127.0.0.1:$FERRY_KAFKA_PORT really answers:
// the cluster has an active controller and a registered broker, and metadata
// requests work. Used by kafka_ready in infra/services/kafka.sh.
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const port = Number(process.env.FERRY_KAFKA_PORT ?? 9092);
const kafka = new Kafka({
  clientId: 'ferry-infra-ready',
  brokers: [`127.0.0.1:${port}`],
  connectionTimeout: 1000,
  requestTimeout: 2000,
  retry: { retries: 0 },
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
const timer = setTimeout(() => {
  console.error('kafka ready check timed out');
  process.exit(1);
}, 5000);
try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  if (cluster.brokers.length === 0 || cluster.controller == null || cluster.controller < 0) {
    throw new Error(`no broker or controller yet: ${JSON.stringify(cluster)}`);
  }
  await admin.listTopics();
  console.log(`kafka ready: cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s)`);
  process.exitCode = 0;
} catch (err) {
  console.error(`kafka not ready: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await admin.disconnect().catch(() => {});
}
