package localfs

import "github.com/izyware/izypop3/sdk"

// Serve runs the localfs store as a plugin process (sdk.Serve): the main of
// izypop3-store-localfs, and of izypop3 itself when it runs its bundled copy.
func Serve() {
	sdk.Serve(&Store{log: sdk.NewLogger(Name)}, sdk.WithName(Name), sdk.WithVersion(Version))
}
