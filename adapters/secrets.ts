import { chmodSync, mkdirSync, openSync, closeSync, writeSync, fsyncSync, renameSync, statSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SecretSource } from '../domain/config';
import { UserError } from '../domain/errors';
import { secretVariable } from './config-loader';

/** Names where a secret comes from, for messages; never the secret. */
export function describeSecretSource(source: SecretSource): string {
  return 'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;
}

/**
 * Reads a secret. A file must be readable by its owner only: a PIN that any local user can read is refused rather
 * than used.
 */
export function readSecret(source: SecretSource, what: string): string {
  if ('env' in source) {
    const value = secretVariable(source.env);
    if (value === undefined || value === '') throw new UserError('secret_missing', `${what}: environment variable ${source.env} is not set`);
    return value;
  }
  let mode: number;
  try {
    mode = statSync(source.file).mode;
  } catch {
    throw new UserError('secret_missing', `${what}: file ${source.file} does not exist`);
  }
  if ((mode & 0o077) !== 0) {
    throw new UserError('secret_exposed', `${what}: file ${source.file} is readable by other users; run chmod 600 ${source.file}`);
  }
  const value = readFileSync(source.file, 'utf8').trim();
  if (value === '') throw new UserError('secret_missing', `${what}: file ${source.file} is empty`);
  return value;
}

/** Writes a secret file with mode 0600 atomically (temporary file, fsync, rename), in a 0700 folder. */
export function writeSecretFile(file: string, value: string): void {
  const folder = dirname(file);
  // Only the secrets folder itself is private: a recursive mkdir would make every missing parent 0700 too.
  mkdirSync(dirname(folder), { recursive: true });
  mkdirSync(folder, { recursive: true });
  chmodSync(folder, 0o700);
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, `${value}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}

export function removeSecretFile(file: string): void {
  rmSync(file, { force: true });
}
