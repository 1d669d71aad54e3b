export { freePort, memoryOf, type Server, startServer, stopAll } from './process.js';
export { SWIFT_BINARIES, type Swift, startSwift } from './swift.js';
