export { freePort, memoryOf, type Server, startServer, stopAll } from './process.js';
export { SLAPD_BINARIES, type Slapd, type SlapdOptions, startSlapd } from './slapd.js';
export { SWIFT_BINARIES, type Swift, startSwift } from './swift.js';
