// The base image's root filesystem from the host's own Debian packages, as a gzipped tarball for
// `docker import`: the Essential packages, BASE_PACKAGES of base.recipe and everything they depend
// on, copied from the host (no download, no debootstrap), plus the host's node and npm in
// /usr/local, a `node` user (uid 1000) and the host's CA bundle: the layout of
// node:20-bookworm-slim. Only files dpkg lists are taken, so nothing else of the host (its
// users, keys, logs) enters the image.
//
//   node docker/host-base.mjs <out.tar.gz> <package,package,...>
//   node docker/host-base.mjs --versions <package,package,...>   # package=version of what it takes
//
// Exits 3, with the reason on stderr, when the host has no dpkg or lacks a package.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

const [out, wanted] = process.argv.slice(2);
if (!out || !wanted) {
  process.stderr.write('usage: node docker/host-base.mjs <out.tar.gz> <package,package,...>\n');
  process.exit(2);
}
const fail = (why) => {
  process.stderr.write(`host-base: ${why}\n`);
  process.exit(3);
};

let db;
try {
  db = execFileSync(
    'dpkg-query',
    [
      '-W',
      '-f',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
      '${Package}\t${db:Status-Status}\t${Essential}\t${Provides}\t${Pre-Depends}, ${Depends}\t${Version}\n',
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
} catch (err) {
  fail(`dpkg-query failed (${err.message.split('\n')[0]}): not a Debian host`);
}

/** @type {Map<string, { essential: boolean, deps: string[][], version: string }>} */
const installed = new Map();
/** @type {Map<string, string>} virtual package -> an installed provider */
const providers = new Map();
const names = (s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
for (const line of db.split('\n')) {
  const [pkg, status, essential, provides, deps, version] = line.split('\t');
  if (!pkg || status !== 'installed') continue;
  installed.set(pkg, {
    essential: essential === 'yes',
    version: version ?? '',
    deps: names(deps ?? '').map((alt) =>
      alt.split('|').map((o) =>
        o
          .replace(/\(.*?\)/g, '')
          .replace(/:\w+$/, '')
          .trim(),
      ),
    ),
  });
  for (const p of names(provides ?? '')) providers.set(p.replace(/\(.*?\)/g, '').trim(), pkg);
}
const resolve = (name) => (installed.has(name) ? name : providers.get(name));

const roots = [...[...installed].filter(([, v]) => v.essential).map(([k]) => k), ...names(wanted)];
const missing = names(wanted).filter((p) => !resolve(p));
if (missing.length) fail(`the host lacks ${missing.join(', ')}; apt-get install -y ${missing.join(' ')}`);
const take = new Set();
const queue = [...roots];
while (queue.length) {
  const pkg = resolve(queue.pop());
  if (!pkg || take.has(pkg)) continue;
  take.add(pkg);
  for (const alt of installed.get(pkg).deps) {
    const chosen = alt.find((o) => resolve(o)) ?? alt[0];
    if (chosen) queue.push(chosen);
  }
}

if (out === '--versions') {
  process.stdout.write(
    `${[...take]
      .sort()
      .map((p) => `${p}=${installed.get(p).version}`)
      .join('\n')}\n`,
  );
  process.exit(0);
}

// Every file the packages own, by its canonical path (this host may have merged /usr: /bin/x is
// /usr/bin/x), without directories (tar creates the parents) and without what is not there.
const files = new Set();
/** System users a package's install script creates (not listed by dpkg). */
const PACKAGE_USERS = { 'redis-tools': ['redis'], 'redis-server': ['redis'] };
const MERGED = ['bin', 'lib', 'lib64', 'sbin'];
const arch = execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
for (const pkg of take) {
  const list = [`/var/lib/dpkg/info/${pkg}.list`, `/var/lib/dpkg/info/${pkg}:${arch}.list`].find(existsSync);
  if (!list) fail(`no file list for ${pkg} in /var/lib/dpkg/info`);
  for (const f of readFileSync(list, 'utf8').split('\n')) {
    if (!f || f === '/.') continue;
    let st;
    try {
      st = lstatSync(f);
    } catch {
      continue;
    }
    if (st.isDirectory()) continue;
    // The merged-/usr links (/bin -> usr/bin...) are added below, once.
    if (st.isSymbolicLink() && dirname(f) === '/' && MERGED.includes(basename(f))) continue;
    files.add(join(realpathSync(dirname(f)), basename(f)).slice(1));
  }
}

// What dpkg does not list: the merged-/usr links, users, the CA bundle, node and npm.
const stage = mkdtempSync(join(tmpdir(), 'minirs-host-base-'));
try {
  const sh = (cmd, args) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const put = (path, text) => {
    mkdirSync(dirname(join(stage, path)), { recursive: true });
    writeFileSync(join(stage, path), text);
  };
  const extra = [];
  for (const d of MERGED) {
    try {
      if (lstatSync(`/${d}`).isSymbolicLink()) {
        sh('ln', ['-s', `usr/${d}`, join(stage, d)]);
        extra.push(d);
      }
    } catch {}
  }
  // Users: Debian's fixed ones, the system users the taken packages' install scripts made on
  // the host (redis-server's `redis`), and `node`.
  const hostLines = (file, users) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => users.includes(l.split(':')[0]))
      .join('\n');
  const made = [...take].flatMap((p) => PACKAGE_USERS[p] ?? []);
  const master = (f) => readFileSync(`/usr/share/base-passwd/${f}.master`, 'utf8').trimEnd();
  const passwd = [master('passwd'), hostLines('/etc/passwd', made), 'node:x:1000:1000::/home/node:/bin/bash'];
  const group = [master('group'), hostLines('/etc/group', made), 'node:x:1000:'];
  put('etc/passwd', `${passwd.filter(Boolean).join('\n')}\n`);
  put('etc/group', `${group.filter(Boolean).join('\n')}\n`);
  put('etc/ssl/certs/ca-certificates.crt', readFileSync('/etc/ssl/certs/ca-certificates.crt'));
  extra.push('etc/passwd', 'etc/group', 'etc/ssl/certs/ca-certificates.crt');
  const node = realpathSync(execFileSync('sh', ['-c', 'command -v node'], { encoding: 'utf8' }).trim());
  const npmCli = realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
  const npmDir = dirname(dirname(npmCli));
  mkdirSync(join(stage, 'usr/local/bin'), { recursive: true });
  mkdirSync(join(stage, 'usr/local/lib/node_modules'), { recursive: true });
  sh('install', ['-m', '0755', node, join(stage, 'usr/local/bin/node')]);
  sh('cp', ['-a', npmDir, join(stage, 'usr/local/lib/node_modules/npm')]);
  sh('ln', ['-s', '../lib/node_modules/npm/bin/npm-cli.js', join(stage, 'usr/local/bin/npm')]);
  sh('ln', ['-s', '../lib/node_modules/npm/bin/npx-cli.js', join(stage, 'usr/local/bin/npx')]);
  for (const d of ['tmp', 'proc', 'sys', 'dev', 'root', 'run', 'var/tmp', 'home/node'])
    mkdirSync(join(stage, d), { recursive: true });
  sh('chmod', ['1777', join(stage, 'tmp'), join(stage, 'var/tmp')]);
  sh('chown', ['1000:1000', join(stage, 'home/node')]);
  extra.push('usr/local', 'tmp', 'proc', 'sys', 'dev', 'root', 'run', 'var/tmp', 'home');

  const listFile = join(stage, '.files');
  writeFileSync(listFile, [...files].sort().join('\n'));
  const tarball = join(stage, 'base.tar');
  sh('tar', ['-C', '/', '--numeric-owner', '--no-recursion', '-cf', tarball, '-T', listFile]);
  sh('tar', ['-C', stage, '--numeric-owner', '-rf', tarball, ...extra]);
  sh('sh', ['-c', `gzip -1 -c '${tarball}' > '${out}.part' && mv '${out}.part' '${out}'`]);
  process.stdout.write(`host-base: ${take.size} packages, ${files.size} files -> ${out}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
