/**
 * The configuration `registry serve` uses when given none: registry:2's bundled config, but listening on
 * loopback, storing under ./data and with deletes enabled, for trying the registry on one machine.
 */
export const DEFAULT_CONFIG = `
version: 0.1
log:
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: ./data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;
