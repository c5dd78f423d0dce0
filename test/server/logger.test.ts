import { spawn } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubText } from '../../server/obs/logger.js';

describe('logger redaction', () => {
  const capture = (): { lines: Array<Record<string, unknown>>; stream: Writable } => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
    return { lines, stream };
  };

  it('redacts credential and contact fields, configured paths, and secrets inside messages', () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: 'info', redact: ['payload.ssn'] }, stream);
    log.info({ agent_id: 'a1', token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig', user: { email: 'x@y.org', phone: '+1 555 123 4567' }, payload: { ssn: '123-45-6789', ok: 1 } }, 'hello alice@example.com, call +44 20 7946 0958 with Bearer abc.def');
    const l = lines[0]!;
    expect(l['agent_id']).toBe('a1');
    expect(l['token']).toBe('[REDACTED]');
    expect(l['user']).toEqual({ email: '[REDACTED]', phone: '[REDACTED]' });
    expect(l['payload']).toEqual({ ssn: '[REDACTED]', ok: 1 });
    expect(l['msg']).toBe('hello [REDACTED], call [REDACTED] with Bearer [REDACTED]');
  });

  it("masks a token in a URL's query string, whatever its shape (a static token is no JWT)", () => {
    expect(scrubText('upgrade ws://h:8080/v1/worlds/w/ws?token=static-token-0123456789abcdef&x=1 refused')).toBe('upgrade ws://h:8080/v1/worlds/w/ws?token=[REDACTED]&x=1 refused');
    expect(scrubText('GET /v1/worlds/w/agents/a/observe?after=3&TOKEN=s3cr3t-s3cr3t-s3cr3t')).toBe('GET /v1/worlds/w/agents/a/observe?after=3&TOKEN=[REDACTED]');
    expect(scrubText('https://idp.example/cb?access_token=abc.def_ghi-jkl')).toBe('https://idp.example/cb?access_token=[REDACTED]');
    // The word alone, or a field named so in prose, is left as it is.
    expect(scrubText('the token expired: get a new one')).toBe('the token expired: get a new one');
  });

  it('leaves ordinary numbers and ids alone', () => {
    expect(scrubText('global_seq 1234567 view_seq 42 req r-2024-01-02')).toBe('global_seq 1234567 view_seq 42 req r-2024-01-02');
    // An address is not a phone number, nor is a segment file's 20-digit name.
    expect(scrubText('from 198.51.100.123 wrote 00000000000000000001.wlseg')).toBe('from 198.51.100.123 wrote 00000000000000000001.wlseg');
  });

  it('masks emails, phone numbers and tokens in string field values a client chose, at the top level and one down', () => {
    const { lines, stream } = capture();
    const log = createLogger({ level: 'debug' }, stream);
    const fields = { agent_id: 'a1', req_id: 'jane@example.com +1 415 555 0199', status: 'committed', global_seq: 7, details: { reason: 'call 020 7946 0958', ok: 'fine' }, tags: ['x', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig'] };
    log.debug(fields, 'intent');
    const l = lines[0]!;
    expect(l['req_id']).toBe('[REDACTED] [REDACTED]');
    expect(l['details']).toEqual({ reason: 'call [REDACTED]', ok: 'fine' });
    expect(l['tags']).toEqual(['x', '[REDACTED]']);
    expect(l).toMatchObject({ agent_id: 'a1', status: 'committed', global_seq: 7, msg: 'intent' });
    // The caller's object is not changed.
    expect(fields.req_id).toBe('jane@example.com +1 415 555 0199');
    // Through a child logger too; and an address logged with a security event stays what it is.
    log.child({ world: 'w1' }).warn({ agent_id: 'bob@example.org', ip: '198.51.100.123' }, 'security event');
    expect(lines[1]).toMatchObject({ world: 'w1', agent_id: '[REDACTED]', ip: '198.51.100.123' });
    expect(JSON.stringify(lines)).not.toMatch(/example\.(?:com|org)|415 555|7946|eyJhbGci/);
    // An error's message and stack, which may quote what a client sent.
    log.error({ err: new Error('bad payload from jane@example.com') }, 'world failed');
    expect((lines[2]!['err'] as { message: string; stack: string }).message).toBe('bad payload from [REDACTED]');
    expect((lines[2]!['err'] as { stack: string }).stack).not.toMatch(/example\.com/);
  });

  it('stdout without a reader: a process exiting with log lines buffered drops them and exits, it does not hang', async () => {
    // pino's own destination retried the failed write for ever at exit (Atomics.wait), deaf to SIGTERM.
    const repo = path.resolve(import.meta.dirname, '../..');
    const script = `import { createLogger } from './server/obs/logger.js';
      const log = createLogger({});
      process.stdin.once('data', () => { for (let i = 0; i < 5000; i++) log.info({ i }, 'line'); process.exit(0); });
      process.stderr.write('ready\\n');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      let err = '';
      const exited = new Promise<number | string | null>((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`child not ready within 20 s: ${err}`)), 20_000);
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('ready')) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      child.stdout.destroy();
      child.stdin.write('go\n');
      const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running 10 s after exit()'), 10_000))]);
      expect(code, err).toBe(0);
      expect(err).not.toMatch(/EPIPE|Error/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('the log sink with a slow reader', () => {
  it('holds at most MAX_PENDING_CHARS for a reader that does not read, drops the rest, and says how many once it catches up', async () => {
    const { execFileSync } = await import('node:child_process');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const { LogSink, MAX_PENDING_CHARS } = await import('../../server/obs/log-sink.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worldline-sink-'));
    const fifo = path.join(dir, 'out');
    execFileSync('mkfifo', [fifo]);
    // Read and write on one descriptor: opening does not wait for a reader, and nobody reads until we do.
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    try {
      const sink = new LogSink(fd);
      const line = `${JSON.stringify({ level: 30, msg: 'x'.repeat(1000) })}\n`;
      const n = Math.ceil((MAX_PENDING_CHARS * 1.5) / line.length);
      for (let i = 0; i < n; i++) sink.write(line);
      expect(sink.backlog.chars).toBeLessThanOrEqual(MAX_PENDING_CHARS);
      expect(sink.backlog.dropped).toBeGreaterThan(0);
      // Once the first write is out, the waiting lines are handed to fs.write as one buffer; they are still held until
      // the reader takes them, so lines written meanwhile must not start a second MAX_PENDING_CHARS.
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < n; i++) sink.write(line);
      expect(sink.backlog.chars).toBeLessThanOrEqual(MAX_PENDING_CHARS);
      // The reader catches up: drain the pipe while the sink writes on, then one more line brings the note.
      const buf = Buffer.alloc(1 << 20);
      let text = '';
      let total = 0;
      const drain = (): void => {
        for (;;) {
          let got = 0;
          try {
            got = fs.readSync(fd, buf, 0, buf.length, null);
          } catch {
            return;
          }
          if (got <= 0) return;
          total += got;
          text += buf.toString('latin1', 0, got).slice(-200);
        }
      };
      for (const until = Date.now() + 10_000; (sink.backlog.chars > 0 || text.length === 0) && Date.now() < until; ) {
        drain();
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(sink.backlog.chars).toBe(0);
      sink.write('{"msg":"after"}\n');
      let tail = '';
      for (const until = Date.now() + 5000; !tail.includes('"after"') && Date.now() < until; ) {
        await new Promise((r) => setTimeout(r, 5));
        try {
          const got = fs.readSync(fd, buf, 0, buf.length, null);
          if (got > 0) {
            total += got;
            tail += buf.toString('utf8', 0, got);
          }
        } catch {
          // EAGAIN: nothing yet.
        }
      }
      expect(tail).toMatch(/"msg":"log lines dropped: the reader of the server's output fell behind","dropped":\d+/);
      expect(tail).toContain('"after"');
      // Everything the sink held came out, and never more than the bound plus what the pipe itself buffers (bytes the
      // kernel took are no longer the sink's: up to 1 MiB for a pipe; the old count let through twice the bound).
      expect(total).toBeLessThanOrEqual(MAX_PENDING_CHARS + (1 << 20));
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
