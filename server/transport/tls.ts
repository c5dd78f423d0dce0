/**
 * TLS for the listener (wss:// and https:// on the same port), checked before anything starts: uWS.SSLApp only
 * says "App construction failed" about a missing file, a key in another format or a key that is not the
 * certificate's, so each of those is named here with what to do.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { WorldlineError } from '../errors.js';
import { readConfigFile } from '../config.js';

export interface TlsFiles {
  readonly cert_file_name: string;
  readonly key_file_name: string;
}

export interface TlsCheck {
  /** For uWS.SSLApp; undefined: plain ws:// and http://. */
  readonly files: TlsFiles | undefined;
  /** Worth logging, not refusing (a certificate past its validity: clients will refuse it). */
  readonly warnings: readonly string[];
}

export function checkTls(cfg: { readonly tlsCertFile: string; readonly tlsKeyFile: string }, now: number = Date.now()): TlsCheck {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile } = cfg;
  if (!certFile && !keyFile) return { files: undefined, warnings: [] };
  if (!certFile || !keyFile) {
    throw new WorldlineError('CONFIG_INVALID', 'config tlsCertFile and tlsKeyFile go together: set both (a PEM certificate chain and its unencrypted PEM private key), or neither for plain ws:// and http://', { key: certFile ? 'tlsKeyFile' : 'tlsCertFile' });
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readConfigFile('tlsCertFile', certFile));
  } catch (err) {
    if (err instanceof WorldlineError) throw err;
    throw new WorldlineError('CONFIG_INVALID', `config tlsCertFile: ${certFile} is not a PEM certificate (${(err as Error).message})`, { key: 'tlsCertFile', file: certFile });
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(readConfigFile('tlsKeyFile', keyFile));
  } catch (err) {
    if (err instanceof WorldlineError) throw err;
    throw new WorldlineError('CONFIG_INVALID', `config tlsKeyFile: ${keyFile} is not an unencrypted PEM private key (${(err as Error).message}); decrypt it, e.g. openssl pkey -in KEY -out KEY.plain, and keep it readable by this user only`, { key: 'tlsKeyFile', file: keyFile });
  }
  if (!cert.checkPrivateKey(key)) {
    throw new WorldlineError('CONFIG_INVALID', `config tlsKeyFile: ${keyFile} is not the private key of the certificate in ${certFile} (${cert.subject.replace(/\n/g, ', ')})`, { key: 'tlsKeyFile', file: keyFile });
  }
  const warnings: string[] = [];
  if (Date.parse(cert.validTo) < now) warnings.push(`TLS certificate ${certFile} expired on ${cert.validTo}: clients will refuse the connection`);
  else if (Date.parse(cert.validFrom) > now) warnings.push(`TLS certificate ${certFile} is not valid before ${cert.validFrom}: clients will refuse the connection`);
  return { files: { cert_file_name: certFile, key_file_name: keyFile }, warnings };
}
