/**
 * A Ferry worker in its own process for the fault tests: runs the consumer workflow and activity
 * on the test's stores until killed. Usage (from the test):
 *   node --import tsx test/integration/commands-worker-child.ts <keyspace> <dataset> <topic> <taskQueue> <bundle>
 * Prints `ready` once the worker polls its task queue.
 */
import { openStores, startWorker, testSettings } from './commands-harness.ts';

const [keyspace, dataset, topic, taskQueue, bundle] = process.argv.slice(2);
if (!keyspace || !dataset || !topic || !taskQueue || !bundle) {
  console.error('usage: commands-worker-child.ts <keyspace> <dataset> <topic> <taskQueue> <bundle>');
  process.exit(2);
}
const settings = testSettings({ keyspace, dataset, topic });
const stores = await openStores(settings);
const worker = await startWorker(settings, stores, taskQueue, bundle);
console.log('ready');
const stop = async () => {
  await worker.stop();
  await stores.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
await worker.running;
