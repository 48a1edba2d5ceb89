import { spawn, type ChildProcess } from 'node:child_process';
import Sqlite from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { makeTestCertificate, type TestPem } from '../../src/m365/test-certificate.js';
import { sqliteFileOf } from '../../src/storage/database.js';
import { createTestStore, type TestStore } from './services.js';
import { BIN, cleanEnv, freePort, run, startTlsServer, waitForOutput, type TlsServer } from './tls-server.js';

// photosync playing a Microsoft 365 tenant for connect mode's end-to-end tests, and photosync in
// connect mode pointed at it. One `photosync serve` over TLS (a certificate from the test run's CA,
// which every spawned process trusts through NODE_EXTRA_CA_CERTS) with its demo organisation is
// Entra ID, Exchange Online (Graph) and SharePoint (the My Site host and the admin site, all at
// the one address). Apps are registered on it with `photosync apps add … --certificate`, as an
// administrator registers one in Entra; the connect-mode process gets the PHOTOSYNC_M365_*
// settings of one app.
//
//   const tenant = await startM365Tenant();              // in beforeAll; tenant.stop() in afterAll
//   const app = await tenant.registerApp();              // Graph User.Read.All + ProfilePhoto.Read.All, SharePoint Sites.FullControl.All
//   const connect = tenant.connect(app);                 // a data folder of its own
//   await connect.m365(['check']);                       // { code, stdout, stderr }
//   const server = await connect.serve();                // `photosync serve` in connect mode: server.url, server.stop()
//   await tenant.cli(['apps', 'list']);                  // any command on the tenant's own store
//   await tenant.metric('photosync_photo_bytes_read_total');
//   await tenant.renameUser('jane@contoso.com', 'jane.doe@contoso.com'); // a new UPN, the same object id
//
// Everything spawned runs the compiled dist/ (test/global-setup.ts builds it when src/ changed).

/** What `registerApp` grants unless told otherwise: exactly what docs/M365.md asks administrators for. */
/** The lines of `m365 check`, by check name. */
export const checkLines = (stdout: string) =>
  Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((line) => [
        line
          .slice(2)
          .split(':')[0]!
          .replace(/ \(.*$/, ''),
        line,
      ]),
  );

export const CONNECT_PERMISSIONS = ['User.Read.All', 'ProfilePhoto.Read.All', 'Sites.FullControl.All'] as const;

