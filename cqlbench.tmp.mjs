import cassandra from 'cassandra-driver';

const c = new cassandra.Client({ contactPoints: ['127.0.0.1:9042'], localDataCenter: 'datacenter1' });
await c.connect();
await c.execute(
  "CREATE KEYSPACE IF NOT EXISTS benchtmp WITH replication = {'class':'SimpleStrategy','replication_factor':1}",
);
await c.execute(`CREATE TABLE IF NOT EXISTS benchtmp.t (k int PRIMARY KEY, v text)`);
const n = 30000;
let i = 0;
const t0 = Date.now();
async function w() {
  while (i < n) {
    const k = i++;
    await c.execute('INSERT INTO benchtmp.t (k, v) VALUES (?, ?)', [k, 'x'.repeat(100)], { prepare: true });
  }
}
await Promise.all(Array.from({ length: 64 }, w));
const ms = Date.now() - t0;
console.log(process.argv[2], 'rows/s', Math.round((n / ms) * 1000));
// serial latency
const t1 = Date.now();
for (let j = 0; j < 300; j++)
  await c.execute('INSERT INTO benchtmp.t (k, v) VALUES (?, ?)', [j, 'y'], { prepare: true });
console.log(process.argv[2], 'serial ms/write', ((Date.now() - t1) / 300).toFixed(2));
await c.execute('DROP KEYSPACE benchtmp');
await c.shutdown();
