import { parentPort, workerData } from 'node:worker_threads';
import { postgresKysely } from '../db/database.js';
import { captureBatch } from '../ledger/capture-batch.js';
import { captureFromRecord } from '../ledger/capture-writer.js';
import { writeSerializedUsageRecords } from './usage-writer.js';
import { errorToWire, resultToWire, type FromThread, type ThreadData, type ToThread } from './write-thread.js';

/**
 * The write thread (see write-thread.ts): runs each batch it is sent on its own connections and answers it.
 * Batches run as they come; their writers send one at a time each, so captures stay in settlement order.
 */
const port = parentPort!;
const data = workerData as ThreadData;
// Connection errors no query reports (an idle connection dropped) need no handling here: the next batch's
// query fails on its own, its writer retries it.
const { db } = postgresKysely(data.url, { max: data.connections, onError: () => undefined });

port.on('message', (message: ToThread) => {
  if (message.op === 'close') {
    void db.destroy().finally(() => port.close());
    return;
  }
  void run(message).then(
    (reply) => port.postMessage(reply),
    (error: unknown) => port.postMessage({ id: message.id, error: errorToWire(error) } satisfies FromThread),
  );
});

// Loaded: batches can come (a thread that fails before this is one that cannot start at all).
port.postMessage({ ready: true });

async function run(message: Exclude<ToThread, { op: 'close' }>): Promise<FromThread> {
  if (message.op === 'captures') {
    const results = await captureBatch(db, message.records.map(captureFromRecord));
    return { id: message.id, results: results.map(resultToWire) };
  }
  return { id: message.id, recorded: await writeSerializedUsageRecords(db, message.records) };
}
