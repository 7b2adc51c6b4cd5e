/**
 * A long-lived prober for one pod of the conformance lab, started in the
 * pod's network namespace. It reads requests as JSON lines on stdin,
 * `{"id": 1, "protocol": "tcp", "timeoutMs": 1000, "targets": ["10.0.0.5:80"]}`,
 * probes the targets with `membrane workload probe`'s own code (probeAll),
 * and writes `{"id": 1, "results": [ProbeResult...]}` per request. Requests
 * run concurrently. It exits when stdin closes.
 *
 * Why not one `membrane workload probe` process per source and protocol: the
 * 18 Node start-ups per case cost ~3 s of CPU on a 2-core CI machine, which
 * tripled the suite's time and starved the probes' own deadlines.
 */
import readline from 'node:readline';
import { parseProtocol, parseTarget, probeAll } from '../workload/probe.js';

interface ProbeRequest {
  id: number;
  protocol: string;
  timeoutMs: number;
  targets: string[];
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  const req = JSON.parse(line) as ProbeRequest;
  void probeAll(req.targets.map(parseTarget), parseProtocol(req.protocol), req.timeoutMs).then((results) => {
    process.stdout.write(JSON.stringify({ id: req.id, results }) + '\n');
  });
});
lines.on('close', () => process.exit(0));
