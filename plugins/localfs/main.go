// Command izypop3-store-localfs is the localfs mimestore plugin: messages
// as files (.eml or Maildir) under mimestore.path. izypop3 starts it; see
// docs/localfs.md.
package main

import "github.com/izyware/izypop3/plugins/localfs/localfs"

func main() { localfs.Serve() }
