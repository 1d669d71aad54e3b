import { isPathNotFound, type StorageDriver } from '@regop/storage';
import { Digest } from '../reference.js';

/** Reads a link file (`sha256:<hex>`); undefined when it does not exist. */
export async function readLink(driver: StorageDriver, path: string): Promise<Digest | undefined> {
  try {
    return Digest.parse((await driver.getContent(path)).toString('utf8').trim());
  } catch (err) {
    if (isPathNotFound(err)) return undefined;
    throw err;
  }
}

export function writeLink(driver: StorageDriver, path: string, digest: Digest): Promise<void> {
  return driver.putContent(path, digest.toString());
}

/** Deletes a path; false when it was not there. */
export async function deleteIfExists(driver: StorageDriver, path: string): Promise<boolean> {
  try {
    await driver.delete(path);
    return true;
  } catch (err) {
    if (isPathNotFound(err)) return false;
    throw err;
  }
}

/** Stats a path; undefined when it does not exist. */
export async function statIfExists(driver: StorageDriver, path: string) {
  try {
    return await driver.stat(path);
  } catch (err) {
    if (isPathNotFound(err)) return undefined;
    throw err;
  }
}

/** Lists a directory; empty when it does not exist. */
export async function listIfExists(driver: StorageDriver, path: string): Promise<string[]> {
  try {
    return await driver.list(path);
  } catch (err) {
    if (isPathNotFound(err)) return [];
    throw err;
  }
}
