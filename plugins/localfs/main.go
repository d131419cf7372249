// Command izypop3-store-localfs is the localfs mimestore plugin: messages
// as files (.eml or Maildir) under mimestore.path. izypop3 starts it; see
// docs/localfs.md.
package main

import (
	"github.com/izyware/izypop3/plugins/localfs/localfs"
	"github.com/izyware/izypop3/sdk"
)

func main() {
	sdk.Serve(&localfs.Store{}, sdk.WithName(localfs.Name), sdk.WithVersion(localfs.Version))
}
