import { runDriverContract } from '@regop/storage/contract';
import { parseSwiftOptions, SwiftDriver } from '@regop/storage-swift';
import { describeWithPeers } from './support/peers.js';
import { SWIFT_BINARIES, startSwift } from './support/swift.js';

// The driver contract, unchanged, against a real OpenStack Swift (tempauth).
describeWithPeers(SWIFT_BINARIES, 'swift driver on OpenStack Swift', () => {
  runDriverContract('swift', async () => {
    const swift = await startSwift();
    const driver = new SwiftDriver(
      parseSwiftOptions({
        authurl: swift.authUrl,
        username: swift.user,
        password: swift.key,
        container: 'contract',
        prefix: '/registry-prefix',
        // The smallest segments allowed, so the tests cross segment boundaries.
        chunksize: 1024 * 1024,
      }),
    );
    await driver.connect();
    return {
      driver,
      cleanup: async () => {
        await driver.close();
        await swift.stop();
      },
    };
  });
});
