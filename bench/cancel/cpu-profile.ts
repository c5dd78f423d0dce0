/**
 * `--import ./bench/cancel/cpu-profile.ts` with CANCEL_BENCH_CPU_PROF_DIR set: the process starts a V8 CPU profile
 * on SIGUSR2 (the bench sends it as the measured rounds begin, so connecting and spawning stay out of it) and writes
 * it to DIR/<label>-<pid>.cpuprofile as it exits. Works for children whose command line the bench does not own (the
 * server, spawned by bench/arena/server-proc.ts), where `--cpu-prof` is not allowed in NODE_OPTIONS.
 */
import fs from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import { stamp } from './clock.js';

const dir = process.env['CANCEL_BENCH_CPU_PROF_DIR'];
if (dir) {
  const label = path.basename(process.argv[1] ?? 'node').replace(/\.[cm]?[jt]s$/, '');
  const session = new Session();
  session.connect();
  let started = false;
  let clock: { monotonicUs: number; stampMs: number } | undefined;
  process.on('SIGUSR2', () => {
    if (started) return;
    started = true;
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: 200 });
    session.post('Profiler.start');
    // The profile's timestamps are the monotonic clock in µs: this pairs one with the bench's stamp() (clock.ts), so
    // a reader can cut the profile to the rounds' cancel bursts (bench --dump has their stamps).
    clock = { monotonicUs: Number(process.hrtime.bigint() / 1000n), stampMs: stamp() };
  });
  // A same-thread inspector session answers synchronously, so this works inside 'exit'.
  process.on('exit', () => {
    if (!started) return;
    session.post('Profiler.stop', (err, res) => {
      if (err) return;
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `${label}-${process.pid}`);
      fs.writeFileSync(`${file}.cpuprofile`, JSON.stringify(res.profile));
      fs.writeFileSync(`${file}.clock.json`, JSON.stringify(clock));
    });
  });
}
