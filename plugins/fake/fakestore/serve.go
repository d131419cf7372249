package fakestore

import "github.com/izyware/izypop3/sdk"

// Serve runs the fake store as a plugin process (sdk.Serve): the main of
// izypop3-store-fake, and of izypop3 itself when it runs its bundled copy.
func Serve() {
	sdk.Serve(New(), sdk.WithName(Name), sdk.WithVersion(Version))
}
