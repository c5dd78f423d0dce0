/**
 * Whether this machine can listen on IPv6 loopback (::1): many containers run with IPv6 disabled, where a server on
 * ::1 cannot start at all. Tests that need it skip there and say why in their name.
 */
import net from 'node:net';

/** Why ::1 cannot be listened on here, or '' when it can. */
export async function ipv6LoopbackProblem(): Promise<string> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(`IPv6 loopback ::1 is not available here (${err.code ?? err.message})`));
    probe.listen(0, '::1', () => probe.close(() => resolve('')));
  });
}
