/** The usage texts of the subcommands, here so `registry help` need not load the commands themselves. */

export const SERVE_USAGE = `Usage: registry serve [CONFIG]

Serves the registry API. CONFIG is distribution's config.yml; without it, $REGISTRY_CONFIGURATION_PATH, else
a built-in config (filesystem storage in ./data, 127.0.0.1:5000). REGISTRY_* variables override its keys.`;

export const GC_USAGE = `Usage: registry garbage-collect CONFIG [--dry-run] [--delete-untagged] [--grace DURATION] [--wait DURATION] [--quiet] [--format text|json]

Deletes blobs that no manifest references, as distribution's command does, and is safe to run while
registries serve pushes from the same storage. One collection runs at a time on a store: a run holds a lease
in it, and another run refuses (or waits, with --wait) while it is held; a crashed run's lease expires in 60s.
  -d, --dry-run          report what would be deleted, delete nothing
  -m, --delete-untagged  also delete manifests no tag reaches (children of tagged indexes and referrers
                         of kept manifests are kept)
  -g, --grace DURATION   keep anything written, linked or mounted more recently than this (default 1h)
  -w, --wait DURATION    wait this long for another collection to finish instead of refusing at once
  -q, --quiet            only the summary
      --format json      the result as JSON (what was removed, per repository and in all), nothing else

With storage.maintenance.garbagecollect.retention in CONFIG, its rules first remove tags (the newest
keeplast kept, keeptags always kept, tags older than tagsolderthan and untagged manifests older than
untaggedolderthan removed), and the manifests and blobs only those tags used go with them.`;

export const TOKEN_USAGE = `Usage: registry token-server CONFIG
       registry token-server init DIR [--issuer NAME] [--service NAME] [--addr HOST:PORT]

A Docker token issuer for registries configured with auth.token: checks Basic credentials against an
htpasswd file and grants what an ACL file allows. 'init' writes a signing key and certificate, the root
certificate registries trust (auth.token.rootcertbundle), an example ACL and CONFIG into DIR.`;
