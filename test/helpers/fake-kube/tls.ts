// Real clusters speak TLS with their own CA, so the fake can too: a throwaway CA and a server
// certificate for 127.0.0.1 made with the openssl CLI (EC keys, so it takes milliseconds).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

export function makeCerts(dir: string): TlsMaterial {
  const f = (n: string): string => join(dir, n);
  const ossl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('ca.key'));
  ossl('req', '-x509', '-new', '-key', f('ca.key'), '-subj', '/CN=fake-kube-ca', '-days', '2', '-out', f('ca.crt'));
  ossl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f('server.key'));
  ossl('req', '-new', '-key', f('server.key'), '-subj', '/CN=kube-apiserver', '-out', f('server.csr'));
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.crt'));
  return { ca: readFileSync(f('ca.crt'), 'utf8'), cert: readFileSync(f('server.crt'), 'utf8'), key: readFileSync(f('server.key'), 'utf8') };
}
