/** The usage texts of the subcommands, here so `registry help` need not load the commands themselves. */

export const GC_USAGE = `Usage: registry garbage-collect CONFIG [--dry-run] [--delete-untagged] [--grace DURATION] [--quiet]

Deletes blobs that no manifest references, as distribution's command does, and is safe to run while
registries serve pushes from the same storage.
  -d, --dry-run          report what would be deleted, delete nothing
  -m, --delete-untagged  also delete manifests no tag reaches (children of tagged indexes and referrers
                         of kept manifests are kept)
  -g, --grace DURATION   keep anything written, linked or mounted more recently than this (default 1h)
  -q, --quiet            only the summary`;

export const TOKEN_USAGE = `Usage: registry token-server CONFIG
       registry token-server init DIR [--issuer NAME] [--service NAME] [--addr HOST:PORT]

A Docker token issuer for registries configured with auth.token: checks Basic credentials against an
htpasswd file and grants what an ACL file allows. 'init' writes a signing key and certificate, the root
certificate registries trust (auth.token.rootcertbundle), an example ACL and CONFIG into DIR.`;