export interface RegisteredApp {
  clientId: string;
  /** The certificate and key the app proves itself with (`combined` is what PHOTOSYNC_M365_CERTIFICATE takes). */
  pem: TestPem;
  /** Base64url SHA-256 of the certificate, as `apps add` printed it. */
  thumbprint: string;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ConnectProcess {
  url: string;
  pid: number;
  output(): string;
  /** SIGKILL, then waits for the exit. */
  stop(): Promise<void>;
}

export interface ConnectMode {
  /** The connect-mode process's settings: its own data folder and PHOTOSYNC_M365_* for the tenant. */
  env: Record<string, string>;
  dataDir: string;
  /** `photosync m365 <args>` to its end. */
  m365(args: string[], extraEnv?: Record<string, string>): Promise<CommandResult>;
  /** `photosync m365 <args>` started, for killing it halfway; `output()` is what it printed so far. */
  spawnM365(args: string[]): { child: ChildProcess; output(): string; exited: Promise<number | null> };
  /** `photosync serve` in connect mode, over plain http on a local port. */
  serve(extraEnv?: Record<string, string>): Promise<ConnectProcess>;
}

export interface M365Tenant {
  /** https://localhost:<port>: the authority host, Graph, SharePoint, the My Site host and the admin site. */
  url: string;
  /** The tenant's id (a GUID), as PHOTOSYNC_M365_TENANT. */
  tenantId: string;
  server: TlsServer;
  store: TestStore;
  /** Any photosync command on the tenant's own store (apps add, users …, photos …). */
  cli(args: string[]): Promise<CommandResult>;
  /** `redirectUris`: where the tenant may send a sign-in back (connect mode's portal). */
  registerApp(options?: {
    permissions?: readonly string[];
    name?: string;
    redirectUris?: readonly string[];
  }): Promise<RegisteredApp>;
  /** Connect mode for `app`; `overrides` replace PHOTOSYNC_M365_* values (a wrong URL, say). */
  connect(app: RegisteredApp, overrides?: Record<string, string>): ConnectMode;
  /** The sum of one of the tenant's /metrics samples. */
  metric(name: string): Promise<number>;
  /**
   * Gives a user a new userPrincipalName, keeping their object id, as an administrator renames
   * someone in Entra ID (photosync has no command for it; the directory is its own).
   */
  renameUser(from: string, to: string): void;
  stop(): Promise<void>;
}

/** Starts the tenant: `photosync serve` over TLS with the demo organisation. `env` adds tenant settings. */
export async function startM365Tenant(options: { env?: Record<string, string> } = {}): Promise<M365Tenant> {
  const store = await createTestStore('sqlite');
  const tenantStore = { ...store, env: { ...store.env, PHOTOSYNC_DEMO: 'true', ...options.env } };
  const server = await startTlsServer(tenantStore);
  const dirs: string[] = [];
  let apps = 0;
  const cli = (args: string[]) => run([BIN, ...args], server.env);

  const tenant: M365Tenant = {
    url: server.baseUrl,
    tenantId: '',
    server,
    store,
    cli,
    async registerApp({ permissions = CONNECT_PERMISSIONS, name = `connect ${++apps}`, redirectUris = [] } = {}) {
      const pem = makeTestCertificate();
      const certFile = path.join(store.dataDir, `app-${apps}-${Date.now()}.crt`);
      fs.writeFileSync(certFile, pem.certificate);
      const result = await cli([
        'apps',
        'add',
        name,
        '--scopes',
        permissions.join(','),
        '--certificate',
        certFile,
        ...redirectUris.flatMap((uri) => ['--redirect-uri', uri]),
      ]);
      const clientId = /client id:\s+(\S+)/.exec(result.stdout)?.[1];
      const thumbprint = /x5t#S256 (\S+)/.exec(result.stdout)?.[1];
      tenant.tenantId = /tenant id:\s+(\S+)/.exec(result.stdout)?.[1] ?? tenant.tenantId;
      if (result.code !== 0 || !clientId || !thumbprint) {
        throw new Error(`apps add failed (${result.code}):\n${result.stdout}${result.stderr}`);
      }
      return { clientId, pem, thumbprint };
    },
    connect(app, overrides = {}) {
      const dataDir = fs.mkdtempSync(path.join(store.dataDir, 'connect-'));
      dirs.push(dataDir);
      const pemFile = path.join(dataDir, 'app.pem');
      fs.writeFileSync(pemFile, app.pem.combined, { mode: 0o600 });
      const env: Record<string, string> = {
        ...cleanEnv(),
        PHOTOSYNC_DATA_DIR: dataDir,
        PHOTOSYNC_DEMO: 'false',
        PHOTOSYNC_LOG_LEVEL: 'warn',
        PHOTOSYNC_M365_TENANT: tenant.tenantId,
        PHOTOSYNC_M365_CLIENT_ID: app.clientId,
        PHOTOSYNC_M365_CERTIFICATE: pemFile,
        PHOTOSYNC_M365_AUTHORITY_HOST: server.baseUrl,
        PHOTOSYNC_M365_GRAPH_URL: server.baseUrl,
        PHOTOSYNC_M365_SHAREPOINT_URL: server.baseUrl,
        PHOTOSYNC_M365_MYSITE_URL: server.baseUrl,
        PHOTOSYNC_M365_ADMIN_URL: server.baseUrl,
        ...overrides,
      };
      return {
        env,
        dataDir,
        m365: (args, extraEnv = {}) => run([BIN, 'm365', ...args], { ...env, ...extraEnv }),
        spawnM365(args) {
          const child = spawn(process.execPath, [BIN, 'm365', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
          let output = '';
          child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
          child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
          const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
          return { child, output: () => output, exited };
        },
        async serve(extraEnv = {}) {
          const port = await freePort();
          const child = spawn(process.execPath, [BIN, 'serve'], {
            env: { ...env, PORT: String(port), PHOTOSYNC_PUBLIC_URL: `http://localhost:${port}`, ...extraEnv },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let output = '';
          child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
          child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          await waitForOutput(child, /photosync is running at/, () => output);
          return {
            url: `http://localhost:${port}`,
            pid: child.pid!,
            output: () => output,
            stop: async () => {
              if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
              await exited;
            },
          };
        },
      };
    },
    async metric(name) {
      const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        const match = /^(\w+)(?:\{.*\})? (\S+)$/.exec(line);
        if (match?.[1] === name) total += Number(match[2]);
      }
      return total;
    },
    renameUser(from, to) {
      // The serving tenant sees the commit at its next read (its read cache follows the file's changes).
      const database = new Sqlite(sqliteFileOf(store.dataDir));
      try {
        const renamed = database.prepare('UPDATE directory_users SET upn = ? WHERE upn = ?').run(to, from);
        if (renamed.changes !== 1) throw new Error(`The tenant has no user ${from} to rename.`);
      } finally {
        database.close();
      }
    },
    async stop() {
      await server.stop();
      await store.drop();
    },
  };
  return tenant;
}
