export { FilesystemDriver, type FilesystemDriverOptions } from './driver.js';
