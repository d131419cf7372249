package cloudstore

import "github.com/izyware/izypop3/sdk"

// Serve runs the cloud store as a plugin process (sdk.Serve): the main of
// izypop3-store-cloud, and of izypop3 itself when it runs its bundled copy.
func Serve() {
	sdk.Serve(New(sdk.NewLogger(Name)), sdk.WithName(Name), sdk.WithVersion(Version))
}
